"""OLM's bundle validators, all findings aggregated.

Follows OLMv1 ``rukpak/render/registryv1/validators/validator.go`` and the validator list of
``rukpak/render/registryv1/registryv1.go`` (same checks, same order, same wording, same sorting of
findings), plus the checks OLMv1 performs later (applier: owned APIServices; CRD generator:
``preserveUnknownFields`` on conversion CRDs; additional-resources generator: unsupported kinds)
so that every problem is reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from extractor.bundle import kinds
from extractor.bundle.csv import (
    ALL_NAMESPACES,
    CONVERSION,
    deployment_specs,
    owned_apiservices,
    supported_install_modes,
    webhook_definitions,
)
from extractor.errors import BundleValidationError
from extractor.model import Bundle, RenderOptions

__all__ = ["is_dns1123_subdomain_errors", "validate_bundle"]

_DNS1123_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_SUBDOMAIN_RE = re.compile(f"^{_DNS1123_SUBDOMAIN}$")
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character "
    f"(e.g. 'example.com', regex used for validation is '{_DNS1123_SUBDOMAIN}')"
)
_FORBIDDEN_WEBHOOK_GROUPS = frozenset({"olm.operatorframework.io", "*"})
_FORBIDDEN_ADMISSION_RESOURCES = frozenset(
    {
        "*",
        "mutatingwebhookconfiguration",
        "mutatingwebhookconfigurations",
        "validatingwebhookconfiguration",
        "validatingwebhookconfigurations",
    }
)


def is_dns1123_subdomain_errors(value: str) -> list[str]:
    """k8s.io/apimachinery ``validation.IsDNS1123Subdomain`` messages (sorted), empty when valid."""
    errs: list[str] = []
    if len(value) > 253:
        errs.append("must be no more than 253 characters")
    if not _DNS1123_SUBDOMAIN_RE.match(value):
        errs.append(_DNS1123_SUBDOMAIN_MSG)
    return sorted(errs)


def _deployment_names(bundle: Bundle) -> list[str]:
    return [str(d.get("name", "")) for d in deployment_specs(bundle.csv)]


def check_deployment_spec_uniqueness(bundle: Bundle, _: RenderOptions) -> list[str]:
    """Duplicate ``install.spec.deployments[].name``."""
    seen: set[str] = set()
    dups: set[str] = set()
    for name in _deployment_names(bundle):
        (dups if name in seen else seen).add(name)
    return [
        f"cluster service version contains duplicate strategy deployment spec '{d}'" for d in sorted(dups)
    ]


def check_deployment_names(bundle: Bundle, _: RenderOptions) -> list[str]:
    """Deployment names must be DNS-1123 subdomains."""
    found = {n: errs for n in _deployment_names(bundle) if (errs := is_dns1123_subdomain_errors(n))}
    return [
        f"invalid cluster service version strategy deployment name '{n}': {', '.join(found[n])}"
        for n in sorted(found)
    ]


def check_crd_uniqueness(bundle: Bundle, _: RenderOptions) -> list[str]:
    """Duplicate CRD names among the bundle's CRDs."""
    seen: set[str] = set()
    dups: set[str] = set()
    for doc in bundle.crds:
        (dups if doc.name in seen else seen).add(doc.name)
    return [f"bundle contains duplicate custom resource definition '{n}'" for n in sorted(dups)]


