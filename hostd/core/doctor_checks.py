"""The checks of `hostd doctor`, each a pure function from the `Box` to its findings;
`CHECKS` lists them in the order they are shown. A new check is a function added
to that list.
"""

from __future__ import annotations

import re
from datetime import timedelta

from hostd.core.alerts import EXPIRY_WARNING
from hostd.core.attachment import HASH_DIRECTIVES, directives_set
from hostd.core.doctor import Box, Check, Finding, Level
from hostd.core.doctor_limits import gunicorn_cost, nginx_limits, supervisor_limits
from hostd.core.layout import Mode
from hostd.core.site import Tls
from hostd.core.timing import local_time

MIB = 1024 * 1024
GIB = 1024 * MIB
NGINX_AT_LEAST = (1, 19, 4)  # ssl_reject_handshake, in hostd's catch-all
DISK_PROBLEM = 100 * MIB  # free below this: logs and generations cannot be written
DISK_WARN = GIB
CERT_PROBLEM = timedelta(days=3)


# -- the programs and the machine's configuration ----------------------------------


def _version_tuple(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+(?:\.\d+)+)", text)
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def tools(box: Box) -> list[Finding]:
    """nginx, Supervisor and certbot: found, and the version each says."""
    system = box.layout.mode is Mode.SYSTEM
    install = {
        "nginx": "apt-get install nginx-light" if system else "apt-get install nginx",
        "supervisord": "apt-get install supervisor" if system else "pip install supervisor",
        "certbot": "apt-get install certbot (only tls: auto sites need it)",
    }
    found: list[Finding] = []
    for name, tool in box.tools.items():
        check = name
        if tool.path is None:
            needed = name != "certbot" or any(site.tls is Tls.AUTO for site in box.sites.values())
            level = Level.PROBLEM if needed else Level.WARNING
            found.append(Finding(check, level, f"{name} is not installed", install[name]))
        elif tool.version is None:
            found.append(
                Finding(
                    check,
                    Level.PROBLEM,
                    f"{tool.path} does not run: {tool.error}",
                    f"reinstall it ({install[name]})",
                )
            )
        elif name == "nginx" and _version_tuple(tool.version) < NGINX_AT_LEAST:
            least = ".".join(map(str, NGINX_AT_LEAST))
            found.append(
                Finding(
                    check,
                    Level.PROBLEM,
                    f"{tool.path} is version {tool.version}; hostd needs {least}",
                    "install a newer nginx (Debian 12 has 1.22)",
                )
            )
        else:
            found.append(Finding(check, Level.OK, f"{tool.path}: version {tool.version}"))
    return found


def hooks(box: Box) -> list[Finding]:
    """System mode: hostd's include in nginx's conf.d and its glob in Supervisor's
    [include], and no directive set twice at nginx's http level."""
    hooks = box.hooks
    if hooks is None:
        return []
    found: list[Finding] = []
    if hooks.nginx_conf_text is None:
        found.append(
            Finding(
                "nginx hook",
                Level.PROBLEM,
                f"{hooks.nginx_conf} is missing",
                "apt-get install nginx-light, then hostd init",
            )
        )
    elif hooks.hook_text != hooks.expected_hook:
        what = "is missing" if hooks.hook_text is None else "is not hostd's current one"
        found.append(
            Finding(
                "nginx hook",
                Level.PROBLEM,
                f"{hooks.hook} {what}: nginx does not serve hostd's sites",
                "run hostd init (or start hostd watch)",
            )
        )
    elif not _includes(hooks.nginx_conf_text, hooks.hook.parent):
        found.append(
            Finding(
                "nginx hook",
                Level.PROBLEM,
                f"{hooks.nginx_conf} does not include {hooks.hook.parent}/*.conf",
                f"put back `include {hooks.hook.parent}/*.conf;` inside its http {{}}",
            )
        )
    else:
        found.append(Finding("nginx hook", Level.OK, f"{hooks.hook} includes hostd's sites"))
    found.extend(_directive_conflicts(box))
    if hooks.supervisor_text is None:
        found.append(
            Finding(
                "Supervisor hook",
                Level.PROBLEM,
                f"{hooks.supervisor_conf} is missing",
                "apt-get install supervisor, then hostd init",
            )
        )
    elif hooks.supervisor_glob not in hooks.supervisor_text:
        found.append(
            Finding(
                "Supervisor hook",
                Level.PROBLEM,
                f"the [include] of {hooks.supervisor_conf} does not name "
                f"{hooks.supervisor_glob}: Supervisor runs none of the sites",
                "run hostd init (or start hostd watch)",
            )
        )
    else:
        found.append(
            Finding(
                "Supervisor hook", Level.OK, f"{hooks.supervisor_conf} includes hostd's programs"
            )
        )
    return found


