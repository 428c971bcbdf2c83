"""The file-based catalog model, read for one package with bounded memory (operator-registry
``alpha/declcfg``: ``declcfg.go``, ``load.go``, ``declcfg_to_model.go``).

The catalog is streamed document by document (:mod:`extractor.catalog.walk`). Of every document
only ``schema``, ``package`` and ``name`` are looked at (case-insensitively, like ``declcfg.Meta``),
except for the requested package's ``olm.package``, ``olm.channel`` and ``olm.bundle`` documents, of
which only what resolution needs is kept: a bundle's name, image and version, never its
properties. So a catalog of hundreds of packages costs the memory of one document plus one
package's channels and a set of package names.

Checked as ``declcfg.ConvertToModel`` and ``model.Validate`` check them: across the catalog,
documents without a ``schema``, duplicate packages, channels and bundles naming no package or an
unknown one; for the requested package, duplicate channels, channel entries and bundles, channel
entries naming no ``olm.bundle`` and bundles in no channel, exactly one ``olm.package`` property
per bundle with a SemVer version, unique versions, valid ``skipRange``\\ s, a default channel
that exists. The upgrade graph of each channel is checked by :mod:`extractor.catalog.graph`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractor import yamlio
from extractor.catalog.semver import SemVer, parse_range, parse_semver
from extractor.catalog.walk import Document, iter_documents
from extractor.errors import CatalogError, ConfigError

__all__ = [
    "SCHEMA_BUNDLE",
    "SCHEMA_CHANNEL",
    "SCHEMA_PACKAGE",
    "FbcBundle",
    "FbcChannel",
    "FbcEntry",
    "PackageIndex",
    "describe_names",
    "load_package",
]

SCHEMA_PACKAGE = "olm.package"
SCHEMA_CHANNEL = "olm.channel"
SCHEMA_BUNDLE = "olm.bundle"
_PACKAGE_PROPERTY = "olm.package"


@dataclass(frozen=True)
class FbcEntry:
    """One entry of a channel: a bundle name and its upgrade edges."""

    name: str
    replaces: str | None = None
    skips: tuple[str, ...] = ()
    skip_range: str | None = None


@dataclass(frozen=True)
class FbcChannel:
    """An ``olm.channel`` of the package: its entries in file order; ``where`` names the document."""

    name: str
    entries: tuple[FbcEntry, ...]
    where: str = ""


@dataclass(frozen=True)
class FbcBundle:
    """The parts of an ``olm.bundle`` resolution needs: ``version`` from its ``olm.package``
    property (``semver`` parsed), ``image`` the bundle image (may be empty)."""

    name: str
    image: str
    version: str
    semver: SemVer
    where: str = ""


@dataclass(frozen=True)
class PackageIndex:
    """One package of a catalog. ``catalog``: the catalog's name for messages; ``packages``: every
    package name of the catalog, sorted."""

    catalog: str
    name: str
    default_channel: str
    channels: dict[str, FbcChannel]
    bundles: dict[str, FbcBundle]
    packages: tuple[str, ...] = field(default=())

    def channel(self, name: str | None) -> FbcChannel:
        """Channel ``name`` (the default channel for ``None``). Raises :class:`ConfigError` naming
        the channels that exist."""
        chosen = name or self.default_channel
        if chosen in self.channels:
            return self.channels[chosen]
        known = ", ".join(sorted(self.channels))
        raise ConfigError(f"{self.catalog}: package {self.name!r} has no channel {chosen!r} "
                          f"(channels: {known}; default: {self.default_channel})")


def describe_names(names: Iterable[str], wanted: str, limit: int = 40) -> str:
    """``a, b, c`` — or, past ``limit`` names, the close matches first and ``(+N more)``."""
    import difflib

    ordered = sorted(names)
    if len(ordered) <= limit:
        return ", ".join(ordered) or "none"
    close = difflib.get_close_matches(wanted, ordered, n=5, cutoff=0.6)
    rest = [n for n in ordered if n not in close][: limit - len(close)]
    shown = close + rest
    return ", ".join(shown) + f" (+{len(ordered) - len(shown)} more)"


def _folded(doc: Mapping[str, Any], where: str) -> dict[str, str]:
    """``{folded key: key}``; duplicate keys that differ only by case are refused (``declcfg.Meta``)."""
    keys: dict[str, str] = {}
    for key in doc:
        text = str(key)
        fold = text.casefold()
        if fold in keys:
            raise CatalogError(f"{where}: duplicate keys {keys[fold]!r} and {text!r}")
        keys[fold] = text
    return keys


def _get(doc: Mapping[str, Any], name: str, where: str, kind: type, *, required: bool = False) -> Any:
    """Field ``name`` of ``doc`` looked up case-insensitively (Go's encoding/json), of type ``kind``."""
    key = next((k for k in doc if str(k).casefold() == name.casefold()), None)
    value = None if key is None else doc[key]
    if value is None:
        if required:
            raise CatalogError(f"{where}: {name!r} is missing")
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise CatalogError(f"{where}: {name!r} must be {'a string' if kind is str else f'a {kind.__name__}'}")
    return value


def _check_limits(doc: Any, where: str) -> None:
    """The limits of :func:`extractor.yamlio.load_json` on a kept document (JSON documents are
    decoded with ``raw_decode`` to stream them; YAML ones were checked when loaded)."""
    try:
        yamlio.check_limits(doc)
    except yamlio.LimitError as exc:
        raise CatalogError(f"{where}: {exc}") from None


def _entry(raw: Any, where: str) -> FbcEntry:
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: expected an object")
    name = _get(raw, "name", where, str) or ""
    if not name:
        raise CatalogError(f"{where}: entry without a name")
    skips = _get(raw, "skips", where, list) or []
    if not all(isinstance(s, str) and s for s in skips):
        raise CatalogError(f"{where}: entry {name!r}: skips must be non-empty strings")
    skip_range = _get(raw, "skipRange", where, str) or None
    if skip_range is not None and parse_range(skip_range) is None:
        raise CatalogError(f"{where}: entry {name!r}: invalid skipRange {skip_range!r}")
    return FbcEntry(name=name, replaces=_get(raw, "replaces", where, str) or None, skips=tuple(skips),
                    skip_range=skip_range)


def _bundle(doc: Mapping[str, Any], name: str, package: str, where: str) -> FbcBundle:
    properties = _get(doc, "properties", where, list) or []
    versions: list[str] = []
    for index, prop in enumerate(properties):
        if not isinstance(prop, dict):
            raise CatalogError(f"{where}: bundle {name!r}: properties[{index}] is not an object")
        if _get(prop, "type", where, str) != _PACKAGE_PROPERTY:
            continue
        value = _get(prop, "value", f"{where}: bundle {name!r}: properties[{index}]", dict) or {}
        owner = _get(value, "packageName", where, str)
        if owner != package:
            raise CatalogError(f"{where}: bundle {name!r}: package {package!r} does not match its "
                               f"{_PACKAGE_PROPERTY} property {owner!r}")
        versions.append(_get(value, "version", where, str) or "")
    if len(versions) != 1:
        raise CatalogError(f"{where}: bundle {name!r} must have exactly 1 {_PACKAGE_PROPERTY!r} property, "
                           f"found {len(versions)}")
    semver = parse_semver(versions[0])
    if semver is None:
        raise CatalogError(f"{where}: bundle {name!r}: version {versions[0]!r} is not a semantic version")
    return FbcBundle(name=name, image=_get(doc, "image", where, str) or "", version=versions[0], semver=semver,
                     where=where)


@dataclass
class _Scan:
    package: str
    catalog: str
    packages: dict[str, str] = field(default_factory=dict)
    referenced: dict[str, str] = field(default_factory=dict)
    default_channel: str | None = None
    channels: dict[str, FbcChannel] = field(default_factory=dict)
    bundles: dict[str, FbcBundle] = field(default_factory=dict)

    def add(self, document: Document) -> None:
        doc, where = document.data, f"{self.catalog}: {document.where}"
        if not isinstance(doc, dict):
            raise CatalogError(f"{where}: not an object")
        keys = _folded(doc, where)
        schema = doc.get(keys.get("schema", ""))
        if not isinstance(schema, str) or not schema:
            raise CatalogError(f"{where}: the object has no root 'schema' field")
        if schema not in (SCHEMA_PACKAGE, SCHEMA_CHANNEL, SCHEMA_BUNDLE):
            return  # olm.deprecations and other schemas: not needed to resolve
        name = doc.get(keys.get("name", ""))
        if not isinstance(name, str):
            raise CatalogError(f"{where}: {schema} without a name")
        if schema == SCHEMA_PACKAGE:
            if not name:
                raise CatalogError(f"{where}: {schema} without a name")
            if name in self.packages:
                raise CatalogError(f"{where}: duplicate package {name!r} (also in {self.packages[name]})")
            self.packages[name] = document.where
            if name == self.package:
                _check_limits(doc, where)
                self.default_channel = _get(doc, "defaultChannel", where, str) or ""
            return
        package = doc.get(keys.get("package", ""))
        if not isinstance(package, str) or not package:
            raise CatalogError(f"{where}: {schema} {name!r} names no package")
        self.referenced.setdefault(package, f"{where}: {schema} {name!r}")
        if package != self.package:
            return
        _check_limits(doc, where)
        if schema == SCHEMA_CHANNEL:
            if not name:
                raise CatalogError(f"{where}: package {package!r} has a channel without a name")
            if name in self.channels:
                raise CatalogError(f"{where}: package {package!r} has duplicate channel {name!r}")
            raw_entries = _get(doc, "entries", where, list) or []
            entries = tuple(_entry(raw, f"{where}: entries[{i}]") for i, raw in enumerate(raw_entries))
            seen: set[str] = set()
            for entry in entries:
                if entry.name in seen:
                    raise CatalogError(f"{where}: package {package!r}, channel {name!r}: "
                                       f"duplicate entry {entry.name!r}")
                seen.add(entry.name)
            self.channels[name] = FbcChannel(name=name, entries=entries, where=where)
        else:
            if name in self.bundles:
                raise CatalogError(f"{where}: package {package!r} has duplicate bundle {name!r}")
            self.bundles[name] = _bundle(doc, name, package, where)

    def finish(self) -> PackageIndex:
        for package, where in sorted(self.referenced.items()):
            if package not in self.packages:
                raise CatalogError(f"{where}: unknown package {package!r} (no {SCHEMA_PACKAGE} document)")
        if self.package not in self.packages:
            raise ConfigError(f"{self.catalog}: no package {self.package!r} "
                              f"(packages: {describe_names(self.packages, self.package)})")
        where = f"{self.catalog}: package {self.package!r}"
        in_channels = {e.name for c in self.channels.values() for e in c.entries}
        for bundle in self.bundles.values():
            if bundle.name not in in_channels:
                raise CatalogError(f"{bundle.where}: bundle {bundle.name!r} is in no channel's entries")
        for channel in self.channels.values():
            for entry in channel.entries:
                if entry.name not in self.bundles:
                    raise CatalogError(
                        f"{channel.where}: channel {channel.name!r} entry {entry.name!r} names an unknown bundle "
                        f"(no {SCHEMA_BUNDLE} {entry.name!r} in package {self.package!r})")
            if not channel.entries:
                raise CatalogError(f"{channel.where}: channel {channel.name!r} has no entries")
        by_version: dict[SemVer, str] = {}
        for bundle in self.bundles.values():
            if bundle.semver in by_version:
                raise CatalogError(f"{where}: bundles {by_version[bundle.semver]!r} and {bundle.name!r} have the same "
                                   f"version {bundle.version}")
            by_version[bundle.semver] = bundle.name
        if not self.default_channel:
            raise CatalogError(f"{where}: no defaultChannel")
        if self.default_channel not in self.channels:
            raise CatalogError(f"{where}: defaultChannel {self.default_channel!r} is not one of its channels "
                               f"({', '.join(sorted(self.channels)) or 'none'})")
        return PackageIndex(catalog=self.catalog, name=self.package, default_channel=self.default_channel,
                            channels=self.channels, bundles=self.bundles, packages=tuple(sorted(self.packages)))


def load_package(root: Path, package: str, *, catalog: str | None = None) -> PackageIndex:
    """Read ``package`` from the FBC under ``root`` (a directory or one file); ``catalog`` names the
    catalog in messages (default: ``root``).

    Raises :class:`ConfigError` when the catalog has no such package (listing those it has) and
    :class:`CatalogError` for malformed files and the checks in the module docstring; every
    message names the catalog, file, document and object.
    """
    scan = _Scan(package=package, catalog=catalog or str(root))
    try:
        for document in iter_documents(root):
            scan.add(document)
    except CatalogError as exc:
        if str(exc).startswith(f"{scan.catalog}: "):
            raise
        raise CatalogError(f"{scan.catalog}: {exc}") from None
    return scan.finish()
