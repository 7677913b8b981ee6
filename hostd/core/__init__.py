"""The pure core: values and decisions, touching nothing.

What lives here: the site schema and its YAML reader, the layout of an instance,
settings as parsed values, the selection of which version of each site goes live,
the plan, rendering, the apply report, certificate facts, the crash-loop policy,
timing (debounce, backoff, time formats) and log lines; `kubernetes/`, the sites as
Kubernetes objects and build contexts for `hostd export`.

May import: the standard library, yaml, jinja2, cryptography, `hostd.errors` and
`hostd.core`. Nothing here runs a process, opens a socket or writes a file
(rendering reads its templates, and that is all it reads).
"""
