"""`hostd certs [renew]`: the certificates of `tls: auto` sites; renew what is due."""

from __future__ import annotations

import argparse
import json

from hostd.cli.common import out, print_report, view_of
from hostd.core.timing import local_time
from hostd.edges.generations import GenerationStore
from hostd.errors import EXIT_OK, EXIT_PROBLEM
from hostd.queries.certs import CertStatus, cert_statuses
from hostd.runtime.wiring import make_cert_manager, make_reconciler


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:  # fmt: skip
    certs = sub.add_parser("certs", parents=[common], help="certificates of tls: auto sites")
    certs.add_argument("action", nargs="?", choices=["renew"], help="renew what is due now")
    certs.add_argument("--force", action="store_true", help="with renew: renew even if not due")
    certs.add_argument("--json", action="store_true", help="machine-readable output")
    certs.set_defaults(handler=run_certs)


def run_certs(args: argparse.Namespace) -> int:
    layout, settings = view_of(args)
    live = GenerationStore(layout.state_dir).live()
    sites = live.sites if live else {}
    code = EXIT_OK
    if args.action == "renew":
        results = make_cert_manager(layout, settings).run(sites, force=args.force, wait=True)
        for result in results:
            out(f"{result.site}: {result.detail}")
            code = code if result.ok else EXIT_PROBLEM
        if not results:
            out("nothing is due")
        if any(result.ok for result in results):
            report = make_reconciler(layout, settings).apply()
            print_report(report)
            code = code if report.ok else EXIT_PROBLEM
    statuses = cert_statuses(layout, sites, settings.http.probe_host, settings.http.https_port)
    if args.json:
        out(json.dumps([status.to_json() for status in statuses], indent=2))
        return code
    for cert in statuses:
        print_cert(cert)
    if not statuses:
        out("no site has tls: auto")
    return code


def print_cert(cert: CertStatus) -> None:
    out(f"{cert.site}: {' '.join(cert.domains)}")
    if cert.serial:
        served = (
            "served by nginx"
            if cert.served_serial == cert.serial
            else f"nginx serves {cert.served_serial or 'nothing'}"
        )
        partial = "" if cert.covers_domains else ", does not cover every domain"
        out(f"  certificate: {cert.issuer}, serial {cert.serial}, expires {cert.expires}, "
            f"{served}{partial}")  # fmt: skip
    else:
        out("  certificate: none yet (served over HTTP)")
    out(f"  last attempt: {local_time(cert.last_attempt)}  last error: {cert.last_error or '-'}"
        f"  next attempt: {local_time(cert.next_attempt)}")  # fmt: skip
