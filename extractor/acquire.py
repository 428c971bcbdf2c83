"""Acquire a bundle: a local directory as is, or an image pulled (no daemon) and unpacked.

``acquire(reference, options)`` is the pipeline's entry point. Pulling goes through a
:class:`Puller` (today :class:`HttpPuller`, the distribution API over httpx with a content-
addressed blob cache); another backend (docker-py, offline cache only) implements the same
protocol and is chosen in :func:`make_puller`.

Cache layout: ``<cache_dir>/blobs/sha256/<hex>`` holds manifests, indexes and layer blobs by
digest, written only after verification; ``<cache_dir>/tags/<registry>/<repository>/<tag>`` holds
the digest a tag last resolved to online (what ``offline`` mode uses). A warm run re-resolving a
tag makes one manifest request; a digest reference whose manifests are cached makes none.

Local images (``docker-archive:``, ``oci-archive:``, ``oci:`` or a path to such an archive or
layout) are read by :mod:`extractor.archive`, without the network or the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx

from extractor.archive import LocalImage, parse_local_image, unpack_local_image
from extractor.auth import Credentials, find_credentials
from extractor.errors import AcquireError, ConfigError, NotCachedError, RegistryError
from extractor.layers import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, Layer, LayerLimits, apply_layers
from extractor.model import BundleSource
from extractor.reference import Mirror, Reference, apply_mirrors
from extractor.registry import Manifest, RegistryClient, RetryPolicy, select_platform

__all__ = [
    "PULLERS",
    "AcquireOptions",
    "BlobCache",
    "HttpPuller",
    "ProgressCallback",
    "PullProgress",
    "PullResult",
    "Puller",
    "acquire",
    "default_cache_dir",
    "describe_progress",
    "make_puller",
]


def default_cache_dir() -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/bundle-extract``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bundle-extract"


@dataclass(frozen=True)
class PullProgress:
    """One progress report of a pull (for a terminal display; never needed for correctness).

    ``image``: the reference as requested. ``event``: ``"resolved"`` (manifests known; ``total``
    = compressed bytes of all layers, ``done`` = bytes of them already cached), ``"download"``
    (layer ``digest``: ``done`` of ``total`` bytes received), ``"unpack"`` (layers are being
    applied) or ``"done"``.
    """

    image: str
    event: str
    digest: str | None = None
    done: int = 0
    total: int = 0


ProgressCallback = Callable[[PullProgress], None]
"""Receives :class:`PullProgress` reports; called on the pulling thread, must be quick."""


def describe_progress(event: PullProgress) -> str:
    """A one-line human rendering of ``event`` (``image: 3.1/10.0 MiB``), no newline."""

    def mib(n: int) -> str:
        return f"{n / (1024 * 1024):.1f}"

    if event.event == "download" and event.digest:
        return f"{event.image}: layer {event.digest[7:19]} {mib(event.done)}/{mib(event.total)} MiB"
    if event.event == "resolved":
        return f"{event.image}: {mib(event.total - event.done)} MiB to download"
    return f"{event.image}: {event.event}"


@dataclass(frozen=True)
class AcquireOptions:
    """How bundles are obtained.

    ``mirrors``: registries.conf-style rewrites (longest prefix wins).
    ``insecure_hosts``: hosts reached over plain HTTP / unverified TLS (``*`` = all); loopback
    hosts use plain HTTP unless they answer that they speak TLS.
    ``ca_file``: PEM bundle of extra trusted CA certificates for HTTPS registries.
    ``authfile``: the only auth file to read (else the podman lookup order, see
    :mod:`extractor.auth`); ``username``/``password``: explicit credentials, win over files.
    ``cache_dir``: blob cache root (``None`` = :func:`default_cache_dir`).
    ``work_dir``: where unpacked bundles go, one fresh subdirectory per acquire (``None`` = the
    system temp dir); the caller removes it.
    ``platform``: ``os/arch[/variant]`` chosen from multi-platform indexes.
    ``timeout``: seconds per network read/write; ``connect_timeout``: seconds to connect.
    ``max_bytes``/``max_files``: caps on an image's uncompressed layer content and entry count.
    ``retry``: retries of transient registry failures (:class:`RetryPolicy`).
    ``offline``: never use the network; serve tags (from their cached tag records), manifests
    and layers from ``cache_dir`` only, :class:`NotCachedError` for anything missing.
    ``progress``: called with :class:`PullProgress` reports while pulling (``None`` = quiet).
    ``transport``: an httpx transport for every request (tests, instrumentation).
    ``puller``: the backend, ``"http"`` (:class:`HttpPuller`) or ``"docker"`` (the local Docker
    daemon, :class:`extractor.docker_puller.DockerPuller`, needs ``bundle-extract[docker]``).
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
    ca_file: Path | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    offline: bool = False
    progress: ProgressCallback | None = field(default=None, repr=False, compare=False)
    transport: httpx.BaseTransport | None = field(default=None, repr=False, compare=False)
    puller: str = "http"

    def credentials(self, ref: Reference) -> Credentials | None:
        """Credentials for ``ref`` (explicit ones, else the auth files); ``None`` = anonymous."""
        return find_credentials(ref, authfile=self.authfile, username=self.username, password=self.password)

    def client(self) -> RegistryClient:
        """A :class:`RegistryClient` configured from these options (caller closes it)."""
        return RegistryClient(
            credentials=self.credentials,
            insecure_hosts=self.insecure_hosts,
            ca_file=self.ca_file,
            timeout=self.timeout,
            connect_timeout=self.connect_timeout,
            retry=self.retry,
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

    def tag_path(self, ref: Reference) -> Path:
        """Where the digest tag ``ref.tag`` of ``ref``'s repository last resolved to is recorded."""
        return self.root / "tags" / ref.registry / ref.repository / (ref.tag or "latest")

    def record_tag(self, ref: Reference, digest: str) -> None:
        """Remember (atomically) that ``ref``'s tag resolved to ``digest``."""
        path = self.tag_path(ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".partial-", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(digest + "\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def tag_digest(self, ref: Reference) -> str | None:
        """The digest recorded for ``ref``'s tag, or ``None``."""
        try:
            text = self.tag_path(ref).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text if re.fullmatch(r"sha256:[a-f0-9]{64}", text) else None


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
        if not ref.digest and self.options.offline:
            recorded = self.cache.tag_digest(ref)
            if recorded is None:
                raise NotCachedError(
                    f"{ref}: tag {ref.tag} is not in the cache {self.cache.root} (pull it once without --offline)"
                )
            ref = ref.with_digest(recorded)
        if ref.digest:
            cached = self.cache.get(ref.digest)
            if cached is not None:
                return Manifest.from_bytes(cached.read_bytes(), str(ref))
            if self.options.offline:
                raise NotCachedError(f"{ref}: manifest {ref.digest} is not in the cache {self.cache.root}")
        manifest = self.client.get_manifest(ref)
        self.cache.put_bytes(manifest.digest, manifest.data)
        if not ref.digest:
            self.cache.record_tag(ref, manifest.digest)
        return manifest

    def _report(self, image: str, event: str, digest: str | None = None, done: int = 0, total: int = 0) -> None:
        if self.options.progress is not None:
            self.options.progress(PullProgress(image, event, digest, done, total))

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
        descriptors = manifest.layers(where)
        cached = {d.digest: self.cache.get(d.digest) for d in descriptors}
        total = sum(d.size for d in descriptors)
        self._report(image, "resolved", done=sum(d.size for d in descriptors if cached[d.digest]), total=total)
        for descriptor in descriptors:
            path = cached[descriptor.digest]
            if path is None:
                if self.options.offline:
                    raise NotCachedError(f"{image}: layer {descriptor.digest} is not in the cache {self.cache.root}")
                path = self.cache.path(descriptor.digest)
                layer_digest, size = descriptor.digest, descriptor.size

                def report(done: int, layer_digest: str = layer_digest, size: int = size) -> None:
                    self._report(image, "download", layer_digest, done, size)

                self.client.download_blob(
                    ref, descriptor.digest, path, max_bytes=remaining, expected_size=descriptor.size,
                    progress=report if self.options.progress else None,
                )
            remaining -= descriptor.size
            layers.append(Layer(path, descriptor.digest, descriptor.media_type))
        limits = LayerLimits(max_bytes=self.options.max_bytes, max_files=self.options.max_files)
        self._report(image, "unpack")
        apply_layers(layers, dest, image=image, limits=limits)
        self._report(image, "done")
        return PullResult(digest=top.digest, manifest_digest=manifest.digest)


PULLERS = ("http", "docker")
"""Names accepted in ``AcquireOptions.puller``."""


def make_puller(options: AcquireOptions) -> Puller:
    """The backend ``options.puller`` names.

    Raises :class:`ConfigError` for an unknown name or when the ``docker`` package is missing.
    """
    if options.puller == "http":
        return HttpPuller(options)
    if options.puller == "docker":
        from extractor.docker_puller import DockerPuller

        return DockerPuller(options)
    raise ConfigError(f"unknown puller {options.puller!r} (expected one of: {', '.join(PULLERS)})")


def _work_subdir(options: AcquireOptions, ref: Reference) -> Path:
    parent = options.work_dir
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", ref.repository.rsplit("/", 1)[-1])[:40] + "-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def _acquire_local(reference: str, local: LocalImage, options: AcquireOptions) -> BundleSource:
    parent = options.work_dir
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", local.path.name)[:40] + "-"
    dest = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    scratch = Path(tempfile.mkdtemp(prefix=".archive-", dir=parent))
    limits = LayerLimits(max_bytes=options.max_bytes, max_files=options.max_files)
    try:
        digest = unpack_local_image(
            local, dest, scratch=scratch, name=reference, platform=options.platform, limits=limits
        )
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return BundleSource(reference=reference, directory=dest, digest=digest)


def acquire(reference: str, options: AcquireOptions) -> BundleSource:
    """Obtain the bundle ``reference`` names.

    An existing directory is returned as is (``BundleSource(reference, Path(reference))``).
    A local image (``docker-archive:``, ``oci-archive:``, ``oci:`` or a path to one, see
    :mod:`extractor.archive`) is unpacked into a fresh subdirectory of ``options.work_dir``
    (``image``/``pulled_from`` ``None``, ``digest`` its manifest digest when it has one).
    Otherwise ``reference`` is parsed as an image reference, rewritten by ``options.mirrors``,
    pulled and unpacked into a fresh subdirectory of ``options.work_dir``; the result has
    ``image`` = the canonical requested reference, ``pulled_from`` = the reference after mirroring
    and ``digest`` = the ``sha256:`` digest the reference resolved to (an index digest for
    multi-platform images). Raises :class:`ConfigError` for a malformed reference or a missing
    directory given as a path (``/``, ``./``, ``../``, ``~`` prefix), the
    :class:`AcquireError` family (registry, auth, digest, unsafe layer) otherwise; on error the
    subdirectory is removed.
    """
    local = parse_local_image(reference)
    if local is not None:
        return _acquire_local(reference, local, options)
    if Path(reference).is_dir():
        return BundleSource(reference=reference, directory=Path(reference))
    if reference.startswith(("/", "./", "../", "~")):
        raise ConfigError(f"{reference}: no such bundle directory")
    requested = Reference.parse(reference)
    pulled = apply_mirrors(requested, options.mirrors)
    puller = make_puller(options)
    dest = _work_subdir(options, requested)
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
