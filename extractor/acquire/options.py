"""How bundles are obtained (:class:`AcquireOptions`) and how pulls report progress.

Shared by every puller and by the code that chooses one; imports no puller.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from extractor.acquire.limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES
from extractor.acquire.retry import RetryPolicy

if TYPE_CHECKING:
    from extractor.acquire.client import RegistryClient
    from extractor.acquire.credentials import Credentials
    from extractor.acquire.reference import Mirror, Reference
    from extractor.acquire.urlref import UrlMirror
    from extractor.acquire.wire import Interceptor


__all__ = ["AcquireOptions", "ProgressCallback", "PullProgress", "default_cache_dir", "describe_progress"]


def default_cache_dir() -> Path:
    """The blob cache when none is given: ``$BUNDLE_EXTRACT_CACHE_DIR`` when set and not empty (the
    same variable as the CLI's ``--cache-dir``, so library callers and every command agree),
    otherwise ``${XDG_CACHE_HOME:-~/.cache}/bundle-extract``. Read at each call."""
    explicit = os.environ.get("BUNDLE_EXTRACT_CACHE_DIR")
    if explicit:
        return Path(explicit)
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
    :mod:`extractor.acquire.credentials`); ``username``/``password``: explicit credentials, win over files.
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
    ``transport``: an :data:`~extractor.acquire.wire.Interceptor` that sees every request and may
    answer it without the network (tests, instrumentation).
    ``puller``: the backend, ``"http"`` (:class:`HttpPuller`) or ``"docker"`` (the local Docker
    daemon, :class:`extractor.acquire.docker_puller.DockerPuller`, needs ``bundle-extract[docker]``).
    ``url_mirrors``: URL prefix rewrites for files fetched by URL (bundles.yaml ``extraManifests``,
    :mod:`extractor.acquire.urlref`; ``--url-mirror``).
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
    transport: Interceptor | None = field(default=None, repr=False, compare=False)
    puller: str = "http"
    url_mirrors: tuple[UrlMirror, ...] = ()

    def credentials(self, ref: Reference) -> Credentials | None:
        """Credentials for ``ref`` (explicit ones, else the auth files); ``None`` = anonymous."""
        from extractor.acquire.credentials import find_credentials  # auth files only when pulling

        return find_credentials(ref, authfile=self.authfile, username=self.username, password=self.password)

    def client(self) -> RegistryClient:
        """A :class:`RegistryClient` configured from these options (caller closes it)."""
        from extractor.acquire.client import RegistryClient

        return RegistryClient(
            credentials=self.credentials,
            insecure_hosts=self.insecure_hosts,
            ca_file=self.ca_file,
            timeout=self.timeout,
            connect_timeout=self.connect_timeout,
            retry=self.retry,
            transport=self.transport,
        )
