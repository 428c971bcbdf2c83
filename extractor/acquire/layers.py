"""Apply image layers to a directory, keeping only a bundle's ``manifests/`` and ``metadata/``
(or the directories a caller names: a catalog's FBC directory, see :mod:`extractor.acquire.catalog`).

Layers are applied oldest first with OCI whiteout semantics (``.wh.<name>`` deletes ``<name>``
from lower layers, ``.wh..wh..opq`` empties its directory of lower-layer content). Only entries
under ``manifests/`` and ``metadata/`` (the ``keep`` directories) are written (leading ``./``
and ``/`` stripped); other ordinary entries are skipped. Everything is read with :mod:`tarfile`
in streaming mode and checked here, entry by entry; nothing relies on :mod:`tarfile`'s extraction filters.

Layers may be plain tar, gzip or zstd (the ``zstandard`` package), told apart by magic bytes.

Refused with :class:`UnsafeLayerError` (naming image, layer digest and entry): ``..`` components,
absolute names outside the kept directories, symlinks whose target is absolute or leaves
the tree, hardlinks to anything but an already extracted bundle file, device nodes, FIFOs and
sparse files (anywhere in the layer), writes through a symlinked directory, and layers over the
size or entry caps. The size cap counts each entry's declared size before any of its bytes are
written, so a decompression bomb is refused after at most ``max_bytes`` of output. Written files
get mode 0644, directories 0755.
"""

from __future__ import annotations

import gzip
import os
import posixpath
import shutil
import stat
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

from extractor.acquire.limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES
from extractor.errors import AcquireError, UnsafeLayerError, UnsupportedMediaTypeError

__all__ = [
    "BUNDLE_DIRS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_FILES",
    "MAX_HEADER_BYTES",
    "BoundedTarInfo",
    "Layer",
    "LayerLimits",
    "OversizedHeaderError",
    "apply_layers",
    "keep_parts",
    "open_layer",
]

BUNDLE_DIRS = ("manifests", "metadata")
"""The directories of a bundle image that are unpacked (the default ``keep`` of :func:`apply_layers`)."""

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
_CHUNK = 256 * 1024


