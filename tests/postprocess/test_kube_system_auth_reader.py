"""``kube-system-auth-reader``."""

from __future__ import annotations

import pytest

from extractor.draft.gotemplate import Go, Tpl
from extractor.errors import ConfigError, PostProcessError
from postprocess import kube_system_auth_reader
from tests.support.drafts import rendered_draft


def test_lws_binding() -> None:
    out = kube_system_auth_reader.run(rendered_draft("lws-operator"), {})
    [template] = out.templates
    binding = template.obj
    assert template.filename == "rolebinding-kube-system-auth-reader.yaml"
    assert binding["metadata"]["namespace"] == "kube-system"
    assert binding["metadata"]["name"] == Tpl(Go(".Release.Name"), "-", Go(".Release.Namespace"), "-auth-reader")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "extension-apiserver-authentication-reader",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "openshift-lws-operator", "namespace": "openshift-lws-operator"}
    ]


def test_explicit_service_accounts() -> None:
    out = kube_system_auth_reader.run(rendered_draft("lws-operator"), {"serviceAccounts": ["b", "a", "a"]})
    assert [s["name"] for s in out.templates[0].obj["subjects"]] == ["a", "b"]
    with pytest.raises(ConfigError, match="DNS-1123"):
        kube_system_auth_reader.run(rendered_draft("lws-operator"), {"serviceAccounts": ["A B"]})


def test_no_operator_deployment() -> None:
    draft = rendered_draft("lws-operator")
    draft.csv = {}
    draft.objects = []
    with pytest.raises(PostProcessError, match="no operator deployment"):
        kube_system_auth_reader.run(draft, {})
