"""Validate Kubernetes objects offline: built-in kinds against the JSON schemas shipped by
``kubernetes-validate`` (strict: unknown fields are errors), custom resources against their CRD's
``openAPIV3Schema`` (with ``jsonschema``) when the CRD is known, else skipped with a reason.

    report = validate_objects(docs, k8s_version="1.31", crds=[crd_obj, ...])
    assert not report.errors, report.errors
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate

__all__ = ["BUILTIN_GROUPS", "ValidationReport", "assert_valid", "validate_objects"]

BUILTIN_GROUPS = frozenset(
    {
        "", "apps", "batch", "autoscaling", "policy", "rbac.authorization.k8s.io", "networking.k8s.io",
        "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
        "coordination.k8s.io", "scheduling.k8s.io", "storage.k8s.io", "certificates.k8s.io",
        "discovery.k8s.io", "node.k8s.io", "flowcontrol.apiserver.k8s.io", "events.k8s.io",
    }
)  # fmt: skip


@dataclass
class ValidationReport:
    """``validated``: ``kind/name`` of each object checked; ``errors``: one line per invalid
    object; ``skipped``: ``kind/name: reason`` for custom resources without a known CRD."""

    validated: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _label(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    return f"{doc.get('apiVersion')}/{doc.get('kind')}/{meta.get('namespace', '')}/{meta.get('name')}"


def _crd_schemas(crds: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    schemas: dict[tuple[str, str, str], dict[str, Any]] = {}
    for crd in crds:
        spec = crd.get("spec") or {}
        kind = (spec.get("names") or {}).get("kind")
        for version in spec.get("versions") or []:
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if isinstance(schema, dict):
                schemas[(str(spec.get("group")), str(version.get("name")), str(kind))] = schema
    return schemas


def validate_objects(
    docs: Iterable[Any], k8s_version: str = "1.31", crds: Iterable[dict[str, Any]] = ()
) -> ValidationReport:
    """Validate every mapping in ``docs`` (``None`` documents are ignored).

    CRDs among ``docs`` and in ``crds`` make their custom resources validatable.
    """
    objects = [d for d in docs if isinstance(d, dict)]
    known = [d for d in objects if d.get("kind") == "CustomResourceDefinition"] + list(crds)
    schemas = _crd_schemas(known)
    report = ValidationReport()
    for doc in objects:
        label = _label(doc)
        api_version = str(doc.get("apiVersion", ""))
        group, _, version = api_version.rpartition("/")
        if group in BUILTIN_GROUPS:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    kubernetes_validate.validate(doc, k8s_version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                report.errors.append(f"{label}: {exc.message}")
                continue
            except kubernetes_validate.SchemaNotFoundError:
                report.errors.append(f"{label}: no schema for built-in kind in Kubernetes {k8s_version}")
                continue
            report.validated.append(label)
            continue
        schema = schemas.get((group, version, str(doc.get("kind"))))
        if schema is None:
            report.skipped.append(f"{label}: no CRD known for {api_version} {doc.get('kind')}")
            continue
        validator = jsonschema.Draft7Validator(schema)
        problems = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        if problems:
            first = problems[0]
            path = "/".join(str(p) for p in first.absolute_path)
            report.errors.append(f"{label}: {path}: {first.message}")
            continue
        report.validated.append(label)
    return report


def assert_valid(
    docs: Iterable[Any], k8s_version: str = "1.31", crds: Iterable[dict[str, Any]] = ()
) -> ValidationReport:
    """:func:`validate_objects`, failing (``AssertionError``) on any error; returns the report."""
    report = validate_objects(docs, k8s_version, crds)
    assert not report.errors, "schema validation failed:\n" + "\n".join(report.errors)
    return report
