"""The command line: parse, call the orchestrator, print. The only place errors are printed.

Exit codes: 0 done; 1 a site was rejected or failed, or an apply was rolled back
(or `check` found an invalid file); 2 bad usage; 3 hostd could not act (no
instance, a daemon unreachable, a bad setting); 130 interrupted.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from hostd.certstatus import cert_statuses, when
from hostd.errors import HostdError, InstanceError, SiteError
from hostd.layout import Layout, Mode
from hostd.logs import (
    SOURCES,
    LogFilter,
    follow,
    parse_since,
    read_history,
    site_log_folders,
    site_logs,
)
from hostd.plan import Change, plan_diff, select_sites
from hostd.report import ApplyReport, Outcome
from hostd.rotation import config_path, rotate
from hostd.runner import SubprocessRunner
from hostd.settings import Settings, load_settings, with_overrides
from hostd.sites import load_site, load_sites
from hostd.status import collect_status, uptime
from hostd.store import GenerationStore
from hostd.wiring import layout_for, make_cert_manager, make_reconciler, running_layout, tool

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEFAULT_LINES = 20  # hostd logs -n


def _out(text: str) -> None:
    print(text, flush=True)


def _root(args: argparse.Namespace) -> Path:
    return Path(args.root or os.environ.get("HOSTD_ROOT") or "/")


def _home(args: argparse.Namespace) -> Path | None:
    home = args.home or os.environ.get("HOSTD_HOME")
    return Path(home) if home else None


def print_report(report: ApplyReport) -> None:
    for result in report.sites:
        _out(result.line())
    if report.rolled_back:
        _out(f"rolled back to generation {report.generation}: {report.error}")
    elif report.error:
        _out(f"nothing applied: {report.error}")
    elif report.generation is not None:
        _out(f"generation {report.generation} is live")


def _exit_code(report: ApplyReport) -> int:
    return EXIT_OK if report.ok else EXIT_PROBLEM


# -- commands -------------------------------------------------------------------


def cmd_up(args: argparse.Namespace) -> int:
    from hostd.embedded import EmbeddedRuntime

    logging.basicConfig(level=logging.INFO, format="hostd: %(message)s", stream=sys.stderr)
    layout = layout_for(_home(args) or Path(".hostd"), Path(args.sites))
    settings = with_overrides(
        load_settings(layout.config_file, layout.mode),
        listen=args.listen, http_port=args.http_port, https_port=args.https_port,
    )  # fmt: skip
    runtime = EmbeddedRuntime(
        layout, settings, say=lambda t: _out(f"hostd: {t}"), applied=_news_printer(),
        watch=not args.no_watch,
    )  # fmt: skip
    return runtime.run()


def cmd_watch(args: argparse.Namespace) -> int:
    from hostd.system import SystemRuntime

    logging.basicConfig(level=logging.INFO, format="hostd: %(message)s", stream=sys.stderr)
    if _home(args) is not None:
        raise InstanceError("hostd watch is the system-mode daemon; use hostd up with --home")
    layout = layout_for(None, root=_root(args))
    settings = load_settings(layout.config_file, layout.mode)
    runtime = SystemRuntime(
        layout, settings, say=lambda t: _out(f"hostd: {t}"), applied=_news_printer()
    )
    return runtime.run()


def _news_printer() -> Callable[[ApplyReport], None]:
    """Print an apply's lines only when they say something new (rescans are quiet)."""
    said: list[str] = []

    def applied(report: ApplyReport) -> None:
        lines = [r.line() for r in report.sites if r.outcome is not Outcome.UNCHANGED]
        if report.error:
            lines.append(f"nothing applied: {report.error}")
        if lines and lines != said:
            for line in lines:
                _out(line)
            if report.generation is not None and not report.error:
                _out(f"generation {report.generation} is live")
        said[:] = lines

    return applied


