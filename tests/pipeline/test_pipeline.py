"""End to end: the three target bundles, pushed as images to a real loopback registry, become
charts and a helmfile through ``make update-bundle MIRROR=...``; then real helm and helmfile check them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.emit.helmfile import KUBE_CONTEXT_ARG
from extractor.tools import tools_dir
from tests.conftest import SeededRegistry
from tests.support.kubeschema import validate_objects
from tests.support.project import docs, helm, helmfile, make, new_project, tree, update_bundle

CHARTS = ("cert-manager-operator", "sail-operator", "lws-operator")


def presync_crds(chart: Path) -> list[dict[str, Any]]:
    return [yamlio.load(p.read_bytes()) for p in sorted((chart / "presync").rglob("*.yaml"))]


def test_layout(project: Path) -> None:
    assert (project / "helmfile.yaml.gotmpl").is_file()
    for name in CHARTS:
        chart = project / "charts" / name
        for rel in ("Chart.yaml", "values.yaml", ".helmignore", "templates/_helpers.tpl", "release.yaml"):
            assert (chart / rel).is_file(), f"{name}: {rel} missing"


def test_chart_yaml_records_bundle_image_digest_and_app_version(
    project: Path, seeded_registry: SeededRegistry
) -> None:
    expected_app = {"cert-manager-operator": "1.15.2", "sail-operator": "3.2.1", "lws-operator": "1.0.0"}
    for name in CHARTS:
        chart = yamlio.load((project / "charts" / name / "Chart.yaml").read_text())
        assert chart["appVersion"] == expected_app[name]
        annotations = json.dumps(chart.get("annotations", {}))
        pushed = seeded_registry.images[name]
        assert seeded_registry.digests[pushed] in annotations
        # the image is recorded as requested (registry.redhat.io), not as the mirror it came from
        assert "registry.redhat.io/" in annotations
        assert seeded_registry.host not in annotations


def test_all_28_crds_are_byte_identical_to_the_bundle(project: Path, seeded_registry: SeededRegistry) -> None:
    bundle_crds: dict[str, str] = {}
    for name, directory in seeded_registry.bundle_dirs.items():
        for path in sorted((directory / "manifests").glob("*.yaml")):
            if yamlio.load(path.read_bytes()).get("kind") == "CustomResourceDefinition":
                bundle_crds[hashlib.sha256(path.read_bytes()).hexdigest()] = f"{name}:{path.name}"
    assert len(bundle_crds) == 28
    emitted: dict[str, str] = {}
    for name in CHARTS:
        for path in sorted((project / "charts" / name / "presync").rglob("*.yaml")):
            emitted[hashlib.sha256(path.read_bytes()).hexdigest()] = f"{name}:{path}"
    missing = sorted(v for k, v in bundle_crds.items() if k not in emitted)
    assert not missing, f"CRDs not copied byte-for-byte: {missing}"
    # no CRD is left in the templates (they are applied by the presync hook, not Helm)
    for name in CHARTS:
        for path in (project / "charts" / name / "templates").glob("*.yaml"):
            assert "kind: CustomResourceDefinition" not in path.read_text(), path


def test_two_runs_give_identical_trees(
    project: Path, seeded_registry: SeededRegistry, tmp_path: Path
) -> None:
    second = new_project(tmp_path / "second")
    update_bundle(second, seeded_registry.mirror, tmp_path / "cache")
    first_tree = {k: v for k, v in tree(project).items()}
    assert tree(second) == first_tree


@pytest.mark.parametrize("binary", ["helm", "helm4"])
@pytest.mark.parametrize("name", CHARTS)
def test_helm_lint_strict(project: Path, binary: str, name: str) -> None:
    chart = project / "charts" / name
    helm(binary, "lint", "--strict", str(chart))
    helm(binary, "lint", "--strict", str(chart), "--set-string", "pullSecret.dockerConfigJson=e30=")


@pytest.mark.parametrize("name", CHARTS)
def test_helm_template_validates_against_kubernetes_schemas(project: Path, name: str) -> None:
    chart = project / "charts" / name
    rendered = docs(helm("helm", "template", name, str(chart), "--namespace", "ns1").stdout)
    assert rendered
    report = validate_objects(rendered, crds=presync_crds(chart))
    assert not report.errors, report.errors
    assert not report.skipped, report.skipped  # every custom resource has its CRD in the chart
    assert report.validated


NAMESPACE_KEYS = {"namespace", "olm.targetNamespaces", "olm.operatorNamespace"}


def namespace_fields(node: Any, path: str = "") -> dict[str, Any]:
    """Every value stored under a namespace-carrying key, by path."""
    found: dict[str, Any] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            if key in NAMESPACE_KEYS and isinstance(value, str):
                found[f"{path}/{key}"] = value
            found.update(namespace_fields(value, f"{path}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.update(namespace_fields(value, f"{path}[{i}]"))
    return found


@pytest.mark.parametrize("name", CHARTS)
def test_namespace_follows_the_release_namespace(project: Path, name: str) -> None:
    chart = project / "charts" / name
    release = yamlio.load((chart / "release.yaml").read_text())
    install_ns = release["namespace"]
    default = docs(helm("helm", "template", name, str(chart), "--namespace", install_ns).stdout)
    moved = docs(helm("helm", "template", name, str(chart), "--namespace", "elsewhere").stdout)
    assert len(default) == len(moved)
    moved_count = 0
    for before, after in zip(default, moved, strict=True):
        label = f"{before['kind']}/{before['metadata']['name']}"
        fields_before = namespace_fields(before)
        fields_after = namespace_fields(after)
        assert fields_before.keys() == fields_after.keys(), label
        for path, value in fields_before.items():
            if value == install_ns:
                assert fields_after[path] == "elsewhere", f"{label} {path}"
                moved_count += 1
            elif value in ("kube-system", "cert-manager"):
                # kube-system objects and the operator's fixed operand namespace stay
                assert fields_after[path] == value, f"{label} {path}"
            else:
                assert fields_after[path] == value, f"{label} {path}"
        # args/env that carry the namespace follow it too
        for container in (after.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])):
            for arg in container.get("args", []):
                assert f"={install_ns}" not in arg, f"{label}: {arg}"
            for env in container.get("env", []):
                if "NAMESPACE" in env["name"]:  # (OPERATOR_NAME may equal the namespace by chance)
                    assert env.get("value") != install_ns, f"{label}: {env}"
    assert moved_count >= 3


@pytest.mark.parametrize("name", CHARTS)
def test_pull_secret_on_every_service_account(project: Path, name: str, tmp_path: Path) -> None:
    chart = project / "charts" / name
    plain = docs(helm("helm", "template", name, str(chart)).stdout)
    assert not [d for d in plain if d["kind"] == "Secret"], "no pull Secret without credentials"
    values = tmp_path / "values.yaml"
    config = json.dumps({"auths": {"registry.redhat.io": {"auth": "dXNlcjpwYXNz"}}})
    values.write_text(yamlio.dump({"pullSecret": {"dockerConfigJson": config}}))
    rendered = docs(helm("helm", "template", name, str(chart), "-f", str(values)).stdout)
    secrets = {(d["metadata"].get("namespace"), d["metadata"]["name"]) for d in rendered if d["kind"] == "Secret"}
    for secret in (d for d in rendered if d["kind"] == "Secret"):
        assert secret["type"] == "kubernetes.io/dockerconfigjson"
    accounts = [d for d in rendered if d["kind"] == "ServiceAccount"]
    assert accounts
    for account in accounts:
        names = [s["name"] for s in account.get("imagePullSecrets", [])]
        assert names, f"ServiceAccount {account['metadata']['name']} has no imagePullSecrets"
        assert any((account["metadata"].get("namespace"), n) in secrets for n in names), account
    if name == "cert-manager-operator":
        operand = {d["metadata"]["name"] for d in accounts if d["metadata"].get("namespace") == "cert-manager"}
        assert operand == {"cert-manager", "cert-manager-cainjector", "cert-manager-webhook"}


def test_helmfile_lint_build_template(project: Path) -> None:
    helmfile(project, "lint")
    build = helmfile(project, "build").stdout
    state = docs(build)
    releases = {r["name"]: r for d in state for r in d.get("releases", [])}
    assert set(releases) == set(CHARTS)
    assert "cert-manager-operator/cert-manager-operator" in str(releases["sail-operator"].get("needs"))
    assert "cert-manager-operator/cert-manager-operator" in str(releases["lws-operator"].get("needs"))
    rendered = docs(helmfile(project, "template").stdout)
    kinds = {d["kind"] for d in rendered}
    assert {"Deployment", "ServiceAccount", "CertManager", "Istio", "LeaderWorkerSetOperator"} <= kinds


def test_hooks_survive_helmfile_template_pass(project: Path) -> None:
    state = docs(helmfile(project, "build").stdout)
    releases = {r["name"]: r for d in state for r in d.get("releases", [])}
    for name in CHARTS:
        hooks = releases[name].get("hooks", [])
        presync = [h for h in hooks if "presync" in h.get("events", [])]
        applies = [h for h in presync if "--server-side" in h.get("args", [])]
        assert applies, f"{name}: no server-side CRD apply hook"
        assert any("--force-conflicts" in h["args"] for h in applies)
        waits = [h for h in presync if h["name"].endswith("-established")]
        assert waits and all("kubectl wait --for=condition=Established" in h["args"][6] for h in waits)
        # every hook runs through the kube-context wrapper (tests/emit/test_environments.py)
        assert all(h["command"] == "bash" and h["args"][2:4] == ["kube-context", KUBE_CONTEXT_ARG] for h in hooks)
    sail_hooks = releases["sail-operator"]["hooks"]
    post = [h for h in sail_hooks if "postsync" in h.get("events", [])]
    assert post, "sail 3.2.1 < 3.2.3 must get the webhook-annotation hook"
    # release-context templates were escaped for helmfile's first pass: helmfile renders them
    # when it runs the hook (tests/test_hooks.py runs them for real)
    assert "{{ .Release.Namespace }}" in post[0]["args"]


def test_make_template_and_make_lint(project: Path) -> None:
    config = f"CONFIG={project / 'bundles.yaml'}"
    # HOME is the project: no user auth file is read, so no pull Secret is rendered
    env = {"HOME": str(project), "BUNDLE_EXTRACT_TOOLS": str(tools_dir()), "MAKEFLAGS": "-s"}
    kinds = {d["kind"] for d in docs(make("template", config, env=env).stdout)}
    assert {"Deployment", "Istio", "CertManager", "LeaderWorkerSetOperator"} <= kinds
    assert "Secret" not in kinds
    make("lint", config, env=env)
