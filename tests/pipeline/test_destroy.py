"""``make destroy`` (extractor/pipeline/destroy.py) on a real kube-apiserver, after ``helmfile sync``.

A private API server (:func:`tests.support.kube.start_kube`): these tests delete CRDs other tests
use. No kube-controller-manager runs there, so a deleted namespace stays ``Terminating`` (its
content is removed by the namespace controller elsewhere): "gone" for a namespace means absent or
being deleted. The steps build on each other (one project, deployed, refused, destroyed, deployed
again, destroyed with everything).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.emit.crds_chart import crd_names
from tests.support.kube import KubeCluster, start_kube
from tests.support.localproject import local_project
from tests.support.project import helmfile, make
from tests.support.tools import require_tool

RELEASE = "cert-manager-operator"
NAMESPACES = ["cert-manager", "cert-manager-operator"]  # the operand namespace (presync hook), the release's
LEFTOVER = """\
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: {name: leftover, namespace: destroy-extra}
spec: {selfSigned: {}}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    with start_kube(tmp_path_factory.mktemp("kube")) as kube:
        yield kube


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return local_project(tmp_path_factory.mktemp("destroy") / "project", (RELEASE,))


def _env(cluster: KubeCluster) -> dict[str, str]:
    return {"KUBECONFIG": str(cluster.kubeconfig), "KUBECACHEDIR": str(cluster.root / "kube-cache"),
            "BUNDLE_EXTRACT_KUBECTL": str(cluster.kubectl_path)}


def _sync(project: Path, cluster: KubeCluster) -> None:
    helmfile(project, "sync", "--skip-deps", "--sync-args", "--wait=false",
             env={"KUBECONFIG": str(cluster.kubeconfig), "KUBECACHEDIR": str(cluster.root / "kube-cache")})


def _destroy(project: Path, cluster: KubeCluster, *variables: str) -> subprocess.CompletedProcess[str]:
    return make("destroy", f"CONFIG={project / 'bundles.yaml'}", *variables, env=_env(cluster), check=False)


def _rendered(project: Path) -> list[dict[str, Any]]:
    proc = subprocess.run([str(require_tool("helm")), "template", RELEASE, str(project / "charts" / RELEASE),
                           "-n", RELEASE], capture_output=True, text=True, timeout=120, check=True)
    return [d for d in yamlio.load_all(proc.stdout.encode()) if d]


def _existing(cluster: KubeCluster, objects: list[dict[str, Any]]) -> list[str]:
    """``kind/name`` of those of ``objects`` that exist in the cluster (namespaced ones without a
    namespace are looked up in the release namespace, as Helm installs them)."""
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:  # kubectl get -f wants objects of the namespace it is given
        by_namespace.setdefault(obj["metadata"].get("namespace") or RELEASE, []).append(obj)
    found: list[str] = []
    for namespace, group in sorted(by_namespace.items()):
        manifest = "".join("---\n" + json.dumps(obj) + "\n" for obj in group)
        found += cluster.kubectl("get", "-f", "-", "-n", namespace, "--ignore-not-found", "-o", "name",
                                 input=manifest).stdout.split()
    return sorted(found)


def _releases(cluster: KubeCluster) -> list[str]:
    proc = subprocess.run([str(require_tool("helm")), "--kubeconfig", str(cluster.kubeconfig), "list", "-A", "-q"],
                          capture_output=True, text=True, timeout=60, check=True)
    return proc.stdout.split()


def _namespace_gone(cluster: KubeCluster, name: str) -> bool:
    proc = cluster.kubectl("get", "namespace", name, "-o", "json", check=False)
    return proc.returncode != 0 or "deletionTimestamp" in json.loads(proc.stdout)["metadata"]


def _crds_present(cluster: KubeCluster, names: list[str]) -> list[str]:
    out = cluster.kubectl("get", "crd", *names, "--ignore-not-found", "-o", "name").stdout
    return sorted(line.split("/", 1)[1] for line in out.split())


@pytest.fixture(scope="module")
def deployed(project: Path, cluster: KubeCluster) -> Path:
    _sync(project, cluster)
    cluster.kubectl("create", "namespace", "destroy-extra")
    cluster.kubectl("apply", "-f", "-", input=LEFTOVER)
    return project


