"""Objects of bundles.yaml ``extraManifests:`` (files and URLs), checked like bundle content.

In: the files already read or fetched (``(origin, bytes)`` pairs, origin = the path relative to
bundles.yaml or the URL, ``index`` = the ``extraManifests`` item). Out: :class:`ExtraObjects`,
the objects in file order and, for a file holding exactly one CustomResourceDefinition, its exact
bytes (so the chart's ``presync/`` holds the file as published, like bundle CRDs).

The checks are the bundle's (:mod:`extractor.bundle.loader`): YAML limits (nesting, aliases), every
document a Kubernetes object with ``apiVersion``, ``kind`` and a ``metadata.name``, ``List`` kinds
flattened, kinds OLM accepts in bundles (or ``render.allowKinds``); CRDs must be
``apiextensions.k8s.io/v1``, and a ClusterServiceVersion is refused (the bundle has its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import yaml

from extractor import yamlio
from extractor.bundle import kinds
from extractor.bundle.crd_conversion import CRD_V1
from extractor.bundle.loader import flatten_objects, one_line
from extractor.errors import BundleError
from extractor.model import KubeObject

__all__ = ["ExtraFile", "ExtraObjects", "load_extra_manifests"]


@dataclass(frozen=True)
class ExtraFile:
    """One file of ``extraManifests[index]``: ``origin`` (path relative to bundles.yaml, or the URL)
    and its bytes."""

    index: int
    origin: str
    data: bytes


@dataclass
class ExtraObjects:
    """The objects of the extra manifests (file order), the origin of each, and CRD name -> exact
    file bytes."""

    objects: list[KubeObject] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    raw_crds: dict[str, bytes] = field(default_factory=dict)


def _objects(item: ExtraFile, where: str) -> tuple[list[KubeObject], bool]:
    """The objects of ``item`` and whether the file is exactly one object (no ``List``)."""
    found: list[KubeObject] = []
    parsed_docs: list[object] = []
    number = 0
    try:
        text = item.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(f"{where}: not UTF-8 text (byte {exc.start})") from None
    try:
        for number, parsed in enumerate(yamlio.load_all(text), start=1):
            if parsed is not None:
                parsed_docs.append(parsed)
                found.extend(flatten_objects(parsed, f"{where}: document {number}"))
    except RecursionError:
        raise BundleError(f"{where}: invalid YAML: nesting deeper than {yamlio.MAX_DEPTH} levels") from None
    except yaml.YAMLError as exc:
        raise BundleError(f"{where}: document {number + 1}: invalid YAML: {one_line(str(exc))[:300]}") from None
    return found, len(parsed_docs) == 1 and len(found) == 1 and found[0] is parsed_docs[0]


def load_extra_manifests(
    files: Sequence[ExtraFile], *, entry: str, allowed_kinds: tuple[str, ...] = ()
) -> ExtraObjects:
    """Parse and check ``files`` (see the module docstring). ``entry`` names the bundles.yaml entry.

    Raises :class:`BundleError` (``bundle 'x': extraManifests[i] (origin): ...``) for text that is
    not UTF-8 or YAML, past the YAML limits, a document that is not an object, an object without a
    name, a kind OLM does not accept, a CRD that is not ``apiextensions.k8s.io/v1``, a CSV, an
    empty file, or two extra objects with the same kind, namespace and name.
    """
    result = ExtraObjects()
    seen: dict[tuple[str, str, str, str], str] = {}
    for item in files:
        where = f"bundle {entry!r}: extraManifests[{item.index}] ({item.origin})"
        objects, single = _objects(item, where)
        if not objects:
            raise BundleError(f"{where}: holds no Kubernetes object")
        for obj in objects:
            kind = str(obj["kind"])
            name = (obj.get("metadata") or {}).get("name")
            if not isinstance(name, str) or not name:
                raise BundleError(f"{where}: a {kind} has no metadata.name")
            if kind == "ClusterServiceVersion":
                raise BundleError(f"{where}: ClusterServiceVersion {name!r}: extra manifests cannot add a CSV")
            if not kinds.is_supported(kind, allowed_kinds):
                raise BundleError(f"{where}: {kind} {name!r}: kind not supported in bundles by OLM "
                                  "(render.allowKinds to allow it)")
            if kind == "CustomResourceDefinition" and obj.get("apiVersion") != CRD_V1:
                raise BundleError(f"{where}: CustomResourceDefinition {name!r} has apiVersion "
                                  f"{obj.get('apiVersion')!r}, expected {CRD_V1}")
            namespace = str((obj.get("metadata") or {}).get("namespace") or "")
            key = (str(obj.get("apiVersion", "")).split("/")[0], kind, namespace, name)
            if key in seen:
                raise BundleError(f"{where}: {kind} {name!r} is also in {seen[key]}")
            seen[key] = item.origin
            result.objects.append(obj)
            result.origins.append(item.origin)
        if single and objects[0]["kind"] == "CustomResourceDefinition":
            result.raw_crds[str(objects[0]["metadata"]["name"])] = item.data
    return result
