"""Read models shared by the CLI and the dashboard: which instance, its status,
its certificates, its pending plan, what `hostd doctor` looks at.

Reading never builds the machine: nothing here constructs the transaction, and only
the doctor runs a process (the programs' version flags, `timedatectl`). May import:
`hostd.errors`, `core`, `edges` and the preview of `apply`. Never `runtime`, `cli` or `dashboard`.
"""