def cmd_reload(args: argparse.Namespace) -> int:
    layout, settings = running_layout(_home(args), _root(args))
    reconciler = make_reconciler(layout, settings)
    only = set(args.sites) or None
    if only:
        live = reconciler.live()
        known = set(load_sites(layout.sites_dir)) | set(live.sites if live else {})
        unknown = sorted(only - known)
        if unknown:
            raise InstanceError(
                f"unknown site(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
    report = reconciler.apply(only)
    print_report(report)
    return _exit_code(report)


def _layout_and_settings(args: argparse.Namespace) -> tuple[Layout, Settings]:
    """The running instance's view if there is one, else the files' own."""
    home = _home(args)
    try:
        layout, settings = running_layout(home, _root(args))
    except InstanceError:
        layout = layout_for(home, root=_root(args))
        settings = load_settings(layout.config_file, layout.mode)
    sites_dir = getattr(args, "sites_dir", None)
    if sites_dir:
        layout = replace(layout, sites_dir=Path(sites_dir).absolute())
    return layout, settings


def cmd_check(args: argparse.Namespace) -> int:
    layout, _ = _layout_and_settings(args)
    loaded = load_sites(layout.sites_dir)
    for file in args.files:
        path = Path(file).absolute()
        try:
            loaded[path.stem] = load_site(path)
        except SiteError as exc:
            loaded[path.stem] = exc
    live = GenerationStore(layout.state_dir).live() if layout.state_dir.exists() else None
    selection = select_sites(loaded, live.sites if live else {})
    wanted = {Path(f).stem for f in args.files} if args.files else set(loaded)
    for name in sorted(wanted):
        if name in selection.rejected:
            _out(f"invalid: {selection.rejected[name]}")
        elif name in selection.sites:
            _out(f"ok: {name} ({', '.join(selection.sites[name].domains)})")
    if not loaded:
        _out(f"no site files in {layout.sites_dir}")
    return EXIT_PROBLEM if wanted & set(selection.rejected) else EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    layout, settings = _layout_and_settings(args)
    preview = make_reconciler(layout, settings).preview()
    for site in preview.plan.sites:
        if site.name in preview.selection.rejected:
            continue
        if site.change is not Change.UNCHANGED:
            parts = [
                p
                for p, on in (("nginx", site.nginx_changed), ("program", site.program_changed))
                if on
            ]
            _out(f"{site.name}: {site.change.value} ({', '.join(parts)})")
        else:
            _out(f"{site.name}: unchanged")
    for name, error in sorted(preview.selection.rejected.items()):
        _out(f"{name}: rejected: {error}")
    diff = plan_diff(preview.live_files, preview.files)
    if diff:
        _out("")
        sys.stdout.write(diff)
    elif preview.plan.is_empty:
        _out("nothing to change")
    return EXIT_OK


def cmd_certs(args: argparse.Namespace) -> int:
    layout, settings = _layout_and_settings(args)
    reconciler = make_reconciler(layout, settings)
    live = reconciler.live()
    sites = live.sites if live else {}
    code = EXIT_OK
    if args.action == "renew":
        results = make_cert_manager(layout, settings).run(sites, force=args.force, wait=True)
        for result in results:
            _out(f"{result.site}: {result.detail}")
            code = code if result.ok else EXIT_PROBLEM
        if not results:
            _out("nothing is due")
        if any(result.ok for result in results):
            report = reconciler.apply()
            print_report(report)
            code = code if report.ok else EXIT_PROBLEM
    statuses = cert_statuses(
        layout, sites, reconciler.instance.probe_host, settings.http.https_port
    )
    if args.json:
        _out(json.dumps([status.to_json() for status in statuses], indent=2))
        return code
    for cert in statuses:
        _out(f"{cert.site}: {' '.join(cert.domains)}")
        if cert.serial:
            served = (
                "served by nginx"
                if cert.served_serial == cert.serial
                else f"nginx serves {cert.served_serial or 'nothing'}"
            )
            partial = "" if cert.covers_domains else ", does not cover every domain"
            _out(f"  certificate: {cert.issuer}, serial {cert.serial}, expires {cert.expires}, "
                 f"{served}{partial}")  # fmt: skip
        else:
            _out("  certificate: none yet (served over HTTP)")
        _out(f"  last attempt: {when(cert.last_attempt)}  last error: {cert.last_error or '-'}"
             f"  next attempt: {when(cert.next_attempt)}")  # fmt: skip
    if not statuses:
        _out("no site has tls: auto")
    return code


def cmd_status(args: argparse.Namespace) -> int:
    layout, settings = _layout_and_settings(args)
    status = collect_status(make_reconciler(layout, settings))
    if args.json:
        _out(json.dumps(status.to_json(), indent=2))
        return EXIT_OK
    _out(f"generation {status.generation}; nginx: {status.nginx}; supervisord: {status.supervisor}")
    for site in status.sites:
        pid = f" pid {site.pid}" if site.pid else ""
        _out(
            f"{site.name:<20} {site.program}{pid} up {uptime(site.since)}  "
            f"{' '.join(site.domains) or '-'}  last apply: {site.outcome or '-'}"
            + (f"  certificate until {site.cert_expires}" if site.cert_expires else "")
        )
        if site.crash_loop:
            loop = site.crash_loop
            when = time.strftime("%H:%M:%S", time.localtime(loop["next_attempt"]))
            _out(f"{'':<20} crash loop: {loop['reason']}; next start at {when}")
        if site.error:
            _out(f"{'':<20} error: {site.error}")
        elif site.last_error:
            _out(f"{'':<20} last error: {site.last_error}")
    return EXIT_OK


def cmd_logs(args: argparse.Namespace) -> int:
    layout, _ = _layout_and_settings(args)
    if args.rotate or args.force:
        return _rotate_logs(layout, args)
    if args.site is None:
        return _usage("logs", "name a SITE, or rotate every site's logs with --rotate")
    if not layout.site_log_dir(args.site).is_dir():
        known = ", ".join(site_log_folders(layout))
        raise InstanceError(
            f"no logs for site {args.site!r} in {layout.log_root} (known: {known or 'none'})"
        )
    paths = site_logs(layout, args.site, tuple(dict.fromkeys(args.source or SOURCES)))
    keep = LogFilter(since=args.since, pattern=args.grep)
    count = args.lines if args.lines is not None else (None if keep.active else DEFAULT_LINES)
    lines, ends = read_history(paths, count, keep)
    for line in lines:
        _out(line.shown())
    if args.follow:
        live = LogFilter(pattern=args.grep)  # what arrives now is recent by definition
        try:
            for line in follow(paths, ends):
                if live.admits(line):
                    _out(line.shown())
        except KeyboardInterrupt:
            pass  # Ctrl-C is how -f ends
    return EXIT_OK


def _rotate_logs(layout: Layout, args: argparse.Namespace) -> int:
    if args.site is not None or not args.rotate:
        return _usage("logs", "--rotate [--force] rotates every site's logs: no SITE")
    if layout.mode is not Mode.EMBEDDED:
        raise InstanceError(
            "--rotate rotates an embedded instance's logs (give --home); in system mode Debian's "
            "daily logrotate rotates them through /etc/logrotate.d/hostd, which hostd watch "
            "installs (logrotate -f /etc/logrotate.d/hostd rotates now)"
        )
    sites = site_log_folders(layout)
    done = rotate(layout, sites, SubprocessRunner(), tool("logrotate"), force=args.force)
    if done.output.strip():
        _out(done.output.rstrip())
    how = "forced" if args.force else "whatever is due"
    _out(f"logrotate ran ({how}) for {len(sites)} site(s) with {config_path(layout)}")
    return EXIT_OK


def cmd_dashboard(args: argparse.Namespace) -> int:
    """`hostd dashboard passwd USER`: set a dashboard password, creating the user."""
    from hostd.dashboard.passwd import set_password
    from hostd.dashboard.users import UserError, check_name, check_password

    layout, settings = _layout_and_settings(args)
    try:
        name = check_name(args.user)
        if args.stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            password = getpass.getpass(f"New dashboard password for {name}: ")
            if check_password(password) != getpass.getpass("Again: "):
                raise UserError("the two passwords differ")
        else:
            raise UserError("no terminal to ask for the password: pipe it in with --stdin")
        for line in set_password(layout, settings, name, password):
            _out(line)
    except UserError as exc:
        return _usage("dashboard passwd", str(exc))
    return EXIT_OK


def _usage(command: str, message: str) -> int:
    print(f"hostd {command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _since(text: str) -> float:
    try:
        return parse_since(text, time.time())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _pattern(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a regular expression: {exc}") from None


# -- parser -----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home", help="home folder of an embedded instance (or HOSTD_HOME); none: system mode"
    )
    common.add_argument(
        "--root", help="system mode below another root folder (or HOSTD_ROOT), for tests"
    )
    parser = argparse.ArgumentParser(
        prog="hostd", description="Serve Flask/WSGI sites from one YAML file each."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", parents=[common], help="run an embedded instance in the foreground")
    up.add_argument("--sites", default="sites.d", help="folder of site files (default ./sites.d)")
    up.add_argument("--listen", help="address to listen on (default 127.0.0.1)")
    up.add_argument("--http-port", type=int, help="HTTP port (default 8080)")
    up.add_argument("--https-port", type=int, help="HTTPS port (default 8443)")
    up.add_argument(
        "--no-watch", action="store_true",
        help="do not watch the sites folder: apply on start, hostd reload, SIGHUP and rescans",
    )  # fmt: skip
    up.set_defaults(handler=cmd_up)

    watch = sub.add_parser(
        "watch", parents=[common], help="the system-mode daemon (what hostd.service runs)"
    )
    watch.set_defaults(handler=cmd_watch)

    reload = sub.add_parser("reload", parents=[common], help="apply the site files now")
    reload.add_argument("sites", nargs="*", metavar="SITE", help="only these sites")
    reload.set_defaults(handler=cmd_reload)

    check = sub.add_parser("check", parents=[common], help="validate site files, change nothing")
    check.add_argument("files", nargs="*", metavar="FILE")
    check.add_argument("--sites", dest="sites_dir", help="folder of site files")
    check.set_defaults(handler=cmd_check)

    plan = sub.add_parser("plan", parents=[common], help="show what reload would change")
    plan.add_argument("--sites", dest="sites_dir", help="folder of site files")
    plan.set_defaults(handler=cmd_plan)

    certs = sub.add_parser("certs", parents=[common], help="certificates of tls: auto sites")
    certs.add_argument("action", nargs="?", choices=["renew"], help="renew what is due now")
    certs.add_argument("--force", action="store_true", help="with renew: renew even if not due")
    certs.add_argument("--json", action="store_true", help="machine-readable output")
    certs.set_defaults(handler=cmd_certs)

    status = sub.add_parser("status", parents=[common], help="per-site state")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=cmd_status)

    logs = sub.add_parser(
        "logs",
        parents=[common],
        help="a site's logs; or rotate every site's logs",
        description="A site's app, access, error and hostd logs, each line prefixed by its "
        "source and merged in time order.",
    )
    logs.add_argument("site", metavar="SITE", nargs="?")
    logs.add_argument(
        "-n",
        "--lines",
        type=int,
        help=f"last N lines of each log (default {DEFAULT_LINES}; with --since or --grep: all)",
    )
    logs.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new lines (Ctrl-C ends)"
    )
    logs.add_argument(
        "--source",
        action="append",
        choices=SOURCES,
        help="only this log (repeatable; default: all)",
    )
    logs.add_argument(
        "--since",
        type=_since,
        metavar="WHEN",
        help="only lines written since WHEN: 30s, 10m, 2h, 1d, 1w ago or an ISO time "
        "(local unless it has a zone); undated lines count with the line before",
    )
    logs.add_argument(
        "--grep", type=_pattern, metavar="PATTERN", help="only lines matching this regex"
    )
    logs.add_argument(
        "--rotate",
        action="store_true",
        help="embedded: rotate every site's logs now with logrotate (what is due)",
    )
    logs.add_argument("--force", action="store_true", help="with --rotate: rotate even if not due")
    logs.set_defaults(handler=cmd_logs)

    dashboard = sub.add_parser("dashboard", help="the web dashboard's users")
    actions = dashboard.add_subparsers(dest="action", required=True, metavar="ACTION")
    passwd = actions.add_parser(
        "passwd", parents=[common], help="set a user's password (creates the user)"
    )
    passwd.add_argument("user", metavar="USER")
    passwd.add_argument(
        "--stdin", action="store_true", help="read the password from standard input (scripts)"
    )
    passwd.set_defaults(handler=cmd_dashboard)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except HostdError as exc:
        print(f"hostd: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
