"""The versions (tags) of a bundle repository, for ``bundle-extract list-versions`` and ``outdated``.

Ordering (:func:`sort_tags`), oldest first like ``sort -V``: tags that read as versions
(``[v]N[.N...][-SUFFIX][+BUILD]``) come first, by their numbers, then by their suffix, then as
text; every other tag (``latest``, ``sha256-….sig``) follows in text order. The suffix after ``-``:

- purely numeric (``v1.15.2-4``, ``1.0-1735829384``, every dot-separated part digits): a Red Hat
  build/release number, a rebuild of the plain version, so it sorts AFTER it
  (``v1.15.2`` < ``v1.15.2-4`` < ``v1.15.2-10`` < ``v1.15.3``);
- containing a letter (``-rc.1``, ``-alpha``, ``-rebuild``): a SemVer pre-release, sorting BEFORE
  the plain version with SemVer precedence (numeric identifiers compare as numbers and sort
  before alphanumeric ones: ``1.0.0-rc.2`` < ``1.0.0-rc.10`` < ``1.0.0``).

Floating tags (:func:`is_floating`) move from build to build: a tag that is not a version, or a
version with fewer than three numeric components, counting a Red Hat release number as one
(``latest``, ``v1.15``, ``v2``, ``1.0`` float; ``v1.15.2``, ``1.0-1735829384`` do not).
``outdated`` never proposes them; ``list-versions`` lists them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from extractor.errors import ExtractorError, NotCachedError

if TYPE_CHECKING:  # the registry side is imported when used: `diff` needs only the version order
    from extractor.acquire import AcquireOptions
    from extractor.acquire.client import RegistryClient

__all__ = [
    "Version",
    "is_floating",
    "list_versions",
    "parse_version",
    "registry_tags",
    "sort_tags",
    "tag_sort_key",
]

_VERSION = re.compile(r"[vV]?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?")

_Key = tuple[int, tuple[int, ...], tuple[object, ...], str]


@dataclass(frozen=True)
class Version:
    """A tag read as a version. ``numbers``: ``(1, 15, 2)`` for ``v1.15.2``; ``release``: the
    numeric Red Hat suffix (``(4,)`` for ``-4``) or ``None``; ``prerelease``: a suffix with letters
    (``"rc.1"``) or ``None``; ``build``: the ``+BUILD`` part or ``None``."""

    tag: str
    numbers: tuple[int, ...]
    release: tuple[int, ...] | None = None
    prerelease: str | None = None
    build: str | None = None

    @property
    def is_prerelease(self) -> bool:
        """True for a SemVer pre-release (a suffix containing letters)."""
        return self.prerelease is not None

    @property
    def is_floating(self) -> bool:
        """True when the tag names a line rather than one build (see the module docstring)."""
        return len(self.numbers) + (1 if self.release is not None else 0) < 3

    def precedence(self) -> tuple[tuple[int, ...], tuple[object, ...]]:
        """The comparison key without the text tie-break: ``v1.15.2`` and ``1.15.2`` are equal."""
        if self.prerelease is not None:
            identifiers = tuple(
                (0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease.split(".")
            )
            return (self.numbers, (0, identifiers))
        if self.release is not None:
            return (self.numbers, (2, self.release))
        return (self.numbers, (1,))


def parse_version(tag: str) -> Version | None:
    """``tag`` as a :class:`Version`, or ``None`` when it does not read as one (``latest``)."""
    match = _VERSION.fullmatch(tag)
    if match is None:
        return None
    numbers = tuple(int(part) for part in match.group(1).split("."))
    suffix = match.group(2)
    release: tuple[int, ...] | None = None
    prerelease: str | None = None
    if suffix is not None:
        parts = suffix.split(".")
        if all(part.isdigit() for part in parts):
            release = tuple(int(part) for part in parts)
        else:
            prerelease = suffix
    return Version(tag=tag, numbers=numbers, release=release, prerelease=prerelease, build=match.group(3))


def is_floating(tag: str) -> bool:
    """True for a tag that is not a version or names a version line (``latest``, ``v1.15``)."""
    version = parse_version(tag)
    return version is None or version.is_floating


def tag_sort_key(tag: str) -> _Key:
    """The sort key of :func:`sort_tags` for one tag."""
    version = parse_version(tag)
    if version is None:
        return (1, (), (), tag)
    numbers, suffix = version.precedence()
    return (0, numbers, suffix, tag)


def sort_tags(tags: list[str]) -> list[str]:
    """``tags`` without duplicates, in the order described in the module docstring."""
    return sorted(set(tags), key=tag_sort_key)


def registry_tags(client: RegistryClient, repository: str, options: AcquireOptions) -> list[str]:
    """The tags of ``repository`` (its tag/digest ignored), unsorted: from the registry through
    ``client`` after ``options.mirrors``, or with ``options.offline`` from the cache's tag records.

    Raises :class:`NotCachedError` (offline, no tags cached) and the :class:`RegistryError` family,
    whose message names the requested repository (and the mirror when one was used).
    """
    from extractor.acquire import BlobCache, default_cache_dir
    from extractor.acquire.reference import Reference, apply_mirrors

    requested = Reference.parse(repository)
    ref = apply_mirrors(requested, options.mirrors)
    if options.offline:
        cache = BlobCache(options.cache_dir or default_cache_dir())
        directory = cache.tag_path(ref.with_tag("x")).parent
        tags: list[str] = []
        if directory.is_dir():
            tags = [p.name for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")]
        if not tags:
            raise NotCachedError(f"{requested.name}: no tags of this repository are in the cache {cache.root}")
        return tags
    try:
        return client.list_tags(ref)
    except ExtractorError as exc:
        if ref != requested and not str(exc).startswith(requested.name):
            raise type(exc)(f"{requested.name} (mirror {ref.registry}): {exc}") from None
        raise


def list_versions(repository: str, options: AcquireOptions) -> list[str]:
    """The sorted tags of ``repository`` (an image reference; its tag/digest are ignored).

    ``options.mirrors`` rewrite the repository first; credentials, TLS, retries come from
    ``options``. With ``options.offline`` the tags recorded in the cache are listed instead
    (:class:`NotCachedError` when there are none). Raises the :class:`RegistryError` family
    (:class:`NotFoundError` for an unknown repository).
    """
    with options.client() as client:
        return sort_tags(registry_tags(client, repository, options))
