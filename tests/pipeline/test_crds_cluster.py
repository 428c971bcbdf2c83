"""Plain ``helm install`` of ``<name>-crds`` then ``<name>`` (no helmfile, no hooks) on a real kube-apiserver,
for every target chart generated from ../shared/bundles: every object ``helm template`` renders
exists in the cluster; the CRDs survive ``helm uninstall`` (``helm.sh/resource-policy: keep``);
the Helm release Secret of the sail CRD chart stays under the 1 MiB Secret limit, with the 29 CRDs
the repository's sail entry gives it (the bundle's 19 and the Gateway API and Inference Extension
CRDs of its ``extraManifests``).

A private API server (:func:`tests.support.kube.start_kube`), not the session's ``kube_cluster``:
these charts create singleton cluster-scoped objects (``CertManager/cluster``,
``Infrastructure/cluster``, ``LeaderWorkerSetOperator/cluster``, ClusterRoles) and install CRDs
other tests apply with the helmfile's hooks, so a plain install there would collide with those
tests' releases (Helm refuses objects another release owns) or take their objects over.
No controllers run, so Helm does not wait for Deployments; ``--wait`` on the CRD chart waits
for the CRDs to be Established (Helm's readiness check of CRDs), which the main chart needs.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from tests.support.kube import KubeCluster, start_kube
from tests.support.localproject import local_project
from tests.support.tools import require_tool

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    with start_kube(tmp_path_factory.mktemp("kube")) as kube:
        yield kube


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return local_project(tmp_path_factory.mktemp("crds-cluster") / "project", extra_manifests=True)


def _helm(cluster: KubeCluster, binary: str, *args: str) -> str:
    import subprocess

    proc = subprocess.run([str(require_tool(binary)), "--kubeconfig", str(cluster.kubeconfig), *args],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**cluster.env, "HELM_CACHE_HOME": str(cluster.root / "helm-cache"),
                               "HELM_CONFIG_HOME": str(cluster.root / "helm-config")})
    assert proc.returncode == 0, f"{binary} {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _identity(obj: dict[str, Any], namespace: str, cluster_scoped: set[str]) -> tuple[str, str, str]:
    kind = obj["kind"]
    ns = "" if kind in cluster_scoped else (obj["metadata"].get("namespace") or namespace)
    return kind, ns, obj["metadata"]["name"]


def _installed(cluster: KubeCluster, binary: str, chart: Path, release: str, namespace: str,
               *flags: str) -> list[dict[str, Any]]:
    """``helm install`` ``chart`` and return what ``helm template`` renders for it (same values)."""
    rendered = [d for d in yamlio.load_all(_helm(cluster, binary, "template", release, str(chart), "-n", namespace,
                                                 *flags).encode()) if d]
    _helm(cluster, binary, "install", release, str(chart), "-n", namespace, "--create-namespace", *flags)
    return rendered


def _assert_all_exist(cluster: KubeCluster, rendered: list[dict[str, Any]], namespace: str) -> None:
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for obj in rendered:  # kubectl get -f wants objects of the namespace it is given
        by_namespace.setdefault(obj["metadata"].get("namespace") or namespace, []).append(obj)
    items: list[dict[str, Any]] = []
    for ns, objects in sorted(by_namespace.items()):
        manifest = "".join("---\n" + json.dumps(obj) + "\n" for obj in objects)
        found = json.loads(cluster.kubectl("get", "-f", "-", "-n", ns, "-o", "json", input=manifest).stdout)
        items += found["items"] if found.get("kind") == "List" else [found]
    kinds = _scoped(cluster)
    assert sorted(_identity(o, namespace, kinds) for o in items) == sorted(
        _identity(o, namespace, kinds) for o in rendered)


def _scoped(cluster: KubeCluster) -> set[str]:
    """Kinds of the cluster-scoped resources the API server serves right now."""
    out = cluster.kubectl("api-resources", "--namespaced=false", "--no-headers").stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def _crd_names(chart: Path) -> list[str]:
    documents = yamlio.load((chart / "values.yaml").read_bytes())["crdDocuments"]
    return sorted(json.loads(text)["metadata"]["name"] for texts in documents.values() for text in texts.values())


def _install_pair(cluster: KubeCluster, binary: str, project: Path, name: str, namespace: str) -> None:
    crds_chart = project / "charts" / f"{name}-crds"
    rendered = _installed(cluster, binary, crds_chart, f"{name}-crds", namespace, "--wait", "--timeout", "120s")
    _assert_all_exist(cluster, rendered, namespace)
    crds = [o for o in rendered if o["kind"] == "CustomResourceDefinition"]
    assert sorted(o["metadata"]["name"] for o in crds) == _crd_names(crds_chart)
    for name_ in _crd_names(crds_chart):
        crd = json.loads(cluster.kubectl("get", "crd", name_, "-o", "json").stdout)
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}["Established"] == "True"
    rendered = _installed(cluster, binary, project / "charts" / name, name, namespace)
    _assert_all_exist(cluster, rendered, namespace)


def _release_secret_bytes(cluster: KubeCluster, release: str, namespace: str) -> int:
    secrets = json.loads(cluster.kubectl("get", "secret", "-n", namespace, "-l", f"owner=helm,name={release}",
                                         "-o", "json").stdout)["items"]
    assert len(secrets) == 1
    return len(base64.b64decode(secrets[0]["data"]["release"]))


def test_plain_helm_install_of_every_target_and_its_crd_chart(cluster: KubeCluster, project: Path) -> None:
    installed: list[tuple[str, str]] = []
    # cert-manager first: the others create cert-manager Certificates and Issuers
    for name, namespace in [("cert-manager-operator", "gitops-cm"), ("sail-operator", "gitops-sail"),
                            ("lws-operator", "gitops-lws")]:
        _install_pair(cluster, "helm", project, name, namespace)
        installed.append((name, namespace))
    assert len(_crd_names(project / "charts" / "sail-operator-crds")) == 29  # the repository's sail entry
    assert "gateways.gateway.networking.k8s.io" in _crd_names(project / "charts" / "sail-operator-crds")
    size = _release_secret_bytes(cluster, "sail-operator-crds", "gitops-sail")
    print(f"sail-operator-crds release Secret: {size} bytes ({size / MIB:.2f} MiB)")
    assert size < MIB
    # the operand namespace the helmfile's hook would create comes from the CRD chart
    cluster.kubectl("get", "namespace", "cert-manager")
    for name, namespace in reversed(installed):
        _helm(cluster, "helm", "uninstall", name, "-n", namespace)
        _helm(cluster, "helm", "uninstall", f"{name}-crds", "-n", namespace)
    # kept: every CRD, and the namespace
    for name, _ in installed:
        for crd in _crd_names(project / "charts" / f"{name}-crds"):
            cluster.kubectl("get", "crd", crd)
    cluster.kubectl("get", "namespace", "cert-manager")
    # and the operator charts' objects are gone (the cluster-scoped singleton custom resources too)
    assert cluster.kubectl("get", "certmanagers.operator.openshift.io", "cluster", check=False).returncode != 0
    assert cluster.kubectl("get", "istios.sailoperator.io", "default", check=False).returncode != 0


def test_helm4_installs_both_charts_of_every_target(cluster: KubeCluster, project: Path) -> None:
    """The same with helm 4 (its release Secret too); the releases that kept the CRDs above take
    them back."""
    targets = [("cert-manager-operator", "gitops-cm"), ("sail-operator", "gitops-sail"), ("lws-operator", "gitops-lws")]
    for name, namespace in targets:
        _install_pair(cluster, "helm4", project, name, namespace)
    size = _release_secret_bytes(cluster, "sail-operator-crds", "gitops-sail")
    print(f"sail-operator-crds release Secret (helm 4): {size} bytes ({size / MIB:.2f} MiB)")
    assert size < MIB
    for name, namespace in reversed(targets):
        _helm(cluster, "helm4", "uninstall", name, "-n", namespace)
        _helm(cluster, "helm4", "uninstall", f"{name}-crds", "-n", namespace)
    cluster.kubectl("get", "crd", "leaderworkersetoperators.operator.openshift.io")
