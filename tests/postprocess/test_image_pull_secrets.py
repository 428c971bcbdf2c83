"""``image-pull-secrets``: ServiceAccounts, operand ServiceAccounts, Secret, registries."""

from __future__ import annotations

import pytest

from extractor.draft.gotemplate import Block
from extractor.errors import ConfigError
from postprocess import image_pull_secrets
from postprocess.image_pull_secrets import image_registry
from tests.support.drafts import rendered_draft

OPERANDS = {
    "operandServiceAccounts": [{"namespace": "cert-manager", "names": ["cert-manager", "cert-manager-webhook"]}]
}


def test_image_registry() -> None:
    assert image_registry("registry.redhat.io/a/b@sha256:" + "0" * 64) == "registry.redhat.io"
    assert image_registry("quay.io/jetstack/cert-manager-webhook:v1.15.5") == "quay.io"
    assert image_registry("localhost:5000/x:1") == "localhost:5000"
    assert image_registry("busybox") == "docker.io"
    assert image_registry("index.docker.io/library/busybox:1") == "docker.io"
    assert image_registry("${OPERATOR_IMAGE}") is None
    assert image_registry("not an image") is None
    # env values / annotations: only unmistakable references count
    assert image_registry("busybox", strict=True) is None
    assert image_registry("openshift.io/foo", strict=True) is None
    assert image_registry("gcr.io/istio-release/pilot:1.27.3", strict=True) == "gcr.io"


def test_registries_of_the_three_bundles() -> None:
    cert_manager = image_pull_secrets.run(rendered_draft("cert-manager-operator"), {})
    # operator image placeholder openshift.io/... (swapped by Red Hat's pipeline) and quay.io operands
    assert cert_manager.registries == ["openshift.io", "quay.io"]
    sail = image_pull_secrets.run(rendered_draft("sail-operator"), {})
    # the operator image is ${OSSM_OPERATOR_3_2}; operand images come from the pod annotations
    assert sail.registries == ["registry.redhat.io"]
    lws = image_pull_secrets.run(rendered_draft("lws-operator"), {})
    assert lws.registries == ["registry.redhat.io"]


def test_upstream_sail_annotations_give_gcr() -> None:
    draft = rendered_draft("sail-operator")
    for obj in draft.objects:
        if obj["kind"] == "Deployment":
            obj["spec"]["template"]["metadata"]["annotations"]["images.v1_27_3.istiod"] = (
                "gcr.io/istio-release/pilot:1.27.3"
            )
    assert "gcr.io" in image_pull_secrets.run(draft, {}).registries


def test_service_accounts_get_the_helper_and_operands_are_created() -> None:
    out = image_pull_secrets.run(rendered_draft("cert-manager-operator"), OPERANDS)
    [sa] = [o for o in out.objects if o["kind"] == "ServiceAccount"]
    blocks = [k for k in sa if isinstance(k, Block)]
    assert len(blocks) == 1 and 'include "cert-manager-operator.imagePullSecrets"' in blocks[0].text
    operand_sas = [t.obj for t in out.templates if t.obj and t.obj["kind"] == "ServiceAccount"]
    assert [(s["metadata"]["namespace"], s["metadata"]["name"]) for s in operand_sas] == [
        ("cert-manager", "cert-manager"),
        ("cert-manager", "cert-manager-webhook"),
    ]
    assert all(any(isinstance(k, Block) for k in s) for s in operand_sas)
    secrets = [t for t in out.templates if t.obj and t.obj["kind"] == "Secret"]
    assert [s.obj["metadata"]["namespace"] for s in secrets] == ["cert-manager-operator", "cert-manager"]
    assert all(s.condition == ".Values.pullSecret.dockerConfigJson" for s in secrets)
    assert out.extra_namespaces == ["cert-manager"]
    assert out.values["pullSecret"] == {"name": "cert-manager-operator-pull-secret", "dockerConfigJson": ""}
    assert out.values["imagePullSecrets"] == []
    assert set(out.helpers) == {
        "cert-manager-operator.imagePullSecrets",
        "cert-manager-operator.pullSecretName",
        "cert-manager-operator.pullSecretNames",
    }


def test_existing_pull_secrets_are_kept() -> None:
    draft = rendered_draft("lws-operator")
    for obj in draft.objects:
        if obj["kind"] == "ServiceAccount":
            obj["imagePullSecrets"] = [{"name": "from-bundle"}]
    out = image_pull_secrets.run(draft, {})
    [sa] = [o for o in out.objects if o["kind"] == "ServiceAccount"]
    assert "imagePullSecrets" not in sa
    assert '(list "from-bundle")' in next(k for k in sa if isinstance(k, Block)).text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"operandServiceAccounts": [{"namespace": "Bad_NS", "names": ["a"]}]}, "not a DNS-1123 label"),
        ({"operandServiceAccounts": [{"namespace": "x", "names": []}]}, "at least one"),
        ({"operandServiceAccounts": [{"namespace": "x", "names": ["a"], "extra": 1}]}, "unknown option"),
        ({"operandServiceAccounts": {"namespace": "x"}}, "list of mappings"),
    ],
)
def test_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        image_pull_secrets.run(rendered_draft("lws-operator"), options)


def test_operand_accounts_without_namespace_live_in_the_install_namespace() -> None:
    out = image_pull_secrets.run(
        rendered_draft("lws-operator"), {"operandServiceAccounts": [{"names": ["lws-controller-manager"]}]}
    )
    operand = [t.obj for t in out.templates if t.obj and t.obj["kind"] == "ServiceAccount"]
    assert [(s["metadata"]["namespace"], s["metadata"]["name"]) for s in operand] == [
        ("openshift-lws-operator", "lws-controller-manager")
    ]
    # the install namespace is created by the release itself, not by the namespaces hook
    assert out.extra_namespaces == []
    secrets = [t.obj for t in out.templates if t.obj and t.obj["kind"] == "Secret"]
    assert [s["metadata"]["namespace"] for s in secrets] == ["openshift-lws-operator"]
