"""`hostd export --target kubernetes`, the pure part: golden outputs and the rules
the objects keep.

Each site of sites.d/ and of tests/cases/ has its whole export (objects and the
generated files of its build context) in tests/kubernetes/NAME.txt, made with fixed
requirements and a fixed app digest (the edge supplies real ones). After an intended
change, rewrite them with

    HOSTD_UPDATE_GOLDEN=1 pytest tests/unit/test_kubernetes.py

and review the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from hostd.core.kubernetes.context import user_id
from hostd.core.kubernetes.objects import (
    Build,
    ExportOptions,
    all_objects,
    site_objects,
    workers_for,
)
from hostd.core.kubernetes.text import export_tree
from hostd.core.render import GRACEFUL_TIMEOUT
from hostd.core.site import Site, parse_site
from hostd.edges.inputs import load_site
from hostd.errors import SiteError, UsageError

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "tests" / "cases"
GOLDEN = ROOT / "tests" / "kubernetes"
UPDATE = os.environ.get("HOSTD_UPDATE_GOLDEN") == "1"
REQUIREMENTS = "Flask==3.1.0\ngunicorn==23.0.0\n"
DIGEST = "0" * 64


def example_sites() -> dict[str, Site]:
    return {p.stem: load_site(p) for p in sorted((ROOT / "sites.d").glob("*.yaml"))}


def case_sites() -> dict[str, Site]:
    return {
        p.parent.name: parse_site(Path(f"/srv/sites/{p.parent.name}.yaml"), p.read_text())
        for p in sorted(CASES.glob("*/site.yaml"))
    }


def all_sites() -> dict[str, Site]:
    return {**example_sites(), **case_sites()}


def export_of(sites: dict[str, Site], options: ExportOptions | None = None) -> dict[str, str]:
    return export_tree(
        sites,
        options or ExportOptions(),
        {name: REQUIREMENTS for name in sites},
        {name: DIGEST for name in sites},
    )


def as_text(files: dict[str, str]) -> str:
    return "".join(f"=== {path}\n{text}" for path, text in files.items())


def objects_of(site: Site, options: ExportOptions | None = None) -> dict[str, Any]:
    return all_objects({site.name: site}, options or ExportOptions(), {site.name: Build("t")})


@pytest.mark.parametrize("name", sorted(all_sites()))
def test_golden_export(name: str) -> None:
    site = all_sites()[name]
    got = as_text(export_of({name: site}))
    golden = GOLDEN / f"{name}.txt"
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(got)
    assert got == golden.read_text()
    assert "&id0" not in got  # no YAML anchors: each object is written out in full


def test_every_site_has_a_golden_export_and_no_golden_is_left_over() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.txt")) == sorted(all_sites())


def test_the_same_sites_give_the_same_bytes_in_any_order() -> None:
    sites = all_sites()
    backwards = dict(reversed(list(sites.items())))
    assert export_of(sites) == export_of(backwards)


def test_a_changed_app_or_requirements_change_the_image_tag_and_nothing_else_of_the_pod() -> None:
    site = example_sites()["hello"]
    base = export_tree({"hello": site}, ExportOptions(), {"hello": REQUIREMENTS}, {"hello": DIGEST})
    other_app = export_tree(
        {"hello": site}, ExportOptions(), {"hello": REQUIREMENTS}, {"hello": "1" * 64}
    )
    other_reqs = export_tree(
        {"hello": site}, ExportOptions(), {"hello": "Flask==3.0\n"}, {"hello": DIGEST}
    )
    image = [
        yaml.safe_load(t["sites/hello/deployment.yaml"])["spec"]["template"]["spec"]["containers"][
            0
        ]["image"]
        for t in (base, other_app, other_reqs)
    ]
    assert len(set(image)) == 3
    assert all(i.startswith("localhost/hostd/hello:") for i in image)
    changed = {path for path in base if base[path] != other_app[path]}
    assert changed == {"sites/hello/deployment.yaml"}


def test_auto_workers_come_from_the_pods_cpu_request() -> None:
    site = case_sites()["env-venv"]  # workers: auto
    container = objects_of(site)["sites/env-venv/deployment.yaml"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    cpu = container["resources"]["requests"]["cpu"]
    assert cpu.endswith("m")
    workers = container["command"][container["command"].index("--workers") + 1]
    assert workers == str(workers_for(int(cpu[:-1]))) == "3"
    assert workers_for(250) == 3 and workers_for(1500) == 5 and workers_for(2000) == 5


def test_the_deployment_rolls_without_losing_capacity_and_stops_as_hostd_does() -> None:
    site = case_sites()["env-venv"]
    deployment = objects_of(site)["sites/env-venv/deployment.yaml"]
    spec = deployment["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == GRACEFUL_TIMEOUT + 10
    assert pod["securityContext"]["runAsUser"] == user_id("www-api") != 0
    app = pod["containers"][0]
    assert app["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert app["envFrom"] == [{"secretRef": {"name": "env-venv-env"}}]
    assert app["command"][-1] == "api.main:application"


def test_static_prefixes_go_to_the_static_container_and_tls_asks_cert_manager() -> None:
    site = case_sites()["static-tls"]
    objects = objects_of(site, ExportOptions(ingress_class="traefik", cluster_issuer="le"))
    ingress = objects["sites/static-tls/ingress.yaml"]
    assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "le"}
    assert ingress["spec"]["ingressClassName"] == "traefik"
    assert [r["host"] for r in ingress["spec"]["rules"]] == list(site.domains)
    paths = {
        p["path"]: p["backend"]["service"]["port"]["name"]
        for p in ingress["spec"]["rules"][0]["http"]["paths"]
    }
    assert paths == {"/static/": "static", "/media/uploads/": "static", "/": "http"}
    assert ingress["spec"]["tls"] == [{"hosts": list(site.domains), "secretName": "static-tls-tls"}]
    # /media/uploads/ is outside the app root: one ReadWriteMany claim; /static/ is in the image
    claims = [o for o in objects.values() if o["kind"] == "PersistentVolumeClaim"]
    assert [c["spec"]["accessModes"] for c in claims] == [["ReadWriteMany"]]
    issuer = objects["cluster-issuer.yaml"]
    assert issuer["spec"]["acme"]["solvers"] == [
        {"http01": {"ingress": {"ingressClassName": "traefik"}}}
    ]


def test_no_controller_annotations_and_no_tls_for_plain_sites() -> None:
    ingress = objects_of(case_sites()["minimal"])["sites/minimal/ingress.yaml"]
    assert "annotations" not in ingress["metadata"] and "tls" not in ingress["spec"]
    assert "ingressClassName" not in ingress["spec"]
    objects = objects_of(case_sites()["minimal"])
    assert not any(o["kind"] in ("Secret", "PersistentVolumeClaim") for o in objects.values())


def test_labels_are_the_recommended_ones_and_select_one_site() -> None:
    for path, obj in objects_of(example_sites()["blog"], ExportOptions(replicas=3)).items():
        if path.startswith("sites/blog/") and obj["kind"] != "Kustomization":
            labels = obj["metadata"]["labels"]
            assert labels["app.kubernetes.io/name"] == "blog"
            assert labels["app.kubernetes.io/managed-by"] == "hostd"
            assert obj["metadata"]["namespace"] == "hostd"


def test_a_site_name_no_service_may_have_is_refused_with_its_file() -> None:
    site = parse_site(
        Path("/srv/sites/1st.yaml"), "domains: [a.example]\napp: {root: /a, wsgi: a:app}\n"
    )
    with pytest.raises(SiteError, match=r"/srv/sites/1st.yaml.*start with a letter"):
        objects_of(site)


@pytest.mark.parametrize(
    "options",
    [
        ExportOptions(namespace="Not_A_Label"),
        ExportOptions(replicas=0),
        ExportOptions(image_prefix="Registry/UPPER"),
        ExportOptions(ingress_class="-x"),
        ExportOptions(cluster_issuer="a b"),
    ],
)
def test_options_kubernetes_would_refuse_are_refused(options: ExportOptions) -> None:
    with pytest.raises(UsageError):
        options.checked()


def test_the_pod_runs_gunicorn_with_the_sites_own_tuning() -> None:
    text = (
        "domains: [tuned.example.com]\n"
        "app:\n  root: /srv/tuned\n  wsgi: app:app\n  worker_class: gthread\n  threads: 4\n"
        "  timeout: 120\n  graceful_timeout: 50\n  max_requests: 1000\n"
        "  max_requests_jitter: 50\n  preload: true\n"
    )
    site = parse_site(Path("/srv/sites/tuned.yaml"), text)
    pod = site_objects(site, ExportOptions(), Build("t"))["deployment.yaml"]["spec"]["template"]
    command = pod["spec"]["containers"][0]["command"]
    flags = " ".join(command)
    assert "--timeout 120 --graceful-timeout 50" in flags
    assert (
        "--worker-class gthread --threads 4 --max-requests 1000 --max-requests-jitter 50" in flags
    )
    assert "--preload" in command and command[-1] == "app:app"
    assert pod["spec"]["terminationGracePeriodSeconds"] == 60


def test_env_file_variables_join_env_in_the_one_secret() -> None:
    text = "domains: [s.example.com]\napp:\n  root: /srv/s\n  wsgi: app:app\n  env: {MODE: prod}\n"
    site = parse_site(Path("/srv/sites/s.yaml"), text)
    plain = site_objects(site, ExportOptions(), Build("t"))
    with_file = site_objects(site, ExportOptions(), Build("t", (("TOKEN", "a b'\"c"),)))
    assert plain["secret.yaml"]["stringData"] == {"MODE": "prod"}
    assert with_file["secret.yaml"]["stringData"] == {"MODE": "prod", "TOKEN": "a b'\"c"}
    hashes = [
        objects["deployment.yaml"]["spec"]["template"]["metadata"]["annotations"]
        for objects in (plain, with_file)
    ]
    assert hashes[0] != hashes[1]  # a changed secret rolls the pods
    only_file = parse_site(
        Path("/srv/sites/f.yaml"), "domains: [f.example.com]\napp: {root: /srv/f, wsgi: app:app}\n"
    )
    objects = site_objects(only_file, ExportOptions(), Build("t", (("TOKEN", "x"),)))
    app = objects["deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]
    assert app["envFrom"] == [{"secretRef": {"name": "f-env"}}]
    assert objects["secret.yaml"]["stringData"] == {"TOKEN": "x"}
