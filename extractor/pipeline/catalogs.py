"""Catalog entries of bundles.yaml (``catalog:``/``package:``/``channel:``) for chart generation.

Before the entries are built, each catalog entry is resolved (:class:`extractor.catalog.CatalogResolver`:
each catalog pulled once, each package read once) and handed on as the bundle it resolved to:
``image`` the bundle repository, ``version`` its digest (or tag) as the catalog names it; the
catalog keys stay, so the inputs fingerprint still says where the bundle came from. The lock
records the resolution (:class:`extractor.review.lock.CatalogLock`). With ``pins`` (``verify``)
nothing is resolved: the locked bundle and resolution are used as they are, so a catalog that
moved on does not disturb the drift check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from extractor.acquire import AcquireOptions
from extractor.acquire.reference import Reference
from extractor.config import BundleEntry, is_local_source
from extractor.errors import ConfigError, ExtractorError
from extractor.review.lock import CatalogLock, Lock, tree_digest

__all__ = ["ResolvedEntries", "resolve_catalog_entries", "with_catalog_locks"]


@dataclass
class ResolvedEntries:
    """``entries`` with catalog entries replaced by what they resolved to, ``locks`` how (by
    entry name), ``failed`` the entries that could not be resolved (they are left out)."""

    entries: list[BundleEntry]
    locks: dict[str, CatalogLock] = field(default_factory=dict)
    failed: list[tuple[str, ExtractorError]] = field(default_factory=list)


def _local_digest(root: Path) -> str:
    from extractor.acquire.manifests import sha256_digest  # catalog entries only

    if root.is_file():
        return "tree:" + sha256_digest(root.read_bytes())
    return "tree:" + tree_digest(root)


def _as_bundle(entry: BundleEntry, image: str) -> BundleEntry:
    """``entry`` pointing at the bundle ``image`` the catalog names (a registry image, or a local
    bundle for catalogs that list directories)."""
    if is_local_source(image):
        return dataclasses.replace(entry, image=image, version="")
    ref = Reference.parse(image)
    return dataclasses.replace(entry, image=ref.name, version=ref.digest or ref.tag or "latest")


def resolve_catalog_entries(
    entries: Sequence[BundleEntry], options: AcquireOptions, lock: Lock, pins: Mapping[str, str] | None = None,
) -> ResolvedEntries:
    """Resolve the catalog entries among ``entries`` (see the module docstring); other entries pass
    through. ``pins``: resolve nothing, take the locked bundle of each pinned entry (``verify``).
    Failures (unknown package, channel or version, a malformed catalog, a registry error; a pinned
    entry without a locked resolution) are collected per entry, never raised."""
    result = ResolvedEntries(entries=[])
    catalog_entries = [e for e in entries if e.is_catalog]
    if not catalog_entries:
        result.entries = list(entries)
        return result
    from extractor.catalog import CatalogResolver

    with CatalogResolver(options) as resolver:
        for entry in entries:
            if not entry.is_catalog:
                result.entries.append(entry)
                continue
            try:
                if pins is not None and entry.name in pins:
                    locked = lock.entries.get(entry.name)
                    if locked is None or locked.catalog is None:
                        raise ConfigError(f"bundle {entry.name!r}: bundles.lock.yaml holds no catalog resolution "
                                          "for it; run 'make update-bundle'")
                    version = locked.version
                    image = locked.image if not version else \
                        f"{locked.image}@{version}" if version.startswith("sha256:") else f"{locked.image}:{version}"
                    result.entries.append(_as_bundle(entry, image))
                    result.locks[entry.name] = locked.catalog
                    continue
                resolution = resolver.resolve(entry.catalog_reference, str(entry.package), channel=entry.channel,
                                              version=entry.version or None)
                try:
                    resolved = _as_bundle(entry, resolution.image)
                except ConfigError as exc:
                    raise ConfigError(f"{resolution.catalog}: bundle {resolution.bundle!r}: {exc}") from None
                source = resolver.source(entry.catalog_reference)
                result.entries.append(resolved)
                result.locks[entry.name] = CatalogLock(
                    image=str(entry.catalog), digest=source.digest or _local_digest(source.root),
                    package=resolution.package, channel=resolution.channel, bundle=resolution.bundle,
                    version=resolution.version,
                )
            except ExtractorError as exc:
                result.failed.append((entry.name, exc))
    return result


def with_catalog_locks(lock: Lock, before: Lock, locks: Mapping[str, CatalogLock]) -> Lock:
    """``lock`` with the resolution of each catalog entry whose lock entry was written anew (an
    entry kept as it was, ``before``'s, keeps its recorded resolution)."""
    for name, catalog in locks.items():
        entry = lock.entries.get(name)
        if entry is not None and entry is not before.entries.get(name):
            lock = lock.replace(dataclasses.replace(entry, catalog=catalog))
    return lock
