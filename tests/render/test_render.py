"""render(): the target bundles, generator order, namespaces, RBAC placement, raw CRDs, determinism."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from extractor import yamlio
from extractor.errors import RenderError
from extractor.model import RenderOptions
from extractor.render import render
from tests.render import FIXTURES, find, load, make_csv, write_bundle
from tests.support.tools import require_shared

TARGETS = [
    ("cert-manager-operator-v1.15.2", "cert-manager-operator", ("",)),
    ("servicemeshoperator3-v3.2.1", "istio-system", ("",)),
    ("leader-worker-set-v1.0.0-rendered", "openshift-lws-operator", ("openshift-lws-operator",)),
]


@pytest.mark.parametrize(("name", "namespace", "targets"), TARGETS)
def test_target_bundles(name: str, namespace: str, targets: tuple[str, ...]) -> None:
    bundle = load(require_shared("bundles", name))
    before = copy.deepcopy(bundle.csv)
    manifests = render(bundle, RenderOptions(install_namespace=namespace))
    assert bundle.csv == before, "render must not mutate the bundle"
    assert manifests.target_namespaces == targets
    objs = manifests.objects
    # every CRD is unchanged, hence copied byte for byte
    assert set(manifests.raw_crds) == {d.name for d in bundle.crds}
    for doc in bundle.crds:
        assert manifests.raw_crds[doc.name] == (Path(bundle.source.directory) / doc.path).read_bytes()
    (dep,) = find(objs, "Deployment")
    assert dep["metadata"]["namespace"] == namespace
    assert dep["spec"]["revisionHistoryLimit"] == 1
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert annotations["olm.targetNamespaces"] == ",".join(targets)
    assert annotations["olm.operatorNamespace"] == namespace
    for obj in objs:
        ns = obj["metadata"].get("namespace")
        if obj["kind"] in ("ServiceAccount", "Deployment", "Service"):
            assert ns == namespace
        if obj["kind"] in (
            "ClusterRole",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
            "ConsoleCLIDownload",
        ):
            assert ns is None
    if targets == ("",):
        assert not find(objs, "Role") and not find(objs, "RoleBinding")
        promoted = [r for r in find(objs, "ClusterRole") if r["rules"][-1].get("resources") == ["namespaces"]]
        assert promoted
    else:
        assert all(r["metadata"]["namespace"] == namespace for r in find(objs, "Role"))
    # determinism: same input, same output
    again = render(bundle, RenderOptions(install_namespace=namespace))
    assert yamlio.dump_all(again.objects) == yamlio.dump_all(objs)


def test_generator_order() -> None:
    bundle = load(FIXTURES / "webhook-demo")
    kinds = [o["kind"] for o in render(bundle, RenderOptions(install_namespace="ns")).objects]
    assert kinds == [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "Deployment",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "Service",
        "Issuer",
        "Certificate",
    ]


def test_single_namespace_roles_in_watch_namespace(tmp_path: Path) -> None:
    bundle = load(write_bundle(tmp_path, make_csv(modes=("SingleNamespace", "MultiNamespace"))))
    manifests = render(bundle, RenderOptions(install_namespace="op", watch_namespaces=("a", "b")))
    roles = find(manifests.objects, "Role")
    assert [r["metadata"]["namespace"] for r in roles] == ["a", "b"]
    assert roles[0]["metadata"]["name"] == roles[1]["metadata"]["name"]
    (binding, _) = find(manifests.objects, "RoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "demo-sa", "namespace": "op"}]
    (cluster_role,) = find(manifests.objects, "ClusterRole")
    assert cluster_role["rules"] == [
        {"apiGroups": ["demo.example.com"], "resources": ["widgets"], "verbs": ["*"]}
    ]
    (dep,) = find(manifests.objects, "Deployment")
    assert dep["spec"]["template"]["metadata"]["annotations"]["olm.targetNamespaces"] == "a,b"
    assert manifests.target_namespaces == ("a", "b")


def test_own_namespace_roles_in_the_install_namespace(tmp_path: Path) -> None:
    bundle = load(write_bundle(tmp_path, make_csv(modes=("OwnNamespace",))))
    for watch in (None, ("op",)):
        manifests = render(bundle, RenderOptions(install_namespace="op", watch_namespaces=watch))
        (role,) = find(manifests.objects, "Role")
        assert role["metadata"]["namespace"] == "op"
        (binding,) = find(manifests.objects, "RoleBinding")
        assert binding["metadata"]["namespace"] == "op"
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "demo-sa", "namespace": "op"}]
        (dep,) = find(manifests.objects, "Deployment")
        annotations = dep["spec"]["template"]["metadata"]["annotations"]
        assert annotations["olm.targetNamespaces"] == "op" and annotations["olm.operatorNamespace"] == "op"
    with pytest.raises(RenderError, match=r"supported install modes \[OwnNamespace\] do not support target namespaces"):
        render(bundle, RenderOptions(install_namespace="op", watch_namespaces=("elsewhere",)))


def test_service_accounts_default_skipped_and_namespaced(tmp_path: Path) -> None:
    csv = make_csv(
        permissions=[{"serviceAccountName": "", "rules": []}],
        cluster_permissions=[
            {"serviceAccountName": "zeta", "rules": []},
            {"serviceAccountName": "alpha", "rules": []},
        ],
    )
    objs = render(load(write_bundle(tmp_path, csv)), RenderOptions(install_namespace="op")).objects
    assert [(s["metadata"]["name"], s["metadata"]["namespace"]) for s in find(objs, "ServiceAccount")] == [
        ("alpha", "op"),
        ("zeta", "op"),
    ]
    promoted = [o for o in find(objs, "ClusterRoleBinding") if o["subjects"][0]["name"] == "default"]
    assert promoted and promoted[0]["metadata"]["name"].startswith("demo-operator.v1.0.-")


def test_deployment_annotations_template_wins_and_labels(tmp_path: Path) -> None:
    objs = render(load(write_bundle(tmp_path, make_csv())), RenderOptions(install_namespace="op")).objects
    (dep,) = find(objs, "Deployment")
    assert dep["metadata"]["labels"] == {"app": "demo-controller"}
    assert dep["spec"]["template"]["metadata"]["annotations"] == {
        "capabilities": "template wins",
        "olm.targetNamespaces": "",
        "olm.operatorNamespace": "op",
    }


def test_other_objects_namespaced_only_when_namespaced() -> None:
    bundle = load(FIXTURES / "multi-doc")
    manifests = render(bundle, RenderOptions(install_namespace="op", watch_namespaces=("op",)))
    objs = manifests.objects
    assert find(objs, "ConfigMap")[0]["metadata"]["namespace"] == "op"
    assert find(objs, "ServiceMonitor")[0]["metadata"]["namespace"] == "op"
    assert "namespace" not in find(objs, "PriorityClass")[0]["metadata"]
    assert find(objs, "ConfigMap")[0]["data"] == {"empty": "", "date": "2024-01-01"}
    assert find(objs, "ServiceMonitor")[0]["spec"] == {"endpoints": [], "selector": {}}
    # the converted v1beta1 CRD has no raw bytes; the v1 one is copied byte for byte
    assert set(manifests.raw_crds) == {"gizmos.demo.example.com"}
    gadgets = find(objs, "CustomResourceDefinition", "gadgets.demo.example.com")[0]
    assert gadgets["apiVersion"] == "apiextensions.k8s.io/v1"


def test_unsupported_kind_is_a_render_error(tmp_path: Path) -> None:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sneaky"}}
    bundle = load(write_bundle(tmp_path, make_csv(), {"dep.yaml": dep}))
    with pytest.raises(
        RenderError, match="bundle contains unsupported resource: Name: sneaky, Kind: Deployment"
    ):
        render(bundle, RenderOptions(install_namespace="op"))
    objs = render(bundle, RenderOptions(install_namespace="op", allowed_kinds=("Deployment",))).objects
    assert find(objs, "Deployment", "sneaky")[0]["metadata"]["namespace"] == "op"


def test_readable_rbac_names() -> None:
    bundle = load(require_shared("bundles", "cert-manager-operator-v1.15.2"))
    objs = render(bundle, RenderOptions(install_namespace="cm", rbac_names="readable")).objects
    names = sorted(o["metadata"]["name"] for o in find(objs, "ClusterRole"))
    assert names == [
        "cert-manager-operator-controller-manager-clusterrole",
        "cert-manager-operator-controller-manager-role",
        "cert-manager-operator-metrics-reader",
    ]
    for binding in find(objs, "ClusterRoleBinding"):
        assert binding["roleRef"]["name"] == binding["metadata"]["name"]


def test_bad_options(tmp_path: Path) -> None:
    bundle = load(write_bundle(tmp_path, make_csv()))
    with pytest.raises(RenderError, match="unknown certificate provider 'vault'"):
        render(bundle, RenderOptions(install_namespace="op", cert_provider="vault"))
    with pytest.raises(RenderError, match="unknown RBAC name style"):
        render(bundle, RenderOptions(install_namespace="op", rbac_names="short"))
    with pytest.raises(RenderError, match="install namespace must not be empty"):
        render(bundle, RenderOptions(install_namespace=""))