def _includes(nginx_conf: str, folder: object) -> bool:
    for line in nginx_conf.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0] == "include" and words[1].startswith(f"{folder}/"):
            return True
    return False


def _directive_conflicts(box: Box) -> list[Finding]:
    """A directive hostd's include sets that the machine's http{} sets too: nginx
    refuses it twice, and every apply rolls back."""
    hooks = box.hooks
    assert hooks is not None
    ours = directives_set(hooks.served_include or "", HASH_DIRECTIVES)
    found: list[Finding] = []
    texts = {hooks.nginx_conf: hooks.nginx_conf_text or "", **hooks.others}
    for path, text in texts.items():
        for directive in sorted(ours & directives_set(text, HASH_DIRECTIVES)):
            found.append(
                Finding(
                    "nginx hook conflict",
                    Level.PROBLEM,
                    f"{path} sets {directive}, and so does hostd's include: nginx refuses the "
                    "directive twice",
                    "restart hostd (systemctl restart hostd): it then leaves it to the "
                    f"machine's setting (or remove it from {path})",
                )
            )
    if not found and hooks.nginx_conf_text is not None:
        found.append(
            Finding(
                "nginx hook conflict",
                Level.OK,
                "no directive of hostd's include is set in nginx.conf or conf.d",
            )
        )
    return found


def ports(box: Box) -> list[Finding]:
    """The HTTP and HTTPS ports: free, or held by the instance's nginx."""
    found: list[Finding] = []
    where = "[http] port / https_port in hostd.toml"
    for port in box.ports:
        check = f"port {port.port}"
        others = [
            f"{name} (pid {pid})"
            for (pid, name), ours in zip(port.holders, port.ours, strict=True)
            if not ours and pid is not None
        ]
        unseen = any(pid is None for pid, _ in port.holders)
        if others:
            found.append(
                Finding(
                    check,
                    Level.PROBLEM,
                    f"port {port.port} is held by {', '.join(others)}",
                    f"stop it, or serve on another port ({where})",
                )
            )
        elif unseen:
            found.append(
                Finding(
                    check,
                    Level.WARNING,
                    f"port {port.port} is held by a process this user cannot see",
                    "run hostd doctor as root",
                )
            )
        elif port.holders:
            found.append(Finding(check, Level.OK, f"port {port.port} is served by this nginx"))
        elif box.nginx.pid is not None and port.served:
            found.append(
                Finding(
                    check,
                    Level.WARNING,
                    f"nginx runs but nothing listens on port {port.port}",
                    "restart nginx (a reload does not move its listen sockets)",
                )
            )
        else:
            tail = "" if port.served else " (no live site serves on it)"
            found.append(Finding(check, Level.OK, f"port {port.port} is free{tail}"))
    return found


# -- the sites ----------------------------------------------------------------------


def sites_folder(box: Box) -> list[Finding]:
    folder = box.layout.sites_dir
    if box.sites_folder_problem is not None:
        return [
            Finding(
                "sites folder",
                Level.PROBLEM,
                box.sites_folder_problem,
                f"create it (mkdir -p {folder}) or make it readable by root"
                " (hostd keeps the last good sites meanwhile)",
            )
        ]
    return [Finding("sites folder", Level.OK, f"{folder} is readable")]


def app_roots(box: Box) -> list[Finding]:
    """Each live site's app folder: its user can enter and read it."""
    found = []
    for name, refusal in sorted(box.app_roots.items()):
        check = f"app root: {name}"
        if refusal is None:
            found.append(Finding(check, Level.OK, f"{box.sites[name].app.root} can be entered"))
        else:
            text, _, fix = refusal.partition("; ")
            found.append(Finding(check, Level.PROBLEM, text, fix))
    return found


def domains(box: Box) -> list[Finding]:
    """Each domain of a TLS site: its DNS points here and its port 80 answers through
    the site's own server block (what the CA's HTTP-01 validation needs)."""
    found = []
    for domain in box.domains:
        check = f"domain: {domain.domain}"
        if not domain.addresses:
            found.append(
                Finding(
                    check,
                    Level.PROBLEM,
                    f"{domain.domain} does not resolve",
                    f"give {domain.domain} an A record with this machine's address",
                )
            )
        elif not domain.local:
            found.append(
                Finding(
                    check,
                    Level.PROBLEM,
                    f"{domain.domain} points to {', '.join(domain.addresses)}, not to this machine",
                    f"point the A record of {domain.domain} at this machine",
                )
            )
        elif domain.unreachable is not None:
            found.append(
                Finding(
                    check,
                    Level.PROBLEM,
                    domain.unreachable,
                    "make sure the site is live (hostd status) and nginx serves "
                    "hostd's sites on this port",
                )
            )
        else:
            found.append(
                Finding(
                    check,
                    Level.OK,
                    f"{domain.domain} points here ({', '.join(domain.local)}) "
                    f"and {domain.site}'s server block answers on port "
                    f"{box.settings.http.port}",
                )
            )
    return found


