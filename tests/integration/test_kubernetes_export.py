"""`hostd export --target kubernetes` as an operator runs it: every object valid for
the Kubernetes versions it claims, cert-manager objects valid against cert-manager's
own CRDs, the same bytes on every run, and requirements frozen from a real venv.

Core objects are checked with `kubernetes-validate --strict` (Kubernetes' own
schemas, oldest and newest it bundles); the ClusterIssuer with `check-jsonschema`
against the CRD's openAPIV3Schema made strict (no properties beyond those listed).
The CRDs are cert-manager's own files, read where the README's "Beyond one box" says
(HOSTD_CERT_MANAGER_CRDS), never copied into the project.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from hostd.cli import main
from hostd.core.kubernetes.objects import Build, ExportOptions, all_objects
from hostd.core.site import Site, parse_site
from hostd.edges.export import MARKER, app_files, frozen_requirements
from hostd.edges.inputs import load_site
from hostd.edges.runner import Completed
from hostd.errors import SiteError

ROOT = Path(__file__).resolve().parents[2]
# cert-manager v1.21.1's published CRDs: HOSTD_CERT_MANAGER_CRDS, else the reference
# data CI lays beside the checkout
CRDS = Path(
    os.environ.get("HOSTD_CERT_MANAGER_CRDS")
    or ROOT.parent / "shared" / "k8s" / "cert-manager-v1.21.1"
)
VERSIONS = ("1.25.0", "1.37.0")
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
OPTIONS = (
    ExportOptions(),
    ExportOptions(
        namespace="web",
        ingress_class="nginx",
        cluster_issuer="le-staging",
        image_prefix="registry.example.com:5000/team/sites",
        replicas=3,
    ),
)


def sites() -> dict[str, Site]:
    found = {p.stem: load_site(p) for p in sorted((ROOT / "sites.d").glob("*.yaml"))}
    for p in sorted((ROOT / "tests" / "cases").glob("*/site.yaml")):
        found[p.parent.name] = parse_site(Path(f"/srv/sites/{p.parent.name}.yaml"), p.read_text())
    return found


def exported() -> list[dict[str, Any]]:
    """Every object of exports of all example and case sites, with each set of options."""
    found = sites()
    objects: list[dict[str, Any]] = []
    for options in OPTIONS:
        tree = all_objects(found, options, {name: Build("0123456789abcdef") for name in found})
        objects += [obj for obj in tree.values() if obj["kind"] != "Kustomization"]
    return objects


def strict(schema: Any) -> Any:
    """A CRD's openAPIV3Schema as a strict JSON Schema: `additionalProperties: false`
    where properties are listed and nothing else is allowed; int-or-string spelled out."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {
        key: strict(value) for key, value in schema.items() if not key.startswith("x-kubernetes-")
    }
    if schema.get("x-kubernetes-int-or-string"):
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in schema and "additionalProperties" not in schema and not preserve:
        out["additionalProperties"] = False
    return out


@pytest.fixture(scope="module")
def crd_schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """kind -> a strict JSON Schema file made from cert-manager's CRD of that kind."""
    assert CRDS.is_dir(), (
        f"cert-manager's CRDs are expected in {CRDS} (set HOSTD_CERT_MANAGER_CRDS to the "
        "folder of cert-manager v1.21.1's certificates, issuers and clusterissuers CRDs)"
    )
    folder = tmp_path_factory.mktemp("crd-schemas")
    out: dict[str, Path] = {}
    for file in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(file.read_text())
        (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
        schema = strict(version["schema"]["openAPIV3Schema"])
        schema["properties"]["apiVersion"] = {"const": "cert-manager.io/v1"}
        schema["properties"]["kind"] = {"const": crd["spec"]["names"]["kind"]}
        schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "spec"})
        path = folder / f"{crd['spec']['names']['kind']}.json"
        path.write_text(json.dumps(schema))
        out[crd["spec"]["names"]["kind"]] = path
    assert set(out) >= {"ClusterIssuer", "Issuer", "Certificate"}
    return out


