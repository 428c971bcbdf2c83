"""Load a registry+v1 bundle directory the way OLMv1 does.

Follows OLMv1 ``rukpak/bundle/source/source.go`` (``fsBundleSource.GetBundle`` and
``copyMetadataPropertiesToCSV``), with stricter, one-line errors:

- ``metadata/annotations.yaml`` is required; the package name is its
  ``operators.operatorframework.io.bundle.package.v1`` annotation (may be empty: the validator
  reports that, as OLMv1 does);
- every file of ``manifests/`` is read, in file-name order (``fs.WalkDir`` order), hidden files
  included exactly like OLMv1 (they are parsed as manifests); a subdirectory is an error;
- every YAML document of a file is an object (``List`` kinds are flattened like cli-runtime's
  ``Flatten()``); empty documents are skipped; a document without ``apiVersion``/``kind`` is an
  error;
- ``kind: ClusterServiceVersion`` (any apiVersion) is the CSV, exactly one is required;
  ``kind: CustomResourceDefinition`` documents are CRDs (``apiextensions.k8s.io/v1beta1`` ones are
  converted to v1 when the conversion is mechanical), everything else goes to ``others``;
- ``metadata/properties.yaml`` properties go to the CSV ``olm.properties`` annotation (compact JSON, as Go writes it).

Beyond OLMv1 (each reported in ``Bundle.notes``):

- ``metadata/dependencies.yaml`` (``olm.package``, ``olm.gvk``, ``olm.constraint`` entries, as
  OLMv0's resolver reads them; OLMv1 ignores the file) and the requirement properties of
  ``olm.properties`` (``olm.constraint``, ``olm.package.required``, ``olm.gvk.required``) are
  kept in ``Bundle.dependencies`` so that generation can report them;
- an ``ImageStream`` in ``manifests/image-references`` (OpenShift ART build metadata listing the
  images of a release, without a name; no OLM creates it) is dropped;
- a converted v1beta1 CRD of a protected API group (``*.k8s.io``, ``*.kubernetes.io``) without
  an ``api-approved.kubernetes.io`` annotation gets one (v1 CRDs there are refused without it;
  v1beta1 did not check).
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from extractor import yamlio
from extractor.bundle.crd_conversion import (
    API_APPROVED_ANNOTATION,
    CONVERTED_APPROVAL,
    CRD_V1,
    CRD_V1BETA1,
    convert_v1beta1_crd,
)
from extractor.errors import BundleError
from extractor.files import MAX_MANIFEST_FILE_BYTES, read_bounded
from extractor.model import Bundle, BundleSource, KubeObject, ManifestDoc

__all__ = ["DEPENDENCY_PROPERTY_TYPES", "PACKAGE_ANNOTATION", "load_bundle"]

PACKAGE_ANNOTATION = "operators.operatorframework.io.bundle.package.v1"
MANIFESTS_DIR = "manifests"
#: ``olm.properties`` types that state a requirement (OLMv0 resolver), kept in ``Bundle.dependencies``
DEPENDENCY_PROPERTY_TYPES = ("olm.constraint", "olm.package.required", "olm.gvk.required")
IMAGE_REFERENCES = f"{MANIFESTS_DIR}/image-references"


def one_line(text: str) -> str:
    """``text`` (e.g. a YAML error) on one line: every run of whitespace becomes one space."""
    return re.sub(r"\s+", " ", text).strip()


def _read(root: Path, rel: str) -> bytes:
    """The bytes of the bundle file ``rel``: :class:`BundleError` naming it for anything but a
    regular file of at most :data:`~extractor.files.MAX_MANIFEST_FILE_BYTES`, or a read error."""
    try:
        return read_bounded(root / rel, MAX_MANIFEST_FILE_BYTES, where=rel, error=BundleError)
    except OSError as exc:
        raise BundleError(f"{rel}: cannot read ({exc.strerror})") from None


def _read_annotations(root: Path) -> dict[str, str]:
    path = root / "metadata" / "annotations.yaml"
    if not os.path.lexists(path):  # whatever it is: _read refuses all but a regular file
        raise BundleError("metadata/annotations.yaml: file not found (required by registry+v1 bundles)")
    try:
        data = yamlio.load(_read(root, "metadata/annotations.yaml"))
    except yaml.YAMLError as exc:
        raise BundleError(f"metadata/annotations.yaml: invalid YAML: {one_line(str(exc))}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), dict):
        raise BundleError("metadata/annotations.yaml: expected a mapping with an 'annotations' mapping")
    return {str(k): "" if v is None else str(v) for k, v in data["annotations"].items()}


def flatten_objects(obj: Any, where: str) -> list[KubeObject]:
    """One parsed document's objects: itself or its ``List`` items; :class:`BundleError` naming ``where`` else."""
    if not isinstance(obj, dict):
        raise BundleError(f"{where}: expected a Kubernetes object (a mapping), got {type(obj).__name__}")
    kind = obj.get("kind")
    if not kind:
        raise BundleError(f"{where}: object has no 'kind'")
    if not obj.get("apiVersion"):
        raise BundleError(f"{where}: object of kind {kind} has no 'apiVersion'")
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BundleError(f"{where}: {kind} metadata is not a mapping")
    for field in ("labels", "annotations"):
        value = (metadata or {}).get(field)
        if value is not None and not (isinstance(value, dict) and all(isinstance(k, str) for k in value)):
            raise BundleError(f"{where}: {kind} metadata.{field} is not a mapping of strings")
    items = obj.get("items")
    if str(kind).endswith("List") and isinstance(items, list):
        flat: list[KubeObject] = []
        for number, item in enumerate(items, start=1):
            flat.extend(flatten_objects(item, f"{where}: item {number}"))
        return flat
    return [obj]


