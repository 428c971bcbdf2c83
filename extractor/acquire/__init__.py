"""Acquire a bundle: a local directory as is, a local image archive, or an image pulled (no daemon).

In: a reference (image, bundle directory, ``docker-archive:``/``oci-archive:``/``oci:``) and
:class:`AcquireOptions`. Out: a :class:`extractor.model.BundleSource` whose directory holds the
bundle's ``manifests/`` and ``metadata/``. Errors: the :class:`extractor.errors.AcquireError`
family and :class:`extractor.errors.ConfigError`.

:func:`acquire` is the stage's one entry point; :func:`resolve` answers what a registry reference
points to now without pulling it (``update-bundle`` compares that with its lock). Pulling goes
through a :class:`~extractor.acquire.puller.Puller` chosen by :func:`make_puller`:
:class:`~extractor.acquire.http_puller.HttpPuller` (the distribution API over the standard
library's HTTP client, with a content-addressed blob cache) or
:class:`~extractor.acquire.docker_puller.DockerPuller` (the local Docker daemon). Modules, from the
wire up:

- :mod:`~extractor.acquire.reference`: image references and registries.conf-style mirrors;
- :mod:`~extractor.acquire.credentials`: auth-file lookup in podman's order, credential helpers;
- :mod:`~extractor.acquire.transport`: schemes, TLS, retries; :mod:`~extractor.acquire.challenges`:
  Basic/Bearer challenge auth; :mod:`~extractor.acquire.manifests`: manifests, indexes, platforms;
  :mod:`~extractor.acquire.client`: the distribution API client;
- :mod:`~extractor.acquire.blobs`: the digest-keyed cache; :mod:`~extractor.acquire.layers`: layer
  unpacking and its safety checks; :mod:`~extractor.acquire.archive`: local image archives;
- :mod:`~extractor.acquire.options`, :mod:`~extractor.acquire.puller`: what every puller shares.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractor.acquire.options import (
    AcquireOptions,
    ProgressCallback,
    PullProgress,
    default_cache_dir,
    describe_progress,
)
from extractor.errors import AcquireError, ConfigError
from extractor.model import BundleSource

if TYPE_CHECKING:
    from extractor.acquire.archive import LocalImage
    from extractor.acquire.blobs import BlobCache
    from extractor.acquire.http_puller import HttpPuller
    from extractor.acquire.puller import Puller, PullResult
    from extractor.acquire.reference import Reference

__all__ = [
    "PULLERS",
    "AcquireOptions",
    "BlobCache",
    "HttpPuller",
    "ProgressCallback",
    "PullProgress",
    "PullResult",
    "Puller",
    "Resolved",
    "acquire",
    "default_cache_dir",
    "describe_progress",
    "is_bundle_directory",
    "make_puller",
    "resolve",
]


_LOCAL_PREFIXES = ("docker-archive:", "oci-archive:", "oci:")


def __getattr__(name: str) -> Any:
    """``HttpPuller``, ``BlobCache``, ``Puller`` and ``PullResult`` load on first use: a bundle
    directory needs neither the HTTP client, the cache, image references nor the puller protocol
    (``bundle-extract run DIR`` imports no networking code)."""
    if name in ("Puller", "PullResult"):
        from extractor.acquire import puller

        return getattr(puller, name)
    if name == "HttpPuller":
        from extractor.acquire.http_puller import HttpPuller

        return HttpPuller
    if name == "BlobCache":
        from extractor.acquire.blobs import BlobCache

        return BlobCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


PULLERS = ("http", "docker")
"""Names accepted in ``AcquireOptions.puller``."""


def make_puller(options: AcquireOptions) -> Puller:
    """The backend ``options.puller`` names.

    Raises :class:`ConfigError` for an unknown name or when the ``docker`` package is missing.
    """
    if options.puller == "http":
        from extractor.acquire.http_puller import HttpPuller

        return HttpPuller(options)
    if options.puller == "docker":
        from extractor.acquire.docker_puller import DockerPuller

        return DockerPuller(options)
    raise ConfigError(f"unknown puller {options.puller!r} (expected one of: {', '.join(PULLERS)})")


def _work_subdir(options: AcquireOptions, ref: Reference) -> Path:
    import tempfile

    parent = options.work_dir
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", ref.repository.rsplit("/", 1)[-1])[:40] + "-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def _acquire_local(reference: str, local: LocalImage, options: AcquireOptions) -> BundleSource:
    import shutil
    import tempfile

    from extractor.acquire.archive import unpack_local_image
    from extractor.acquire.layers import LayerLimits

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


class _Borrowed:
    """A puller lent to :func:`acquire` by its caller, who closes it (``close`` does nothing)."""

    def __init__(self, puller: Puller) -> None:
        self.puller = puller

    def pull(self, ref: Reference, dest: Path, **kwargs: Any) -> PullResult:
        return self.puller.pull(ref, dest, **kwargs)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Resolved:
    """What a registry reference points to now (:func:`resolve`): ``image`` the canonical requested
    reference, ``pulled_from`` the reference after mirroring, ``digest`` the ``sha256:`` digest it
    resolved to (an index digest for multi-platform images: what :func:`acquire` reports as
    ``BundleSource.digest``)."""

    image: str
    pulled_from: str
    digest: str


@contextlib.contextmanager
def _naming(requested: Reference, pulled: Reference) -> Iterator[None]:
    """Errors name the requested reference and the mirror it came from, as :func:`acquire`'s do."""
    try:
        yield
    except AcquireError as exc:
        message = str(exc)
        if pulled != requested and not message.startswith(str(requested)):
            raise type(exc)(f"{requested} (mirror {pulled.registry}): {message}") from None
        raise


