"""``needs`` from what charts require and what bundles depend on (classes 4 and 6 of issue 13)."""

from __future__ import annotations

from typing import Any

import pytest

from extractor.draft import ReleaseSpec
from extractor.emit.helmfile import render_helmfile
from extractor.pipeline.dependencies import resolve_needs, version_in_range

CERTS = ("cert-manager.io/v1/Certificate", "cert-manager.io/v1/Issuer")


def spec(name: str, *, needs: tuple[str, ...] = (), provides: tuple[str, ...] = (), requires: tuple[str, ...] = (),
         package: str = "", version: str = "1.0.0", dependencies: tuple[dict[str, Any], ...] = ()) -> ReleaseSpec:
    return ReleaseSpec(name=name, namespace=name, chart_dir=f"./charts/{name}", needs=needs, package=package or name,
                       version=version, provides=provides, requires=requires, dependencies=dependencies)


def needs(specs: list[ReleaseSpec]) -> dict[str, tuple[str, ...]]:
    return {s.name: s.needs for s in resolve_needs(specs).specs}


@pytest.mark.parametrize(("version", "expression", "expected"), [
    ("0.13.0", "0.13.0", True),
    ("0.16.0", "0.13.0", False),
    ("1.2.3", ">=1.0.0 <2.0.0", True),
    ("2.0.0", ">=1.0.0 <2.0.0", False),
    ("2.0.0-rc.1", "<2.0.0", True),
    ("1.2.3", "1.2.x", True),
    ("1.3.0", "1.2.x", False),
    ("1.9.9", "1.x", True),
    ("1.0.0", ">1.0.0 || <0.5.0", False),
    ("0.4.0", ">1.0.0 || <0.5.0", True),
    ("1.0.0", "!=1.0.0", False),
    ("1.0.0", ">= 1.0.0", True),
    ("26.2.1-0", ">=26.0.0", True),
    ("1.0.0", "latest", None),
])
def test_version_ranges_like_blang_semver(version: str, expression: str, expected: bool | None) -> None:
    assert version_in_range(version, expression) is expected


def test_a_chart_requiring_cert_manager_needs_the_entry_that_provides_it() -> None:
    """Class 4 of issue 13: needs added automatically; no check hook is left in the helmfile."""
    specs = [spec("app", requires=CERTS), spec("cert-manager", provides=(*CERTS, "cert-manager.io/v1/ClusterIssuer"))]
    result = resolve_needs(specs)
    assert [s.needs for s in result.specs] == [("cert-manager",), ()]
    assert result.notes == ["bundle 'app': needs 'cert-manager' (added: it provides cert-manager.io/v1 Certificate, "
                            "cert-manager.io/v1 Issuer)"]
    assert result.warnings == []
    text = render_helmfile(result.specs)
    assert "needs:\n      - cert-manager/cert-manager" in text
    assert "require-apis" not in text


def test_without_a_provider_the_presync_hook_checks_and_names_what_to_install() -> None:
    result = resolve_needs([spec("app", requires=(*CERTS, "autoscaling.k8s.io/v1/VerticalPodAutoscaler"))])
    assert result.specs[0].needs == ()
    assert result.warnings == [
        "bundle 'app' creates VerticalPodAutoscaler (autoscaling.k8s.io/v1), which no entry of bundles.yaml provides: "
        "install the Vertical Pod Autoscaler CRDs (autoscaling.k8s.io) first (the release's presync hook checks)",
        "bundle 'app' creates Certificate, Issuer (cert-manager.io/v1), which no entry of bundles.yaml provides: "
        "install cert-manager (the cert-manager Operator or upstream cert-manager; an entry of bundles.yaml that ships "
        "its CRDs is installed first automatically) first (the release's presync hook checks)",
    ]
    text = render_helmfile(result.specs)
    assert "- name: require-apis" in text
    assert '- "cert-manager.io/v1"\n          - "Certificate Issuer"' in text


def test_explicit_needs_and_transitive_needs_count() -> None:
    specs = [spec("cm", provides=CERTS), spec("mid", needs=("cm",)), spec("app", needs=("mid",), requires=CERTS)]
    result = resolve_needs(specs)
    assert needs(specs) == {"cm": (), "mid": ("cm",), "app": ("mid",)}
    assert result.notes == [] and result.warnings == []


def test_the_first_provider_in_bundles_yaml_order_is_chosen() -> None:
    specs = [spec("app", requires=CERTS), spec("cm-1", provides=CERTS), spec("cm-2", provides=CERTS)]
    assert needs(specs)["app"] == ("cm-1",)


def test_no_cycle_is_ever_added() -> None:
    specs = [spec("a", needs=("b",), provides=CERTS), spec("b", requires=CERTS)]
    result = resolve_needs(specs)
    assert needs(specs) == {"a": ("b",), "b": ()}
    assert result.warnings == ["bundle 'b' creates cert-manager.io/v1 Certificate, which 'a' provides, but 'a' needs "
                               "'b': needs would be a cycle",
                               "bundle 'b' creates cert-manager.io/v1 Issuer, which 'a' provides, but 'a' needs 'b': "
                               "needs would be a cycle"]
    render_helmfile(result.specs)  # still a valid helmfile (with the check hook for b)