def _read_manifest_file(root: Path, rel: str) -> list[ManifestDoc]:
    data = _read(root, rel)
    docs: list[tuple[int, KubeObject, bool]] = []  # (index, object, came from a List)
    index = -1
    try:
        for index, parsed in enumerate(yamlio.load_all(data)):
            if parsed is None:
                continue
            flat = flatten_objects(parsed, f"{rel}: document {index + 1}")
            listed = len(flat) != 1 or flat[0] is not parsed
            docs.extend((index, obj, listed) for obj in flat)
    except yaml.YAMLError as exc:
        raise BundleError(f"{rel}: document {index + 2}: invalid YAML: {one_line(str(exc))}") from exc
    single = len(docs) == 1 and not docs[0][2]
    return [ManifestDoc(obj=obj, path=rel, index=i, raw=data if single else None) for i, obj, _ in docs]


def _list_manifest_files(root: Path) -> list[str]:
    directory = root / MANIFESTS_DIR
    if not directory.is_dir():
        raise BundleError(f'{MANIFESTS_DIR}: directory not found in bundle "{root}"')
    files: list[str] = []
    for entry in sorted(directory.iterdir(), key=lambda p: p.name):
        rel = f"{MANIFESTS_DIR}/{entry.name}"
        if entry.is_dir():
            raise BundleError(
                f"{rel}: subdirectories are not allowed within the {MANIFESTS_DIR!r} directory "
                "of a registry+v1 bundle"
            )
        files.append(rel)
    return files


