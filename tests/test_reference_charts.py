"""Compare the objects (kind/name) of each generated chart with the chart the old shell pipeline
produced for the same bundle version (../shared/reference-charts). Every difference is listed
here, either as intended or as a bug of the reference (see reference-charts/SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from extractor import yamlio
from tests.support.project import docs, helm
from tests.support.tools import require_shared

Key = tuple[str, str]

# Objects only the generated chart has, and why.
ONLY_OURS: dict[str, dict[Key, str]] = {
    "cert-manager-operator": {
        # OLM semantics: AllNamespaces promotes `permissions` to a ClusterRole (+ namespaces
        # get/list/watch); the reference kept a namespaced Role (olm-extractor ignored install modes).
        ("ClusterRole", "cert-manager-operator-controller-manager-role"): "AllNamespaces promotion",
        ("ClusterRoleBinding", "cert-manager-operator-controller-manager-role"): "AllNamespaces promotion",
        # readable RBAC names are <csv-base>-<sa>-clusterrole for both the Role and its binding
        ("ClusterRoleBinding", "cert-manager-operator-controller-manager-clusterrole"): "readable name",
        ("ConfigMap", "cert-manager-operator-crd-checksums"): "CRD change => chart change (apply runs hooks)",
        ("Secret", "cert-manager-operator-pull-secret"): "pull secret named after the chart",
    },
    "sail-operator": {
        ("ClusterRole", "servicemeshoperator3-servicemesh-operator3-clusterrole"): "readable name",
        ("ClusterRoleBinding", "servicemeshoperator3-servicemesh-operator3-clusterrole"): "readable name",
        ("ClusterRole", "servicemeshoperator3-servicemesh-operator3-role"): "AllNamespaces promotion",
        ("ClusterRoleBinding", "servicemeshoperator3-servicemesh-operator3-role"): "AllNamespaces promotion",
        ("ConfigMap", "sail-operator-crd-checksums"): "CRD change => chart change (apply runs hooks)",
        ("Secret", "sail-operator-pull-secret"): "pull secret named after the chart",
        # bundles.yaml extraManifests: the reference applied them in a presync hook from GitHub at
        # deploy time (kubectl apply -k), so they are in neither of its directories
        **{("CustomResourceDefinition", f"{plural}.gateway.networking.k8s.io"): "extraManifests (Gateway API v1.4.0)"
           for plural in ("backendtlspolicies", "gatewayclasses", "gateways", "grpcroutes", "httproutes",
                          "referencegrants")},
        **{("CustomResourceDefinition", name): "extraManifests (Inference Extension v1.2.0)"
           for name in ("inferenceobjectives.inference.networking.x-k8s.io",
                        "inferencepoolimports.inference.networking.x-k8s.io",
                        "inferencepools.inference.networking.k8s.io",
                        "inferencepools.inference.networking.x-k8s.io")},
    },
    "lws-operator": {
        ("Role", "leader-worker-set-openshift-lws-operator-role"): "readable name",
        ("RoleBinding", "leader-worker-set-openshift-lws-operator-role"): "readable name",
        ("ClusterRole", "leader-worker-set-openshift-lws-operator-clusterrole"): "readable name",
        ("ClusterRoleBinding", "leader-worker-set-openshift-lws-operator-clusterrole"): "readable name",
        ("RoleBinding", "lws-operator-openshift-lws-operator-auth-reader"): "auth-reader named after the release",
        ("ConfigMap", "lws-operator-crd-checksums"): "CRD change => chart change (apply runs hooks)",
        ("Secret", "lws-operator-pull-secret"): "pull secret named after the chart",
        # the reference ran the CR from a postsync heredoc hook; here it is a chart template
        ("LeaderWorkerSetOperator", "cluster"): "operator CR is part of the chart",
    },
}

# Objects only the reference has, and why.
ONLY_REFERENCE: dict[str, dict[Key, str]] = {
    "cert-manager-operator": {
        ("ClusterRoleBinding", "cert-manager-operator-controller-manager-clusterrolebinding"): "olm-extractor name",
        ("Role", "cert-manager-operator-controller-manager-role"): "reference bug: install modes ignored",
        ("RoleBinding", "cert-manager-operator-controller-manager-rolebinding"): "reference bug: install modes ignored",
        ("Secret", "redhat-pull-secret"): "hard-coded pull secret name",
    },
    "sail-operator": {
        ("ClusterRole", "servicemesh-operator3-clusterrole"): "olm-extractor name",
        ("ClusterRoleBinding", "servicemesh-operator3-clusterrolebinding"): "olm-extractor name",
        ("Role", "servicemesh-operator3-role"): "reference bug: install modes ignored",
        ("RoleBinding", "servicemesh-operator3-rolebinding"): "reference bug: install modes ignored",
        ("Namespace", "istio-system"): "helmfile createNamespace creates it",
        # the reference pre-created istiod's ServiceAccount with Helm ownership annotations of the
        # operator's internal release; here the Istio CR carries the pull secrets instead
        ("ServiceAccount", "istiod"): "pull secrets via Istio values.global.imagePullSecrets",
        ("Secret", "redhat-pull-secret"): "hard-coded pull secret name",
    },
    "lws-operator": {
        ("ClusterRole", "openshift-lws-operator-clusterrole"): "olm-extractor name",
        ("ClusterRoleBinding", "openshift-lws-operator-clusterrolebinding"): "olm-extractor name",
        ("Role", "openshift-lws-operator-role"): "olm-extractor name",
        ("RoleBinding", "openshift-lws-operator-rolebinding"): "olm-extractor name",
        ("RoleBinding", "openshift-lws-operator-auth-reader"): "auth-reader named after the release",
        ("Secret", "redhat-pull-secret"): "hard-coded pull secret name",
        # the reference copied Prometheus Operator's CRD into the chart; here the crd-stubs presync
        # hook creates a minimal one only when the cluster has none
        ("CustomResourceDefinition", "servicemonitors.monitoring.coreos.com"): "crd-stubs hook",
    },
}

NAMESPACES = {"cert-manager-operator": "cert-manager-operator", "sail-operator": "istio-system",
              "lws-operator": "openshift-lws-operator"}


def objects(chart: Path, name: str, extra_dirs: tuple[str, ...], include_crds: bool) -> set[Key]:
    args = ["template", name, str(chart), "--namespace", NAMESPACES[name],
            "--set-string", "pullSecret.dockerConfigJson=x"]
    if include_crds:
        args.append("--include-crds")
    found = {(d["kind"], str(d["metadata"]["name"])) for d in docs(helm("helm", *args).stdout)}
    for extra in extra_dirs:
        for path in sorted((chart / extra).rglob("*.yaml")) if (chart / extra).is_dir() else []:
            found |= {(d["kind"], str(d["metadata"]["name"])) for d in yamlio.load_all(path.read_text()) if d}
    return found


@pytest.mark.parametrize("name", sorted(NAMESPACES))
def test_objects_match_the_reference_chart_up_to_documented_differences(project: Path, name: str) -> None:
    reference = objects(require_shared("reference-charts", name), name, ("manifests-presync",), True)
    ours = objects(project / "charts" / name, name, ("presync",), False)
    only_ours = ours - reference
    only_reference = reference - ours
    assert only_ours == set(ONLY_OURS[name]), sorted(only_ours ^ set(ONLY_OURS[name]))
    assert only_reference == set(ONLY_REFERENCE[name]), sorted(only_reference ^ set(ONLY_REFERENCE[name]))
    # what both have is most of the chart: the Deployment, ServiceAccounts, Services, CRDs, CRs
    assert len(ours & reference) >= 4


@pytest.mark.parametrize("name", sorted(NAMESPACES))
def test_reference_bugs_are_not_reproduced(project: Path, name: str) -> None:
    chart = project / "charts" / name
    rendered = docs(helm("helm", "template", name, str(chart), "--namespace", NAMESPACES[name]).stdout)
    crds = [yamlio.load(p.read_text()) for p in sorted((chart / "presync").rglob("*.yaml"))]
    # sail/standalone: CRDs lost `subresources: status: {}` (olm-extractor dropped empty maps)
    for crd in crds:
        for version in crd["spec"]["versions"]:
            if "subresources" in version:
                assert version["subresources"] is not None
    # lws/standalone: `emptyDir: {}` lost from the Deployment's volume
    for deployment in (d for d in rendered if d["kind"] == "Deployment"):
        for volume in deployment["spec"]["template"]["spec"].get("volumes", []):
            assert len(volume) > 1, f"volume {volume} lost its source"
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["olm.operatorNamespace"] == NAMESPACES[name]
    # Istio is cluster-scoped (the reference gave it a namespace)
    for istio in (d for d in rendered if d["kind"] == "Istio"):
        assert "namespace" not in istio["metadata"]
    # ClusterRoleBindings have no namespace (the reference gave them one)
    for binding in (d for d in rendered if d["kind"] == "ClusterRoleBinding"):
        assert "namespace" not in binding["metadata"]
