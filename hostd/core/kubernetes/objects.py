"""Sites as Kubernetes objects, plain data: per site a Deployment, a Service, an
Ingress, a Secret for its `env` and a PersistentVolumeClaim per static folder outside
its app root; once per export a Namespace and an HTTP-01 ClusterIssuer.

The same sites and options give the same objects: names come from site names, labels
are `app.kubernetes.io/*`, the image tag is a content hash of the build context.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hostd.core.kubernetes.context import (
    APP_PORT,
    IMAGE_APP,
    IMAGE_ROOT,
    STATIC_PORT,
    outside_folders,
    site_user,
    static_mount,
    user_id,
)
from hostd.core.render import tuning_flags
from hostd.core.site import Site, Tls
from hostd.errors import SiteError, UsageError

Obj = dict[str, Any]

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
# the app container's CPU request; `workers: auto` is computed from it, not from a node
SECRET_FILE = "secret.yaml"  # written owner-only: it holds env and env_file values
APP_CPU_MILLI = 1000
APP_MEMORY = "256Mi"
STATIC_CPU = "50m"
STATIC_MEMORY = "32Mi"
STATIC_STORAGE = "1Gi"
# Supervisor waits graceful + 10 s before it kills (program.conf.j2); so does the kubelet
KILL_MARGIN = 10
# a Service name is a DNS-1035 label: it starts with a letter and does not end with '-'
_SERVICE_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?\Z")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\Z")
_DNS_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?\Z")
_IMAGE_PREFIX = re.compile(r"^[a-z0-9]+([._:/-][a-z0-9]+)*\Z")


@dataclass(frozen=True)
class ExportOptions:
    namespace: str = "hostd"
    ingress_class: str | None = None
    cluster_issuer: str = "letsencrypt-http01"
    image_prefix: str = "localhost/hostd"
    replicas: int = 2
    acme_server: str = LETS_ENCRYPT

    def checked(self) -> ExportOptions:
        """These options, or a UsageError naming the one Kubernetes would refuse."""
        if not _DNS_LABEL.match(self.namespace):
            raise UsageError(f"--namespace {self.namespace!r} is not a DNS label (a-z, 0-9, '-')")
        if self.ingress_class is not None and not _DNS_NAME.match(self.ingress_class):
            raise UsageError(f"--ingress-class {self.ingress_class!r} is not a DNS name")
        if not _DNS_NAME.match(self.cluster_issuer):
            raise UsageError(f"--cluster-issuer {self.cluster_issuer!r} is not a DNS name")
        if not _IMAGE_PREFIX.match(self.image_prefix):
            raise UsageError(
                f"--image-prefix {self.image_prefix!r} is not an image name like REGISTRY/PATH"
            )
        if self.replicas < 1:
            raise UsageError("--replicas must be at least 1")
        return self


@dataclass(frozen=True)
class Build:
    """What the edge knows of a site: its build context's image tag, and the variables
    of its `env_file:` (read by the edge, for the Secret; never part of the image)."""

    tag: str
    secrets: tuple[tuple[str, str], ...] = ()


def workers_for(cpu_milli: int) -> int:
    """gunicorn's `auto` workers for a pod that requests `cpu_milli` millicores:
    2 × cores + 1, cores rounded up, as hostd computes them from a host's cores."""
    return 2 * max(1, math.ceil(cpu_milli / 1000)) + 1


def image_of(site: Site, options: ExportOptions, build: Build) -> str:
    return f"{options.image_prefix}/{site.name}:{build.tag}"


def labels(site: Site) -> dict[str, str]:
    return {**selector(site), "app.kubernetes.io/managed-by": "hostd",
            "app.kubernetes.io/part-of": "hostd"}  # fmt: skip


def selector(site: Site) -> dict[str, str]:
    return {"app.kubernetes.io/name": site.name, "app.kubernetes.io/instance": site.name}


def _meta(name: str, site: Site, options: ExportOptions) -> Obj:
    return {"name": name, "namespace": options.namespace, "labels": labels(site)}


def check_name(site: Site) -> None:
    """A SiteError if the site's name cannot name a Service."""
    if not _SERVICE_NAME.match(site.name):
        raise SiteError(
            f"site name {site.name!r} cannot name a Kubernetes Service: it must start "
            "with a letter and not end with '-'",
            file=site.file,
        )


def env_secret_name(site: Site) -> str:
    return f"{site.name}-env"