def certbot_folders(box: Box) -> list[Finding]:
    found = []
    for folder, problem in sorted(box.certbot_folders.items()):
        check = f"certbot folder: {folder}"
        if problem is None:
            found.append(Finding(check, Level.OK, "writable"))
        else:
            found.append(
                Finding(
                    check,
                    Level.PROBLEM,
                    problem,
                    f"make it writable by the user running hostd ({folder})",
                )
            )
    return found


def certificates(box: Box) -> list[Finding]:
    """Certificates of tls: auto sites that end within 14 days."""
    if box.now is None:
        return []
    found = []
    for name, end in sorted(box.certificates.items()):
        check = f"certificate: {name}"
        left = end - box.now
        until = end.strftime("%Y-%m-%d %H:%M UTC")
        if left >= EXPIRY_WARNING:
            found.append(Finding(check, Level.OK, f"valid until {until} ({left.days} days)"))
            continue
        level = Level.PROBLEM if left < CERT_PROBLEM else Level.WARNING
        text = "expired" if left.total_seconds() <= 0 else f"expires in {left.days} day(s)"
        found.append(
            Finding(
                check,
                level,
                f"{text} ({until}) and was not renewed",
                f"hostd certs --json says why; renew now: hostd certs renew {name}",
            )
        )
    return found


def crash_loops(box: Box) -> list[Finding]:
    found = []
    for name, retry in sorted(box.crash_loops.items()):
        when = local_time(retry.next_at, "%H:%M:%S")
        found.append(
            Finding(
                f"crash loop: {name}",
                Level.PROBLEM,
                f"held back after {retry.attempts} start(s): {retry.reason}; next start at {when}",
                f"hostd logs {name.split(':')[0]} says why it exits",
            )
        )
    if not found:
        found.append(Finding("crash loops", Level.OK, "no site is held back"))
    return found


# -- the machine ----------------------------------------------------------------------


def clock(box: Box) -> list[Finding]:
    if box.clock is None:
        return []
    if box.clock.synchronised is None:
        return [
            Finding(
                "clock",
                Level.WARNING,
                f"cannot tell whether the clock is synchronised ({box.clock.source})",
                "run a time service (apt-get install systemd-timesyncd)",
            )
        ]
    if not box.clock.synchronised:
        return [
            Finding(
                "clock",
                Level.WARNING,
                f"the clock is not synchronised ({box.clock.source}): certificates "
                "and their renewal go by it",
                "enable a time service: timedatectl set-ntp true "
                "(apt-get install systemd-timesyncd)",
            )
        ]
    return [Finding("clock", Level.OK, f"synchronised ({box.clock.source})")]


def disks(box: Box) -> list[Finding]:
    found = []
    for disk in box.disks:
        check = f"disk: {disk.path}"
        if disk.error:
            found.append(Finding(check, Level.WARNING, f"cannot tell: {disk.error}"))
            continue
        text = f"{disk.free / MIB:.0f} MiB free of {disk.total / MIB:.0f} MiB"
        fix = f"free space on the file system of {disk.path} (old logs: hostd logs --help)"
        if disk.free < DISK_PROBLEM:
            found.append(Finding(check, Level.PROBLEM, text, fix))
        elif disk.free < DISK_WARN and disk.free < 0.1 * disk.total:
            found.append(Finding(check, Level.WARNING, text, fix))
        else:
            found.append(Finding(check, Level.OK, text))
    return found


def hostd_daemon(box: Box) -> list[Finding]:
    state = box.daemon
    if state is None:
        return []
    if state.startswith("running"):
        return [Finding("hostd daemon", Level.OK, state)]
    command = (
        "hostd watch (systemctl start hostd)" if box.layout.mode is Mode.SYSTEM else "hostd up"
    )
    what = (
        "nothing applies changes, renews certificates or alerts"
        if box.layout.mode is Mode.SYSTEM
        else "no site is served"
    )
    return [Finding("hostd daemon", Level.PROBLEM, f"{state}: {what}", f"start it: {command}")]


CHECKS: list[Check] = [
    hostd_daemon,
    tools,
    hooks,
    ports,
    sites_folder,
    app_roots,
    domains,
    certbot_folders,
    certificates,
    crash_loops,
    clock,
    disks,
    nginx_limits,
    supervisor_limits,
    gunicorn_cost,
]