def _go_compact_json(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _sorted_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _sorted_keys(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def _merge_properties(root: Path, csv: KubeObject, csv_path: str) -> None:
    path = root / "metadata" / "properties.yaml"
    if not os.path.lexists(path):
        return
    raw = _read(root, "metadata/properties.yaml")
    if not raw:
        return
    try:
        data = yamlio.load(raw)
    except yaml.YAMLError as exc:
        raise BundleError(f"metadata/properties.yaml: invalid YAML: {one_line(str(exc))}") from exc
    if data is None:
        return
    if not isinstance(data, dict) or not isinstance(data.get("properties") or [], list):
        raise BundleError("metadata/properties.yaml: expected a mapping with a 'properties' list")
    metadata = csv.setdefault("metadata", {})
    annotations = metadata.get("annotations")
    if annotations is None:
        annotations = metadata["annotations"] = {}
    merged: list[dict[str, Any]] = []
    existing = annotations.get("olm.properties")
    if existing is not None:
        try:
            current = yamlio.load_json(str(existing))
        except ValueError as exc:
            raise BundleError(
                f"{csv_path}: failed to unmarshal csv.metadata.annotations['olm.properties']: {one_line(str(exc))}"
            ) from None
        if not isinstance(current, list) or not all(isinstance(p, dict) for p in current):
            raise BundleError(f"{csv_path}: csv.metadata.annotations['olm.properties'] is not a JSON list of objects")
        merged.extend({"type": p.get("type", ""), "value": p.get("value")} for p in current)
    for prop in data.get("properties") or []:
        if not isinstance(prop, dict):
            raise BundleError("metadata/properties.yaml: every property must be a mapping")
        merged.append({"type": str(prop.get("type", "")), "value": _sorted_keys(prop.get("value"))})
    annotations["olm.properties"] = _go_compact_json(merged)


def load_bundle(source: BundleSource) -> Bundle:
    """Load ``source.directory`` (``manifests/`` + ``metadata/``) into a :class:`Bundle`.

    Follows OLMv1 rukpak/bundle/source/source.go (see module docstring). CRDs keep the exact file
    bytes in ``ManifestDoc.raw`` when the file holds that single document (and it was not
    converted from v1beta1).

    Raises :class:`BundleError` with a one-line message naming the file, e.g.
    ``manifests/foo.yaml: document 2: invalid YAML: ...`` or
    ``no ClusterServiceVersion found in "manifests"``.
    """
    root = Path(source.directory)
    annotations = _read_annotations(root)
    csv_docs: list[ManifestDoc] = []
    crds: list[ManifestDoc] = []
    others: list[ManifestDoc] = []
    notes: list[str] = []
    for rel in _list_manifest_files(root):
        for doc in _read_manifest_file(root, rel):
            if doc.kind == "ClusterServiceVersion":
                csv_docs.append(doc)
            elif doc.kind == "CustomResourceDefinition":
                crds.append(_crd_doc(doc, notes))
            elif _is_image_references(doc):
                notes.append(f"{rel}: ImageStream dropped: OpenShift build metadata (the images of a release "
                             "for the build tooling), not an object OLM creates")
            else:
                others.append(doc)
    if not csv_docs:
        raise BundleError(f'no ClusterServiceVersion found in "{MANIFESTS_DIR}"')
    if len(csv_docs) > 1:
        where = ", ".join(f"{d.path} ({d.name})" for d in csv_docs)
        raise BundleError(f'more than one ClusterServiceVersion found in "{MANIFESTS_DIR}": {where}')
    csv_doc = csv_docs[0]
    csv = copy.deepcopy(csv_doc.obj)
    if not isinstance(csv.get("metadata"), dict) or not (csv["metadata"].get("name")):
        raise BundleError(f"{csv_doc.path}: ClusterServiceVersion has no metadata.name")
    for field in ("spec", "metadata"):
        if csv.get(field) is not None and not isinstance(csv[field], dict):
            raise BundleError(f"{csv_doc.path}: ClusterServiceVersion {field} is a {type(csv[field]).__name__}, "
                              "not a mapping")
    _merge_properties(root, csv, csv_doc.path)
    dependencies = _read_dependencies(root) + _requirement_properties(csv)
    return Bundle(
        source=source,
        annotations=annotations,
        package=annotations.get(PACKAGE_ANNOTATION, ""),
        csv=csv,
        csv_path=csv_doc.path,
        crds=crds,
        others=others,
        dependencies=dependencies,
        notes=notes,
    )


def _is_image_references(doc: ManifestDoc) -> bool:
    """The ``ImageStream`` of ``manifests/image-references`` (OpenShift ART packaging)."""
    return (doc.path == IMAGE_REFERENCES and doc.kind == "ImageStream"
            and str(doc.obj.get("apiVersion", "")).startswith("image.openshift.io/"))


def _read_dependencies(root: Path) -> list[dict[str, Any]]:
    """The entries of ``metadata/dependencies.yaml`` (``[]`` without the file), each checked to be
    a mapping with a string ``type`` and a mapping ``value`` (OLMv0 ``registry.Dependency``)."""
    path = root / "metadata" / "dependencies.yaml"
    if not os.path.lexists(path):
        return []
    where = "metadata/dependencies.yaml"
    try:
        data = yamlio.load(_read(root, where))
    except yaml.YAMLError as exc:
        raise BundleError(f"{where}: invalid YAML: {one_line(str(exc))}") from exc
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("dependencies", []), list | None):
        raise BundleError(f"{where}: expected a mapping with a 'dependencies' list")
    entries: list[dict[str, Any]] = []
    for number, entry in enumerate(data.get("dependencies") or [], start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str) or not isinstance(
                entry.get("value"), dict):
            raise BundleError(f"{where}: dependency {number}: expected a mapping with a string 'type' and a "
                              "mapping 'value'")
        entries.append({"type": entry["type"], "value": entry["value"]})
    return entries


def _requirement_properties(csv: KubeObject) -> list[dict[str, Any]]:
    """The ``olm.properties`` entries that state requirements (:data:`DEPENDENCY_PROPERTY_TYPES`)."""
    raw = ((csv.get("metadata") or {}).get("annotations") or {}).get("olm.properties")
    if raw is None:
        return []
    try:
        properties = yamlio.load_json(str(raw))
    except ValueError:
        return []  # OLM reads the annotation only to merge properties.yaml into it (refused there)
    if not isinstance(properties, list):
        return []
    return [{"type": p["type"], "value": p.get("value")} for p in properties
            if isinstance(p, dict) and p.get("type") in DEPENDENCY_PROPERTY_TYPES and isinstance(p.get("value"), dict)]


def _crd_doc(doc: ManifestDoc, notes: list[str]) -> ManifestDoc:
    api_version = str(doc.obj.get("apiVersion", ""))
    if api_version == CRD_V1:
        return doc
    if api_version == CRD_V1BETA1:
        converted = convert_v1beta1_crd(doc.obj, doc.path)
        before = (doc.obj.get("metadata") or {}).get("annotations") or {}
        if API_APPROVED_ANNOTATION in converted["metadata"].get("annotations", {}) and \
                API_APPROVED_ANNOTATION not in before:
            notes.append(f"{doc.path}: CustomResourceDefinition {doc.name!r} converted from v1beta1 got "
                         f"{API_APPROVED_ANNOTATION}: {CONVERTED_APPROVAL!r} (its API group is protected; the "
                         "API server refuses v1 CRDs there without it)")
        return ManifestDoc(obj=converted, path=doc.path, index=doc.index)
    raise BundleError(
        f"{doc.path}: CustomResourceDefinition {doc.name!r} has unsupported apiVersion {api_version!r}"
    )