def check_jsonschema(schema: Path, docs: list[dict[str, Any]], folder: Path) -> tuple[int, str]:
    files = []
    for i, doc in enumerate(docs):
        files.append(folder / f"doc-{i}.yaml")
        files[-1].write_text(yaml.safe_dump(doc))
    done = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--schemafile", str(schema), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout + done.stderr


def test_every_core_object_is_valid_for_old_and_new_kubernetes() -> None:
    objects = [o for o in exported() if o["apiVersion"] != "cert-manager.io/v1"]
    kinds = {o["kind"] for o in objects}
    assert kinds == {
        "Namespace",
        "Deployment",
        "Service",
        "Ingress",
        "Secret",
        "PersistentVolumeClaim",
    }
    for obj in objects:
        for version in VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)


# a planted error per kind: a key Kubernetes does not know, where each kind keeps its data
PLANTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "Namespace": lambda o: o["metadata"].update(nmae="x"),
    "Deployment": lambda o: o["spec"]["template"]["spec"]["containers"][0].update(
        imagePullPolcy="x"
    ),
    "Service": lambda o: o["spec"].update(clusterIPs="10.0.0.1"),  # a list, not a string
    "Ingress": lambda o: o["spec"]["rules"][0].update(hosts=["x"]),
    "Secret": lambda o: o.update(stringdata={"A": "b"}),
    "PersistentVolumeClaim": lambda o: o["spec"].update(accessMode="ReadWriteMany"),
}


@pytest.mark.parametrize("kind", sorted(PLANTS))
def test_a_planted_error_in_each_kind_is_caught(kind: str) -> None:
    obj = copy.deepcopy(next(o for o in exported() if o["kind"] == kind))
    PLANTS[kind](obj)
    for version in VERSIONS:
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(obj, version, strict=True)


def test_every_cert_manager_object_is_valid_against_its_crd(
    crd_schemas: dict[str, Path], tmp_path: Path
) -> None:
    issuers = [o for o in exported() if o["apiVersion"] == "cert-manager.io/v1"]
    assert {o["kind"] for o in issuers} == {"ClusterIssuer"} and len(issuers) == len(OPTIONS)
    code, output = check_jsonschema(crd_schemas["ClusterIssuer"], issuers, tmp_path)
    assert code == 0, output


@pytest.mark.parametrize(
    "plant",
    [
        lambda o: o["spec"]["acme"].update(serverr="https://x"),  # an unknown key
        lambda o: o["spec"]["acme"]["solvers"][0]["http01"]["ingress"].update(ingressClassName=7),
        lambda o: o["spec"]["acme"].pop("privateKeySecretRef"),
    ],  # a required key missing
    ids=["unknown-key", "wrong-type", "missing-key"],
)
def test_a_planted_error_in_the_cluster_issuer_is_caught(
    plant: Callable[[dict[str, Any]], None], crd_schemas: dict[str, Path], tmp_path: Path
) -> None:
    issuer = copy.deepcopy(next(o for o in exported() if o["kind"] == "ClusterIssuer"))
    plant(issuer)
    code, output = check_jsonschema(crd_schemas["ClusterIssuer"], [issuer], tmp_path)
    assert code == 1, output


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def export(out: Path, *extra: str, sites_dir: Path = ROOT / "sites.d") -> int:
    return main(
        ["export", "--target", "kubernetes", "--out", str(out), "--sites", str(sites_dir), *extra]
    )


def test_the_same_site_files_give_byte_identical_exports(tmp_path: Path) -> None:
    assert export(tmp_path / "one") == 0
    assert export(tmp_path / "two") == 0
    first = tree(tmp_path / "one")
    assert first == tree(tmp_path / "two")
    assert "build/blog/app/blog/static/style.css" in first and MARKER in first
    assert export(tmp_path / "one", "--replicas", "3") == 0  # an earlier export is replaced whole
    assert b"replicas: 3" in tree(tmp_path / "one")["sites/hello/deployment.yaml"]


def test_a_folder_that_is_no_export_is_refused_and_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert export(tmp_path / "mine") == 2
    assert "is not an earlier hostd export" in capsys.readouterr().err
    assert tree(tmp_path / "mine") == {"notes.txt": b"keep me"}