def _owned_crds(bundle: Bundle) -> list[dict[str, Any]]:
    spec = bundle.csv.get("spec")
    crds = (spec if isinstance(spec, dict) else {}).get("customresourcedefinitions") or {}
    owned = crds.get("owned") if isinstance(crds, dict) else None
    return [c for c in owned or [] if isinstance(c, dict)] if isinstance(owned, list) else []


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def check_csv_structure(bundle: Bundle, _: RenderOptions) -> list[str]:
    """The CSV fields OLM decodes into typed Go structs must have their types (a deployment that
    is not an object would otherwise vanish from the render)."""
    spec = bundle.csv.get("spec") or {}
    errs: list[str] = []
    install = spec.get("install")
    if install is not None and not isinstance(install, dict):
        errs.append(f"spec.install is {_type_name(install)}, not an object")
        install = {}
    strategy = (install or {}).get("spec")
    if strategy is not None and not isinstance(strategy, dict):
        errs.append(f"spec.install.spec is {_type_name(strategy)}, not an object")
        strategy = {}
    for field in ("deployments", "permissions", "clusterPermissions"):
        items = (strategy or {}).get(field)
        if items is None:
            continue
        if not isinstance(items, list):
            errs.append(f"spec.install.spec.{field} is {_type_name(items)}, not a list")
            continue
        errs.extend(f"spec.install.spec.{field}[{i}] is {_type_name(item)}, not an object"
                    for i, item in enumerate(items) if not isinstance(item, dict))
    for i, item in enumerate(deployment_specs(bundle.csv)):
        if not isinstance(item.get("spec"), dict):
            errs.append(f"spec.install.spec.deployments[{i}] ({item.get('name', '')}): spec is "
                        f"{_type_name(item.get('spec'))}, not an object")
    for field in ("installModes", "webhookdefinitions"):
        items = spec.get(field)
        if items is not None and not isinstance(items, list):
            errs.append(f"spec.{field} is {_type_name(items)}, not a list")
        elif items:
            errs.extend(f"spec.{field}[{i}] is {_type_name(item)}, not an object"
                        for i, item in enumerate(items) if not isinstance(item, dict))
    if "installModes" in spec and not spec.get("installModes"):
        errs.append("spec.installModes is empty: the CSV supports no install mode")
    return [f"invalid cluster service version: {e}" for e in errs]


def check_crd_structure(bundle: Bundle, _: RenderOptions) -> list[str]:
    """Every CRD needs ``spec.group``, ``spec.names`` (``kind``, ``plural``), ``spec.scope`` and
    a non-empty ``spec.versions`` of named entries (what the API server requires of a v1 CRD)."""
    errs: list[str] = []
    for doc in bundle.crds:
        where = f"custom resource definition '{doc.name}' ({doc.path})"
        spec = doc.obj.get("spec")
        if not isinstance(spec, dict):
            errs.append(f"{where}: spec is {_type_name(spec)}, not an object")
            continue
        if not isinstance(spec.get("group"), str) or not spec.get("group"):
            errs.append(f"{where}: spec.group is missing")
        names = spec.get("names")
        if not isinstance(names, dict) or not all(isinstance(names.get(k), str) and names.get(k)
                                                  for k in ("kind", "plural")):
            errs.append(f"{where}: spec.names needs kind and plural")
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            errs.append(f"{where}: spec.scope must be Namespaced or Cluster")
        versions = spec.get("versions")
        if not isinstance(versions, list) or not versions:
            errs.append(f"{where}: spec.versions is empty")
        elif not all(isinstance(v, dict) and isinstance(v.get("name"), str) and v.get("name") for v in versions):
            errs.append(f"{where}: every spec.versions entry needs a name")
    return errs


def check_owned_crds(bundle: Bundle, _: RenderOptions) -> list[str]:
    """Every CRD the CSV owns must be in the bundle."""
    present = {doc.name for doc in bundle.crds}
    missing = {str(c.get("name", "")) for c in _owned_crds(bundle)} - present
    return [
        f"cluster service definition references owned custom resource definition '{n}' not found in bundle"
        for n in sorted(missing)
    ]


def check_package_name(bundle: Bundle, _: RenderOptions) -> list[str]:
    """The package annotation must not be empty."""
    return [] if bundle.package else ["package name is empty"]


