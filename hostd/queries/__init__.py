"""Read models shared by the CLI and the dashboard: which instance, its status,
its certificates, its pending plan.

Reading never builds the machine: nothing here constructs the transaction or runs
a process. May import: `hostd.errors`, `core`, `edges` and the preview of
`apply`. Never `runtime`, `cli` or `dashboard`.
"""