def pvc_name(site: Site, index: int) -> str:
    return f"{site.name}-static-{index}"


def gunicorn_command(site: Site) -> list[str]:
    workers = site.app.workers or workers_for(APP_CPU_MILLI)
    return [
        "gunicorn",
        "--config", str(IMAGE_ROOT / "gunicorn.conf.py"),
        "--chdir", str(IMAGE_APP),
        "--bind", f"0.0.0.0:{APP_PORT}",
        "--workers", str(workers),
        "--timeout", str(site.app.timeout),
        "--graceful-timeout", str(site.app.graceful_timeout),
        "--error-logfile", "-",
        *tuning_flags(site),
        site.app.wsgi,
    ]  # fmt: skip


def termination_grace(site: Site) -> int:
    return site.app.graceful_timeout + KILL_MARGIN


def has_secret(site: Site, build: Build) -> bool:
    return bool(site.app.env or build.secrets)


def _readiness(site: Site) -> Obj:
    probe: Obj = {"periodSeconds": 5, "failureThreshold": 3}
    if site.app.health:
        probe["httpGet"] = {
            "path": site.app.health,
            "port": "http",
            "httpHeaders": [{"name": "Host", "value": site.domains[0]}],
        }
    else:
        probe["tcpSocket"] = {"port": "http"}
    return probe


def _app_container(site: Site, image: str, build: Build) -> Obj:
    container: Obj = {
        "name": "app",
        "image": image,
        "command": gunicorn_command(site),
        "ports": [{"name": "http", "containerPort": APP_PORT, "protocol": "TCP"}],
        "env": [
            {"name": "HOSTD_SITE", "value": site.name},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
        ],
        "readinessProbe": _readiness(site),
        "resources": {"requests": {"cpu": f"{APP_CPU_MILLI}m", "memory": APP_MEMORY}},
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    if has_secret(site, build):
        container["envFrom"] = [{"secretRef": {"name": env_secret_name(site)}}]
    return container


def _static_container(site: Site, image: str) -> Obj:
    mounts = [
        {"name": f"static-{i}", "mountPath": str(static_mount(i)), "readOnly": True}
        for i, _ in enumerate(outside_folders(site), start=1)
    ]
    container: Obj = {
        "name": "static",
        "image": image,
        "command": ["/usr/sbin/nginx", "-c", str(IMAGE_ROOT / "static.conf"), "-g", "daemon off;"],
        "ports": [{"name": "static", "containerPort": STATIC_PORT, "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": "static"}, "periodSeconds": 5},
        "resources": {"requests": {"cpu": STATIC_CPU, "memory": STATIC_MEMORY}},
        "securityContext": {"allowPrivilegeEscalation": False},
    }
    if mounts:
        container["volumeMounts"] = mounts
    return container


def deployment(site: Site, options: ExportOptions, build: Build) -> Obj:
    image = image_of(site, options, build)
    containers = [_app_container(site, image, build)]
    if site.static:
        containers.append(_static_container(site, image))
    uid = user_id(site_user(site))
    pod: Obj = {
        "containers": containers,
        "securityContext": {"runAsUser": uid, "runAsGroup": uid, "runAsNonRoot": True},
        "terminationGracePeriodSeconds": termination_grace(site),
    }
    volumes = [
        {"name": f"static-{i}", "persistentVolumeClaim": {"claimName": pvc_name(site, i)}}
        for i, _ in enumerate(outside_folders(site), start=1)
    ]
    if volumes:
        pod["volumes"] = volumes
    template_meta: Obj = {"labels": labels(site)}
    if has_secret(site, build):
        # a changed env changes the pod template, so the Deployment rolls like hostd restarts
        template_meta["annotations"] = {"hostd.io/env-hash": env_hash(site, build)}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(site.name, site, options),
        "spec": {
            "replicas": options.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(site)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {"metadata": template_meta, "spec": pod},
        },
    }


def env_hash(site: Site, build: Build) -> str:
    text = "\0".join(f"{key}={value}" for key, value in (*site.app.env, *build.secrets))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def service(site: Site, options: ExportOptions) -> Obj:
    ports = [{"name": "http", "port": APP_PORT, "targetPort": "http", "protocol": "TCP"}]
    if site.static:
        ports.append(
            {"name": "static", "port": STATIC_PORT, "targetPort": "static", "protocol": "TCP"}
        )
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(site.name, site, options),
        "spec": {"type": "ClusterIP", "selector": selector(site), "ports": ports},
    }


