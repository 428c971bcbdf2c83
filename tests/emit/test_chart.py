"""Chart emission from real bundle renders, checked with helm 3.17 and helm 4 (no mocks)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.draft import ReleaseSpec, Template
from extractor.emit.chart import chart_version, render_values, set_chart_version, template_filenames, write_chart
from extractor.errors import EmitError
from tests.support.drafts import TARGETS, processed_draft
from tests.support.kubeschema import assert_valid
from tests.support.tools import require_shared, require_tool

CHARTS = list(TARGETS)
PULL_SECRET = json.dumps({"auths": {"registry.example": {"auth": base64.b64encode(b"u:p").decode()}}})


def _run(tool: str, *args: str | Path) -> str:
    path = require_tool(tool)
    proc = subprocess.run([str(path), *map(str, args)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{tool} {' '.join(map(str, args))}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def charts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, ReleaseSpec]]:
    root = tmp_path_factory.mktemp("charts")
    return {name: (root / name, write_chart(processed_draft(name), root / name)) for name in CHARTS}


def _template(
    chart: Path, namespace: str, values: dict[str, Any] | None = None, tool: str = "helm"
) -> list[dict[str, Any]]:
    args: list[str | Path] = ["template", "rel", chart, "--namespace", namespace]
    if values is not None:
        values_file = chart.parent / f"{chart.name}-test-values.yaml"
        values_file.write_text(yamlio.dump(values))
        args += ["--values", values_file]
    return [d for d in yamlio.load_all(_run(tool, *args)) if d]


def _presync_crds(chart: Path) -> list[dict[str, Any]]:
    return [yamlio.load(p.read_bytes()) for p in sorted((chart / "presync").rglob("*.yaml"))]


@pytest.mark.parametrize("tool", ["helm", "helm4"])
@pytest.mark.parametrize("name", CHARTS)
def test_helm_lint_strict(charts: dict[str, tuple[Path, ReleaseSpec]], name: str, tool: str, tmp_path: Path) -> None:
    _run(tool, "lint", "--strict", charts[name][0])
    values = tmp_path / "values.yaml"
    values.write_text(yamlio.dump({"pullSecret": {"dockerConfigJson": PULL_SECRET}, "imagePullSecrets": ["x"]}))
    _run(tool, "lint", "--strict", charts[name][0], "--values", values)


@pytest.mark.parametrize("name", CHARTS)
def test_rendered_objects_validate(charts: dict[str, tuple[Path, ReleaseSpec]], name: str) -> None:
    chart, _ = charts[name]
    docs = _template(chart, TARGETS[name].namespace, {"pullSecret": {"dockerConfigJson": PULL_SECRET}})
    report = assert_valid(docs, "1.31", crds=_presync_crds(chart))
    assert not report.skipped, report.skipped
    kinds = {d["kind"] for d in docs}
    assert "CustomResourceDefinition" not in kinds
    assert {"Deployment", "ServiceAccount", "Secret", "ConfigMap"} <= kinds
    helm4_docs = _template(chart, TARGETS[name].namespace, {"pullSecret": {"dockerConfigJson": PULL_SECRET}}, "helm4")
    assert helm4_docs == docs


def _namespaces(docs: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    found = set()
    for doc in docs:
        found.add((doc["kind"], doc["metadata"]["name"], str(doc["metadata"].get("namespace"))))
        for subject in doc.get("subjects") or []:
            found.add(("subject", subject["name"], str(subject.get("namespace"))))
    return found


@pytest.mark.parametrize("name", CHARTS)
def test_release_namespace_moves_everything_but_fixed_namespaces(
    charts: dict[str, tuple[Path, ReleaseSpec]], name: str
) -> None:
    chart, _ = charts[name]
    install = TARGETS[name].namespace
    values = {"pullSecret": {"dockerConfigJson": PULL_SECRET}}
    default = _template(chart, install, values)
    moved = _template(chart, "other", values)
    # the kube-system auth-reader RoleBinding is named after the release namespace too
    expected = {
        (k, n.replace(f"-{install}-", "-other-"), "other" if ns == install else ns) for k, n, ns in _namespaces(default)
    }
    assert _namespaces(moved) == expected
    assert install not in json.dumps([d.get("metadata", {}).get("namespace") for d in moved])
    fixed = {ns for _, _, ns in _namespaces(moved)} - {"other", "None"}
    assert fixed <= {"kube-system", "cert-manager"}
    # no namespace-valued field of the moved render still names the install namespace
    # (prose such as the CSV's uninstall-message annotation or alm-examples JSON may)
    field = re.compile(r"^\s*(- )?[\w./-]*[nN]amespaces?: ")
    for doc in moved:
        for line in yamlio.dump(doc).splitlines():
            if install in line and field.match(line):
                pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {line.strip()}")


def test_fixed_namespaces_per_chart(charts: dict[str, tuple[Path, ReleaseSpec]]) -> None:
    lws = _template(charts["lws-operator"][0], "other")
    [binding] = [d for d in lws if d["kind"] == "RoleBinding" and d["metadata"]["namespace"] == "kube-system"]
    assert binding["metadata"]["name"] == "rel-other-auth-reader"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "openshift-lws-operator", "namespace": "other"}]
    deployment = next(d for d in lws if d["kind"] == "Deployment")
    assert deployment["spec"]["template"]["metadata"]["annotations"]["olm.targetNamespaces"] == "other"
    cm = _template(charts["cert-manager-operator"][0], "other", {"pullSecret": {"dockerConfigJson": PULL_SECRET}})
    operand = {(d["kind"], d["metadata"]["name"]) for d in cm if d["metadata"].get("namespace") == "cert-manager"}
    assert operand == {
        ("ServiceAccount", "cert-manager"),
        ("ServiceAccount", "cert-manager-cainjector"),
        ("ServiceAccount", "cert-manager-webhook"),
        ("Secret", "cert-manager-operator-pull-secret"),
    }


@pytest.mark.parametrize("name", CHARTS)
def test_pull_secret_on_every_service_account(charts: dict[str, tuple[Path, ReleaseSpec]], name: str) -> None:
    chart, _ = charts[name]
    namespace = TARGETS[name].namespace
    plain = _template(chart, namespace)
    assert not [d for d in plain if d["kind"] == "Secret"]
    assert all("imagePullSecrets" not in d for d in plain if d["kind"] == "ServiceAccount")

    with_secret = _template(
        chart, namespace, {"pullSecret": {"dockerConfigJson": PULL_SECRET}, "imagePullSecrets": [{"name": "mine"}]}
    )
    secrets = [d for d in with_secret if d["kind"] == "Secret"]
    assert secrets and all(s["type"] == "kubernetes.io/dockerconfigjson" for s in secrets)
    assert {base64.b64decode(s["data"][".dockerconfigjson"]).decode() for s in secrets} == {PULL_SECRET}
    secret_name = secrets[0]["metadata"]["name"]
    secret_namespaces = {s["metadata"]["namespace"] for s in secrets}
    accounts = [d for d in with_secret if d["kind"] == "ServiceAccount"]
    assert accounts
    for account in accounts:
        assert account["imagePullSecrets"] == [{"name": secret_name}, {"name": "mine"}]
        assert account["metadata"]["namespace"] in secret_namespaces


def test_crd_files_are_the_bundle_bytes(charts: dict[str, tuple[Path, ReleaseSpec]]) -> None:
    for name in CHARTS:
        chart, spec = charts[name]
        bundle_files = {
            p.read_bytes() for p in require_shared("bundles", TARGETS[name].bundle_dir, "manifests").glob("*")
        }
        for path in (chart / "presync" / "bundle").iterdir():
            assert path.read_bytes() in bundle_files, path
        assert ("bundle", None) in spec.presync_groups
    cert_manager = charts["cert-manager-operator"]
    assert cert_manager[1].presync_groups == (("bundle", None), ("openshift-infrastructure", "!openshift.enabled"))
    assert len(list((cert_manager[0] / "presync" / "bundle").iterdir())) == 8
    assert len(list((charts["sail-operator"][0] / "presync" / "bundle").iterdir())) == 19


def test_crd_checksums_render(charts: dict[str, tuple[Path, ReleaseSpec]]) -> None:
    chart, _ = charts["sail-operator"]
    docs = _template(chart, "istio-system")
    [configmap] = [d for d in docs if d["kind"] == "ConfigMap"]
    assert len(configmap["data"]) == 19
    assert all(v.startswith("sha256:") for v in configmap["data"].values())


def test_operator_crs_render(charts: dict[str, tuple[Path, ReleaseSpec]]) -> None:
    sail = charts["sail-operator"][0]
    [istio] = [d for d in _template(sail, "mesh") if d["kind"] == "Istio"]
    assert "namespace" not in istio["metadata"]
    assert istio["spec"]["version"] == "v1.27.3"
    assert istio["spec"]["namespace"] == "mesh"
    # a version the CRD's enum lists (values.schema.json refuses the others, as the API server would)
    values = {"istio": {"spec": {"version": "v1.26.6", "namespace": "elsewhere"}}}
    [istio] = [d for d in _template(sail, "mesh", values) if d["kind"] == "Istio"]
    assert istio["spec"]["version"] == "v1.26.6" and istio["spec"]["namespace"] == "elsewhere"
    assert istio["spec"]["updateStrategy"]["type"] == "InPlace"
    assert not [d for d in _template(sail, "mesh", {"istio": {"create": False}}) if d["kind"] == "Istio"]
    # istiod (deployed by the operator) gets the chart's pull secrets through the Istio values
    assert "values" not in istio["spec"]
    values = {"pullSecret": {"dockerConfigJson": PULL_SECRET}, "imagePullSecrets": ["mine"]}
    [istio] = [d for d in _template(sail, "mesh", values) if d["kind"] == "Istio"]
    assert istio["spec"]["values"] == {"global": {"imagePullSecrets": ["sail-operator-pull-secret", "mine"]}}
    assert istio["spec"]["version"] == "v1.27.3"

    cm = charts["cert-manager-operator"][0]
    docs = _template(cm, "cert-manager-operator")
    [cert_manager] = [d for d in docs if d["kind"] == "CertManager"]
    assert cert_manager["spec"] == {"logLevel": "Normal", "managementState": "Managed", "operatorLogLevel": "Normal"}
    [infrastructure] = [d for d in docs if d["kind"] == "Infrastructure"]
    assert infrastructure["status"]["platform"] == "None"
    off = _template(cm, "cert-manager-operator", {"infrastructure": {"create": False}})
    assert not [d for d in off if d["kind"] == "Infrastructure"]


def test_chart_metadata_and_values(charts: dict[str, tuple[Path, ReleaseSpec]]) -> None:
    chart, spec = charts["sail-operator"]
    meta = yamlio.load((chart / "Chart.yaml").read_bytes())
    assert meta["apiVersion"] == "v2" and meta["type"] == "application"
    assert (meta["version"], meta["appVersion"]) == ("3.2.1", "3.2.1")
    assert {k: v for k, v in meta["annotations"].items() if k.startswith("bundle-extract.io/")} == {
        "bundle-extract.io/bundle-image": TARGETS["sail-operator"].bundle_image,
        "bundle-extract.io/bundle-digest": "sha256:" + "ab" * 32,
        "bundle-extract.io/csv-name": "servicemeshoperator3.v3.2.1",
        "bundle-extract.io/package": "servicemeshoperator3",
    }
    values_text = (chart / "values.yaml").read_text()
    assert "# -- Create the Istio `default` custom resource." in values_text
    assert yamlio.load(values_text)["istio"]["spec"]["version"] == "v1.27.3"
    assert ReleaseSpec.from_file(chart / "release.yaml") == spec
    assert spec.custom_resources and spec.registries == ("registry.redhat.io",)
    assert spec.pull_secret_values == "pull-secret.values.yaml.gotmpl"
    helpers = (chart / "templates" / "_helpers.tpl").read_text()
    defines = [line.split('"')[1] for line in helpers.splitlines() if "define" in line]
    assert defines and all(d.startswith("sail-operator.") for d in defines)


def test_package_excludes_presync(charts: dict[str, tuple[Path, ReleaseSpec]], tmp_path: Path) -> None:
    chart, _ = charts["sail-operator"]
    _run("helm", "package", chart, "--destination", tmp_path)
    [archive] = tmp_path.glob("*.tgz")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert not [n for n in names if "/presync/" in n or n.endswith(("release.yaml", ".gotmpl"))]
    # the generated docs and schema are part of the package (.helmignore keeps them)
    assert {"sail-operator/README.md", "sail-operator/templates/NOTES.txt", "sail-operator/values.schema.json"} <= set(
        names
    )
    assert archive.stat().st_size < 100_000


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_emission_is_deterministic(tmp_path: Path) -> None:
    for name in CHARTS:
        write_chart(processed_draft(name), tmp_path / "a" / name)
        write_chart(processed_draft(name), tmp_path / "b" / name)
        assert _tree(tmp_path / "a" / name) == _tree(tmp_path / "b" / name)


def test_chart_dir_must_be_empty(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "stale.yaml").write_text("a: 1\n")
    with pytest.raises(EmitError, match="not empty"):
        write_chart(processed_draft("lws-operator"), tmp_path / "x")


def test_chart_version() -> None:
    assert chart_version("1.0") == "1.0.0"
    assert chart_version("v1.15.2") == "1.15.2"
    assert chart_version("3.2.1-rc.1+build.5") == "3.2.1-rc.1+build.5"
    with pytest.raises(EmitError):
        chart_version("latest")


def test_set_chart_version_matches_write_chart(tmp_path: Path) -> None:
    """The revision rewrite (the pipeline builds revision 1, then sets the locked one) leaves the
    chart byte-identical to one written with that revision: Chart.yaml and README.md alike."""
    draft = processed_draft("lws-operator")
    write_chart(draft, tmp_path / "direct", revision=3)
    write_chart(draft, tmp_path / "rewritten", revision=1)
    set_chart_version(tmp_path / "rewritten", draft.csv_version, 3)
    assert "-rev.3 " in (tmp_path / "direct" / "README.md").read_text()
    assert _tree(tmp_path / "rewritten") == _tree(tmp_path / "direct")


def _obj(kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": kind, "metadata": meta}


def test_template_filenames_are_collision_free() -> None:
    templates = [
        Template(obj=_obj("Role", "a.b")),
        Template(obj=_obj("Role", "a-b")),
        Template(obj=_obj("Role", "x", "ns1")),
        Template(obj=_obj("Role", "x", "ns2")),
        Template(obj=_obj("ConfigMap", "c" * 300)),
        Template(obj=_obj("ConfigMap", "c" * 300 + "d")),
        Template(obj=_obj("Secret", "s"), filename="custom.yaml"),
    ]
    names = template_filenames(templates)
    assert len(set(names)) == len(names)
    assert names[-1] == "custom.yaml"
    assert all(n.startswith("role-a-b-") for n in names[:2])
    assert all(len(n) <= 110 for n in names)
    assert template_filenames(list(reversed(templates))) == list(reversed(names))
    with pytest.raises(EmitError, match=r"custom\.yaml"):
        template_filenames([*templates, Template(obj=_obj("Secret", "t"), filename="custom.yaml")])


def test_render_values_comments() -> None:
    text = render_values({"a": {"b": 1, "c": [1]}, "d": "x"}, {"a.b": "first\nsecond", "d": "dee"})
    assert text == "a:\n  # -- first\n  # second\n  b: 1\n  c:\n  - 1\n\n# -- dee\nd: x\n"
