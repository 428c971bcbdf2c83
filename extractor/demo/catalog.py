"""Build file-based catalogs and catalog images (tests, ``make bench``): FBC documents as ``opm
render`` writes them, a catalog image ``FROM scratch`` + ``configs/`` with the
``operators.operatorframework.io.index.configs.v1`` label, and a large generated catalog.

Deterministic like :mod:`extractor.demo.push`: the same files always give the same digest.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from extractor import yamlio
from extractor.acquire import AcquireOptions
from extractor.acquire.catalog import CONFIGS_LABEL
from extractor.demo.push import BuiltImage, build_image, directory_layer, push_image

__all__ = [
    "build_catalog_image",
    "fbc_bundle",
    "fbc_channel",
    "fbc_package",
    "generate_catalog",
    "push_catalog_image",
    "write_json_stream",
    "write_yaml_stream",
]


def fbc_package(name: str, default_channel: str, description: str = "") -> dict[str, Any]:
    """An ``olm.package`` document."""
    doc: dict[str, Any] = {"schema": "olm.package", "name": name, "defaultChannel": default_channel}
    if description:
        doc["description"] = description
    return doc


def fbc_channel(package: str, name: str, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """An ``olm.channel`` document; ``entries``: ``{name, replaces?, skips?, skipRange?}``."""
    return {"schema": "olm.channel", "name": name, "package": package, "entries": [dict(e) for e in entries]}


def fbc_bundle(package: str, name: str, version: str, image: str,
               properties: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """An ``olm.bundle`` document with its ``olm.package`` property (and ``properties``)."""
    return {
        "schema": "olm.bundle", "name": name, "package": package, "image": image,
        "properties": [{"type": "olm.package", "value": {"packageName": package, "version": version}},
                       *[dict(p) for p in properties]],
        "relatedImages": [{"name": "", "image": image}],
    }


def write_json_stream(path: Path, documents: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``documents`` as a stream of indented JSON objects, as ``opm render`` does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(d, indent=4) + "\n" for d in documents), encoding="utf-8")
    return path


def write_yaml_stream(path: Path, documents: Iterable[Mapping[str, Any]]) -> Path:
    """Write ``documents`` as a ``---``-separated YAML stream (``opm render -o yaml``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yamlio.dump_all(documents), encoding="utf-8")
    return path


def build_catalog_image(fbc_dir: Path, *, configs: str = "/configs",
                        labels: Mapping[str, str] | None = None) -> BuiltImage:
    """A catalog image holding ``fbc_dir`` at ``configs`` with the configs label (``labels``
    replaces the labels; ``{}`` builds an image without the label)."""
    chosen = {CONFIGS_LABEL: configs} if labels is None else dict(labels)
    return build_image([directory_layer([(configs.strip("/"), fbc_dir)])], labels=chosen)


def push_catalog_image(fbc_dir: Path, reference: str, options: AcquireOptions | None = None, *,
                       configs: str = "/configs", labels: Mapping[str, str] | None = None) -> str:
    """Build (:func:`build_catalog_image`) and push a catalog image; return its digest."""
    return push_image(reference, build_catalog_image(fbc_dir, configs=configs, labels=labels), options)


def generate_catalog(root: Path, *, packages: int = 300, versions: int = 12, object_bytes: int = 16_384,
                     seed: int = 14) -> list[str]:
    """Write a large catalog under ``root``: ``packages`` packages of ``versions`` bundles each, in
    two channels (a replaces chain with skips and skipRanges), one JSON stream per package as
    ``opm render`` lays it out, each bundle carrying an ``olm.bundle.object`` property of about
    ``object_bytes`` (what makes real catalogs heavy). Returns the package names, sorted.
    Image references are made up (``registry.example.com/...@sha256:...``): for resolution only.
    """
    rng = random.Random(seed)
    names = []
    for index in range(packages):
        package = f"operator-{index:04d}"
        names.append(package)
        docs: list[dict[str, Any]] = [fbc_package(package, "stable", f"generated package {index}")]
        bundles = []
        entries: list[dict[str, Any]] = []
        for minor in range(versions):
            version = f"1.{minor}.0"
            name = f"{package}.v{version}"
            digest = f"{rng.getrandbits(256):064x}"
            image = f"registry.example.com/generated/{package}-bundle@sha256:{digest}"
            blob = f"{rng.getrandbits(object_bytes * 4):x}"
            properties = [
                {"type": "olm.gvk", "value": {"group": f"{package}.example.com", "kind": "Widget", "version": "v1"}},
                {"type": "olm.bundle.object", "value": {"data": blob[:object_bytes]}},
            ]
            bundles.append(fbc_bundle(package, name, version, image, properties))
            entry: dict[str, Any] = {"name": name}
            if minor:
                entry["replaces"] = f"{package}.v1.{minor - 1}.0"
                entry["skipRange"] = f">=1.0.0 <{version}"
            entries.append(entry)
        docs.append(fbc_channel(package, "stable", entries))
        docs.append(fbc_channel(package, "candidate", entries[: max(1, versions // 2)]))
        docs.extend(bundles)
        write_json_stream(root / package / "catalog.json", docs)
    return names