def resolve(reference: str, options: AcquireOptions, *, puller: Puller | None = None) -> Resolved | None:
    """The digest the registry image ``reference`` points to now, without pulling its layers.

    With the ``http`` puller: a digest reference needs no request; a tag costs one manifest request
    (the manifest is cached, so pulling it afterwards by digest does not fetch it again), none
    ``offline`` (the cached tag record, else :class:`NotCachedError`). ``puller``: an
    :class:`~extractor.acquire.http_puller.HttpPuller` to use (the caller closes it), else one is
    made and closed. Returns ``None`` when only :func:`acquire` can tell: a local directory or
    archive, or another puller (``docker``). Raises :class:`ConfigError` for a malformed reference,
    the :class:`AcquireError` family (naming the reference and its mirror) otherwise.
    """
    if options.puller != "http" or reference.startswith(_LOCAL_PREFIXES) or Path(reference).exists():
        return None
    if reference.startswith(("/", "./", "../", "~")):
        return None  # acquire names the missing directory
    from extractor.acquire.http_puller import HttpPuller
    from extractor.acquire.reference import Reference, apply_mirrors

    requested = Reference.parse(reference)
    pulled = apply_mirrors(requested, options.mirrors)
    if pulled.digest:
        return Resolved(image=str(requested), pulled_from=str(pulled), digest=pulled.digest)
    own = puller is None
    http = HttpPuller(options) if puller is None else puller
    if not isinstance(http, HttpPuller):
        return None
    try:
        with _naming(requested, pulled):
            digest = http.resolve(pulled)
    finally:
        if own:
            with contextlib.suppress(Exception):
                http.close()
    return Resolved(image=str(requested), pulled_from=str(pulled), digest=digest)


def is_bundle_directory(reference: str) -> bool:
    """Whether :func:`acquire` returns ``reference`` as it is: an existing directory without an
    archive prefix that is not an OCI image layout (no ``oci-layout`` file). Such a bundle needs no
    work directory, no puller and no network."""
    plain = Path(reference)
    return not reference.startswith(_LOCAL_PREFIXES) and plain.is_dir() and not (plain / "oci-layout").is_file()


def acquire(reference: str, options: AcquireOptions, *, puller: Puller | None = None) -> BundleSource:
    """Obtain the bundle ``reference`` names.

    An existing directory is returned as is (``BundleSource(reference, Path(reference))``).
    A local image (``docker-archive:``, ``oci-archive:``, ``oci:`` or a path to one, see
    :mod:`extractor.acquire.archive`) is unpacked into a fresh subdirectory of ``options.work_dir``
    (``image``/``pulled_from`` ``None``, ``digest`` its manifest digest when it has one).
    Otherwise ``reference`` is parsed as an image reference, rewritten by ``options.mirrors``,
    pulled and unpacked into a fresh subdirectory of ``options.work_dir``; the result has
    ``image`` = the canonical requested reference, ``pulled_from`` = the reference after mirroring
    and ``digest`` = the ``sha256:`` digest the reference resolved to (an index digest for
    multi-platform images). Raises :class:`ConfigError` for a malformed reference or a missing
    directory given as a path (``/``, ``./``, ``../``, ``~`` prefix), the
    :class:`AcquireError` family (registry, auth, digest, unsafe layer) otherwise; on error the
    subdirectory is removed. ``puller``: a puller to pull with (the caller closes it; one for many
    acquires reuses its connections), else one is made by :func:`make_puller` and closed.
    """
    if is_bundle_directory(reference):
        return BundleSource(reference=reference, directory=Path(reference))
    from extractor.acquire.archive import parse_local_image

    local = parse_local_image(reference)
    if local is not None:
        return _acquire_local(reference, local, options)
    if Path(reference).is_dir():
        return BundleSource(reference=reference, directory=Path(reference))
    if reference.startswith(("/", "./", "../", "~")):
        raise ConfigError(f"{reference}: no such bundle directory")
    from extractor.acquire.puller import pulling
    from extractor.acquire.reference import Reference, apply_mirrors

    requested = Reference.parse(reference)
    pulled = apply_mirrors(requested, options.mirrors)
    chosen: Puller = make_puller(options) if puller is None else _Borrowed(puller)
    dest = _work_subdir(options, requested)
    with pulling(chosen, requested, pulled, dest):
        result = chosen.pull(pulled, dest, image=str(requested))
    return BundleSource(
        reference=reference, directory=dest, image=str(requested), pulled_from=str(pulled),
        digest=result.digest,
    )