def check_conversion_webhook_support(bundle: Bundle, _: RenderOptions) -> list[str]:
    """Conversion webhooks require a bundle supporting only AllNamespaces."""
    names = [
        str(w.get("generateName", "")) for w in webhook_definitions(bundle.csv) if w.get("type") == CONVERSION
    ]
    modes = supported_install_modes(bundle.csv)
    if not names or modes == {ALL_NAMESPACES}:
        return []
    listed = "[" + " ".join(sorted(modes)) + "]"
    return [
        f'bundle contains conversion webhook "{n}" and supports install modes {listed} - conversion webhooks '
        "are only supported for bundles that only support AllNamespaces install mode"
        for n in names
    ]


def check_webhook_deployments(bundle: Bundle, _: RenderOptions) -> list[str]:
    """Every webhook must name a deployment of the CSV."""
    deployments = set(_deployment_names(bundle))
    dangling = [
        w for w in webhook_definitions(bundle.csv) if str(w.get("deploymentName", "")) not in deployments
    ]
    dangling.sort(
        key=lambda w: (
            str(w.get("deploymentName", "")),
            str(w.get("type", "")),
            str(w.get("generateName", "")),
        )
    )
    return [
        f"webhook of type '{w.get('type', '')}' with name '{w.get('generateName', '')}' references "
        f"non-existent deployment '{w.get('deploymentName', '')}'"
        for w in dangling
    ]


def check_webhook_name_uniqueness(bundle: Bundle, _: RenderOptions) -> list[str]:
    """``generateName`` must be unique per webhook type."""
    seen: set[tuple[str, str]] = set()
    dups: set[tuple[str, str]] = set()
    for w in webhook_definitions(bundle.csv):
        key = (str(w.get("type", "")), str(w.get("generateName", "")))
        (dups if key in seen else seen).add(key)
    return [f"duplicate webhook '{name}' of type '{typ}'" for typ, name in sorted(dups)]


def check_webhook_names(bundle: Bundle, _: RenderOptions) -> list[str]:
    """``generateName`` must be a DNS-1123 subdomain."""
    found: dict[tuple[str, str], list[str]] = {}
    for w in webhook_definitions(bundle.csv):
        name = str(w.get("generateName", ""))
        if errs := is_dns1123_subdomain_errors(name):
            found[(str(w.get("type", "")), name)] = errs
    return [
        f"webhook of type '{typ}' has invalid name '{name}': {','.join(found[(typ, name)])}"
        for typ, name in sorted(found)
    ]


def check_conversion_crd_uniqueness(bundle: Bundle, _: RenderOptions) -> list[str]:
    """No CRD may be named by two conversion webhooks."""
    by_crd: dict[str, list[str]] = {}
    for w in webhook_definitions(bundle.csv):
        if w.get("type") == CONVERSION:
            for crd in w.get("conversionCRDs") or []:
                by_crd.setdefault(str(crd), []).append(str(w.get("generateName", "")))
    return [
        f"conversion webhooks [{','.join(sorted(whs))}] reference same custom resource definition '{crd}'"
        for crd, whs in sorted(by_crd.items())
        if len(whs) > 1
    ]


def check_conversion_crds_owned(bundle: Bundle, _: RenderOptions) -> list[str]:
    """Conversion webhooks may only name CRDs the CSV owns."""
    owned = {str(c.get("name", "")) for c in _owned_crds(bundle)}
    webhooks = sorted(
        (w for w in webhook_definitions(bundle.csv) if w.get("type") == CONVERSION),
        key=lambda w: str(w.get("generateName", "")),
    )
    return [
        f"conversion webhook '{w.get('generateName', '')}' references custom resource definition '{crd}' "
        "not owned bundle"
        for w in webhooks
        for crd in sorted(str(c) for c in w.get("conversionCRDs") or [])
        if crd not in owned
    ]


def check_conversion_crds_preserve_unknown_fields(bundle: Bundle, _: RenderOptions) -> list[str]:
    """Conversion CRDs must not set ``spec.preserveUnknownFields: true`` (OLMv1 CRD generator)."""
    names = {
        str(crd)
        for w in webhook_definitions(bundle.csv)
        if w.get("type") == CONVERSION
        for crd in w.get("conversionCRDs") or []
    }
    return [
        f"custom resource definition '{doc.name}' must have .spec.preserveUnknownFields set to false to let "
        "API Server call webhook to do the conversion"
        for doc in bundle.crds
        if doc.name in names and (doc.obj.get("spec") or {}).get("preserveUnknownFields") is True
    ]


