"""A file-based catalog served by the loopback registry, built at test time.

``catalog_registry`` (session fixture; import it into a test module) pushes the sample bundles of
``../shared/bundles`` (cert-manager-operator v1.15.2 and v1.16.2, sail 3.2.1 and 3.2.3) as bundle
images, writes an FBC for them and pushes it as a catalog image with the configs label:

- ``cert-manager-operator``: default channel ``stable-v1`` (v1.14.0 -> v1.15.2 -> v1.16.0; v1.16.1
  replaces v1.15.2 and skips v1.16.0; v1.16.2 replaces v1.16.1 with skipRange >=1.15.0 <1.16.2)
  and ``stable-v1.15`` (v1.14.0, v1.15.2); one JSON stream, as ``opm render`` writes it. The
  versions without a sample bundle (1.14.0, 1.16.0, 1.16.1) point to the v1.15.2 image.
- ``servicemeshoperator3``: channels ``stable`` (default) and ``stable-3.2``, 3.2.3 replaces
  3.2.1; YAML, one file per schema, plus an ``.indexignore``d README.

Bundle images are referenced by digest, as real catalogs do. Also pushed: the same catalog
without the label, and one whose label names a directory the image does not have.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from extractor.acquire.catalog import CONFIGS_LABEL
from extractor.demo.catalog import (
    fbc_bundle,
    fbc_channel,
    fbc_package,
    push_catalog_image,
    write_json_stream,
    write_yaml_stream,
)
from extractor.demo.push import push_bundle_image
from tests.support.registry import TestRegistry
from tests.support.tools import require_shared

CM = "cert-manager-operator"
SAIL = "servicemeshoperator3"


@dataclass(frozen=True)
class CatalogRegistry:
    """``catalog``: the catalog image (with the label); ``no_label``/``missing_dir``: broken ones;
    ``fbc``: the FBC directory it holds; ``images``: version -> bundle image by digest, per package;
    ``bundle_dirs``: version -> sample directory."""

    host: str
    catalog: str
    catalog_digest: str
    no_label: str
    missing_dir: str
    fbc: Path
    images: dict[str, dict[str, str]]
    bundle_dirs: dict[str, Path]


def cert_manager_stable() -> list[dict[str, Any]]:
    """The ``stable-v1`` channel entries of the test cert-manager package (see the module docstring):
    v1.14.0 -> v1.15.2 -> v1.16.0, v1.16.1 replaces v1.15.2 and skips v1.16.0, v1.16.2 replaces
    v1.16.1 with skipRange >=1.15.0 <1.16.2.  The first two make ``stable-v1.15``."""
    return [
        {"name": f"{CM}.v1.14.0"},
        {"name": f"{CM}.v1.15.2", "replaces": f"{CM}.v1.14.0"},
        {"name": f"{CM}.v1.16.0", "replaces": f"{CM}.v1.15.2"},
        {"name": f"{CM}.v1.16.1", "replaces": f"{CM}.v1.15.2", "skips": [f"{CM}.v1.16.0"]},
        {"name": f"{CM}.v1.16.2", "replaces": f"{CM}.v1.16.1", "skipRange": ">=1.15.0 <1.16.2"},
    ]


def cert_manager_docs(images: dict[str, str]) -> list[dict[str, Any]]:
    def bundle(version: str) -> dict[str, Any]:
        return fbc_bundle(CM, f"{CM}.v{version}", version, images[version],
                          [{"type": "olm.gvk", "value": {"group": "operator.openshift.io", "kind": "CertManager",
                                                         "version": "v1alpha1"}}])

    stable = cert_manager_stable()
    return [fbc_package(CM, "stable-v1"), fbc_channel(CM, "stable-v1", stable),
            fbc_channel(CM, "stable-v1.15", stable[:2]), *[bundle(v) for v in images]]


def write_fbc(root: Path, images: dict[str, dict[str, str]]) -> Path:
    """The catalog's FBC files under ``root`` (see the module docstring)."""
    write_json_stream(root / CM / "catalog.json", cert_manager_docs(images[CM]))
    entries = [{"name": f"{SAIL}.v3.2.1"}, {"name": f"{SAIL}.v3.2.3", "replaces": f"{SAIL}.v3.2.1"}]
    write_yaml_stream(root / SAIL / "package.yaml", [fbc_package(SAIL, "stable")])
    write_yaml_stream(root / SAIL / "channels.yaml", [fbc_channel(SAIL, "stable", entries),
                                                      fbc_channel(SAIL, "stable-3.2", entries)])
    write_yaml_stream(root / SAIL / "bundles.yaml", [fbc_bundle(SAIL, f"{SAIL}.v{v}", v, images[SAIL][v])
                                                     for v in ("3.2.1", "3.2.3")])
    (root / SAIL / "README.md").write_text("# servicemeshoperator3\nnot: [FBC\n")
    (root / SAIL / ".indexignore").write_text("*.md\n")
    return root


@pytest.fixture(scope="session")
def catalog_registry(registry: TestRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CatalogRegistry]:
    host = registry.host
    dirs = {
        "cm-1.15.2": require_shared("bundles", "cert-manager-operator-v1.15.2"),
        "cm-1.16.2": require_shared("bundles", "cert-manager-operator-v1.16.2"),
        "sail-3.2.1": require_shared("bundles", "servicemeshoperator3-v3.2.1"),
        "sail-3.2.3": require_shared("bundles", "servicemeshoperator3-v3.2.3"),
    }
    repo = f"{host}/catalog-test"
    images: dict[str, dict[str, str]] = {CM: {}, SAIL: {}}
    for version, key in (("1.14.0", "cm-1.15.2"), ("1.15.2", "cm-1.15.2"), ("1.16.0", "cm-1.15.2"),
                         ("1.16.1", "cm-1.15.2"), ("1.16.2", "cm-1.16.2")):
        digest = push_bundle_image(dirs[key], f"{repo}/cert-manager-operator-bundle:v{version}")
        images[CM][version] = f"{repo}/cert-manager-operator-bundle@{digest}"
    for version in ("3.2.1", "3.2.3"):
        digest = push_bundle_image(dirs[f"sail-{version}"], f"{repo}/istio-sail-operator-bundle:{version}")
        images[SAIL][version] = f"{repo}/istio-sail-operator-bundle@{digest}"
    fbc = write_fbc(tmp_path_factory.mktemp("fbc") / "configs", images)
    catalog = f"{repo}/operator-index:v1"
    digest = push_catalog_image(fbc, catalog)
    no_label = f"{repo}/no-label-index:v1"
    push_catalog_image(fbc, no_label, labels={})
    missing_dir = f"{repo}/missing-dir-index:v1"
    push_catalog_image(fbc, missing_dir, labels={CONFIGS_LABEL: "/catalog"})
    yield CatalogRegistry(host=host, catalog=catalog, catalog_digest=digest, no_label=no_label,
                          missing_dir=missing_dir, fbc=fbc, images=images, bundle_dirs=dirs)
