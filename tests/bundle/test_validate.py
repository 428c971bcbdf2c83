"""validate_bundle: OLMv1 validators with their wording, all findings aggregated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from extractor.bundle.validate import is_dns1123_subdomain_errors, validate_bundle
from extractor.errors import BundleValidationError
from extractor.model import RenderOptions
from tests.render import FIXTURES, crd, deployment, load, make_csv, write_bundle
from tests.support.tools import require_shared

OPTS = RenderOptions(install_namespace="demo-system")


def _messages(
    tmp_path: Path, csv: dict[str, Any], files: dict[str, Any] | None = None, **kw: Any
) -> list[str]:
    package = kw.pop("package", "demo-operator")
    options = RenderOptions(install_namespace="demo-system", **kw)
    bundle = load(write_bundle(tmp_path, csv, files, package=package))
    with pytest.raises(BundleValidationError) as info:
        validate_bundle(bundle, options)
    assert str(info.value).startswith("demo-operator.v1.0.0 (manifests/demo.clusterserviceversion.yaml): ")
    return info.value.messages


def _webhook(kind: str, name: str, dep: str = "demo-controller", **extra: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "generateName": name,
        "deploymentName": dep,
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        **extra,
    }


def test_valid_fixtures_pass() -> None:
    for name in ("webhook-demo", "multi-doc", "apiservice-demo"):
        validate_bundle(load(FIXTURES / name), OPTS)


@pytest.mark.parametrize(
    "name",
    ["cert-manager-operator-v1.15.2", "servicemeshoperator3-v3.2.1", "leader-worker-set-v1.0.0-rendered"],
)
def test_target_bundles_pass(name: str) -> None:
    validate_bundle(load(require_shared("bundles", name)), OPTS)


def test_duplicate_and_invalid_deployment_names(tmp_path: Path) -> None:
    deps = [deployment("dup", "demo-sa"), deployment("dup", "demo-sa"), deployment("Bad_Name", "demo-sa")]
    messages = _messages(tmp_path, make_csv(deployments=deps))
    assert messages == [
        "cluster service version contains duplicate strategy deployment spec 'dup'",
        "invalid cluster service version strategy deployment name 'Bad_Name': a lowercase RFC 1123 subdomain "
        "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ]


def test_crds_duplicate_and_missing_and_empty_package(tmp_path: Path) -> None:
    owned = [
        {"name": "widgets.example.com", "kind": "Widget", "version": "v1"},
        {"name": "absent.example.com"},
    ]
    files = {
        "a.yaml": crd("example.com", "widgets", "Widget"),
        "b.yaml": crd("example.com", "widgets", "Widget"),
    }
    messages = _messages(tmp_path, make_csv(owned_crds=owned), files, package="")
    assert messages == [
        "bundle contains duplicate custom resource definition 'widgets.example.com'",
        "cluster service definition references owned custom resource definition 'absent.example.com' not "
        "found in bundle",
        "package name is empty",
    ]


def test_webhook_checks(tmp_path: Path) -> None:
    owned = [{"name": "widgets.example.com", "kind": "Widget", "version": "v1"}]
    hooks = [
        _webhook(
            "ConversionWebhook", "conv-a", conversionCRDs=["widgets.example.com", "notowned.example.com"]
        ),
        _webhook("ConversionWebhook", "conv-b", conversionCRDs=["widgets.example.com"]),
        _webhook("ValidatingAdmissionWebhook", "v.example.com", dep="ghost"),
        _webhook("ValidatingAdmissionWebhook", "v.example.com"),
        _webhook("MutatingAdmissionWebhook", "Not_Valid"),
        _webhook(
            "MutatingAdmissionWebhook",
            "m.example.com",
            rules=[
                {"apiGroups": ["*"], "resources": ["pods"]},
                {
                    "apiGroups": ["admissionregistration.k8s.io"],
                    "resources": ["ValidatingWebhookConfigurations"],
                },
            ],
        ),
    ]
    csv = make_csv(modes=("AllNamespaces", "OwnNamespace"), webhooks=hooks, owned_crds=owned)
    messages = _messages(tmp_path, csv, {"w.yaml": crd("example.com", "widgets", "Widget")})
    modes_msg = (
        "and supports install modes [AllNamespaces OwnNamespace] - conversion webhooks are only supported "
        "for bundles that only support AllNamespaces install mode"
    )
    assert messages == [
        f'bundle contains conversion webhook "conv-a" {modes_msg}',
        f'bundle contains conversion webhook "conv-b" {modes_msg}',
        "webhook of type 'ValidatingAdmissionWebhook' with name 'v.example.com' references non-existent "
        "deployment 'ghost'",
        "duplicate webhook 'v.example.com' of type 'ValidatingAdmissionWebhook'",
        "webhook of type 'MutatingAdmissionWebhook' has invalid name 'Not_Valid': a lowercase RFC 1123 "
        "subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end "
        "with an alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        "conversion webhooks [conv-a,conv-b] reference same custom resource definition 'widgets.example.com'",
        "conversion webhook 'conv-a' references custom resource definition 'notowned.example.com' not owned "
        "bundle",
        'webhook "m.example.com" contains forbidden rule: admission webhook rules cannot reference API '
        'group "*"',
        'webhook "m.example.com" contains forbidden rule: admission webhook rules cannot reference resource '
        '"ValidatingWebhookConfigurations" for API group "admissionregistration.k8s.io"',
    ]


def test_conversion_crd_preserve_unknown_fields(tmp_path: Path) -> None:
    owned = [{"name": "widgets.example.com", "kind": "Widget", "version": "v1"}]
    widget = crd("example.com", "widgets", "Widget")
    widget["spec"]["preserveUnknownFields"] = True
    hooks = [_webhook("ConversionWebhook", "conv", conversionCRDs=["widgets.example.com"])]
    messages = _messages(tmp_path, make_csv(webhooks=hooks, owned_crds=owned), {"w.yaml": widget})
    assert messages == [
        "custom resource definition 'widgets.example.com' must have .spec.preserveUnknownFields set to "
        "false to let API Server call webhook to do the conversion"
    ]


def test_unsupported_kind_and_allowed_kinds(tmp_path: Path) -> None:
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "sneaky"}}
    messages = _messages(tmp_path, make_csv(), {"dep.yaml": dep})
    assert messages == [
        "bundle contains unsupported resource: Name: sneaky, Kind: Deployment (manifests/dep.yaml)"
    ]
    bundle = load(tmp_path)
    validate_bundle(bundle, RenderOptions(install_namespace="demo-system", allowed_kinds=("Deployment",)))


def test_apiservices_refused_unless_rendered(tmp_path: Path) -> None:
    api = {"group": "m.example.com", "version": "v1", "kind": "M", "name": "ms", "deploymentName": "ghost"}
    messages = _messages(tmp_path, make_csv(apiservices=[api]), render_apiservices=False)
    assert messages == ["unsupported bundle: apiServiceDefintions are not supported"]
    bundle = load(tmp_path)
    with pytest.raises(BundleValidationError) as info:
        validate_bundle(bundle, OPTS)
    assert info.value.messages == ["apiservice 'v1.m.example.com' references non-existent deployment 'ghost'"]


def test_dns1123_length() -> None:
    assert is_dns1123_subdomain_errors("a" * 254) == ["must be no more than 253 characters"]
    assert is_dns1123_subdomain_errors("ok.example-1") == []