def check_webhook_rules(bundle: Bundle, _: RenderOptions) -> list[str]:
    """Admission webhook rules must not target all groups, OLM's group or webhook configurations."""
    errs: list[str] = []
    for w in webhook_definitions(bundle.csv):
        if w.get("type") == CONVERSION:
            continue
        name = str(w.get("generateName", ""))
        for rule in w.get("rules") or []:
            for group in rule.get("apiGroups") or []:
                if group in _FORBIDDEN_WEBHOOK_GROUPS:
                    errs.append(
                        f'webhook "{name}" contains forbidden rule: admission webhook rules cannot reference '
                        f'API group "{group}"'
                    )
                if group == "admissionregistration.k8s.io":
                    errs.extend(
                        f'webhook "{name}" contains forbidden rule: admission webhook rules cannot reference '
                        f'resource "{res}" for API group "{group}"'
                        for res in rule.get("resources") or []
                        if str(res).lower() in _FORBIDDEN_ADMISSION_RESOURCES
                    )
    return errs


def check_object_support(bundle: Bundle, options: RenderOptions) -> list[str]:
    """Other bundle objects must be of a kind operator-registry supports (or ``allowed_kinds``)."""
    return [
        f"bundle contains unsupported resource: Name: {doc.name}, Kind: {doc.kind} ({doc.path})"
        for doc in bundle.others
        if not kinds.is_supported(doc.kind, options.allowed_kinds)
    ]


def check_apiservices(bundle: Bundle, options: RenderOptions) -> list[str]:
    """Owned APIServices: refused (OLMv1 applier wording) unless ``render_apiservices``; then each
    must name a deployment of the CSV."""
    owned = owned_apiservices(bundle.csv)
    if not owned:
        return []
    if not options.render_apiservices:
        return ["unsupported bundle: apiServiceDefintions are not supported"]
    deployments = set(_deployment_names(bundle))
    return [
        f"apiservice '{a.get('version', '')}.{a.get('group', '')}' references non-existent deployment "
        f"'{a.get('deploymentName', '')}'"
        for a in owned
        if str(a.get("deploymentName", "")) not in deployments
    ]


STRUCTURE_VALIDATORS: tuple[Callable[[Bundle, RenderOptions], list[str]], ...] = (
    check_csv_structure,
    check_crd_structure,
)
"""Run first: the other validators (and render) rely on the types these check."""

VALIDATORS: tuple[Callable[[Bundle, RenderOptions], list[str]], ...] = (
    check_deployment_spec_uniqueness,
    check_deployment_names,
    check_crd_uniqueness,
    check_owned_crds,
    check_package_name,
    check_conversion_webhook_support,
    check_webhook_deployments,
    check_webhook_name_uniqueness,
    check_webhook_names,
    check_conversion_crd_uniqueness,
    check_conversion_crds_owned,
    check_conversion_crds_preserve_unknown_fields,
    check_webhook_rules,
    check_object_support,
    check_apiservices,
)


def validate_bundle(bundle: Bundle, options: RenderOptions) -> None:
    """Run every validator on ``bundle`` and raise one :class:`BundleValidationError` listing all
    findings (subject ``<csv name> (<csv path>)``), or return ``None`` when the bundle is valid.

    Follows OLMv1 registryv1.go ``BundleValidator`` (validators/validator.go wording).
    """
    messages = [msg for check in STRUCTURE_VALIDATORS for msg in check(bundle, options)]
    if not messages:
        messages = [msg for check in VALIDATORS for msg in check(bundle, options)]
    if messages:
        raise BundleValidationError(f"{bundle.csv_name} ({bundle.csv_path})", messages)