@dataclass(frozen=True)
class LayerLimits:
    """Caps for one image: ``max_bytes`` uncompressed entry bytes, ``max_files`` entries. When
    ``skipped_bytes``/``skipped_files`` are set, entries outside the kept directories (streamed
    through, never written: a catalog image's base image, opm's cache) count against those instead."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_files: int = DEFAULT_MAX_FILES
    skipped_bytes: int | None = None
    skipped_files: int | None = None


@dataclass(frozen=True)
class Layer:
    """A layer blob on disk. ``media_type`` may be empty (then only the content decides)."""

    path: Path
    digest: str
    media_type: str = ""


def open_layer(path: Path, *, where: str, media_type: str = "") -> IO[bytes]:
    """Open a layer blob as an uncompressed tar stream (gzip, zstd or plain tar, by magic bytes).

    Raises :class:`UnsupportedMediaTypeError` for non-tar media types, and for zstd content when
    the ``zstandard`` package is not installed.
    """
    if media_type and "tar" not in media_type:
        raise UnsupportedMediaTypeError(f"{where}: unsupported layer media type {media_type!r}")
    with path.open("rb") as probe:
        magic = probe.read(4)
    if magic == _ZSTD_MAGIC:
        try:
            import zstandard
        except ImportError:
            raise UnsupportedMediaTypeError(
                f"{where}: zstd-compressed layer needs the Python package zstandard (pip install zstandard)"
            ) from None
        reader = zstandard.ZstdDecompressor().stream_reader(path.open("rb"), read_across_frames=True)
        return cast(IO[bytes], reader)
    if magic.startswith(_GZIP_MAGIC):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def _decompression_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)
    try:
        import zstandard
    except ImportError:
        return errors
    return (*errors, zstandard.ZstdError)


def keep_parts(keep: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """``keep`` directory names (``"manifests"``, ``"/configs"``, ``"./a/b/"``) as path components.

    Raises :class:`ValueError` for an empty name, the image root, or a ``..`` component.
    """
    found = []
    for name in keep:
        parts, _ = _split(name)
        if not parts or ".." in parts:
            raise ValueError(f"{name!r} does not name a directory inside the image")
        found.append(tuple(parts))
    return tuple(found)


@dataclass
class _State:
    image: str
    limits: LayerLimits
    keep: tuple[tuple[str, ...], ...] = tuple((d,) for d in BUNDLE_DIRS)
    entries: int = 0
    total_bytes: int = 0
    skipped_entries: int = 0
    skipped_bytes: int = 0
    digest: str = ""
    written: set[tuple[str, ...]] = field(default_factory=set)

    def count(self, entry: str, parts: Sequence[str], size: int) -> None:
        """Count one entry against the caps (:class:`LayerLimits`); raise when one is exceeded."""
        limits = self.limits
        if limits.skipped_bytes is not None and parts and not (self.kept(parts) or self.above_kept(parts)):
            self.skipped_entries += 1
            self.skipped_bytes += size
            if self.skipped_entries > (limits.skipped_files or 0):
                raise self.unsafe(entry, f"more than {limits.skipped_files} entries outside {self.kept_names}")
            if self.skipped_bytes > limits.skipped_bytes:
                raise self.unsafe(entry, f"content outside {self.kept_names} exceeds {limits.skipped_bytes} bytes")
            return
        self.entries += 1
        if self.entries > limits.max_files:
            raise self.unsafe(entry, f"more than {limits.max_files} entries in the image")
        self.total_bytes += size if parts else 0
        if self.total_bytes > limits.max_bytes:
            raise self.unsafe(entry, f"image content exceeds {limits.max_bytes} bytes uncompressed")

    def unsafe(self, entry: str, reason: str) -> UnsafeLayerError:
        return UnsafeLayerError(f"{self.image}: layer {self.digest}: entry {entry!r}: {reason}")

    def kept(self, parts: Sequence[str]) -> bool:
        """True when ``parts`` lies in (or is) a kept directory."""
        return any(tuple(parts[: len(k)]) == k for k in self.keep)

    def above_kept(self, parts: Sequence[str]) -> bool:
        """True when ``parts`` is a directory that holds a kept directory (``a`` for ``a/b``)."""
        return any(len(parts) < len(k) and k[: len(parts)] == tuple(parts) for k in self.keep)

    @property
    def kept_names(self) -> str:
        return " and ".join("/".join(k) + "/" for k in self.keep)


def apply_layers(
    layers: Sequence[Layer], dest: Path, *, image: str, limits: LayerLimits | None = None,
    keep: Sequence[str] = BUNDLE_DIRS,
) -> None:
    """Apply ``layers`` (oldest first) into directory ``dest`` (created if missing).

    ``image``: the reference named in errors. ``keep``: the directories of the image that are
    written (:data:`BUNDLE_DIRS` for bundles; a catalog's configs directory, at any depth, such as
    ``/configs``); see :func:`keep_parts` (its :class:`ValueError` for an invalid name). Raises
    :class:`UnsafeLayerError` (see the module docstring), :class:`UnsupportedMediaTypeError` and
    :class:`AcquireError` for corrupt layers.
    On error ``dest`` may hold a partial result: the caller discards it.
    """
    dest.mkdir(parents=True, exist_ok=True)
    state = _State(image=image, limits=limits or LayerLimits(), keep=keep_parts(keep))
    for layer in layers:
        state.digest = layer.digest
        state.written = set()
        where = f"{image}: layer {layer.digest}"
        stream = open_layer(layer.path, where=where, media_type=layer.media_type)
        try:
            _apply_stream(stream, dest, state)
        except OversizedHeaderError as exc:
            raise UnsafeLayerError(f"{where}: {exc}") from None
        except RecursionError:
            raise UnsafeLayerError(f"{where}: a chain of too many extended headers") from None
        except _decompression_errors() as exc:
            raise AcquireError(f"{where}: corrupt layer ({type(exc).__name__}: {str(exc)[:120]})") from None
        finally:
            stream.close()


def _split(name: str) -> tuple[list[str], bool]:
    """Components of an entry name with ``./`` and ``/`` prefixes stripped; and whether absolute."""
    absolute = name.startswith("/")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return parts, absolute


MAX_HEADER_BYTES = 1024 * 1024
"""Largest PAX extended header or GNU long name/link record (tarfile reads them into memory)."""


class OversizedHeaderError(tarfile.TarError):
    """A PAX or GNU long-name header larger than :data:`MAX_HEADER_BYTES`."""


class BoundedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses huge extended headers before :mod:`tarfile` reads them into memory
    (a small compressed layer can declare a 1 GiB PAX header)."""

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENDED_TYPES and self.size > MAX_HEADER_BYTES:
            raise OversizedHeaderError(f"extended header of {self.size} bytes (at most {MAX_HEADER_BYTES})")
        result: tarfile.TarInfo = super()._proc_member(archive)  # type: ignore[misc]
        return result


_EXTENDED_TYPES = frozenset({tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
                             tarfile.SOLARIS_XHDTYPE})


def _apply_stream(stream: IO[bytes], dest: Path, state: _State) -> None:
    with tarfile.open(fileobj=stream, mode="r|", tarinfo=BoundedTarInfo) as archive:
        for member in archive:
            _apply_member(archive, member, dest, state)