def _package(name: str, version: str, kind: str = "olm.package") -> dict[str, Any]:
    return {"type": kind, "value": {"packageName": name, "version": version}}


def test_package_dependencies() -> None:
    """Class 6 of issue 13: kuadrant's dependencies.yaml against a project with some of them."""
    deps = (_package("authorino-operator", "0.13.0"), _package("limitador-operator", "0.11.0"),
            _package("dns-operator", "0.6.0"))
    specs = [spec("kuadrant", dependencies=deps), spec("authorino", package="authorino-operator", version="0.16.0"),
             spec("limitador", package="limitador-operator", version="0.11.0")]
    result = resolve_needs(specs)
    assert result.specs[0].needs == ("authorino", "limitador")
    assert result.notes == ["bundle 'kuadrant': dependency olm.package 'limitador-operator' 0.11.0: provided by "
                            "'limitador' (version 0.11.0, in needs)"]
    assert result.warnings == [
        "bundle 'kuadrant': dependency olm.package 'authorino-operator' 0.13.0: 'authorino' has version 0.16.0, "
        "outside that range (installed first anyway)",
        "bundle 'kuadrant' depends on package 'dns-operator' (0.6.0) (olm.package), which no entry of bundles.yaml "
        "provides: install it first",
    ]


def test_gvk_dependencies_and_required_properties() -> None:
    deps = ({"type": "olm.gvk", "value": {"group": "cert-manager.io", "version": "v1", "kind": "ClusterIssuer"}},
            {"type": "olm.gvk.required", "value": {"group": "x.io", "version": "v1", "kind": "Thing"}},
            {"type": "olm.package.required", "value": {"packageName": "cm", "versionRange": ">=1.0.0 <2.0.0"}})
    specs = [spec("app", dependencies=deps), spec("cm", provides=("cert-manager.io/v1/ClusterIssuer",))]
    result = resolve_needs(specs)
    assert result.specs[0].needs == ("cm",)
    assert result.notes == [
        "bundle 'app': dependency olm.gvk cert-manager.io/v1 ClusterIssuer: provided by 'cm' (in needs)",
        "bundle 'app': dependency olm.package.required 'cm' >=1.0.0 <2.0.0: provided by 'cm' (version 1.0.0, in needs)",
    ]
    assert result.warnings == ["bundle 'app' depends on x.io/v1 Thing (olm.gvk.required), which no entry of "
                               "bundles.yaml provides: install it first"]


def test_constraints() -> None:
    constraint = {"type": "olm.constraint", "value": {"failureMessage": "needs a cert API", "any": {"constraints": [
        {"gvk": {"group": "x.io", "version": "v1", "kind": "Nope"}},
        {"package": {"packageName": "cm", "versionRange": ">=1.0.0"}}]}}}
    everything = {"type": "olm.constraint", "value": {"all": {"constraints": [
        {"gvk": {"group": "cert-manager.io", "version": "v1", "kind": "Certificate"}},
        {"not": {"constraints": []}}]}}}
    cel = {"type": "olm.constraint", "value": {"failureMessage": "only certified", "cel": {"rule": "properties.x"}}}
    unsatisfiable = {"type": "olm.constraint", "value": {"any": {"constraints": [
        {"package": {"packageName": "absent", "versionRange": ">=1.0.0"}}]}}}
    specs = [spec("app", dependencies=(constraint, everything, cel, unsatisfiable)),
             spec("cm", provides=("cert-manager.io/v1/Certificate",))]
    result = resolve_needs(specs)
    assert result.specs[0].needs == ("cm",)
    assert result.notes == [
        "bundle 'app': dependency olm.constraint (needs a cert API) 'cm' >=1.0.0: provided by 'cm' (version 1.0.0, "
        "in needs)",
        "bundle 'app': dependency olm.constraint cert-manager.io/v1 Certificate: provided by 'cm' (in needs)",
        "bundle 'app': dependency olm.constraint: not constraint not checked",
        "bundle 'app': dependency olm.constraint (only certified): cel constraint 'properties.x' not checked",
    ]
    assert result.warnings == ["bundle 'app': dependency olm.constraint: no entry of bundles.yaml satisfies any of its "
                               "1 alternatives: install one first"]


def test_malformed_and_unknown_dependencies_are_reported() -> None:
    deps = ({"type": "olm.gvk", "value": {"group": "x.io"}}, {"type": "olm.label", "value": {"label": "x"}})
    result = resolve_needs([spec("app", dependencies=deps)])
    assert result.warnings == ["bundle 'app': dependency olm.gvk is malformed: {'group': 'x.io'}"]
    assert result.notes == ["bundle 'app': dependency of type 'olm.label' not checked"]
