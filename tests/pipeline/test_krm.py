"""`bundle-extract krm`: olm-extractor's Extractor functionConfig read as it is (fields and
defaults), bundle-extract's own fields, items equal to what `run` prints, every bad input as one
`results` entry with severity error and a non-zero exit, and real `kustomize build
--enable-alpha-plugins --enable-exec` using the command as an exec generator for a bundle
directory, a registry image and a catalog package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.acquire import AcquireOptions
from extractor.pipeline.krm import parse_function_config, run_function
from tests.support.catalogs import CM, SAIL, CatalogRegistry, catalog_registry  # noqa: F401  (fixture)
from tests.support.project import REPO, docs
from tests.support.tools import require_shared, require_tool
from tests.test_cli import cli

API = "olm.lburgazzoli.github.io/v1alpha1"


def extractor(spec: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "Extractor", "metadata": {"name": "x"}, "spec": spec, **top}


FIXTURE = REPO / "tests/fixtures/bundles/webhook-demo"


def resource_list(config: Any, items: list[Any] | None = None) -> bytes:
    return yamlio.dump({"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": items or [],
                        "functionConfig": config}).encode()


def test_olm_extractor_fields_and_defaults() -> None:
    minimal = parse_function_config(extractor({"source": "quay.io/x/b:v1", "namespace": "ops"}))
    assert (minimal.cert_manager_enabled, minimal.insecure, minimal.catalog, minimal.rbac_names) == (
        True, False, None, "olm")
    full = parse_function_config(extractor({
        "source": "prometheus:0.56.0", "namespace": "monitoring",
        "catalog": {"source": "quay.io/operatorhubio/catalog:latest", "channel": "beta"},
        "include": ['.kind == "Deployment"'], "exclude": ['.kind == "Secret"'],
        "certManager": {"enabled": False, "issuerName": "ca", "issuerKind": "ClusterIssuer"},
        "registry": {"insecure": True, "username": "u", "password": "p"},
        "rbacNames": "readable", "deploymentConfig": {"nodeSelector": {"a": "b"}}, "watchNamespaces": ["a"],
    }, metadata={"name": "p", "annotations": {"config.kubernetes.io/function": "exec: {path: x}"}}))
    assert (full.catalog, full.channel, full.source) == ("quay.io/operatorhubio/catalog:latest", "beta",
                                                         "prometheus:0.56.0")
    assert (full.cert_manager_enabled, full.issuer_name, full.issuer_kind) == (False, "ca", "ClusterIssuer")
    assert (full.insecure, full.username, full.password) == (True, "u", "p")
    assert full.deployment_config == {"nodeSelector": {"a": "b"}} and full.watch_namespaces == ("a",)


@pytest.mark.parametrize(("config", "fragment"), [
    (None, "functionConfig: required"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
     "functionConfig: expected apiVersion olm.lburgazzoli.github.io/v1alpha1 kind Extractor, got apiVersion 'v1' "
     "kind 'ConfigMap'"),
    (extractor({"source": "a", "namespace": "b", "sorce": "c"}), "functionConfig.spec: unknown field(s) sorce"),
    (extractor({"source": "a", "namespace": "b"}, status={}), "functionConfig: unknown field(s) status"),
    (extractor({"source": "a", "namespace": "b", "certManager": {"enable": True}}),
     "functionConfig.spec.certManager: unknown field(s) enable"),
    (extractor({"source": "a", "namespace": "b", "catalog": {"image": "c"}}),
     "functionConfig.spec.catalog: unknown field(s) image"),
    (extractor({"source": "a", "namespace": "b", "registry": {"insecure": "yes"}}),
     "functionConfig.spec.registry.insecure: expected true or false"),
    (extractor({"source": "a"}), "functionConfig.spec.namespace: required"),
    (extractor({"namespace": "b"}), "functionConfig.spec.source: required"),
    (extractor({"source": "a", "namespace": "Bad_NS"}), "functionConfig.spec.namespace: 'Bad_NS' is not a namespace"),
    (extractor({"source": "a", "namespace": "b", "include": '.kind == "x"'}),
     "functionConfig.spec.include: expected a list of strings"),
    (extractor({"source": "a", "namespace": "b", "rbacNames": "short"}), "rbacNames: 'short' is not one of"),
    (extractor({"source": "a", "namespace": "b", "deploymentConfig": {"replicas": 2}}),
     "functionConfig.spec.deploymentConfig:"),
])
def test_bad_function_configs_are_one_result(config: Any, fragment: str, tmp_path: Path) -> None:
    item = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kept"}}
    result = run_function(resource_list(config, [item]), lambda: AcquireOptions(cache_dir=tmp_path))
    assert result.exit_code == 2 and result.error is not None and fragment in result.error
    output = yamlio.load(result.text)
    assert output["items"] == [item]  # the input items, untouched; nothing generated
    assert output["results"] == [{"message": result.error, "severity": "error"}]
    assert "\n" not in result.error


@pytest.mark.parametrize(("data", "fragment"), [
    (b"{unclosed", "ResourceList: not YAML or JSON"),
    (b"- a\n- b\n", "ResourceList: expected a mapping"),
    (b"apiVersion: v1\nkind: List\nitems: []\n", "expected apiVersion config.kubernetes.io/v1 kind ResourceList"),
    (b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: {}\n", "ResourceList.items: expected a list"),
])
def test_bad_resource_lists(data: bytes, fragment: str) -> None:
    result = run_function(data, AcquireOptions)
    assert result.error is not None and fragment in result.error and result.exit_code == 2
    assert yamlio.load(result.text)["results"][0]["severity"] == "error"


def test_items_are_what_run_prints(tmp_path: Path) -> None:
    bundle = str(require_shared("bundles", "cert-manager-operator-v1.15.2"))
    spec = {"source": bundle, "namespace": "cm", "rbacNames": "readable", "exclude": ['.kind == "Service"'],
            "certManager": {"enabled": False}, "deploymentConfig": {"env": [{"name": "A", "value": "b"}]}}
    (tmp_path / "sub.yaml").write_text(yamlio.dump({"env": [{"name": "A", "value": "b"}]}))
    expected = cli("run", bundle, "-n", "cm", "--rbac-names", "readable", "--exclude", '.kind == "Service"',
                   "--cert-manager-enabled=false", "--deployment-config", str(tmp_path / "sub.yaml"))
    assert expected.returncode == 0, expected.stderr
    given = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "cm"}}
    proc = subprocess.run([sys.executable, "-m", "extractor", "krm"], input=resource_list(extractor(spec), [given]),
                          capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    output = yamlio.load(proc.stdout)
    assert output["items"] == [given, *docs(expected.stdout)]
    assert output["functionConfig"]["spec"] == spec and "results" not in output
    assert not any(o["kind"] == "Service" for o in output["items"])


def test_render_errors_are_results_with_the_family_exit_code(tmp_path: Path) -> None:
    spec = {"source": str(tmp_path / "missing"), "namespace": "cm"}
    proc = subprocess.run([sys.executable, "-m", "extractor", "krm"], input=resource_list(extractor(spec)),
                          capture_output=True, timeout=300, check=False)
    assert proc.returncode == 2
    output = yamlio.load(proc.stdout)
    assert output["results"] == [{"message": f"{tmp_path / 'missing'}: no such bundle directory", "severity": "error"}]
    assert proc.stderr.decode().strip() == f"error: {tmp_path / 'missing'}: no such bundle directory"


def test_the_registry_password_never_reaches_output(tmp_path: Path) -> None:
    secret = "krm-secret-7d2f"
    for source in (str(FIXTURE), str(tmp_path / "missing")):  # success, then a failure
        spec = {"source": source, "namespace": "cm", "registry": {"username": "u", "password": secret}}
        proc = subprocess.run([sys.executable, "-m", "extractor", "krm"], input=resource_list(extractor(spec)),
                              capture_output=True, timeout=300, check=False)
        assert secret.encode() not in proc.stdout + proc.stderr
        assert yamlio.load(proc.stdout)["functionConfig"]["spec"]["registry"] == {"username": "u"}


# -- under a real kustomize ---------------------------------------------------------------------
def kustomize_build(tmp_path: Path, spec: dict[str, Any], env: dict[str, str] | None = None,
                    ) -> subprocess.CompletedProcess[str]:
    kustomize = require_tool("kustomize")
    root = tmp_path / "kustomization"
    root.mkdir(parents=True, exist_ok=True)
    (root / "kustomization.yaml").write_text(yamlio.dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "generators": ["operator.yaml"],
        "labels": [{"pairs": {"app.kubernetes.io/managed-by": "kustomize"}}],
    }))
    function = yamlio.dump({"exec": {"path": sys.executable, "args": ["-m", "extractor", "krm"]}})
    config = extractor(spec, metadata={"name": "operator", "annotations": {"config.kubernetes.io/function": function}})
    (root / "operator.yaml").write_text(yamlio.dump(config))
    full_env = {**os.environ, "BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache"), **(env or {})}
    return subprocess.run([str(kustomize), "build", "--enable-alpha-plugins", "--enable-exec", str(root)],
                          capture_output=True, text=True, env=full_env, timeout=600, check=False)


def labelled(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``objects`` with the label the kustomization adds (``labels: pairs``: metadata only)."""
    for obj in objects:
        obj["metadata"].setdefault("labels", {})["app.kubernetes.io/managed-by"] = "kustomize"
    return objects


