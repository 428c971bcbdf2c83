"""``templatize-namespaces``: structural replacement of the install namespace."""

from __future__ import annotations

from typing import Any

from extractor.draft import ChartDraft, Template
from extractor.draft.gotemplate import Go, Tpl, dump_template
from postprocess import templatize_namespaces
from tests.support.drafts import rendered_draft

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
