"""File-based catalogs (FBC): package, channel and version -> bundle image, as OLM resolves them.

In: a catalog reference (a catalog image, pulled by :mod:`extractor.acquire.catalog`, or a
directory of FBC files) and ``PACKAGE[:VERSION]`` with an optional channel. Out: a
:class:`Resolution` naming the bundle image (and the channel head, the catalog digest).
Errors: :class:`extractor.errors.ConfigError` for what the catalog does not have (one line listing
what it has), :class:`extractor.errors.CatalogError` for malformed catalogs.

- :mod:`~extractor.catalog.walk`: the files and documents of a catalog, streamed;
- :mod:`~extractor.catalog.fbc`: one package's ``olm.package``/``olm.channel``/``olm.bundle``
  (operator-registry ``declcfg``), read with bounded memory, and its checks;
- :mod:`~extractor.catalog.semver`: versions and ``skipRange`` (blang/semver);
- :mod:`~extractor.catalog.graph`: a channel's head, consistency and upgrade paths;
- :mod:`~extractor.catalog.resolve`: resolution and the :class:`CatalogResolver` that pulls each
  catalog once.
"""

from __future__ import annotations

from extractor.catalog.fbc import FbcBundle, FbcChannel, FbcEntry, PackageIndex, load_package
from extractor.catalog.graph import Step, channel_head, check_channel, successors, upgrade_path
from extractor.catalog.resolve import (
    CatalogResolver,
    Resolution,
    find_version,
    parse_package_ref,
    resolve_in,
    resolve_package_ref,
)

__all__ = [
    "CatalogResolver",
    "FbcBundle",
    "FbcChannel",
    "FbcEntry",
    "PackageIndex",
    "Resolution",
    "Step",
    "channel_head",
    "check_channel",
    "find_version",
    "load_package",
    "parse_package_ref",
    "resolve_in",
    "resolve_package_ref",
    "successors",
    "upgrade_path",
]
