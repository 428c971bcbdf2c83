"""``templatize-namespaces``: structural replacement of the install namespace."""

from __future__ import annotations

from typing import Any

from extractor.bundle.loader import load_bundle
from extractor.draft import ChartDraft, Template
from extractor.draft.gotemplate import Go, Tpl, dump_template
from extractor.model import BundleSource, RenderOptions
from extractor.pipeline import new_draft
from extractor.render import render
from postprocess import templatize_namespaces
from tests.support.drafts import rendered_draft
from tests.support.tools import require_shared

NS = Tpl(Go(".Release.Namespace"))


def _draft(objects: list[dict[str, Any]], templates: list[Template] | None = None) -> ChartDraft:
    return ChartDraft(
        name="demo",
        install_namespace="demo",
        bundle_image=None,
        bundle_digest=None,
        csv_name="demo.v1",
        csv_version="1.0.0",
        package="demo",
        objects=objects,
        templates=templates or [],
    )


def _deployment(**container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "op", "namespace": "demo"},
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {
                        "olm.operatorNamespace": "demo",
                        "olm.targetNamespaces": "demo",
                        "description": "demo",
                    }
                },
                "spec": {"containers": [{"name": "c", "image": "x", **container}]},
            }
        },
    }


def test_metadata_subjects_and_service_references() -> None:
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "b"},
        "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "demo"}],
    }
    webhook = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "w", "annotations": {"cert-manager.io/inject-ca-from": "demo/op-cert"}},
        "webhooks": [{"name": "w.x.io", "clientConfig": {"service": {"name": "op", "namespace": "demo"}}}],
    }
    out = templatize_namespaces.run(_draft([binding, webhook]), {})
    assert out.objects[0]["subjects"][0]["namespace"] == NS
    assert out.objects[1]["webhooks"][0]["clientConfig"]["service"]["namespace"] == NS
    assert out.objects[1]["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == Tpl(
        Go(".Release.Namespace"), "/op-cert"
    )


def test_other_namespaces_stay() -> None:
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "b", "namespace": "kube-system"},
        "subjects": [{"kind": "ServiceAccount", "name": "op", "namespace": "cert-manager"}],
    }
    out = templatize_namespaces.run(_draft([binding]), {})
    assert out.objects[0] == binding


def test_container_values() -> None:
    deployment = _deployment(
        args=["--namespace", "demo", "--watch-namespace=demo,other", "--leader-id=demo", "demo"],
        env=[
            {"name": "OPERATOR_NAMESPACE", "value": "demo"},
            {"name": "OPERATOR_NAME", "value": "demo"},  # a coincidence, not a namespace
            {"name": "WEBHOOK_URL", "value": "https://op.demo.svc:443/validate"},
            {"name": "OTHER", "value": "op.demox.svc"},
        ],
    )
    out = templatize_namespaces.run(_draft([deployment]), {})
    container = out.objects[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == [
        "--namespace",
        NS,
        Tpl("--watch-namespace=", Go(".Release.Namespace"), ",", "other"),
        "--leader-id=demo",
        "demo",
    ]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["OPERATOR_NAMESPACE"] == NS
    assert env["OPERATOR_NAME"] == "demo"
    assert env["WEBHOOK_URL"] == Tpl("https://op.", Go(".Release.Namespace"), ".svc:443/validate")
    assert env["OTHER"] == "op.demox.svc"


def test_olm_annotations_follow_only_when_equal() -> None:
    out = templatize_namespaces.run(_draft([_deployment()]), {})
    annotations = out.objects[0]["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"olm.operatorNamespace": NS, "olm.targetNamespaces": NS, "description": "demo"}
    multi = _deployment()
    multi["spec"]["template"]["metadata"]["annotations"]["olm.targetNamespaces"] = "demo,team-a"
    out = templatize_namespaces.run(_draft([multi]), {})
    assert out.objects[0]["spec"]["template"]["metadata"]["annotations"]["olm.targetNamespaces"] == "demo,team-a"


def test_certificate_dns_names() -> None:
    certificate = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "c", "namespace": "demo"},
        "spec": {
            "dnsNames": ["op.demo.svc", "op.demo.svc.cluster.local", "demo.example.com"],
            "commonName": "op.demo.svc",
        },
    }
    out = templatize_namespaces.run(_draft([certificate]), {})
    spec = out.objects[0]["spec"]
    assert spec["dnsNames"][0] == Tpl("op.", Go(".Release.Namespace"), ".svc")
    assert spec["dnsNames"][1] == Tpl("op.", Go(".Release.Namespace"), ".svc.cluster.local")
    assert spec["dnsNames"][2] == "demo.example.com"
    assert spec["commonName"] == Tpl("op.", Go(".Release.Namespace"), ".svc")


def test_template_objects_are_walked_and_templates_survive() -> None:
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x", "namespace": "demo"}}
    out = templatize_namespaces.run(_draft([], [Template(obj=sa, condition=".Values.x"), Template(text="a: b")]), {})
    assert out.templates[0].obj["metadata"]["namespace"] == NS
    assert out.templates[0].condition == ".Values.x"
    assert out.templates[1].text == "a: b"


