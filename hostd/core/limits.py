"""How many open files the daemons need for a number of sites. Pure.

nginx opens two log files per site (its access and error log) in the master, and
every worker inherits them; a worker also holds two descriptors per connection it
proxies (the client's and the upstream's). Supervisor keeps, per running program,
its log file and the pipes to the process.
"""

from __future__ import annotations

import math

NGINX_WORKER_CONNECTIONS = 1024
NGINX_FILES_PER_SITE = 2
SUPERVISOR_FILES_PER_PROGRAM = 4  # the log file and 3 pipe ends
SPARE = 64  # listening sockets, the daemon's own logs and sockets, libraries
STEP = 1024


def rounded_up(count: int) -> int:
    """`count` rounded up to a multiple of STEP, so a site more or less rarely
    changes the number rendered into nginx's configuration."""
    return max(STEP, math.ceil(count / STEP) * STEP)


def nginx_open_files(sites: int) -> int:
    """Descriptors an nginx worker needs with `sites` sites (worker_rlimit_nofile)."""
    return rounded_up(NGINX_FILES_PER_SITE * sites + 2 * NGINX_WORKER_CONNECTIONS + SPARE)


def nginx_master_open_files(sites: int) -> int:
    """Descriptors nginx's master (and `nginx -t`) needs to open every site's logs."""
    return NGINX_FILES_PER_SITE * sites + SPARE


def supervisor_open_files(programs: int) -> int:
    """Descriptors supervisord needs to run `programs` programs."""
    return SUPERVISOR_FILES_PER_PROGRAM * programs + SPARE
