"""``operator-crs``: operator custom resources from alm-examples, scope from the CRD."""

from __future__ import annotations

import pytest

from extractor.draft.gotemplate import Block
from extractor.errors import ConfigError, PostProcessError
from postprocess import operator_crs, split_crds
from tests.support.drafts import rendered_draft


def _spec_block(obj: dict[object, object]) -> str:
    return next(k.text for k in obj if isinstance(k, Block))


def test_istio_from_alm_example_is_cluster_scoped_and_version_from_bundle() -> None:
    out = operator_crs.run(
        rendered_draft("sail-operator"),
        {"items": [{"kind": "Istio", "name": "default", "valuesKey": "istio", "fromAlmExample": True}]},
    )
    [template] = out.templates
    assert template.condition == ".Values.istio.create"
    assert template.obj["apiVersion"] == "sailoperator.io/v1"
    assert template.obj["metadata"] == {"name": "default"}  # cluster-scoped: no namespace
    assert out.values["istio"]["spec"]["version"] == "v1.27.3"
    # spec.namespace was the install namespace: it follows the release namespace instead
    assert "namespace" not in out.values["istio"]["spec"]
    assert 'merge (deepCopy .Values.istio.spec) (dict "namespace" .Release.Namespace)' in _spec_block(template.obj)
    assert "pullSecretNames" not in _spec_block(template.obj)


def test_pull_secrets_at() -> None:
    item = {
        "kind": "Istio",
        "valuesKey": "istio",
        "fromAlmExample": True,
        "pullSecretsAt": "values.global.imagePullSecrets",
    }
    out = operator_crs.run(rendered_draft("sail-operator"), {"items": [item]})
    block = _spec_block(out.templates[0].obj)
    assert '(dict "values" (dict "global" (dict "imagePullSecrets" $pullSecrets)))' in block
    assert "sail-operator.pullSecretNames" in out.helpers
    with pytest.raises(ConfigError, match="pullSecretsAt"):
        operator_crs.run(rendered_draft("sail-operator"), {"items": [{**item, "pullSecretsAt": "a..b"}]})
    assert "release namespace" in out.value_docs["istio.spec"]


def test_spec_overrides_merge_over_the_example() -> None:
    item = {
        "kind": "Istio",
        "valuesKey": "istio",
        "fromAlmExample": True,
        "spec": {"version": "v1.27.9", "updateStrategy": {"type": "RevisionBased"}},
    }
    out = operator_crs.run(rendered_draft("sail-operator"), {"items": [item]})
    spec = out.values["istio"]["spec"]
    assert spec["version"] == "v1.27.9"
    assert spec["updateStrategy"] == {"inactiveRevisionDeletionGracePeriodSeconds": 30, "type": "RevisionBased"}


def test_namespaced_cr_gets_the_install_namespace() -> None:
    draft = rendered_draft("lws-operator")
    for obj in draft.objects:
        if obj["kind"] == "CustomResourceDefinition":
            obj["spec"]["scope"] = "Namespaced"
    out = operator_crs.run(
        draft, {"items": [{"kind": "LeaderWorkerSetOperator", "valuesKey": "lws", "fromAlmExample": True}]}
    )
    assert out.templates[0].obj["metadata"] == {"name": "cluster", "namespace": "openshift-lws-operator"}


def test_cert_manager_without_example_uses_storage_version() -> None:
    out = operator_crs.run(
        rendered_draft("cert-manager-operator"),
        {
            "items": [
                {
                    "kind": "CertManager",
                    "name": "cluster",
                    "valuesKey": "certManager",
                    "spec": {"managementState": "Managed"},
                }
            ]
        },
    )
    assert out.templates[0].obj["apiVersion"] == "operator.openshift.io/v1alpha1"
    assert out.values["certManager"] == {"create": True, "spec": {"managementState": "Managed"}}


def test_works_after_split_crds() -> None:
    draft = split_crds.run(rendered_draft("lws-operator"), {})
    out = operator_crs.run(
        draft, {"items": [{"kind": "LeaderWorkerSetOperator", "valuesKey": "lws", "fromAlmExample": True}]}
    )
    assert out.templates[0].obj["metadata"] == {"name": "cluster"}


@pytest.mark.parametrize(
    ("item", "error", "message"),
    [
        (
            {"kind": "Istio", "valuesKey": "istio", "namespace": "x", "fromAlmExample": True},
            ConfigError,
            "cluster-scoped",
        ),
        ({"kind": "Istio", "valuesKey": "is-tio", "fromAlmExample": True}, ConfigError, "camelCase"),
        ({"kind": "Istio", "valuesKey": "istio"}, ConfigError, "name"),
        ({"kind": "Nope", "valuesKey": "nope", "fromAlmExample": True}, PostProcessError, "no Nope example"),
        ({"kind": "Nope", "name": "x", "valuesKey": "nope"}, PostProcessError, "no CustomResourceDefinition"),
        ({"kind": "Istio", "apiVersion": "sailoperator.io/v9", "name": "x", "valuesKey": "i"}, PostProcessError, "v9"),
        ({"kind": "Istio", "valuesKey": "istio", "frobnicate": 1}, ConfigError, "unknown option"),
    ],
)
def test_errors(item: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        operator_crs.run(rendered_draft("sail-operator"), {"items": [item]})


def test_needs_items_and_unique_keys() -> None:
    with pytest.raises(ConfigError, match="at least one"):
        operator_crs.run(rendered_draft("sail-operator"), {})
    item = {"kind": "Istio", "valuesKey": "istio", "fromAlmExample": True}
    with pytest.raises(ConfigError, match="used twice"):
        operator_crs.run(rendered_draft("sail-operator"), {"items": [item, item]})


def test_find_crd_uses_the_parsed_presync_crds() -> None:
    """After split-crds the CRDs are presync files whose parsed objects ride along: find_crd uses
    them (the sail CRD files take about 0.35 s to parse again per lookup)."""
    split = split_crds.run(rendered_draft("sail-operator"), {})
    istio = operator_crs.find_crd(split, "sailoperator.io", "Istio")
    assert istio is not None
    assert any(crd.obj is istio for crd in split.crds)  # the shared object, not a new parse
    assert operator_crs.find_crd(split, "sailoperator.io", "NoSuchKind") is None


def test_kind_without_api_version_found_after_split_crds() -> None:
    """Without apiVersion the CRD is looked up by kind alone, in the split presync CRDs too."""
    split = split_crds.run(rendered_draft("sail-operator"), {})
    out = operator_crs.run(split, {"items": [{"kind": "Istio", "name": "default", "valuesKey": "istio"}]})
    [template] = out.templates
    assert template.obj["apiVersion"] == "sailoperator.io/v1"  # the CRD's storage version
