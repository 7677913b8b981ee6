"""Site names system mode refuses: each site gets /var/log/<site>/, so a name that is
also a folder the distribution or a common package keeps in /var/log would mix
hostd's files with theirs (a site named `nginx` would share Debian's access.log,
and Debian's logrotate would then skip its own nginx config). Pure data.
"""

from __future__ import annotations

# what Debian 12 and its common server packages keep below /var/log, and hostd's own
DISTRIBUTION_LOG_FOLDERS = frozenset(
    {
        "apache2",
        "apt",
        "audit",
        "btmp",
        "chrony",
        "clamav",
        "cups",
        "dist-upgrade",
        "dpkg",
        "exim4",
        "fail2ban",
        "fontconfig",
        "hostd",
        "installer",
        "journal",
        "letsencrypt",
        "lighttpd",
        "mail",
        "mariadb",
        "mysql",
        "nginx",
        "ntpsec",
        "php",
        "postgresql",
        "private",
        "proftpd",
        "rabbitmq",
        "redis",
        "runit",
        "samba",
        "sa",
        "sssd",
        "supervisor",
        "sysstat",
        "unattended-upgrades",
        "uwsgi",
        "wtmp",
    }
)


def reserved_name_problem(name: str) -> str | None:
    """Why system mode refuses a site named `name`, or None."""
    if name in DISTRIBUTION_LOG_FOLDERS:
        return (
            f"the name {name!r} is taken: /var/log/{name} belongs to the distribution "
            f"or one of its packages; rename the file (e.g. web-{name}.yaml)"
        )
    return None