def _apply_member(archive: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, state: _State) -> None:
    entry = member.name
    parts, absolute = _split(entry)
    state.count(entry, parts, max(member.size, 0))
    if ".." in parts:
        raise state.unsafe(entry, "path contains '..'")
    if member.ischr() or member.isblk():
        raise state.unsafe(entry, "device nodes are not allowed")
    if member.isfifo():
        raise state.unsafe(entry, "FIFOs are not allowed")
    if member.issparse():
        raise state.unsafe(entry, "sparse files are not allowed")
    if not parts:
        return
    base = parts[-1]
    if base == _OPAQUE:
        _opaque(dest, parts[:-1], state, entry)
        return
    if base.startswith(_WHITEOUT):
        hidden = [*parts[:-1], base[len(_WHITEOUT) :]]
        if (state.kept(hidden) or state.above_kept(hidden)) and tuple(hidden) not in state.written:
            _remove(dest, hidden, state, entry)
        return
    if not state.kept(parts):
        if absolute and not state.above_kept(parts):
            raise state.unsafe(entry, f"absolute path outside {state.kept_names}")
        return  # ordinary content outside the kept directories is not extracted
    if member.isdir():
        path = _prepare(dest, parts, state, entry, keep_dir=True)
        if not path.is_dir():
            path.mkdir(mode=0o755)
    elif member.isreg():
        path = _prepare(dest, parts, state, entry)
        source = archive.extractfile(member)
        if source is None:  # pragma: no cover - isreg() members always have data
            raise state.unsafe(entry, "unreadable file entry")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out, _CHUNK)
    elif member.issym():
        target = member.linkname
        if target.startswith("/"):
            raise state.unsafe(entry, f"symlink to absolute path {target!r}")
        resolved = posixpath.normpath(posixpath.join(*parts[:-1], target) if len(parts) > 1 else target)
        if resolved == ".." or resolved.startswith("../"):
            raise state.unsafe(entry, f"symlink target {target!r} leaves the image")
        path = _prepare(dest, parts, state, entry)
        os.symlink(target, path)
    elif member.islnk():
        target_parts, _ = _split(member.linkname)
        if ".." in target_parts or not target_parts or not state.kept(target_parts):
            raise state.unsafe(entry, f"hardlink to {member.linkname!r} outside {state.kept_names}")
        source_path = dest.joinpath(*target_parts)
        _check_parents(dest, target_parts, state, entry)
        try:
            info = source_path.lstat()
        except FileNotFoundError:
            raise state.unsafe(entry, f"hardlink target {member.linkname!r} does not exist") from None
        if not stat.S_ISREG(info.st_mode):
            raise state.unsafe(entry, f"hardlink target {member.linkname!r} is not a regular file")
        path = _prepare(dest, parts, state, entry)
        shutil.copyfile(source_path, path, follow_symlinks=False)
        os.chmod(path, 0o644)
    else:
        raise state.unsafe(entry, f"unsupported tar entry type {member.type!r}")
    state.written.add(tuple(parts))


def _check_parents(dest: Path, parts: list[str], state: _State, entry: str) -> None:
    """Refuse when a parent directory of ``parts`` inside ``dest`` is a symlink or not a dir."""
    current = dest
    for component in parts[:-1]:
        current = current / component
        try:
            info = current.lstat()
        except FileNotFoundError:
            return
        if stat.S_ISLNK(info.st_mode):
            raise state.unsafe(entry, f"parent {component!r} is a symlink")


def _prepare(dest: Path, parts: list[str], state: _State, entry: str, *, keep_dir: bool = False) -> Path:
    """Create the parents of ``parts`` (never through a symlink); clear what is at the path.

    An existing directory is kept when ``keep_dir``; anything else there is removed (the upper
    layer's entry replaces the lower one). Returns the path to write.
    """
    current = dest
    for component in parts[:-1]:
        current = current / component
        try:
            info = current.lstat()
        except FileNotFoundError:
            current.mkdir(mode=0o755)
            state.written.add(tuple(current.relative_to(dest).parts))
            continue
        if stat.S_ISLNK(info.st_mode):
            raise state.unsafe(entry, f"parent {component!r} is a symlink")
        if not stat.S_ISDIR(info.st_mode):
            current.unlink()
            current.mkdir(mode=0o755)
    path = current / parts[-1]
    try:
        info = path.lstat()
    except FileNotFoundError:
        return path
    if stat.S_ISDIR(info.st_mode):
        if not keep_dir:
            shutil.rmtree(path)
    else:
        path.unlink()
    return path


def _remove(dest: Path, parts: list[str], state: _State, entry: str) -> None:
    _check_parents(dest, parts, state, entry)
    path = dest.joinpath(*parts)
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path)
    else:
        path.unlink()


def _opaque(dest: Path, dir_parts: list[str], state: _State, entry: str) -> None:
    """Hide everything lower layers put under ``dir_parts`` (only kept directories count)."""
    if dir_parts and not (state.kept(dir_parts) or state.above_kept(dir_parts)):
        return
    if dir_parts:
        _check_parents(dest, [*dir_parts, "x"], state, entry)
    _clear_lower(dest, tuple(dir_parts), state)


def _clear_lower(dest: Path, dir_parts: tuple[str, ...], state: _State) -> None:
    directory = dest.joinpath(*dir_parts)
    if directory.is_symlink() or not directory.is_dir():
        return
    for child in sorted(os.listdir(directory)):
        child_parts = (*dir_parts, child)
        if not (state.kept(child_parts) or state.above_kept(child_parts)):
            continue
        path = directory / child
        if any(w[: len(child_parts)] == child_parts for w in state.written):
            # This layer wrote the child or something below it: keep that, clear the rest.
            if path.is_dir() and not path.is_symlink():
                _clear_lower(dest, child_parts, state)
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
