"""The shapes the acquire stage and bundles.yaml share: where a bundle came from
(:class:`BundleSource`), the Kubernetes object tree type and the DNS-1123 label rule."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DNS_LABEL", "BundleSource", "KubeObject"]

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
"""A Kubernetes DNS-1123 label: names of namespaces, releases, charts and bundles.yaml entries."""

KubeObject = dict[str, Any]


@dataclass(frozen=True)
class BundleSource:
    """Where a bundle came from and where its unpacked files are.

    ``reference``: what the user gave (image reference or directory path).
    ``image``: the canonical image reference as requested, before mirror rewriting
    (``registry.redhat.io/ns/repo:tag``), or ``None`` for a directory.
    ``pulled_from``: the reference actually fetched after mirror rewriting, or ``None``.
    ``digest``: the image manifest digest (``sha256:<hex>``) or ``None`` for a directory.
    ``directory``: a directory holding ``manifests/`` and ``metadata/``.
    """

    reference: str
    directory: Path
    image: str | None = None
    pulled_from: str | None = None
    digest: str | None = None
