"""OCI and Docker schema2 manifests and indexes: media types, descriptors, platform choice.

Pure data, no I/O: :class:`Manifest` wraps the exact bytes a registry or an archive returned (its
digest is computed from them), :class:`Descriptor` is one entry of a manifest or index, and
:func:`select_platform` picks the image of a multi-platform index. Follows the OCI image spec
(``manifest.md``, ``image-index.md``, ``descriptor.md``) and Docker's manifest v2 schema 2.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from extractor import yamlio
from extractor.errors import RegistryError, UnsupportedMediaTypeError

__all__ = [
    "ACCEPT_MANIFESTS",
    "DIGEST_RE",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "IMAGE_MANIFESTS",
    "INDEXES",
    "MAX_MANIFEST_BYTES",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "Descriptor",
    "Manifest",
    "select_platform",
    "sha256_digest",
]

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_MANIFESTS = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEXES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
ACCEPT_MANIFESTS = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST])

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
"""Largest manifest accepted (the distribution spec's suggested limit)."""
DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")
"""The only digest form accepted (``sha256:`` and 64 lower-case hex digits)."""


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor. ``platform``: ``os/arch[/variant]`` for index entries."""

    media_type: str
    digest: str
    size: int
    platform: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: Any, where: str) -> Descriptor:
        """Parse a descriptor object; raises :class:`RegistryError` naming ``where`` when malformed."""
        if not isinstance(value, dict):
            raise RegistryError(f"{where}: malformed descriptor in manifest")
        digest = value.get("digest")
        size = value.get("size")
        if not isinstance(digest, str) or not isinstance(size, int) or size < 0:
            raise RegistryError(f"{where}: malformed descriptor in manifest")
        if not DIGEST_RE.fullmatch(digest):
            raise UnsupportedMediaTypeError(f"{where}: unsupported digest {digest[:80]!r} (only sha256)")
        platform = None
        raw_platform = value.get("platform")
        if isinstance(raw_platform, dict):
            parts = [str(raw_platform.get("os", "")), str(raw_platform.get("architecture", ""))]
            if raw_platform.get("variant"):
                parts.append(str(raw_platform["variant"]))
            platform = "/".join(parts)
        annotations = value.get("annotations")
        return cls(
            media_type=str(value.get("mediaType", "")),
            digest=digest,
            size=size,
            platform=platform,
            annotations=dict(annotations) if isinstance(annotations, dict) else {},
        )


@dataclass(frozen=True)
class Manifest:
    """A verified manifest or index: its exact bytes, digest and media type."""

    digest: str
    media_type: str
    data: bytes = field(repr=False)

    @classmethod
    def from_bytes(cls, data: bytes, where: str, content_type: str | None = None) -> Manifest:
        """Parse and classify ``data``. Raises :class:`UnsupportedMediaTypeError` for schema1 and
        unknown media types, :class:`RegistryError` for invalid JSON."""
        try:
            parsed = yamlio.load_json(data)
        except ValueError:
            raise RegistryError(f"{where}: manifest is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise RegistryError(f"{where}: manifest is not a JSON object")
        media_type = parsed.get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            media_type = (content_type or "").split(";")[0].strip()
            if not media_type and parsed.get("schemaVersion") == 2:
                media_type = OCI_INDEX if "manifests" in parsed else OCI_MANIFEST
        if parsed.get("schemaVersion") == 1 or media_type not in IMAGE_MANIFESTS | INDEXES:
            raise UnsupportedMediaTypeError(
                f"{where}: unsupported manifest type {media_type or 'schema1'!r} "
                "(need an OCI or Docker schema2 manifest or index)"
            )
        return cls(digest=sha256_digest(data), media_type=media_type, data=data)

    @property
    def is_index(self) -> bool:
        """True for an OCI index or Docker manifest list."""
        return self.media_type in INDEXES

    def json(self) -> dict[str, Any]:
        """The parsed JSON object."""
        value: dict[str, Any] = yamlio.load_json(self.data)
        return value

    def manifests(self, where: str) -> list[Descriptor]:
        """Index entries (empty for an image manifest)."""
        return [Descriptor.from_json(d, where) for d in self.json().get("manifests") or []]

    def layers(self, where: str) -> list[Descriptor]:
        """Layer descriptors, oldest first (empty for an index)."""
        return [Descriptor.from_json(d, where) for d in self.json().get("layers") or []]

    def config(self, where: str) -> Descriptor:
        """The image config descriptor. Raises :class:`RegistryError` when there is none."""
        return Descriptor.from_json(self.json().get("config"), where)


def select_platform(index: Manifest, platform: str, where: str) -> Descriptor:
    """Pick the index entry for ``platform`` (``os/arch[/variant]``), else the only image entry.

    Attestation entries (``unknown/unknown``) are ignored. Raises :class:`RegistryError` listing
    the available platforms when neither rule applies.
    """
    entries = [
        d for d in index.manifests(where)
        if d.platform != "unknown/unknown"
        and d.annotations.get("vnd.docker.reference.type") != "attestation-manifest"
    ]
    wanted = platform.split("/")
    for entry in entries:
        have = (entry.platform or "").split("/")
        if have[:2] == wanted[:2] and (len(wanted) < 3 or have[2:3] == wanted[2:3]):
            return entry
    if len(entries) == 1:
        return entries[0]
    available = ", ".join(sorted(d.platform or "unspecified" for d in entries)) or "none"
    raise RegistryError(f"{where}: image index has no {platform} entry (platforms: {available})")
