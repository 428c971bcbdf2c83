"""A loaded bundle: its documents and the ClusterServiceVersion (what the load stage gives render)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from extractor.model.source import BundleSource, KubeObject

__all__ = ["Bundle", "ManifestDoc"]


@dataclass(frozen=True)
class ManifestDoc:
    """One YAML document of a bundle file.

    ``path``: path relative to the bundle root, e.g. ``manifests/foo.crd.yaml``.
    ``index``: 0-based document index in that file.
    ``raw``: the exact bytes of the file when this is its only document, else ``None``.
    """

    obj: KubeObject
    path: str
    index: int = 0
    raw: bytes | None = None

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.obj.get("metadata") or {}).get("name", ""))


@dataclass
class Bundle:
    """A loaded registry+v1 bundle (OLMv1 rukpak/bundle/source semantics).

    ``csv``: the ClusterServiceVersion object (with ``metadata/properties.yaml`` merged into the
    ``olm.properties`` annotation); ``crds``: CustomResourceDefinition documents in file order
    (files sorted by name); ``others``: every other document; ``dependencies``: the entries of
    ``metadata/dependencies.yaml`` (``{"type": ..., "value": ...}``, in file order); ``notes``:
    one-line notes for a person about what loading changed (a dropped ImageStream, an annotation
    added to a converted CRD).
    """

    source: BundleSource
    annotations: dict[str, str]
    package: str
    csv: KubeObject
    csv_path: str
    crds: list[ManifestDoc] = field(default_factory=list)
    others: list[ManifestDoc] = field(default_factory=list)
    dependencies: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def csv_name(self) -> str:
        return str(self.csv["metadata"]["name"])

    @property
    def version(self) -> str:
        return str((self.csv.get("spec") or {}).get("version", ""))
