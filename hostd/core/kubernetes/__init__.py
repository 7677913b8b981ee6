"""Kubernetes from site files, purely: objects as plain data and the build context's
generated files, for `hostd export --target kubernetes`.

Imports only `hostd.core` and `hostd.errors`, like the rest of the core. The edge
(`hostd.edges.export`) freezes requirements, copies app roots and writes the tree.
"""
