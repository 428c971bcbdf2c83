"""Acquire a bundle: a local directory as is, or an image pulled (no daemon) and unpacked.

``acquire(reference, options)`` is the pipeline's entry point. Pulling goes through a
:class:`Puller` (today :class:`HttpPuller`, the distribution API over httpx with a content-
addressed blob cache); another backend (docker-py, offline cache only) implements the same
protocol and is chosen in :func:`make_puller`.

Cache layout: ``<cache_dir>/blobs/sha256/<hex>`` holds manifests, indexes and layer blobs by
digest, written only after verification. A warm run re-resolving a tag makes one manifest
request; a digest reference whose manifests are cached makes none.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx

from extractor.auth import Credentials, find_credentials
from extractor.errors import AcquireError, ConfigError, RegistryError
from extractor.layers import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, Layer, LayerLimits, apply_layers
from extractor.model import BundleSource
from extractor.reference import Mirror, Reference, apply_mirrors
from extractor.registry import Manifest, RegistryClient, select_platform

__all__ = [
    "AcquireOptions",
    "BlobCache",
    "HttpPuller",
    "PullResult",
    "Puller",
    "acquire",
    "default_cache_dir",
    "make_puller",
]


def default_cache_dir() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/bundle-extract``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bundle-extract"


@dataclass(frozen=True)
class AcquireOptions:
    """How bundles are obtained.

    ``mirrors``: registries.conf-style rewrites (longest prefix wins).
    ``insecure_hosts``: hosts reached over plain HTTP / unverified TLS (``*`` = all); loopback
    hosts always use plain HTTP.
    ``authfile``: the only auth file to read (else the podman lookup order, see
    :mod:`extractor.auth`); ``username``/``password``: explicit credentials, win over files.
    ``cache_dir``: blob cache root (``None`` = :func:`default_cache_dir`).
    ``work_dir``: where unpacked bundles go, one fresh subdirectory per acquire (``None`` = the
    system temp dir); the caller removes it.
    ``platform``: ``os/arch[/variant]`` chosen from multi-platform indexes.
    ``timeout``: seconds per network read/write; ``connect_timeout``: seconds to connect.
    ``max_bytes``/``max_files``: caps on an image's uncompressed layer content and entry count.
    ``transport``: an httpx transport for every request (tests, instrumentation).
    """

    mirrors: tuple[Mirror, ...] = ()
    insecure_hosts: tuple[str, ...] = ()
    authfile: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cache_dir: Path | None = None
    work_dir: Path | None = None
    platform: str = "linux/amd64"
    timeout: float = 60.0
    connect_timeout: float = 10.0
    max_bytes: int = DEFAULT_MAX_BYTES
    max_files: int = DEFAULT_MAX_FILES
    transport: httpx.BaseTransport | None = field(default=None, repr=False, compare=False)

    def credentials(self, ref: Reference) -> Credentials | None:
        """Credentials for ``ref`` (explicit ones, else the auth files); ``None`` = anonymous."""
        return find_credentials(ref, authfile=self.authfile, username=self.username, password=self.password)

    def client(self) -> RegistryClient:
        """A :class:`RegistryClient` configured from these options (caller closes it)."""
        return RegistryClient(
            credentials=self.credentials,
            insecure_hosts=self.insecure_hosts,
            timeout=self.timeout,
            connect_timeout=self.connect_timeout,
            transport=self.transport,
        )


@dataclass(frozen=True)
class PullResult:
    """What a :class:`Puller` produced: ``digest`` of what the reference points to (an index's
    digest for multi-platform images) and ``manifest_digest`` of the platform image manifest."""

    digest: str
    manifest_digest: str


class Puller(Protocol):
    """A backend that fetches an image and unpacks its bundle directories into ``dest``."""

    def pull(self, ref: Reference, dest: Path, *, image: str) -> PullResult:
        """Unpack ``ref`` into the empty directory ``dest``; ``image`` is the name for errors."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class BlobCache:
    """Content-addressed files under ``<root>/blobs/sha256/<hex>``; entries are verified on read."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        """Where blob ``digest`` (``sha256:<hex>``) lives."""
        algorithm, _, hexdigest = digest.partition(":")
        if algorithm != "sha256" or not re.fullmatch(r"[a-f0-9]{64}", hexdigest):
            raise AcquireError(f"unsupported digest {digest[:80]!r}")
        return self.root / "blobs" / "sha256" / hexdigest

    def get(self, digest: str) -> Path | None:
        """The cached file if present and intact; a corrupt entry is deleted and ``None`` returned."""
        path = self.path(digest)
        if not path.is_file():
            return None
        hasher = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1024 * 1024), b""):
                hasher.update(chunk)
        if "sha256:" + hasher.hexdigest() != digest:
            path.unlink(missing_ok=True)
            return None
        return path

    def put_bytes(self, digest: str, data: bytes) -> Path:
        """Store ``data`` (already verified to be ``digest``) atomically; return its path."""
        path = self.path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".partial-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


class HttpPuller:
    """Pull over the distribution API (:class:`RegistryClient`) with a :class:`BlobCache`."""

    def __init__(self, options: AcquireOptions) -> None:
        self.options = options
        self.cache = BlobCache(options.cache_dir or default_cache_dir())
        self.client = options.client()

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    def _manifest(self, ref: Reference) -> Manifest:
        if ref.digest:
            cached = self.cache.get(ref.digest)
            if cached is not None:
                return Manifest.from_bytes(cached.read_bytes(), str(ref))
        manifest = self.client.get_manifest(ref)
        self.cache.put_bytes(manifest.digest, manifest.data)
        return manifest

    def pull(self, ref: Reference, dest: Path, *, image: str) -> PullResult:
        """Resolve ``ref`` (index -> ``options.platform``), fetch missing layers, unpack into ``dest``.

        Raises the :class:`RegistryError` family, :class:`UnsafeLayerError`, :class:`AcquireError`.
        """
        top = self._manifest(ref)
        manifest = top
        if top.is_index:
            entry = select_platform(top, self.options.platform, str(ref))
            manifest = self._manifest(ref.with_digest(entry.digest))
            if manifest.is_index:
                raise RegistryError(f"{ref}: nested image indexes are not supported")
        where = f"{ref.with_digest(manifest.digest)}"
        layers: list[Layer] = []
        remaining = self.options.max_bytes * 2  # compressed bytes are bounded too, generously
        for descriptor in manifest.layers(where):
            path = self.cache.get(descriptor.digest)
            if path is None:
                path = self.cache.path(descriptor.digest)
                self.client.download_blob(
                    ref, descriptor.digest, path, max_bytes=remaining, expected_size=descriptor.size
                )
            remaining -= descriptor.size
            layers.append(Layer(path, descriptor.digest, descriptor.media_type))
        limits = LayerLimits(max_bytes=self.options.max_bytes, max_files=self.options.max_files)
        apply_layers(layers, dest, image=image, limits=limits)
        return PullResult(digest=top.digest, manifest_digest=manifest.digest)


def make_puller(options: AcquireOptions) -> Puller:
    """The backend for ``options`` (today always :class:`HttpPuller`)."""
    return HttpPuller(options)


def _work_subdir(options: AcquireOptions, ref: Reference) -> Path:
    parent = options.work_dir
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", ref.repository.rsplit("/", 1)[-1])[:40] + "-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def acquire(reference: str, options: AcquireOptions) -> BundleSource:
    """Obtain the bundle ``reference`` names.

    An existing directory is returned as is (``BundleSource(reference, Path(reference))``).
    Otherwise ``reference`` is parsed as an image reference, rewritten by ``options.mirrors``,
    pulled and unpacked into a fresh subdirectory of ``options.work_dir``; the result has
    ``image`` = the canonical requested reference, ``pulled_from`` = the reference after mirroring
    and ``digest`` = the ``sha256:`` digest the reference resolved to (an index digest for
    multi-platform images). Raises :class:`ConfigError` for a malformed reference or a missing
    directory given as a path (``/``, ``./``, ``../``, ``~`` prefix), the
    :class:`AcquireError` family (registry, auth, digest, unsafe layer) otherwise; on error the
    subdirectory is removed.
    """
    if Path(reference).is_dir():
        return BundleSource(reference=reference, directory=Path(reference))
    if reference.startswith(("/", "./", "../", "~")):
        raise ConfigError(f"{reference}: no such bundle directory")
    requested = Reference.parse(reference)
    pulled = apply_mirrors(requested, options.mirrors)
    dest = _work_subdir(options, requested)
    puller = make_puller(options)
    try:
        result = puller.pull(pulled, dest, image=str(requested))
    except AcquireError as exc:
        shutil.rmtree(dest, ignore_errors=True)
        if pulled != requested:
            message = str(exc)
            if not message.startswith(str(requested)):
                message = f"{requested} (mirror {pulled.registry}): {message}"
            raise type(exc)(message) from None
        raise
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    finally:
        with contextlib.suppress(Exception):
            puller.close()
    return BundleSource(
        reference=reference, directory=dest, image=str(requested), pulled_from=str(pulled),
        digest=result.digest,
    )
