"""Session fixtures shared by the test modules.

Real components only: ``registry`` / ``auth_registry`` start Debian's docker-registry on loopback
(tests/support/registry.py); ``seeded_registry`` pushes the three target bundles from
``../shared/bundles`` as bundle images under their registry.redhat.io repository paths.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from extractor.config import load_config
from extractor.push import push_bundle_image
from extractor.reference import Reference
from tests.support.registry import TestRegistry, auth_registry, registry  # noqa: F401  (fixtures)
from tests.support.tools import require_shared

REPO = Path(__file__).resolve().parents[1]

#: bundles.yaml entry -> directory under ../shared/bundles (lws: the rendered copy, see SOURCES.md)
TARGET_BUNDLES: dict[str, str] = {
    "cert-manager-operator": "cert-manager-operator-v1.15.2",
    "sail-operator": "servicemeshoperator3-v3.2.1",
    "lws-operator": "leader-worker-set-v1.0.0-rendered",
}


@dataclass(frozen=True)
class SeededRegistry:
    """A loopback registry holding the three target bundle images.

    ``host``: ``127.0.0.1:PORT``; ``mirror``: the ``--mirror`` value that redirects
    registry.redhat.io to it; ``images``: entry name -> pushed reference; ``digests``: reference -> digest.
    """

    host: str
    mirror: str
    images: dict[str, str]
    digests: dict[str, str]
    bundle_dirs: dict[str, Path]


@pytest.fixture(scope="session")
def seeded_registry(registry: TestRegistry) -> Iterator[SeededRegistry]:  # noqa: F811
    config = load_config(REPO / "bundles.yaml")
    host = registry.host
    images: dict[str, str] = {}
    digests: dict[str, str] = {}
    dirs: dict[str, Path] = {}
    for entry in config.bundles:
        directory = require_shared("bundles", TARGET_BUNDLES[entry.name])
        ref = Reference.parse(entry.reference)
        target = f"{host}/{ref.repository}:{entry.version}"
        digests[target] = push_bundle_image(directory, target)
        images[entry.name] = target
        dirs[entry.name] = directory
    # a second tag of sail for the `update-bundle BUNDLE=... VERSION=...` tests
    sail = Reference.parse(config.entry("sail-operator").reference)
    rebuild = f"{host}/{sail.repository}:3.2.1-rebuild"
    digests[rebuild] = push_bundle_image(dirs["sail-operator"], rebuild, manifest_format="docker")
    yield SeededRegistry(host=host, mirror=f"registry.redhat.io={host}", images=images, digests=digests,
                         bundle_dirs=dirs)
