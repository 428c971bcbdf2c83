"""Read-only accessors for the parts of a ClusterServiceVersion that OLM interprets.

Both the validators (this package) and the render generators (:mod:`extractor.render`) read the
CSV through these functions, so the two stages agree on what a malformed entry means: entries that
are not mappings are skipped here and reported by the validators. Field names follow the CSV
schema of operator-framework/api ``pkg/operators/v1alpha1/clusterserviceversion_types.go``.
"""

from __future__ import annotations

from typing import Any

from extractor.model import KubeObject

__all__ = [
    "ALL_NAMESPACES",
    "CONVERSION",
    "MULTI_NAMESPACE",
    "MUTATING",
    "OWN_NAMESPACE",
    "SINGLE_NAMESPACE",
    "VALIDATING",
    "deployment_specs",
    "owned_apiservices",
    "supported_install_modes",
    "webhook_definitions",
]

# spec.installModes[].type
ALL_NAMESPACES = "AllNamespaces"
OWN_NAMESPACE = "OwnNamespace"
SINGLE_NAMESPACE = "SingleNamespace"
MULTI_NAMESPACE = "MultiNamespace"

# spec.webhookdefinitions[].type
VALIDATING = "ValidatingAdmissionWebhook"
MUTATING = "MutatingAdmissionWebhook"
CONVERSION = "ConversionWebhook"


def _spec(csv: KubeObject) -> dict[str, Any]:
    spec = csv.get("spec")
    return spec if isinstance(spec, dict) else {}


def supported_install_modes(csv: KubeObject) -> set[str]:
    """The CSV's ``spec.installModes[].type`` entries with ``supported: true``."""
    modes = _spec(csv).get("installModes") or []
    return {str(m.get("type")) for m in modes if isinstance(m, dict) and m.get("supported") is True}


def webhook_definitions(csv: KubeObject) -> list[dict[str, Any]]:
    """``spec.webhookdefinitions`` (entries that are mappings)."""
    return [w for w in (_spec(csv).get("webhookdefinitions") or []) if isinstance(w, dict)]


def deployment_specs(csv: KubeObject) -> list[dict[str, Any]]:
    """``spec.install.spec.deployments`` (entries that are mappings)."""
    strategy = (_spec(csv).get("install") or {}).get("spec") or {}
    return [d for d in strategy.get("deployments") or [] if isinstance(d, dict)]


def owned_apiservices(csv: KubeObject) -> list[dict[str, Any]]:
    """``spec.apiservicedefinitions.owned`` (entries that are mappings)."""
    definitions = _spec(csv).get("apiservicedefinitions") or {}
    return [a for a in definitions.get("owned") or [] if isinstance(a, dict)]
