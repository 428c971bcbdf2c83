"""Conversion of ``apiextensions.k8s.io/v1beta1`` CustomResourceDefinitions of a bundle to v1.

Old bundles still ship v1beta1 CRDs, which API servers since Kubernetes 1.22 no longer serve; the
loader (:mod:`extractor.bundle.loader`) converts them when the conversion is mechanical, as
kube-apiserver's own v1beta1 -> v1 conversion does, and refuses them otherwise.
"""

from __future__ import annotations

import copy

from extractor.errors import BundleError
from extractor.model import KubeObject

__all__ = ["API_APPROVED_ANNOTATION", "CONVERTED_APPROVAL", "CRD_V1", "CRD_V1BETA1", "convert_v1beta1_crd",
           "is_protected_group"]

CRD_V1 = "apiextensions.k8s.io/v1"
CRD_V1BETA1 = "apiextensions.k8s.io/v1beta1"
API_APPROVED_ANNOTATION = "api-approved.kubernetes.io"
#: the ``api-approved.kubernetes.io`` value given to converted CRDs of protected groups; the API
#: server accepts any value starting with ``unapproved`` (and then reports the CRD as not conformant)
CONVERTED_APPROVAL = "unapproved, converted from a v1beta1 bundle CRD"


def is_protected_group(group: str) -> bool:
    """True for the API groups whose CRDs need ``api-approved.kubernetes.io`` (apiextensions
    validation ``IsProtectedCommunityGroup``: ``k8s.io``, ``kubernetes.io`` and their subdomains)."""
    return group in ("k8s.io", "kubernetes.io") or group.endswith((".k8s.io", ".kubernetes.io"))


def convert_v1beta1_crd(crd: KubeObject, path: str = "") -> KubeObject:
    """Convert an ``apiextensions.k8s.io/v1beta1`` CRD to v1 when the conversion is mechanical.

    Moves the deprecated top-level ``version``/``validation``/``subresources``/
    ``additionalPrinterColumns`` into every ``versions[]`` entry (``JSONPath`` -> ``jsonPath``),
    moves ``conversion.webhookClientConfig``/``conversionReviewVersions`` under
    ``conversion.webhook`` (default review versions ``["v1beta1"]``, as the v1beta1 API defaults
    them), and turns the v1beta1 default ``preserveUnknownFields: true`` into
    ``x-kubernetes-preserve-unknown-fields: true`` on each root schema (v1 rejects the former).
    Follows the apiextensions v1beta1 -> v1 conversion of kube-apiserver. A CRD of a protected group
    (:func:`is_protected_group`) without an ``api-approved.kubernetes.io`` annotation gets
    :data:`CONVERTED_APPROVAL` (v1 validation requires it; an existing value is kept). Nothing
    else changes.

    Raises :class:`BundleError` naming the CRD when a version has no schema (v1 requires one) or
    when top-level and per-version fields conflict.
    """
    src = copy.deepcopy(crd)
    name = str((src.get("metadata") or {}).get("name", ""))
    where = f"{path}: " if path else ""

    def fail(reason: str) -> BundleError:
        return BundleError(
            f"{where}v1beta1 CustomResourceDefinition {name!r} cannot be converted to v1: {reason}"
        )

    spec = dict(src.get("spec") or {})
    versions = [dict(v) for v in spec.pop("versions", None) or []]
    top_version = spec.pop("version", None)
    if not versions:
        if not top_version:
            raise fail("it declares no versions")
        versions = [{"name": top_version, "served": True, "storage": True}]
    top_schema = (spec.pop("validation", None) or {}).get("openAPIV3Schema")
    top_subresources = spec.pop("subresources", None)
    top_columns = spec.pop("additionalPrinterColumns", None)
    preserve = spec.pop("preserveUnknownFields", True)
    for version in versions:
        schema = (version.pop("schema", None) or {}).get("openAPIV3Schema")
        if schema is not None and top_schema is not None:
            raise fail("both spec.validation and spec.versions[].schema are set")
        schema = copy.deepcopy(schema if schema is not None else top_schema)
        if not isinstance(schema, dict):
            raise fail(f"version {version.get('name')!r} has no openAPIV3Schema (required in v1)")
        if preserve is not False:
            schema["x-kubernetes-preserve-unknown-fields"] = True
        version["schema"] = {"openAPIV3Schema": schema}
        if top_subresources is not None and "subresources" not in version:
            version["subresources"] = copy.deepcopy(top_subresources)
        columns = version.pop("additionalPrinterColumns", None)
        if columns is None and top_columns is not None:
            columns = copy.deepcopy(top_columns)
        if columns is not None:
            version["additionalPrinterColumns"] = [
                {("jsonPath" if k == "JSONPath" else k): v for k, v in c.items()} for c in columns
            ]
    conversion = spec.get("conversion")
    if isinstance(conversion, dict):
        conversion = dict(conversion)
        client_config = conversion.pop("webhookClientConfig", None)
        review_versions = conversion.pop("conversionReviewVersions", None)
        if conversion.get("strategy") == "Webhook":
            conversion["webhook"] = {
                "clientConfig": client_config or {},
                "conversionReviewVersions": review_versions or ["v1beta1"],
            }
        spec["conversion"] = conversion
    spec["versions"] = versions
    src["apiVersion"] = CRD_V1
    src["spec"] = spec
    if is_protected_group(str(spec.get("group", ""))):
        metadata = src.get("metadata")
        if not isinstance(metadata, dict):
            metadata = src["metadata"] = {}
        annotations = metadata.get("annotations")
        if not isinstance(annotations, dict):
            annotations = metadata["annotations"] = {}
        annotations.setdefault(API_APPROVED_ANNOTATION, CONVERTED_APPROVAL)
    return src
