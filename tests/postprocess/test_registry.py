"""The post-processor registry: order, defaults, settings normalisation, error naming."""

from __future__ import annotations

import pytest

from extractor.draft import ChartDraft
from extractor.errors import ConfigError, PostProcessError
from postprocess import REGISTRY, normalize_settings, run_postprocessors


def _draft() -> ChartDraft:
    return ChartDraft(
        name="demo",
        install_namespace="demo-system",
        bundle_image=None,
        bundle_digest=None,
        csv_name="demo.v1.0.0",
        csv_version="1.0.0",
        package="demo",
        objects=[
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "op", "namespace": "demo-system"}}
        ],
    )


def test_registry_order_and_defaults() -> None:
    assert list(REGISTRY) == [
        "exclude",
        "operator-crs",
        "openshift-infrastructure-stub",
        "kube-system-auth-reader",
        "crd-stubs",
        "api-requirements",
        "split-crds",
        "image-pull-secrets",
        "templatize-namespaces",
        "image-mirrors",
        "deployment-config",
        "sail-webhook-ignore",
    ]
    defaults = [name for name, p in REGISTRY.items() if p.default_enabled]
    assert defaults == ["exclude", "api-requirements", "split-crds", "image-pull-secrets", "templatize-namespaces",
                        "image-mirrors", "deployment-config"]
    assert all(p.doc and p.name == name for name, p in REGISTRY.items())


def test_normalize_settings_follows_registry_order_not_user_order() -> None:
    enabled = normalize_settings(
        {"sail-webhook-ignore": {"timeout": 5}, "split-crds": False, "kube-system-auth-reader": None, "exclude": True}
    )
    assert list(enabled) == [
        "exclude",
        "kube-system-auth-reader",
        "api-requirements",
        "image-pull-secrets",
        "templatize-namespaces",
        "image-mirrors",
        "deployment-config",
        "sail-webhook-ignore",
    ]
    assert enabled["sail-webhook-ignore"] == {"timeout": 5}
    assert normalize_settings({"operator-crs": [{"kind": "X"}]})["operator-crs"] == {"items": [{"kind": "X"}]}


def test_unknown_postprocessor_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"unknown post-processor.*'split-crd'"):
        normalize_settings({"split-crd": True})


def test_bad_setting_type_names_the_postprocessor() -> None:
    with pytest.raises(ConfigError, match="post-processor 'exclude'"):
        normalize_settings({"exclude": "yes"})


def test_bad_option_names_the_postprocessor_and_chart() -> None:
    with pytest.raises(ConfigError, match=r"post-processor 'split-crds'.*unknown option.*bogus"):
        run_postprocessors(_draft(), {"split-crds": {"bogus": 1}})


def test_failure_inside_a_postprocessor_names_it() -> None:
    with pytest.raises(PostProcessError, match=r"chart 'demo'.*post-processor 'kube-system-auth-reader'"):
        run_postprocessors(_draft(), {"kube-system-auth-reader": True})


def test_run_does_not_mutate_the_input() -> None:
    draft = _draft()
    before = repr(draft)
    out = run_postprocessors(draft, {})
    assert repr(draft) == before
    assert out is not draft
    assert out.objects[0]["metadata"]["namespace"] != "demo-system"  # templatized
