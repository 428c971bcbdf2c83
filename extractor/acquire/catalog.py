"""Acquire a file-based catalog (FBC): a catalog image's configs directory, or a local directory.

A catalog image is pulled like a bundle image (the same verified, cached
:class:`~extractor.acquire.http_puller.HttpPuller`, or the Docker daemon with ``--puller docker``;
mirrors and credentials), but only the
directory its ``operators.operatorframework.io.index.configs.v1`` label names is unpacked (what
``opm generate dockerfile`` writes is ``/configs``). Like OLM v1's catalogd (operator-controller
``internal/shared/util/image/cache.go``: "catalog image is missing the required label"), an image
without the label is refused: it is not a file-based catalog. ``--max-unpacked-bytes`` and
``--max-unpacked-files`` apply to the configs directory; the rest of the image (a base image,
opm's cache), streamed through and never written, has caps of its own
(:data:`OUTSIDE_CONFIGS_BYTES`, :data:`OUTSIDE_CONFIGS_FILES`). A directory (``opm render`` output,
or a checkout of a catalog repository) or a single FBC file is used as it is.

Parsing and resolution are :mod:`extractor.catalog`'s business; this module only brings the files.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from extractor.acquire.layers import keep_parts
from extractor.acquire.options import AcquireOptions
from extractor.acquire.puller import pulling
from extractor.acquire.reference import Reference, apply_mirrors
from extractor.errors import CatalogError, ConfigError

__all__ = ["CONFIGS_LABEL", "OUTSIDE_CONFIGS_BYTES", "OUTSIDE_CONFIGS_FILES", "CatalogSource", "acquire_catalog",
           "configs_dir"]

CONFIGS_LABEL = "operators.operatorframework.io.index.configs.v1"
"""The image label naming the FBC directory inside a catalog image (operator-registry)."""

OUTSIDE_CONFIGS_BYTES = 8 * 1024**3
"""Cap on the uncompressed bytes of a catalog image outside its configs directory (its base image,
opm's cache), streamed through and never written; the configs directory itself counts against
``--max-unpacked-bytes``."""
OUTSIDE_CONFIGS_FILES = 500_000
"""Cap on a catalog image's entries outside its configs directory (``--max-unpacked-files`` counts
the configs directory's)."""

_LOCAL_PREFIXES = ("docker-archive:", "oci-archive:", "oci:")


@dataclass(frozen=True)
class CatalogSource:
    """Where a catalog came from and where its FBC files are.

    ``reference``: what the user gave. ``root``: the FBC root (a directory, or one file).
    ``image``: the canonical image reference as requested (``None`` for a local catalog);
    ``pulled_from``: the reference fetched after mirroring; ``digest``: what the reference
    resolved to (an index digest for multi-platform images); ``configs``: the label's value;
    ``unpacked``: the directory the image was unpacked into (the caller removes it).
    """

    reference: str
    root: Path
    image: str | None = None
    pulled_from: str | None = None
    digest: str | None = None
    configs: str | None = None
    unpacked: Path | None = None


def configs_dir(image: str, labels: Mapping[str, str]) -> str:
    """The FBC directory a catalog image's ``labels`` name. Raises :class:`CatalogError` when the
    :data:`CONFIGS_LABEL` label is missing or names no directory inside the image."""
    value = labels.get(CONFIGS_LABEL)
    if value is None:
        raise CatalogError(
            f"{image}: not a file-based catalog image: it has no label {CONFIGS_LABEL} (OLM v1 requires it; "
            "'opm generate dockerfile' sets it to /configs)"
        )
    try:
        keep_parts([value])
    except ValueError:
        raise CatalogError(f"{image}: label {CONFIGS_LABEL}={value!r} names no directory inside the image") from None
    return value


def _local(reference: str) -> CatalogSource | None:
    """A local catalog directory or file, ``None`` for an image reference."""
    if reference.startswith(_LOCAL_PREFIXES):
        raise ConfigError(f"{reference}: catalogs are read from a registry image or a directory of FBC files "
                          "(opm render output), not from an image archive")
    path = Path(reference).expanduser()
    if path.is_dir() or path.is_file():
        return CatalogSource(reference=reference, root=path)
    if reference.startswith(("/", "./", "../", "~")):
        raise ConfigError(f"{reference}: no such catalog directory or file")
    return None


def acquire_catalog(reference: str, options: AcquireOptions) -> CatalogSource:
    """Obtain the catalog ``reference`` names: a local directory or FBC file as is, else the
    configs directory of the catalog image, pulled (mirrors, credentials, cache, ``--offline`` as
    for bundles) and unpacked into a fresh subdirectory of ``options.work_dir`` (the caller
    removes it). ``options.puller`` chooses the backend as for bundles (:func:`extractor.acquire.make_puller`).

    Raises :class:`ConfigError` (a malformed reference, a missing path, an archive, an unknown
    puller), :class:`CatalogError` (no configs label, a label naming nothing in the image) and
    the :class:`AcquireError` family; nothing is left behind on error.
    """
    local = _local(reference)
    if local is not None:
        return local
    requested = Reference.parse(reference)
    pulled = apply_mirrors(requested, options.mirrors)
    from extractor.acquire import make_puller

    parent = options.work_dir
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    prefix = "catalog-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", requested.repository.rsplit("/", 1)[-1])[:40] + "-"
    dest = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    chosen: list[str] = []

    def keep(labels: Mapping[str, str]) -> Sequence[str]:
        chosen.append(configs_dir(str(requested), labels))
        return chosen[-1:]

    puller = make_puller(options)
    with pulling(puller, requested, pulled, dest):
        result = puller.pull(pulled, dest, image=str(requested), keep=keep,
                             skipped=(OUTSIDE_CONFIGS_BYTES, OUTSIDE_CONFIGS_FILES))
        root = dest.joinpath(*keep_parts(chosen)[0])
        if not (root.is_dir() or root.is_file()):
            raise CatalogError(f"{requested}: label {CONFIGS_LABEL}={chosen[0]!r}, but the image has no {chosen[0]}")
    return CatalogSource(reference=reference, root=root, image=str(requested), pulled_from=str(pulled),
                         digest=result.digest, configs=chosen[0], unpacked=dest)
