"""`hostd export --target kubernetes`: the site files as a Kubernetes tree.

Loads the sites as `hostd check` does; if any is invalid, says which and writes
nothing (a partial export would drop a site from a cluster).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hostd.cli.common import out, view_of
from hostd.core.kubernetes.context import in_app_root
from hostd.core.kubernetes.objects import ExportOptions, pvc_name
from hostd.core.kubernetes.text import export_tree
from hostd.core.selection import select_sites
from hostd.edges.envfile import env_file_values
from hostd.edges.export import app_digest, frozen_requirements, write_tree
from hostd.edges.inputs import load_sites
from hostd.errors import EXIT_OK, EXIT_PROBLEM

DEFAULTS = ExportOptions()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:  # fmt: skip
    export = sub.add_parser(
        "export", parents=[common], help="write the sites as manifests for another platform"
    )
    export.add_argument("--target", required=True, choices=["kubernetes"])
    export.add_argument("--out", required=True, help="output folder (replaced if an export)")
    export.add_argument("--sites", dest="sites_dir", help="folder of site files")
    export.add_argument("--namespace", default=DEFAULTS.namespace)
    export.add_argument("--ingress-class", help="ingressClassName (default: the cluster's)")
    export.add_argument("--cluster-issuer", default=DEFAULTS.cluster_issuer)
    export.add_argument("--image-prefix", default=DEFAULTS.image_prefix, metavar="REGISTRY/PATH")
    export.add_argument("--replicas", type=int, default=DEFAULTS.replicas)
    export.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    options = ExportOptions(
        namespace=args.namespace,
        ingress_class=args.ingress_class,
        cluster_issuer=args.cluster_issuer,
        image_prefix=args.image_prefix,
        replicas=args.replicas,
    ).checked()
    layout, _ = view_of(args)
    selection = select_sites(load_sites(layout.sites_dir), {})
    if selection.rejected:
        for error in sorted(selection.rejected.values(), key=str):
            out(f"invalid: {error}")
        out("nothing exported: fix the site files above first")
        return EXIT_PROBLEM
    sites = dict(selection.sites)
    requirements = {name: frozen_requirements(site) for name, site in sites.items()}
    digests = {name: app_digest(site) for name, site in sites.items()}
    secrets = {name: env_file_values(site) for name, site in sites.items()}
    files = export_tree(sites, options, requirements, digests, secrets)
    target = Path(args.out).absolute()
    write_tree(target, files, sites)
    for name, site in sorted(sites.items()):
        outside = [f for _, f in site.static if in_app_root(site, f) is None]
        for index, folder in enumerate(dict.fromkeys(outside), start=1):
            print(
                f"hostd export: note: {name}: static folder {folder} is outside the app root; "
                f"PersistentVolumeClaim {pvc_name(site, index)} must be ReadWriteMany "
                "and filled with its files",
                file=sys.stderr,
            )
        out(f"exported: {name} (build/{name}, sites/{name})")
    out(f"wrote {target}: kubectl apply -k {target}")
    return EXIT_OK
