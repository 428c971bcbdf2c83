"""Webhooks with each certificate provider, and owned APIServices (OLMv0 rendering)."""

from __future__ import annotations

from typing import Any

import pytest

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
    (rb,) = find(objs, "RoleBinding")
    assert rb["metadata"] == {"name": f"{svc}-auth-reader", "namespace": "kube-system"}
    assert rb["roleRef"]["name"] == "extension-apiserver-authentication-reader"
    pod = find(objs, "Deployment")[0]["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["webhook-cert", "apiservice-cert"]
    assert [o["kind"] for o in find(objs, "Certificate")] == ["Certificate"]


def test_apiservices_refused_when_disabled() -> None:
    bundle = load(FIXTURES / "apiservice-demo")
    with pytest.raises(RenderError, match="unsupported bundle: apiServiceDefintions are not supported"):
        render(bundle, RenderOptions(install_namespace="m", render_apiservices=False))
