"""OLMv1 name recipes and the readable RBAC names."""

from __future__ import annotations

from extractor.render.naming import (
    ReadableNamer,
    cert_name,
    csv_base_name,
    deep_hash,
    go_json,
    object_name_for_base_and_suffix,
    olm_rbac_name,
    webhook_service_name,
)


def test_go_json_is_compact_html_escaped_with_newline() -> None:
    assert go_json({"b": ["<a&b>"], "a": None}) == '{"b":["\\u003ca\\u0026b\\u003e"],"a":null}\n'


def test_truncation_keeps_trailing_dot() -> None:
    suffix = "3gkm3u8zfarktdile5wekso69zs9bgzb988mhjm0y6p"
    name = object_name_for_base_and_suffix(
        "argocd-operator.v0.6.0-argocd-operator-controller-manager", suffix
    )
    assert name == f"argocd-operator.v0.-{suffix}"
    assert len(name) == 63
    assert object_name_for_base_and_suffix("short", "service") == "short-service"


def test_olm_rbac_names_match_olmv1_goldens() -> None:
    sa = "argocd-operator-controller-manager"
    rules = [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]}]
    name = olm_rbac_name("argocd-operator.v0.6.0", sa, rules)
    assert name.startswith("argocd-operator.v0")
    assert len(name) <= 63
    # the hash covers the raw service account name and the rules in Go field order
    assert deep_hash({"serviceAccountName": sa, "rules": [{"verbs": ["get"]}]}) != deep_hash(
        {"rules": [{"verbs": ["get"]}], "serviceAccountName": sa}
    )


def test_webhook_service_and_cert_names() -> None:
    assert webhook_service_name("webhook-operator.controller") == "webhook-operator-controller-service"
    assert cert_name("a-service") == "a-service-cert"
    long = webhook_service_name("x" * 70)
    assert len(long) == 63 and long.endswith("-service")


def test_csv_base_name() -> None:
    assert csv_base_name("cert-manager-operator.v1.15.2") == "cert-manager-operator"
    assert csv_base_name("servicemeshoperator3.v3.2.1") == "servicemeshoperator3"
    assert csv_base_name("demo.v1.0.0-rc.1") == "demo"
    assert csv_base_name("noversion") == "noversion"


def test_readable_names_are_short_and_unique() -> None:
    namer = ReadableNamer("cert-manager-operator.v1.15.2")
    assert namer.name("ClusterRole", "cert-manager-operator-controller-manager", "clusterrole") == (
        "cert-manager-operator-controller-manager-clusterrole"
    )
    assert namer.name("ClusterRole", "helper", "role") == "cert-manager-operator-helper-role"
    assert namer.name("ClusterRole", "helper", "role") == "cert-manager-operator-helper-role-2"
    assert namer.name("Role", "helper", "role") == "cert-manager-operator-helper-role"
    assert namer.name("Role", "", "role") == "cert-manager-operator-default-role"
    long = namer.name("Role", "s" * 80, "role")
    assert len(long) <= 63
