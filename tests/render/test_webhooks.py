"""Webhooks with each certificate provider, and owned APIServices (OLMv0 rendering)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.errors import RenderError
from extractor.model import RenderOptions
from extractor.render import render
from tests.render import FIXTURES, find, load

SVC = "webhook-demo-controller-manager-service"
CERT = f"{SVC}-cert"


def _render(**kw: Any) -> list[dict[str, Any]]:
    return render(load(FIXTURES / "webhook-demo"), RenderOptions(install_namespace="wh", **kw)).objects


def test_cert_manager_objects_and_injection() -> None:
    objs = _render()
    (issuer,) = find(objs, "Issuer")
    assert issuer == {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Issuer",
        "metadata": {"name": f"{CERT}-selfsigned-issuer", "namespace": "wh"},
        "spec": {"selfSigned": {}},
    }
    (cert,) = find(objs, "Certificate")
    host = f"{SVC}.wh"
    assert cert["metadata"] == {"name": CERT, "namespace": "wh"}
    assert cert["spec"] == {
        "commonName": host,
        "dnsNames": [host, f"{host}.svc", f"{host}.svc.cluster.local"],
        "duration": "17520h0m0s",
        "isCA": False,
        "issuerRef": {"name": f"{CERT}-selfsigned-issuer"},
        "renewBefore": "24h0m0s",
        "secretName": CERT,
        "usages": ["server auth"],
    }
    inject = {"cert-manager.io/inject-ca-from": f"wh/{CERT}"}
    for kind in (
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "CustomResourceDefinition",
    ):
        (obj,) = find(objs, kind)
        assert inject.items() <= obj["metadata"]["annotations"].items()


def test_existing_issuer() -> None:
    objs = _render(cert_manager_issuer_name="corp-ca", cert_manager_issuer_kind="ClusterIssuer")
    assert not find(objs, "Issuer")
    assert find(objs, "Certificate")[0]["spec"]["issuerRef"] == {"name": "corp-ca", "kind": "ClusterIssuer"}


def test_webhook_configurations_and_service() -> None:
    objs = _render()
    (vwc,) = find(objs, "ValidatingWebhookConfiguration")
    assert vwc["metadata"]["name"] == "vwidget.kb.io"
    (hook,) = vwc["webhooks"]
    assert hook["name"] == "vwidget.kb.io"
    assert hook["clientConfig"] == {
        "service": {"namespace": "wh", "name": SVC, "path": "/validate-widget", "port": 443}
    }
    assert "namespaceSelector" not in hook and "reinvocationPolicy" not in hook
    (mwc,) = find(objs, "MutatingWebhookConfiguration")
    assert mwc["webhooks"][0]["reinvocationPolicy"] == "IfNeeded"
    assert mwc["webhooks"][0]["timeoutSeconds"] == 10
    (svc,) = find(objs, "Service")
    assert svc["metadata"] == {"name": SVC, "namespace": "wh"}
    assert svc["spec"] == {
        "ports": [{"name": "443", "port": 443, "targetPort": 9443}],
        "selector": {"control-plane": "controller-manager"},
    }
    (crd,) = find(objs, "CustomResourceDefinition")
    assert crd["spec"]["conversion"] == {
        "strategy": "Webhook",
        "webhook": {
            "clientConfig": {"service": {"namespace": "wh", "name": SVC, "path": "/convert", "port": 443}},
            "conversionReviewVersions": ["v1"],
        },
    }


def test_cert_volume_rewrite() -> None:
    (dep,) = find(_render(), "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert pod["volumes"] == [
        {"name": "tmp", "emptyDir": {}},
        {
            "name": "webhook-cert",
            "secret": {
                "secretName": CERT,
                "items": [{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}],
            },
        },
        {
            "name": "apiservice-cert",
            "secret": {
                "secretName": CERT,
                "items": [
                    {"key": "tls.crt", "path": "apiserver.crt"},
                    {"key": "tls.key", "path": "apiserver.key"},
                ],
            },
        },
    ]
    assert pod["containers"][0]["volumeMounts"] == [
        {"name": "tmp", "mountPath": "/tmp/work"},
        {"name": "webhook-cert", "mountPath": "/tmp/k8s-webhook-server/serving-certs"},
        {"name": "apiservice-cert", "mountPath": "/apiserver.local.config/certificates"},
    ]


def test_no_provider_keeps_volumes_and_adds_nothing() -> None:
    objs = _render(cert_provider="none")
    assert not find(objs, "Issuer") and not find(objs, "Certificate")
    pod = find(objs, "Deployment")[0]["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["cert", "tmp"]
    assert "annotations" not in find(objs, "ValidatingWebhookConfiguration")[0]["metadata"]


def test_openshift_service_ca() -> None:
    objs = _render(cert_provider="openshift-service-ca")
    assert not find(objs, "Certificate")
    svc = find(objs, "Service")[0]
    assert svc["metadata"]["annotations"] == {"service.beta.openshift.io/serving-cert-secret-name": CERT}
    for kind in (
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "CustomResourceDefinition",
    ):
        assert (
            find(objs, kind)[0]["metadata"]["annotations"]["service.beta.openshift.io/inject-cabundle"]
            == "true"
        )


def test_namespace_selector_for_single_namespace(tmp_path: Any) -> None:
    from tests.render import deployment, make_csv, write_bundle

    hook = {
        "type": "ValidatingAdmissionWebhook",
        "generateName": "v.example.com",
        "deploymentName": "demo-controller",
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
    }
    csv = make_csv(
        modes=("SingleNamespace",), webhooks=[hook], deployments=[deployment("demo-controller", "demo-sa")]
    )
    objs = render(
        load(write_bundle(tmp_path, csv)), RenderOptions(install_namespace="op", watch_namespaces=("w",))
    ).objects
    (vwc,) = find(objs, "ValidatingWebhookConfiguration")
    assert vwc["webhooks"][0]["namespaceSelector"] == {
        "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["w"]}]
    }
    # an omitted containerPort is 443 (the CSV schema default)
    assert vwc["webhooks"][0]["clientConfig"]["service"]["port"] == 443
    assert "path" not in vwc["webhooks"][0]["clientConfig"]["service"]


def test_apiservices_rendered_like_olmv0() -> None:
    bundle = load(FIXTURES / "apiservice-demo")
    objs = render(bundle, RenderOptions(install_namespace="m")).objects
    (api,) = find(objs, "APIService")
    svc = "metrics-apiserver-service"
    assert api["metadata"] == {
        "name": "v1beta1.metrics.demo.example.com",
        "annotations": {"cert-manager.io/inject-ca-from": f"m/{svc}-cert"},
    }
    assert api["spec"] == {
        "group": "metrics.demo.example.com",
        "version": "v1beta1",
        "groupPriorityMinimum": 2000,
        "versionPriority": 15,
        "service": {"namespace": "m", "name": svc, "port": 6443},
    }
    (service,) = find(objs, "Service")
    assert service["spec"]["ports"] == [{"name": "6443", "port": 6443, "targetPort": 6443}]
    crb = find(objs, "ClusterRoleBinding", f"{svc}-system:auth-delegator")[0]
    assert crb["roleRef"]["name"] == "system:auth-delegator"
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": "metrics-sa", "namespace": "m"}]
    rb = find(objs, "RoleBinding", f"{svc}-auth-reader")[0]
    assert rb["metadata"] == {"name": f"{svc}-auth-reader", "namespace": "kube-system"}
    assert rb["roleRef"]["name"] == "extension-apiserver-authentication-reader"
    pod = find(objs, "Deployment")[0]["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["webhook-cert", "apiservice-cert"]
    assert [o["kind"] for o in find(objs, "Certificate")] == ["Certificate"]


@pytest.mark.parametrize("provider", ["cert-manager", "openshift-service-ca"])
def test_apiservice_cert_secret_role_and_binding_like_olmv0(provider: str) -> None:
    """Class 8 of issue 13: OLMv0's ``<svc>-cert`` Role and RoleBinding (``get`` on the serving
    certificate Secret, for the deployment's service account), which OLMv1 leaves out."""
    bundle = load(FIXTURES / "apiservice-demo")
    objs = render(bundle, RenderOptions(install_namespace="m", cert_provider=provider)).objects
    secret = "metrics-apiserver-service-cert"
    (role,) = find(objs, "Role", secret)
    assert role["metadata"] == {"name": secret, "namespace": "m"}
    assert role["rules"] == [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret]}]
    (binding,) = find(objs, "RoleBinding", secret)
    assert binding["metadata"] == {"name": secret, "namespace": "m"}
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": secret}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "metrics-sa", "namespace": "m"}]
    # the Secret the Role names is the one the deployment mounts
    pod = find(objs, "Deployment")[0]["spec"]["template"]["spec"]
    assert {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v} == {secret}