def _path(prefix: str, site: Site, port: str) -> Obj:
    return {
        "path": prefix,
        "pathType": "Prefix",
        "backend": {"service": {"name": site.name, "port": {"name": port}}},
    }


def ingress(site: Site, options: ExportOptions) -> Obj:
    paths = [_path(prefix, site, "static") for prefix, _ in site.static]
    paths.append(_path("/", site, "http"))
    spec: Obj = {"rules": [{"host": domain, "http": {"paths": paths}} for domain in site.domains]}
    if options.ingress_class:
        spec["ingressClassName"] = options.ingress_class
    meta = _meta(site.name, site, options)
    if site.tls is Tls.AUTO:
        meta["annotations"] = {"cert-manager.io/cluster-issuer": options.cluster_issuer}
        spec["tls"] = [{"hosts": list(site.domains), "secretName": f"{site.name}-tls"}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def env_secret(site: Site, options: ExportOptions, build: Build) -> Obj:
    """`env` and the `env_file` variables together: hostd refuses a name set in both."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(env_secret_name(site), site, options),
        "type": "Opaque",
        "stringData": dict(sorted((*site.app.env, *build.secrets))),
    }


def static_claims(site: Site, options: ExportOptions) -> list[Obj]:
    """A ReadWriteMany claim per static folder outside the app root: every replica
    mounts it, and the operator fills it with the folder's files."""
    claims = []
    for index, folder in enumerate(outside_folders(site), start=1):
        meta = _meta(pvc_name(site, index), site, options)
        prefixes = [prefix for prefix, f in site.static if f == folder]
        meta["annotations"] = {
            "hostd.io/static-folder": str(folder),
            "hostd.io/static-prefixes": " ".join(prefixes),
        }
        claims.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": meta,
                "spec": {
                    "accessModes": ["ReadWriteMany"],
                    "resources": {"requests": {"storage": STATIC_STORAGE}},
                },
            }
        )
    return claims


def site_objects(site: Site, options: ExportOptions, build: Build) -> dict[str, Obj]:
    """The objects of one site, by file name."""
    check_name(site)
    objects = {
        "deployment.yaml": deployment(site, options, build),
        "service.yaml": service(site, options),
        "ingress.yaml": ingress(site, options),
    }
    if has_secret(site, build):
        objects[SECRET_FILE] = env_secret(site, options, build)
    for index, claim in enumerate(static_claims(site, options), start=1):
        objects[f"pvc-static-{index}.yaml"] = claim
    return objects


def namespace(options: ExportOptions) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": options.namespace,
                     "labels": {"app.kubernetes.io/managed-by": "hostd"}},
    }  # fmt: skip


def cluster_issuer(options: ExportOptions) -> Obj:
    ingress_solver: Obj = {}
    if options.ingress_class:
        ingress_solver["ingressClassName"] = options.ingress_class
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": {"name": options.cluster_issuer,
                     "labels": {"app.kubernetes.io/managed-by": "hostd"}},
        "spec": {
            "acme": {
                "server": options.acme_server,
                "privateKeySecretRef": {"name": f"{options.cluster_issuer}-account-key"},
                "solvers": [{"http01": {"ingress": ingress_solver}}],
            }
        },
    }  # fmt: skip


def shared_objects(options: ExportOptions) -> dict[str, Obj]:
    """The objects of the export as a whole, by file name."""
    return {"namespace.yaml": namespace(options), "cluster-issuer.yaml": cluster_issuer(options)}


def kustomization(resources: list[str]) -> Obj:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }


def all_objects(
    sites: Mapping[str, Site], options: ExportOptions, builds: Mapping[str, Build]
) -> dict[str, Obj]:
    """Every object and kustomization of an export, by path in the output tree."""
    options.checked()
    tree: dict[str, Obj] = dict(shared_objects(options))
    names = sorted(sites)
    for name in names:
        objects = site_objects(sites[name], options, builds[name])
        for file, obj in objects.items():
            tree[f"sites/{name}/{file}"] = obj
        tree[f"sites/{name}/kustomization.yaml"] = kustomization(sorted(objects))
    tree["kustomization.yaml"] = kustomization(
        ["namespace.yaml", "cluster-issuer.yaml", *(f"sites/{name}" for name in names)]
    )
    return tree
