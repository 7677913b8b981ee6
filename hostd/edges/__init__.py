"""The edges: one module per outside thing hostd talks to.

Processes (runner, process), nginx, Supervisor, HTTP probes, certbot and the
preflight, the certificate store, generations on disk, atomic files and locks,
typed JSON records, the inputs (site files, hostd.toml, the running instance),
the watcher, the event log, log files, logrotate, the host (users, folders,
binaries), app verification, code reloads, configuration checks and the
machine's own configuration (system mode), and the export tree (`hostd export`).

Foreign exceptions (OSError, XML-RPC faults, non-zero exits) become `hostd.errors`
here, `from` the original. May import: `hostd.errors`, `hostd.core`, `hostd.edges`,
and third-party libraries. Never `hostd.apply`, `runtime`, `queries`, `cli` or
`dashboard`.
"""
