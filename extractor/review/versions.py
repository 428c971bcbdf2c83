"""The versions (tags) of a bundle repository, for ``bundle-extract list-versions``.

Ordering (:func:`sort_tags`), oldest first like ``sort -V``: tags that read as versions
(``[v]N[.N...][-PRERELEASE][+BUILD]``) come first, by their numbers, then SemVer pre-release
precedence (``1.0.0-rc.1`` < ``1.0.0``; numeric identifiers compare as numbers and sort before
alphanumeric ones), then as text; every other tag (``latest``, ``sha256-….sig``) follows in text
order.
"""

from __future__ import annotations

import re

from extractor.acquire import AcquireOptions, BlobCache, default_cache_dir
from extractor.acquire.reference import Reference, apply_mirrors
from extractor.errors import ExtractorError, NotCachedError

__all__ = ["list_versions", "sort_tags", "tag_sort_key"]

_VERSION = re.compile(r"[vV]?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?")

_Key = tuple[int, tuple[int, ...], tuple[object, ...], str]


def tag_sort_key(tag: str) -> _Key:
    """The sort key of :func:`sort_tags` for one tag."""
    match = _VERSION.fullmatch(tag)
    if match is None:
        return (1, (), (), tag)
    numbers = tuple(int(part) for part in match.group(1).split("."))
    prerelease = match.group(2)
    if prerelease is None:
        pre_key: tuple[object, ...] = (1,)
    else:
        pre_key = (
            0,
            tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in prerelease.split(".")),
        )
    return (0, numbers, pre_key, tag)


def sort_tags(tags: list[str]) -> list[str]:
    """``tags`` without duplicates, in the order described in the module docstring."""
    return sorted(set(tags), key=tag_sort_key)


def list_versions(repository: str, options: AcquireOptions) -> list[str]:
    """The sorted tags of ``repository`` (an image reference; its tag/digest are ignored).

    ``options.mirrors`` rewrite the repository first; credentials, TLS, retries come from
    ``options``. With ``options.offline`` the tags recorded in the cache are listed instead
    (:class:`NotCachedError` when there are none). Raises the :class:`RegistryError` family
    (:class:`NotFoundError` for an unknown repository).
    """
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
        return sort_tags(tags)
    with options.client() as client:
        try:
            tags = client.list_tags(ref)
        except ExtractorError as exc:
            if ref != requested and not str(exc).startswith(requested.name):
                raise type(exc)(f"{requested.name} (mirror {ref.registry}): {exc}") from None
            raise
    return sort_tags(tags)