def by_identity(objects: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects}


def test_kustomize_generates_from_a_bundle_directory(tmp_path: Path) -> None:
    bundle = str(require_shared("bundles", "cert-manager-operator-v1.15.2"))
    built = kustomize_build(tmp_path, {"source": bundle, "namespace": "cert-manager-operator"})
    assert built.returncode == 0, built.stderr
    expected = cli("run", bundle, "-n", "cert-manager-operator")
    generated = docs(built.stdout)
    assert by_identity(generated) == by_identity(labelled(docs(expected.stdout)))
    assert len(generated) == 16


def test_kustomize_generates_from_a_registry_image_and_a_catalog_package(
    catalog_registry: CatalogRegistry, tmp_path: Path,  # noqa: F811
) -> None:
    image = catalog_registry.images[SAIL]["3.2.1"]
    built = kustomize_build(tmp_path / "image", {"source": image, "namespace": "istio-system",
                                                 "rbacNames": "readable"})
    assert built.returncode == 0, built.stderr
    expected = cli("run", str(catalog_registry.bundle_dirs["sail-3.2.1"]), "-n", "istio-system",
                   "--rbac-names", "readable")
    assert by_identity(docs(built.stdout)) == by_identity(labelled(docs(expected.stdout)))
    built = kustomize_build(tmp_path / "catalog", {
        "source": f"{CM}:1.15.2", "namespace": "cert-manager-operator",
        "catalog": {"source": catalog_registry.catalog, "channel": "stable-v1.15"},
    })
    assert built.returncode == 0, built.stderr
    expected = cli("run", str(catalog_registry.bundle_dirs["cm-1.15.2"]), "-n", "cert-manager-operator")
    assert by_identity(docs(built.stdout)) == by_identity(labelled(docs(expected.stdout)))
    head = kustomize_build(tmp_path / "head", {"source": CM, "namespace": "cert-manager-operator",
                                               "catalog": {"source": catalog_registry.catalog}})
    assert head.returncode == 0, head.stderr
    expected = cli("run", str(catalog_registry.bundle_dirs["cm-1.16.2"]), "-n", "cert-manager-operator")
    assert by_identity(docs(head.stdout)) == by_identity(labelled(docs(expected.stdout)))


