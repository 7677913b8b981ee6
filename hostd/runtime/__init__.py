"""Long-running processes and the one composition root.

`wiring.py` is the only place that builds real edges and hands them to the
transaction; `daemon.py` is the loop both runtimes share, `guard.py` its crash-loop
control; `embedded.py` (`hostd up`) and `system.py` (`hostd watch`) are what each
runtime does around that loop.

May import everything below it: `hostd.errors`, `core`, `edges`, `apply`. Never
`queries`, `cli` or `dashboard`.
"""