def test_apiservice_cert_secret_role_not_rendered_without_a_provider() -> None:
    bundle = load(FIXTURES / "apiservice-demo")
    objs = render(bundle, RenderOptions(install_namespace="m", cert_provider="none")).objects
    assert not find(objs, "Role", "metrics-apiserver-service-cert")
    assert find(objs, "RoleBinding", "metrics-apiserver-service-auth-reader")


def test_apiservices_refused_when_disabled() -> None:
    bundle = load(FIXTURES / "apiservice-demo")
    with pytest.raises(RenderError, match="unsupported bundle: apiServiceDefintions are not supported"):
        render(bundle, RenderOptions(install_namespace="m", render_apiservices=False))


def test_bundle_service_with_the_webhook_service_name_is_replaced(tmp_path: Path) -> None:
    """Class 2 of issue 13: a bundle Service named like the webhook Service OLM generates. OLM
    applies its own over it (OLMv0 deletes and recreates it; OLMv1 applies it after the bundle's
    with the same field manager), so only the generated Service remains, with a note."""
    root = tmp_path / "bundle"
    shutil.copytree(FIXTURES / "webhook-demo", root)
    theirs = {"apiVersion": "v1", "kind": "Service",
              "metadata": {"name": SVC, "labels": {"from": "bundle"}},
              "spec": {"selector": {"app": "other"}, "ports": [{"name": "metrics", "port": 8443}]}}
    other = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "metrics"},
             "spec": {"ports": [{"port": 8080}]}}
    (root / "manifests" / "service.yaml").write_text(yamlio.dump_all([theirs, other]))
    manifests = render(load(root), RenderOptions(install_namespace="wh"))
    services = find(manifests.objects, "Service")
    assert [s["metadata"]["name"] for s in services] == ["metrics", SVC]
    generated = find(_render(), "Service")[0]
    assert services[1] == generated
    assert manifests.notes == [
        f"manifests/service.yaml: Service {SVC!r} replaced by the Service OLM generates for the "
        "webhooks/APIServices of its deployment (same name: OLM applies its own over the bundle's)"]
    # nothing left for the chart writer to collide on
    assert len({(s["metadata"]["namespace"], s["metadata"]["name"]) for s in services}) == len(services)