def test_kustomize_fails_with_the_result_message(catalog_registry: CatalogRegistry, tmp_path: Path) -> None:  # noqa: F811
    built = kustomize_build(tmp_path / "unknown", {"source": f"{CM}:9.9.9", "namespace": "cm",
                                                   "catalog": {"source": catalog_registry.catalog}})
    assert built.returncode != 0 and built.stdout == ""
    assert "version '9.9.9' of package 'cert-manager-operator' is not in channel 'stable-v1'" in built.stderr
    built = kustomize_build(tmp_path / "typo", {"source": "x", "namespace": "cm", "certManager": {"enable": False}})
    assert built.returncode != 0 and built.stdout == ""
    assert "functionConfig.spec.certManager: unknown field(s) enable" in built.stderr
    built = kustomize_build(tmp_path / "nolabel", {"source": CM, "namespace": "cm",
                                                   "catalog": {"source": catalog_registry.no_label}})
    assert built.returncode != 0 and "not a file-based catalog image" in built.stderr


def test_oversized_input_is_refused_without_reading_it_all() -> None:
    from extractor.pipeline.krm import MAX_INPUT_BYTES

    proc = subprocess.run([sys.executable, "-m", "extractor", "krm"], input=b" " * (MAX_INPUT_BYTES + 10),
                          capture_output=True, timeout=300, check=False)
    assert proc.returncode == 2
    assert yamlio.load(proc.stdout)["results"] == [
        {"message": f"ResourceList: larger than {MAX_INPUT_BYTES} bytes", "severity": "error"}]
