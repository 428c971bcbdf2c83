"""The sail entry's Gateway API and Inference Extension CRDs (``extraManifests`` URLs of the
repository's bundles.yaml) on a real API server (the session ``kube_cluster``): generated through the
loopback server of ``../shared/extra-crds`` (``--url-mirror``), then ``helmfile sync``. The presync
hook applies them server-side and waits until they are Established before Helm installs the chart:
the chart holds a GatewayClass (an extra manifest from a project file) that Helm could not create
otherwise.

Own names: release ``sail-extra``, namespace ``extra-manifests-test``; removed afterwards.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from extractor import yamlio
from extractor.config import load_config
from tests.support.kube import KubeCluster
from tests.support.project import REPO, helmfile, make
from tests.support.tools import require_shared, require_tool
from tests.support.urlserver import url_mirror_value

RELEASE = "sail-extra"
NAMESPACE = "extra-manifests-test"
GATEWAY_CLASS = """apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: extra-manifests-test
spec:
  controllerName: istio.io/gateway-controller
"""
EXPECTED_CRDS = {
    "gatewayclasses.gateway.networking.k8s.io", "gateways.gateway.networking.k8s.io",
    "grpcroutes.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io",
    "referencegrants.gateway.networking.k8s.io", "backendtlspolicies.gateway.networking.k8s.io",
    "inferencepools.inference.networking.x-k8s.io", "inferenceobjectives.inference.networking.x-k8s.io",
    "inferencepoolimports.inference.networking.x-k8s.io", "inferencepools.inference.networking.k8s.io",
}


def sail_project(root: Path) -> Path:
    """bundles.yaml with one entry: the shared sail 3.2.1 bundle directory, the repository sail
    entry's extraManifests, plus a GatewayClass from a project file."""
    sail = load_config(REPO / "bundles.yaml").entry("sail-operator")
    root.mkdir(parents=True)
    (root / "gatewayclass.yaml").write_text(GATEWAY_CLASS)
    entry = {
        "name": RELEASE, "image": str(require_shared("bundles", "servicemeshoperator3-v3.2.1")),
        "namespace": NAMESPACE, "render": {"rbacNames": "readable", "allowKinds": ["GatewayClass"]},
        "extraManifests": [{"url": m.url, "sha256": m.sha256} for m in sail.extra_manifests]
        + [{"path": "gatewayclass.yaml"}],
    }
    (root / "bundles.yaml").write_text(yamlio.dump({"bundles": [entry]}))
    return root


@pytest.fixture(scope="module")
def synced(kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Path, subprocess.CompletedProcess[str]]]:
    kubectl = require_tool("kubectl")
    root = sail_project(tmp_path_factory.mktemp("extra") / "project")
    make("update-bundle", f"CONFIG={root / 'bundles.yaml'}", f"URL_MIRROR={url_mirror_value()}",
         env={"BUNDLE_EXTRACT_CACHE_DIR": str(root.parent / "cache")})
    env = {"KUBECONFIG": str(kube_cluster.kubeconfig), "KUBECACHEDIR": str(kube_cluster.root / "kube-cache"),
           "PATH": f"{kubectl.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"}
    proc = helmfile(root, "sync", "--skip-deps", "--sync-args", "--wait=false", env=env)
    yield root, proc
    helmfile(root, "destroy", "--skip-deps", env=env, check=False)
    kube_cluster.kubectl("delete", "crd", *sorted(EXPECTED_CRDS), "--ignore-not-found", "--wait=false", check=False)
    kube_cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False)
    shutil.rmtree(root.parent, ignore_errors=True)


def test_gateway_api_crds_are_in_presync_byte_for_byte(synced: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    root, _ = synced
    shared = require_shared("extra-crds")
    published = {yamlio.load(p.read_bytes())["metadata"]["name"]: p.read_bytes() for p in shared.rglob("*_*.yaml")}
    chart_crds = {yamlio.load(p.read_bytes())["metadata"]["name"]: p.read_bytes()
                  for p in (root / "charts").glob(f"{RELEASE}*/presync/*/*.yaml")}
    assert set(chart_crds) >= EXPECTED_CRDS
    for name in EXPECTED_CRDS:
        assert chart_crds[name] == published[name], name
    assert "inferencemodelrewrites.inference.networking.x-k8s.io" not in chart_crds  # not in the kustomization


def test_presync_establishes_the_crds_before_helm_installs_the_chart(
    synced: tuple[Path, subprocess.CompletedProcess[str]], kube_cluster: KubeCluster
) -> None:
    _, proc = synced
    text = proc.stdout + proc.stderr
    applied = set(re.findall(r"customresourcedefinition\.apiextensions\.k8s\.io/(\S+) serverside-applied", text))
    assert applied >= EXPECTED_CRDS, text
    for name in sorted(EXPECTED_CRDS):
        crd = json.loads(kube_cluster.kubectl("get", "crd", name, "-o", "json", "--show-managed-fields").stdout)
        assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}.get("Established") == "True", name
        assert "bundle-extract" in {m["manager"] for m in crd["metadata"]["managedFields"]}, name
    # the chart's GatewayClass exists: Helm found its CRD when it installed the release
    gateway_class = json.loads(kube_cluster.kubectl("get", "gatewayclass", "extra-manifests-test", "-o", "json").stdout)
    assert gateway_class["metadata"]["annotations"]["meta.helm.sh/release-name"] == RELEASE