def test_lws_render_has_no_literal_install_namespace_left() -> None:
    draft = rendered_draft("lws-operator")
    draft.objects = [o for o in draft.objects if o["kind"] != "CustomResourceDefinition"]
    out = templatize_namespaces.run(draft, {})
    text = "".join(dump_template(o) for o in out.objects)
    lines = [line for line in text.splitlines() if "openshift-lws-operator" in line]
    # only names (ServiceAccount, Deployment, labels, OPERATOR_NAME) may still carry the text
    assert all("namespace" not in line.lower() for line in lines), lines
    deployment = next(o for o in out.objects if o["kind"] == "Deployment")
    assert deployment["spec"]["template"]["metadata"]["annotations"]["olm.targetNamespaces"] == NS


def _service(name: str, namespace: str = "demo") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"ports": [{"port": 8443}]}}


def test_dns_names_of_the_charts_own_services_follow_the_release_namespace() -> None:
    """Class 5 of issue 13: ``<svc>.<ns>.svc`` outside the fields handled by name (a ServiceMonitor's
    tlsConfig.serverName, a URL in a custom resource, an annotation), found structurally: the value
    is a DNS name (or URL) of a Service of this chart in the install namespace."""
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "m", "namespace": "demo",
                     "annotations": {"probe": "https://metrics.demo.svc:8443/healthz"}},
        "spec": {"endpoints": [{"tlsConfig": {"serverName": "metrics.demo.svc"}, "port": "https"}],
                 "selector": {"matchLabels": {"app": "metrics.demo.svc"}}},
    }
    widget = {"apiVersion": "demo.example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "demo"},
              "spec": {"url": "https://metrics.demo.svc.cluster.local:8443/x", "short": "metrics.demo",
                       "list": ["metrics.demo.svc:8443", "other.demo.svc", "metrics.demo.svc.example.com",
                                "see metrics.demo.svc", "metrics.kube-system.svc", "metrics.demo:8443"]}}
    out = templatize_namespaces.run(_draft([_service("metrics"), monitor], [Template(obj=widget)]), {})
    endpoint = out.objects[1]["spec"]["endpoints"][0]
    assert endpoint["tlsConfig"]["serverName"] == Tpl("metrics.", Go(".Release.Namespace"), ".svc")
    assert out.objects[1]["metadata"]["annotations"]["probe"] == Tpl(
        "https://metrics.", Go(".Release.Namespace"), ".svc:8443/healthz")
    # any string leaf that is exactly such a DNS name follows, whatever its field
    assert out.objects[1]["spec"]["selector"]["matchLabels"]["app"] == Tpl("metrics.", Go(".Release.Namespace"),
                                                                           ".svc")
    spec = out.templates[0].obj["spec"]
    assert spec["url"] == Tpl("https://metrics.", Go(".Release.Namespace"), ".svc.cluster.local:8443/x")
    assert spec["short"] == Tpl("metrics.", Go(".Release.Namespace"))
    assert spec["list"] == [
        Tpl("metrics.", Go(".Release.Namespace"), ".svc:8443"),
        "other.demo.svc",  # not a Service of this chart
        "metrics.demo.svc.example.com",  # another domain
        "see metrics.demo.svc",  # text, not a DNS name: never searched
        "metrics.kube-system.svc",  # another namespace
        "metrics.demo:8443",  # too loose without .svc
    ]
    rendered = dump_template(out.objects[1])
    assert "serverName: \"metrics.{{ .Release.Namespace }}.svc\"" in rendered


def test_a_service_in_another_namespace_is_not_the_charts() -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "demo"},
              "data": {"host": "metrics.demo.svc"}}
    out = templatize_namespaces.run(_draft([_service("metrics", "kube-system"), config]), {})
    assert out.objects[1]["data"]["host"] == "metrics.demo.svc"
    assert templatize_namespaces.chart_services([_service("a"), _service("b", "x"), config], "demo") == {"a"}


def test_vault_config_service_monitor_server_name() -> None:
    """The corpus bundle whose ServiceMonitor kept the install namespace after --namespace other."""
    directory = require_shared("corpus", "vault-config-operator-0.8.52")
    bundle = load_bundle(BundleSource(reference=str(directory), directory=directory))
    manifests = render(bundle, RenderOptions(install_namespace="vault-config-operator"))
    draft = new_draft("vault", "vault-config-operator", bundle, manifests)
    out = templatize_namespaces.run(draft, {})
    (monitor,) = [o for o in out.objects if o["kind"] == "ServiceMonitor"]
    server_names = [e["tlsConfig"]["serverName"] for e in monitor["spec"]["endpoints"]]
    assert server_names == [Tpl("vault-config-operator-controller-manager-metrics-service.", Go(".Release.Namespace"),
                                ".svc")]
