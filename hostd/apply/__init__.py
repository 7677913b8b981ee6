"""The transaction: site files in, live sites out, over ports.

`ports.py` names every effect the transaction has, each a Protocol whose methods
say what they raise; `reconciler.py` reads top to bottom like its docstring;
`validate.py` isolates refused sites, `golive.py` switches, starts, reloads and
rolls back; `renewal.py` gets certificates.

May import: `hostd.errors`, `hostd.core` and `hostd.apply`. Never an edge: the
real implementations are handed in by `hostd.runtime.wiring`, fakes by
`hostd.testing`.
"""