def test_an_invalid_site_stops_the_export_naming_file_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sites_dir = tmp_path / "sites"
    sites_dir.mkdir()
    (sites_dir / "good.yaml").write_text(
        f"domains: [good.localhost]\napp:\n  root: {ROOT}/examples/hello\n  wsgi: app:app\n"
    )
    (sites_dir / "bad.yaml").write_text(
        f"domains: [bad.localhost]\napp:\n  root: {ROOT}/examples/hello\n  wsgi: app:app\n"
        "  workers: lots\n"
    )
    assert export(tmp_path / "out", sites_dir=sites_dir) == 1
    said = capsys.readouterr().out
    assert f"{sites_dir}/bad.yaml:5: app.workers:" in said and "nothing exported" in said
    assert not (tmp_path / "out").exists()


def test_requirements_are_frozen_from_the_sites_venv_which_is_never_copied(tmp_path: Path) -> None:
    app = tmp_path / "app"
    (app / "pkg").mkdir(parents=True)
    (app / "pkg" / "__init__.py").write_text("")
    (app / "pkg" / "__pycache__").mkdir()
    (app / "pkg" / "__pycache__" / "x.pyc").write_bytes(b"")
    venv.create(app / ".venv", with_pip=False)  # a venv inside the app root
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(app / ".venv" / "bin" / "python"),
            "install",
            "-q",
            "gunicorn",
        ],
        check=True,
        capture_output=True,
        timeout=240,
    )
    site_file = tmp_path / "venvsite.yaml"
    site_file.write_text(
        "domains: [v.localhost]\napp:\n  root: app\n  wsgi: pkg:app\n  venv: app/.venv\n"
    )
    site = parse_site(site_file, site_file.read_text())
    frozen = frozen_requirements(site)
    pins = [line for line in frozen.splitlines() if not line.startswith("#")]
    assert any(line.startswith("gunicorn==") for line in pins), frozen
    assert pins and all("==" in line for line in pins), frozen
    assert app_files(site) == [Path("pkg/__init__.py")]
    # a package installed from a local folder cannot be installed in an image
    pip_says = "localpkg @ file:///home/me/localpkg\ngunicorn==23.0.0\n"
    with pytest.raises(SiteError, match=r"venvsite.yaml: app.venv: .*local files.*localpkg"):
        frozen_requirements(site, AnsweringRunner(pip_says))


class AnsweringRunner:
    """A runner that answers every command with `output` (for the refusal above)."""

    def __init__(self, output: str) -> None:
        self.output = output

    def run(self, argv: Any, **_: Any) -> Completed:
        return Completed(tuple(argv), 0, self.output)


def test_an_option_kubernetes_would_refuse_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert export(tmp_path / "out", "--namespace", "Web_Sites") == 2
    assert "--namespace 'Web_Sites' is not a DNS label" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_env_file_values_reach_the_secret_alone_and_it_is_owner_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sites_dir = tmp_path / "sites"
    sites_dir.mkdir()
    secret = "s3cr3t value with 'quotes' and $"
    env_file = sites_dir / "vault.env"
    env_file.write_text(f'API_TOKEN="{secret.replace("$", chr(92) + "$")}"\n')
    env_file.chmod(0o600)
    (sites_dir / "vault.yaml").write_text(
        f"domains: [vault.localhost]\nenv_file: vault.env\napp:\n  root: {ROOT}/examples/hello\n"
        "  wsgi: app:app\n"
    )
    assert export(tmp_path / "out", sites_dir=sites_dir) == 0
    said = capsys.readouterr()
    files = tree(tmp_path / "out")
    holding = sorted(rel for rel, data in files.items() if secret.encode() in data)
    assert holding == ["sites/vault/secret.yaml"]
    assert secret not in said.out + said.err
    assert ((tmp_path / "out/sites/vault/secret.yaml").stat().st_mode & 0o777) == 0o600
    document = yaml.safe_load(files["sites/vault/secret.yaml"])
    assert document["stringData"] == {"API_TOKEN": secret}
    deployment = yaml.safe_load(files["sites/vault/deployment.yaml"])
    app = deployment["spec"]["template"]["spec"]["containers"][0]
    assert app["envFrom"] == [{"secretRef": {"name": "vault-env"}}]
