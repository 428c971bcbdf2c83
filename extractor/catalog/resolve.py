"""Package (and channel, and version) -> bundle image, through a file-based catalog.

``PACKAGE`` resolves to the head of the package's default channel (``--channel`` another
channel), ``PACKAGE:VERSION`` to the bundle of that version in the channel — a version as in the
bundle's ``olm.package`` property (``1.16.2``), or the bundle's name (``cert-manager-operator.v1.16.2``,
which is what olm-extractor matches). The channel is checked first (:func:`check_channel`), so a
broken upgrade graph is an error even when a version is asked for.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from extractor.acquire.catalog import CatalogSource, acquire_catalog
from extractor.acquire.options import AcquireOptions
from extractor.catalog.fbc import FbcBundle, FbcChannel, PackageIndex, load_package
from extractor.catalog.graph import check_channel
from extractor.catalog.semver import parse_semver
from extractor.errors import CatalogError, ConfigError

__all__ = ["CatalogResolver", "Resolution", "find_version", "parse_package_ref", "resolve_in", "resolve_package_ref"]


@dataclass(frozen=True)
class Resolution:
    """Where a package resolved to. ``catalog``: the catalog reference as given, ``catalog_image``
    and ``catalog_digest`` what it was pulled as (``None`` for a local catalog); ``bundle``,
    ``version`` and ``image``: the chosen bundle; ``head``/``head_version``: the channel's head."""

    catalog: str
    package: str
    channel: str
    bundle: str
    version: str
    image: str
    head: str
    head_version: str
    catalog_image: str | None = None
    catalog_digest: str | None = None


def parse_package_ref(text: str) -> tuple[str, str | None]:
    """``PACKAGE[:VERSION]`` -> ``(package, version or None)``. Raises :class:`ConfigError` for an
    empty package or version."""
    package, sep, version = text.partition(":")
    if not package or (sep and not version):
        raise ConfigError(f"{text!r}: expected PACKAGE or PACKAGE:VERSION")
    return package, version or None


def find_version(index: PackageIndex, channel: FbcChannel, version: str) -> FbcBundle:
    """The bundle of ``channel`` whose version (or name) is ``version``. Raises :class:`ConfigError`
    listing the channel's versions."""
    members = [index.bundles[e.name] for e in channel.entries]
    for bundle in members:
        if version in (bundle.version, bundle.name):
            return bundle
    wanted = parse_semver(version.removeprefix("v"))
    same = [b for b in members if wanted is not None and b.semver == wanted]
    if len(same) == 1:
        return same[0]
    versions = ", ".join(b.version for b in sorted(members, key=lambda b: b.semver))
    raise ConfigError(f"{index.catalog}: version {version!r} of package {index.name!r} is not in channel "
                      f"{channel.name!r} (versions: {versions})")


def resolve_in(index: PackageIndex, *, channel: str | None = None, version: str | None = None,
               source: CatalogSource | None = None) -> Resolution:
    """Resolve in a loaded package (see the module docstring). Raises :class:`ConfigError` for an
    unknown channel or version, :class:`CatalogError` for a broken channel or a bundle without an
    image."""
    chosen = index.channel(channel)
    head = index.bundles[check_channel(chosen, index.bundles).name]
    bundle = head if version is None else find_version(index, chosen, version)
    if not bundle.image:
        raise CatalogError(f"{bundle.where}: bundle {bundle.name!r} has no image")
    return Resolution(
        catalog=index.catalog if source is None else source.reference, package=index.name, channel=chosen.name,
        bundle=bundle.name, version=bundle.version, image=bundle.image, head=head.name, head_version=head.version,
        catalog_image=None if source is None else source.image,
        catalog_digest=None if source is None else source.digest,
    )


class CatalogResolver:
    """Resolves packages through catalogs, pulling each catalog once and reading each package once.

    ``options``: how catalogs are pulled (:func:`extractor.acquire.catalog.acquire_catalog`); the
    unpacked catalogs live under ``options.work_dir`` until :meth:`close`.
    """

    def __init__(self, options: AcquireOptions) -> None:
        self.options = options
        self._sources: dict[str, CatalogSource] = {}
        self._indexes: dict[tuple[str, str], PackageIndex] = {}

    def source(self, catalog: str) -> CatalogSource:
        """The catalog ``catalog`` names, pulled on first use."""
        if catalog not in self._sources:
            self._sources[catalog] = acquire_catalog(catalog, self.options)
        return self._sources[catalog]

    def index(self, catalog: str, package: str) -> PackageIndex:
        """Package ``package`` of ``catalog`` (see :func:`extractor.catalog.fbc.load_package`)."""
        key = (catalog, package)
        if key not in self._indexes:
            source = self.source(catalog)
            self._indexes[key] = load_package(source.root, package, catalog=catalog)
        return self._indexes[key]

    def resolve(self, catalog: str, package: str, *, channel: str | None = None,
                version: str | None = None) -> Resolution:
        """Resolve ``package`` (``channel``, ``version``) in ``catalog``; see :func:`resolve_in`."""
        return resolve_in(self.index(catalog, package), channel=channel, version=version,
                          source=self.source(catalog))

    def close(self) -> None:
        """Remove the catalogs this resolver unpacked (local catalogs are left alone)."""
        for source in self._sources.values():
            if source.unpacked is not None:
                shutil.rmtree(source.unpacked, ignore_errors=True)
        self._sources.clear()
        self._indexes.clear()

    def __enter__(self) -> CatalogResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resolve_package_ref(catalog: str, package_ref: str, options: AcquireOptions, *,
                        channel: str | None = None) -> Resolution:
    """Resolve ``PACKAGE[:VERSION]`` (``package_ref``) in ``catalog`` (an image or an FBC
    directory): what ``run --catalog`` and the KRM function's catalog mode do. The catalog is
    removed from ``options.work_dir`` afterwards. Raises like :meth:`CatalogResolver.resolve`."""
    package, version = parse_package_ref(package_ref)
    with CatalogResolver(options) as resolver:
        return resolver.resolve(catalog, package, channel=channel, version=version)
