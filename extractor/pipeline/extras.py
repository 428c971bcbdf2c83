"""bundles.yaml ``extraManifests:`` and ``patches:`` in chart generation.

:func:`read_extra_files` gets the files of an entry's ``extraManifests`` (paths read from the
project, URLs fetched through :func:`extractor.acquire.urls.fetch_url`: verified by sha256 and
cached by digest); :func:`extra_digest` is what the lock's inputs fingerprint records of them
(:func:`extra_inputs_digest` gives the same without fetching or reading a URL's content); and
:func:`apply_entry_changes` adds their objects to the rendered ones, then applies the entry's
patches, before post-processing.

Paths: relative to the directory of bundles.yaml and inside it (no absolute paths, no ``..``, no
symbolic link leading out); a directory contributes its ``*.yaml``, ``*.yml`` and ``*.json`` files
(recursively, sorted, hidden files and directories skipped); anything but a regular file is
refused. Limits: :data:`MAX_FILE_BYTES` per file, :data:`MAX_FILES` per directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from extractor.acquire import AcquireOptions
from extractor.acquire.urls import MAX_URL_BYTES, fetch_url
from extractor.errors import BundleError, ConfigError, ExtractorError
from extractor.files import read_bounded

if TYPE_CHECKING:  # bundle loading and patching load when a chart is built, not to read its inputs
    from extractor.bundle.extra import ExtraFile
    from extractor.config import BundleEntry
    from extractor.model import KubeObject, Manifests

__all__ = ["MAX_FETCHES", "MAX_FILES", "MAX_FILE_BYTES", "apply_entry_changes", "extra_digest", "extra_inputs_digest",
           "read_extra_files"]

MAX_FILE_BYTES = MAX_URL_BYTES
"""Largest extra-manifest file read from the project (16 MiB)."""
MAX_FILES = 1000
"""Most files one ``extraManifests`` directory may contribute."""
MAX_FETCHES = 8
"""Most ``extraManifests`` URLs of one entry fetched at once."""
_SUFFIXES = (".yaml", ".yml", ".json")


def _read_file(path: Path, where: str) -> bytes:
    try:
        return read_bounded(path, MAX_FILE_BYTES, where=where)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read ({exc.strerror})") from None


def _path_files(entry: BundleEntry, index: int, rel: str) -> list[ExtraFile]:
    from extractor.bundle.extra import ExtraFile

    where = f"bundle {entry.name!r}: extraManifests[{index}]: path {rel!r}"
    base = (entry.base_dir or Path.cwd()).resolve()
    target = base / rel
    if not target.exists() and not target.is_symlink():
        raise ConfigError(f"{where}: file not found (relative to {base})")
    resolved = target.resolve()
    if not resolved.is_relative_to(base):
        raise ConfigError(f"{where}: leads outside the directory of bundles.yaml")
    if resolved == base:
        raise ConfigError(f"{where}: names the directory of bundles.yaml itself; name a file or a subdirectory")
    if resolved.is_dir():
        found: list[ExtraFile] = []
        for path in sorted(resolved.rglob("*")):
            inner = path.relative_to(resolved)
            if any(part.startswith(".") for part in inner.parts) or path.suffix not in _SUFFIXES:
                continue
            origin = (Path(rel) / inner).as_posix()
            if not path.resolve().is_relative_to(base):
                raise ConfigError(f"{where}: {origin} leads outside the directory of bundles.yaml")
            if path.is_dir():
                continue
            if len(found) >= MAX_FILES:
                raise ConfigError(f"{where}: more than {MAX_FILES} files")
            found.append(ExtraFile(index, origin, _read_file(path.resolve(), f"{where}: {origin}")))
        if not found:
            raise ConfigError(f"{where}: the directory holds no {'/'.join('*' + s for s in _SUFFIXES)} file")
        return found
    return [ExtraFile(index, Path(rel).as_posix(), _read_file(resolved, where))]


def read_extra_files(entry: BundleEntry, options: AcquireOptions) -> list[ExtraFile]:
    """The files of ``entry.extra_manifests``, in order (see the module docstring). Its URLs are
    fetched side by side (up to :data:`MAX_FETCHES` at once) before the paths are read.

    Raises :class:`ConfigError` for a missing, escaping, non-regular or too large file, and the
    errors of :func:`extractor.acquire.urls.fetch_url` (digest mismatch, not cached offline, HTTP
    failures), each prefixed with the entry and the ``extraManifests`` index; with several bad
    items, the error of the first one in the list.
    """
    files: list[ExtraFile] = []
    if not entry.extra_manifests:
        return files
    from extractor.bundle.extra import ExtraFile

    fetched = _fetch_urls(entry, options)
    for index, item in enumerate(entry.extra_manifests):
        if item.path is not None:
            files.extend(_path_files(entry, index, item.path))
            continue
        assert item.url is not None
        data = fetched[index]
        if isinstance(data, ExtractorError):
            raise type(data)(f"bundle {entry.name!r}: extraManifests[{index}]: {data}") from None
        files.append(ExtraFile(index, item.url, data))
    return files


def _fetch_urls(entry: BundleEntry, options: AcquireOptions) -> dict[int, bytes | ExtractorError]:
    """The content, or the error, of each URL item of ``entry.extra_manifests`` by its index.
    Several URLs are fetched in threads: each fetch mostly waits on the network (and its own
    connection), so they overlap; errors other than :class:`ExtractorError` propagate."""
    items = [(index, item.url, item.sha256) for index, item in enumerate(entry.extra_manifests)
             if item.url is not None and item.sha256 is not None]

    def fetch(url: str, sha256: str) -> bytes | ExtractorError:
        try:
            return fetch_url(url, sha256, options)
        except ExtractorError as exc:
            return exc

    if len(items) < 2:
        return {index: fetch(url, sha256) for index, url, sha256 in items}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(MAX_FETCHES, len(items))) as pool:
        futures = {index: pool.submit(fetch, url, sha256) for index, url, sha256 in items}
        return {index: future.result() for index, future in futures.items()}


def extra_digest(files: Sequence[ExtraFile]) -> str | None:
    """``sha256:`` over every file's item index, origin and content; ``None`` without files."""
    if not files:
        return None
    digest = hashlib.sha256()
    for item in files:
        _fold(digest, item.index, item.origin, hashlib.sha256(item.data).digest())
    return "sha256:" + digest.hexdigest()


