"""Apply image layers to a directory, keeping only a bundle's ``manifests/`` and ``metadata/``.

Layers are applied oldest first with OCI whiteout semantics (``.wh.<name>`` deletes ``<name>``
from lower layers, ``.wh..wh..opq`` empties its directory of lower-layer content). Only entries
under ``manifests/`` and ``metadata/`` are written (leading ``./`` and ``/`` stripped); other
ordinary entries are skipped. Everything is read with :mod:`tarfile` in streaming mode and checked
here, entry by entry; nothing relies on :mod:`tarfile`'s extraction filters.

Layers may be plain tar, gzip or zstd (the ``zstandard`` package), told apart by magic bytes.

Refused with :class:`UnsafeLayerError` (naming image, layer digest and entry): ``..`` components,
absolute names outside the two bundle directories, symlinks whose target is absolute or leaves
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
    "open_layer",
]

BUNDLE_DIRS = ("manifests", "metadata")
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
"""Default cap on the uncompressed bytes of all entries of all layers of one image."""
DEFAULT_MAX_FILES = 10_000
"""Default cap on the number of entries in all layers of one image."""

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
_CHUNK = 256 * 1024


@dataclass(frozen=True)
class LayerLimits:
    """Caps for one image: ``max_bytes`` uncompressed entry bytes, ``max_files`` entries."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_files: int = DEFAULT_MAX_FILES


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


@dataclass
class _State:
    image: str
    limits: LayerLimits
    entries: int = 0
    total_bytes: int = 0
    digest: str = ""
    written: set[tuple[str, ...]] = field(default_factory=set)

    def unsafe(self, entry: str, reason: str) -> UnsafeLayerError:
        return UnsafeLayerError(f"{self.image}: layer {self.digest}: entry {entry!r}: {reason}")


def apply_layers(
    layers: Sequence[Layer], dest: Path, *, image: str, limits: LayerLimits | None = None
) -> None:
    """Apply ``layers`` (oldest first) into directory ``dest`` (created if missing).

    ``image``: the reference named in errors. Raises :class:`UnsafeLayerError` (see the module
    docstring), :class:`UnsupportedMediaTypeError` and :class:`AcquireError` for corrupt layers.
    On error ``dest`` may hold a partial result: the caller discards it.
    """
    dest.mkdir(parents=True, exist_ok=True)
    state = _State(image=image, limits=limits or LayerLimits())
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
    state.entries += 1
    if state.entries > state.limits.max_files:
        raise state.unsafe(entry, f"more than {state.limits.max_files} entries in the image")
    parts, absolute = _split(entry)
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
    state.total_bytes += max(member.size, 0)
    if state.total_bytes > state.limits.max_bytes:
        raise state.unsafe(entry, f"image content exceeds {state.limits.max_bytes} bytes uncompressed")
    base = parts[-1]
    if base == _OPAQUE:
        _opaque(dest, parts[:-1], state, entry)
        return
    if base.startswith(_WHITEOUT):
        hidden = [*parts[:-1], base[len(_WHITEOUT) :]]
        if hidden[0] in BUNDLE_DIRS and tuple(hidden) not in state.written:
            _remove(dest, hidden, state, entry)
        return
    if parts[0] not in BUNDLE_DIRS:
        if absolute:
            raise state.unsafe(entry, "absolute path outside manifests/ and metadata/")
        return  # ordinary content outside the bundle directories is not extracted
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
        if ".." in target_parts or not target_parts or target_parts[0] not in BUNDLE_DIRS:
            raise state.unsafe(entry, f"hardlink to {member.linkname!r} outside manifests/ and metadata/")
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
    """Hide everything lower layers put under ``dir_parts`` (only bundle directories count)."""
    if dir_parts and dir_parts[0] not in BUNDLE_DIRS:
        return
    if dir_parts:
        _check_parents(dest, [*dir_parts, "x"], state, entry)
    _clear_lower(dest, tuple(dir_parts), state, top=not dir_parts)


def _clear_lower(dest: Path, dir_parts: tuple[str, ...], state: _State, *, top: bool = False) -> None:
    directory = dest.joinpath(*dir_parts)
    if directory.is_symlink() or not directory.is_dir():
        return
    for child in sorted(os.listdir(directory)):
        if top and child not in BUNDLE_DIRS:
            continue
        child_parts = (*dir_parts, child)
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
