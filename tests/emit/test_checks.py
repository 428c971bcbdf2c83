"""The presync checks of the generated helmfile (:mod:`extractor.emit.checks`), run for real:
projects generated through the pipeline from small bundles, ``helmfile sync`` against a real
kube-apiserver (tests/support/kube.py).

* ``require-apis`` (class 4 of issue 13): a webhook chart needs cert-manager; without it on the
  cluster the sync fails before anything is applied, naming the kinds and what to install.
* ``crd-stored-versions`` (class 9): a CRD upgrade that drops a version still listed in
  ``status.storedVersions`` fails first, naming the CRD, the version and the migration; the
  ``kubectl patch`` the message gives, run after the migration, clears the way.
* converted v1beta1 CRDs of protected groups are accepted by the API server (class 3).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.acquire import AcquireOptions
from extractor.bundle.crd_conversion import convert_v1beta1_crd
from extractor.config import load_config
from extractor.draft import Hook, ReleaseSpec
from extractor.emit.checks import check_hooks, needs_closure, unmet_requirements
from extractor.errors import EmitError
from extractor.pipeline import generate
from postprocess.crd_stubs import stub_crd
from tests.render import FIXTURES, crd, make_csv, write_bundle
from tests.support.kube import KubeCluster, start_kube
from tests.support.project import helmfile


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    with start_kube(tmp_path_factory.mktemp("kube")) as kube:
        yield kube


def sync(project: Path, cluster: KubeCluster) -> subprocess.CompletedProcess[str]:
    return helmfile(project, "sync", "--skip-deps", "--sync-args", "--wait=false",
                    env={"KUBECONFIG": cluster.env["KUBECONFIG"], "KUBECACHEDIR": cluster.env["KUBECACHEDIR"]},
                    check=False)


def output(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


def project(root: Path, entries: list[dict[str, Any]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "bundles.yaml").write_text(yamlio.dump({"bundles": entries}))
    generate(load_config(root / "bundles.yaml"), root,
             AcquireOptions(cache_dir=root / ".cache", work_dir=root / ".work"))
    return root


# --- unit: what the hooks get ----------------------------------------------------------------------


def _spec(name: str, **kw: Any) -> ReleaseSpec:
    return ReleaseSpec(name=name, namespace=name, chart_dir=f"./charts/{name}", **kw)


def test_requirements_met_by_the_needs_closure_are_not_checked() -> None:
    certs = ("cert-manager.io/v1/Certificate", "cert-manager.io/v1/Issuer")
    by_name = {s.name: s for s in [_spec("cm", provides=certs), _spec("mid", needs=("cm",)),
                                   _spec("app", needs=("mid",), requires=(*certs, "x.io/v1/Thing"))]}
    assert needs_closure("app", {n: s.needs for n, s in by_name.items()}) == ["cm", "mid"]
    assert unmet_requirements(by_name["app"], by_name) == {"x.io/v1": ["Thing"]}
    [hook] = check_hooks(by_name["app"], by_name)
    assert hook.name == "require-apis" and hook.events == ("presync",)
    # values are positional arguments, never part of the script
    assert hook.args[2:] == ("require-apis", "app", "x.io/v1", "Thing", "the CRDs of x.io (or exclude those objects in "
                             "bundles.yaml)")
    assert "x.io" not in hook.args[1]


def test_stored_versions_hook_arguments_and_malformed_names() -> None:
    spec = _spec("app", crd_versions=(("a.x.io", ("v1", "v1beta1")),))
    [hook] = check_hooks(spec, {"app": spec})
    assert isinstance(hook, Hook) and hook.args[2:] == ("crd-stored-versions", "app", "a.x.io", "v1 v1beta1")
    with pytest.raises(EmitError, match=r"CRD 'a\.x\.io' versions"):
        check_hooks(_spec("b", crd_versions=(("a.x.io", ("v 1",)),)), {})
    with pytest.raises(EmitError, match="is not group/version/Kind"):
        check_hooks(_spec("c", requires=("x.io/v1/Bad Kind",)), {})


# --- require-apis on the API server ---------------------------------------------------------------


def test_a_webhook_chart_without_cert_manager_fails_first_naming_it(cluster: KubeCluster, tmp_path: Path) -> None:
    root = project(tmp_path / "p", [{"name": "webhook-demo", "image": str(FIXTURES / "webhook-demo"),
                                     "namespace": "req-demo"}])
    proc = sync(root, cluster)
    assert proc.returncode != 0, output(proc)
    assert ("error: release webhook-demo creates Certificate, Issuer (cert-manager.io/v1), which this cluster does "
            "not serve: install cert-manager (the cert-manager Operator or upstream cert-manager") in output(proc)
    # nothing was applied: the check runs before the CRD hooks and Helm
    assert cluster.kubectl("get", "crd", "widgets.demo.example.com", check=False).returncode != 0
    assert "webhook-demo" not in cluster.kubectl("get", "namespaces", "-o", "name").stdout.replace("req-demo", "")
    # once the cluster serves cert-manager.io/v1 (here: minimal CRDs of its two kinds), the sync passes
    for plural, kind in (("certificates", "Certificate"), ("issuers", "Issuer")):
        cluster.kubectl("create", "-f", "-", input=yamlio.dump(stub_crd(f"{plural}.cert-manager.io", kind,
                                                                          "Namespaced", ["v1"])))
    cluster.wait_established("crd/certificates.cert-manager.io", "crd/issuers.cert-manager.io")
    proc = sync(root, cluster)
    assert proc.returncode == 0, output(proc)
    assert "require-apis: the cluster serves what release webhook-demo needs" in output(proc)
    cluster.kubectl("get", "certificates.cert-manager.io", "-n", "req-demo",
                    "webhook-demo-controller-manager-service-cert")


# --- crd-stored-versions on the API server --------------------------------------------------------


def _gadget_crd(group: str, *versions: tuple[str, bool]) -> dict[str, Any]:
    """The gadgets CRD of ``group`` with ``(name, storage)`` versions, all served."""
    base = crd(group, "gadgets", "Gadget")
    template = base["spec"]["versions"][0]
    base["spec"]["versions"] = [{**copy.deepcopy(template), "name": name, "storage": storage}
                                for name, storage in versions]
    return base


def _gadget_bundle(directory: Path, group: str, extra: bool, *versions: tuple[str, bool]) -> Path:
    if directory.exists():
        shutil.rmtree(directory)
    files: dict[str, Any] = {"gadgets.crd.yaml": _gadget_crd(group, *versions)}
    if extra:  # a second CRD: the hook asks for several CRDs at once (kubectl answers with a List)
        files["extras.crd.yaml"] = crd(group, "extras", "Extra")
    csv = make_csv(name=f"gadget-operator-{int(extra)}.v1.0.0")  # its cluster-scoped RBAC names differ
    return write_bundle(directory, csv, files, package="gadget-operator")


@pytest.mark.parametrize("extra", [False, True], ids=["one-crd", "two-crds"])
def test_a_crd_upgrade_dropping_a_stored_version_fails_naming_the_migration(cluster: KubeCluster, tmp_path: Path,
                                                                           extra: bool) -> None:
    group = f"stored{int(extra)}.example.com"
    crd_name = f"gadgets.{group}"
    bundle = tmp_path / "bundle"
    entries = [{"name": f"gadgets-{int(extra)}", "image": str(bundle), "namespace": f"stored-demo-{int(extra)}"}]
    # v1: objects stored as v1alpha1
    _gadget_bundle(bundle, group, extra, ("v1alpha1", True))
    root = project(tmp_path / "p", entries)
    proc = sync(root, cluster)
    assert proc.returncode == 0, output(proc)
    # v2 adds v1 as the storage version: both are stored now
    _gadget_bundle(bundle, group, extra, ("v1alpha1", False), ("v1", True))
    project(root, entries)
    assert sync(root, cluster).returncode == 0
    stored = json.loads(cluster.kubectl("get", "crd", crd_name, "-o", "json").stdout)["status"]["storedVersions"]
    assert stored == ["v1alpha1", "v1"]
    # v3 drops v1alpha1: refused by the hook before anything is applied
    _gadget_bundle(bundle, group, extra, ("v1", True))
    project(root, entries)
    proc = sync(root, cluster)
    assert proc.returncode != 0
    text = output(proc)
    assert (f"error: release gadgets-{int(extra)}: CRD {crd_name}: the new CRD removes version v1alpha1, which is "
            "still listed in the cluster's status.storedVersions") in text
    assert "run the storage migration first" in text and "kube-storage-version-migrator" in text
    assert f"customresourcedefinition.apiextensions.k8s.io/{crd_name}" not in text  # the apply hook did not run
    versions = json.loads(cluster.kubectl("get", "crd", crd_name, "-o", "json").stdout)["spec"]["versions"]
    assert [v["name"] for v in versions] == ["v1alpha1", "v1"]
    # after the migration (nothing to rewrite here), the patch the message gives clears the way
    patch = re.search(r"kubectl patch crd (\S+) --subresource=status --type=merge -p '([^']+)'", text)
    assert patch is not None and patch.group(1) == crd_name
    assert json.loads(patch.group(2)) == {"status": {"storedVersions": ["v1"]}}
    cluster.kubectl("patch", "crd", crd_name, "--subresource=status", "--type=merge", "-p", patch.group(2))
    proc = sync(root, cluster)
    assert proc.returncode == 0, output(proc)
    versions = json.loads(cluster.kubectl("get", "crd", crd_name, "-o", "json").stdout)["spec"]["versions"]
    assert [v["name"] for v in versions] == ["v1"]


# --- converted v1beta1 CRDs of protected groups ---------------------------------------------------


def test_converted_protected_group_crd_is_accepted_by_the_api_server(cluster: KubeCluster, tmp_path: Path) -> None:
    legacy = {"apiVersion": "apiextensions.k8s.io/v1beta1", "kind": "CustomResourceDefinition",
              "metadata": {"name": "olds.demo.k8s.io"},
              "spec": {"group": "demo.k8s.io", "version": "v1", "scope": "Namespaced",
                       "names": {"kind": "Old", "plural": "olds"},
                       "validation": {"openAPIV3Schema": {"type": "object"}}}}
    converted = convert_v1beta1_crd(legacy)
    unannotated = copy.deepcopy(converted)
    del unannotated["metadata"]["annotations"]
    refused = cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(unannotated), check=False)
    assert refused.returncode != 0 and "api-approved.kubernetes.io" in refused.stderr
    # through the pipeline: the bundle's v1beta1 CRD reaches the cluster via the presync hook
    bundle = write_bundle(tmp_path / "bundle", make_csv(name="old-operator.v1.0.0"), {"olds.crd.yaml": legacy},
                          package="old-operator")
    root = project(tmp_path / "p", [{"name": "olds", "image": str(bundle), "namespace": "olds-demo"}])
    proc = sync(root, cluster)
    assert proc.returncode == 0, output(proc)
    applied = json.loads(cluster.kubectl("get", "crd", "olds.demo.k8s.io", "-o", "json").stdout)
    assert applied["metadata"]["annotations"]["api-approved.kubernetes.io"] == \
        "unapproved, converted from a v1beta1 bundle CRD"
    conditions = {c["type"]: c["status"] for c in applied["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["KubernetesAPIApprovalPolicyConformant"] == "False"  # the API server's own verdict