def _fold(digest: hashlib._Hash, index: int, origin: str, content_sha256: bytes) -> None:
    digest.update(f"{index}\0{origin}\0".encode())
    digest.update(content_sha256)


def extra_inputs_digest(entry: BundleEntry) -> str | None:
    """:func:`extra_digest` of the files :func:`read_extra_files` returns, without fetching anything:
    a URL's content can only be the one its ``sha256`` names (any other is refused), so that digest
    stands for it; project files are read. ``None`` without ``extraManifests``.

    Raises :class:`ConfigError` like :func:`read_extra_files` for project files.
    """
    if not entry.extra_manifests:
        return None
    digest = hashlib.sha256()
    for index, item in enumerate(entry.extra_manifests):
        if item.path is not None:
            for extra in _path_files(entry, index, item.path):
                _fold(digest, extra.index, extra.origin, hashlib.sha256(extra.data).digest())
        else:
            assert item.url is not None and item.sha256 is not None
            _fold(digest, index, item.url, bytes.fromhex(item.sha256))
    return "sha256:" + digest.hexdigest()


def _key(obj: KubeObject) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    return (str(obj.get("apiVersion", "")).split("/")[0], str(obj.get("kind", "")),
            str(meta.get("namespace") or ""), str(meta.get("name", "")))


def apply_entry_changes(
    manifests: Manifests, entry: BundleEntry, files: Sequence[ExtraFile], allowed_kinds: tuple[str, ...] = ()
) -> Manifests:
    """``manifests`` with the objects of ``files`` appended (namespaced kinds put in the install
    namespace, as OLM does with bundle objects; a file holding one CRD keeps its exact bytes in
    ``raw_crds``), then ``entry.patches`` applied to all objects. A patched CRD loses its exact
    bytes (it is written as patched).

    Raises :class:`BundleError` for bad extra manifests or an object the bundle already renders,
    :class:`RenderError` for a patch that does not apply.
    """
    from extractor.bundle import kinds
    from extractor.bundle.extra import load_extra_manifests
    from extractor.render.patches import apply_patches

    objects = list(manifests.objects)
    raw_crds = dict(manifests.raw_crds)
    if files:
        extra = load_extra_manifests(files, entry=entry.name, allowed_kinds=allowed_kinds)
        rendered = {_key(obj) for obj in objects}
        for obj, origin in zip(extra.objects, extra.origins, strict=True):
            if kinds.namespaced(str(obj["kind"])):
                obj = {**obj, "metadata": {**obj["metadata"], "namespace": entry.namespace}}
            if _key(obj) in rendered:  # the bundle's, or another extra one once in the install namespace
                raise BundleError(f"bundle {entry.name!r}: extraManifests ({origin}): {obj['kind']} "
                                  f"{obj['metadata']['name']!r} is already in the chart")
            rendered.add(_key(obj))
            objects.append(obj)
        raw_crds.update(extra.raw_crds)
    if entry.patches:
        patched = apply_patches(objects, entry.patches, entry.name)
        for before, after in zip(objects, patched, strict=True):
            if before is not after and before.get("kind") == "CustomResourceDefinition":
                raw_crds.pop(str((before.get("metadata") or {}).get("name")), None)
        objects = patched
    return dataclasses.replace(manifests, objects=objects, raw_crds=raw_crds)