def test_delete_crds_is_refused_while_a_custom_resource_remains(deployed: Path, cluster: KubeCluster) -> None:
    crds = crd_names(deployed / "charts" / RELEASE)
    before = _existing(cluster, _rendered(deployed))
    proc = _destroy(deployed, cluster, "DELETE_CRDS=1")
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: refusing to destroy (nothing was deleted): 1 custom resource(s) of these CRDs remain "
        "(Issuer/destroy-extra/leftover); delete them first or give FORCE=1 (--force) to delete them with the CRDs"]
    # nothing was deleted: the release, its objects, every CRD
    assert _releases(cluster) == [RELEASE]
    assert _existing(cluster, _rendered(deployed)) == before and before
    assert _crds_present(cluster, crds) == crds
    # FORCE=1 in the environment (the hack/build-*.sh rebuild switch) is no --force: only FORCE=1
    # on the make command line is
    proc = make("destroy", f"CONFIG={deployed / 'bundles.yaml'}", "DELETE_CRDS=1",
                env={**_env(cluster), "FORCE": "1"}, check=False)
    assert proc.returncode != 0 and "refusing to destroy" in proc.stderr, proc.stderr
    assert _crds_present(cluster, crds) == crds


def test_destroy_removes_the_release_and_keeps_the_crds(deployed: Path, cluster: KubeCluster) -> None:
    crds = crd_names(deployed / "charts" / RELEASE)
    proc = _destroy(deployed, cluster)
    assert proc.returncode == 0, proc.stderr
    assert "CRDs kept" in proc.stderr
    assert _releases(cluster) == []
    assert _existing(cluster, _rendered(deployed)) == []  # nothing of the chart (custom resources included)
    assert _crds_present(cluster, crds) == crds
    assert not any(_namespace_gone(cluster, ns) for ns in NAMESPACES)  # not asked for
    cluster.kubectl("get", "issuer", "leftover", "-n", "destroy-extra")  # not the chart's: untouched


def _dead_current_context(cluster: KubeCluster, path: Path) -> Path:
    """A kubeconfig whose current context ``dead`` points at a closed port; ``test`` is the API server."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: connections are refused
    config = json.loads(cluster.kubeconfig.read_text())
    [good] = config["clusters"]
    [context] = config["contexts"]
    config["clusters"].append({"name": "dead", "cluster": {**good["cluster"], "server": f"https://127.0.0.1:{port}"}})
    config["contexts"].append({"name": "dead", "context": {**context["context"], "cluster": "dead"}})
    config["current-context"] = "dead"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def test_kube_context_reaches_kubectl_and_helmfile(deployed: Path, cluster: KubeCluster, tmp_path: Path) -> None:
    crds = crd_names(deployed / "charts" / RELEASE)
    _sync(deployed, cluster)  # the step above removed the release
    kubeconfig = _dead_current_context(cluster, tmp_path / "kubeconfig")
    env = {**_env(cluster), "KUBECONFIG": str(kubeconfig)}
    proc = make("destroy", f"CONFIG={deployed / 'bundles.yaml'}", "DELETE_CRDS=1", "FORCE=1", env=env, check=False)
    assert proc.returncode != 0  # the current context is dead: nothing reached the cluster
    assert _releases(cluster) == [RELEASE]
    assert _crds_present(cluster, crds) == crds
    proc = make("destroy", f"CONFIG={deployed / 'bundles.yaml'}", "DELETE_CRDS=1", "FORCE=1", "KUBE_CONTEXT=test",
                env=env, check=False)
    assert proc.returncode == 0, proc.stderr
    assert _releases(cluster) == []
    assert _crds_present(cluster, crds) == []


def test_destroy_with_everything_leaves_nothing(deployed: Path, cluster: KubeCluster) -> None:
    crds = crd_names(deployed / "charts" / RELEASE)
    _sync(deployed, cluster)
    cluster.kubectl("apply", "-f", "-", input=LEFTOVER)  # the step above deleted it with its CRD
    assert _releases(cluster) == [RELEASE]
    proc = _destroy(deployed, cluster, "DELETE_CRDS=1", "DELETE_NAMESPACES=1", "FORCE=1")
    assert proc.returncode == 0, proc.stderr
    # the CRDs were listed, then deleted
    for crd in crds:
        assert f"deleting CRD {crd}" in proc.stderr
    assert "custom resource to delete with its CRD (--force): Issuer/destroy-extra/leftover" in proc.stderr
    assert _releases(cluster) == []
    assert _crds_present(cluster, crds) == []
    assert all(_namespace_gone(cluster, ns) for ns in NAMESPACES)
    assert not _namespace_gone(cluster, "destroy-extra")  # not one of the chart's namespaces


def test_unknown_bundle_is_one_line(project: Path, cluster: KubeCluster) -> None:
    proc = _destroy(project, cluster, "BUNDLE=nope")
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "'nope'" in errors[0]
