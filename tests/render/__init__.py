"""Helpers to build small registry+v1 bundles on disk for render/validate tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from extractor import yamlio
from extractor.bundle.loader import load_bundle
from extractor.model import Bundle, BundleSource

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bundles"


def all_modes(*supported: str) -> list[dict[str, Any]]:
    """installModes with only ``supported`` set to true."""
    types = ("OwnNamespace", "SingleNamespace", "MultiNamespace", "AllNamespaces")
    return [{"type": t, "supported": t in supported} for t in types]


def make_csv(
    name: str = "demo-operator.v1.0.0",
    modes: tuple[str, ...] = ("AllNamespaces",),
    permissions: list[dict[str, Any]] | None = None,
    cluster_permissions: list[dict[str, Any]] | None = None,
    deployments: list[dict[str, Any]] | None = None,
    webhooks: list[dict[str, Any]] | None = None,
    owned_crds: list[dict[str, Any]] | None = None,
    apiservices: list[dict[str, Any]] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A minimal, valid CSV; pass lists to replace the defaults."""
    if deployments is None:
        deployments = [deployment("demo-controller", "demo-sa")]
    if permissions is None:
        permissions = [
            {
                "serviceAccountName": "demo-sa",
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
            }
        ]
    if cluster_permissions is None:
        cluster_permissions = [
            {
                "serviceAccountName": "demo-sa",
                "rules": [{"apiGroups": ["demo.example.com"], "resources": ["widgets"], "verbs": ["*"]}],
            }
        ]
    spec: dict[str, Any] = {
        "version": "1.0.0",
        "installModes": all_modes(*modes),
        "customresourcedefinitions": {"owned": owned_crds or []},
        "install": {
            "strategy": "deployment",
            "spec": {
                "deployments": deployments,
                "permissions": permissions,
                "clusterPermissions": cluster_permissions,
            },
        },
    }
    if webhooks is not None:
        spec["webhookdefinitions"] = webhooks
    if apiservices is not None:
        spec["apiservicedefinitions"] = {"owned": apiservices}
    return {
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "ClusterServiceVersion",
        "metadata": {"name": name, "annotations": annotations or {"capabilities": "Basic Install"}},
        "spec": spec,
    }


def deployment(name: str, sa: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A CSV ``install.spec.deployments[]`` entry."""
    match = labels or {"app": name}
    return {
        "name": name,
        "label": dict(match),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(match)},
            "template": {
                "metadata": {"labels": dict(match), "annotations": {"capabilities": "template wins"}},
                "spec": {
                    "serviceAccountName": sa,
                    "containers": [{"name": "manager", "image": "example.com/demo:1.0.0"}],
                },
            },
        },
    }


def crd(group: str, plural: str, kind: str, version: str = "v1") -> dict[str, Any]:
    """A minimal apiextensions/v1 CRD."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }


def write_bundle(
    root: Path,
    csv: dict[str, Any],
    files: dict[str, Any] | None = None,
    package: str = "demo-operator",
    properties: str | None = None,
) -> Path:
    """Write ``csv`` and ``files`` (name -> object, list of objects or raw text) as a bundle."""
    (root / "manifests").mkdir(parents=True, exist_ok=True)
    (root / "metadata").mkdir(exist_ok=True)
    (root / "metadata" / "annotations.yaml").write_text(
        yamlio.dump({"annotations": {"operators.operatorframework.io.bundle.package.v1": package}})
    )
    if properties is not None:
        (root / "metadata" / "properties.yaml").write_text(properties)
    (root / "manifests" / "demo.clusterserviceversion.yaml").write_text(yamlio.dump(csv))
    for name, content in (files or {}).items():
        path = root / "manifests" / name
        if isinstance(content, str):
            path.write_text(content)
        elif isinstance(content, list):
            path.write_text(yamlio.dump_all(copy.deepcopy(content)))
        else:
            path.write_text(yamlio.dump(content))
    return root


def load(root: Path) -> Bundle:
    """Load the bundle directory ``root``."""
    return load_bundle(BundleSource(reference=str(root), directory=root))


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    """Objects of ``kind`` (and ``name``)."""
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
