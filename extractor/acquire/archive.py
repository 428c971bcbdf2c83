"""Local images: ``docker save`` / ``podman save`` archives and OCI image layouts, no network.

Accepted forms (skopeo's transport names)::

    docker-archive:PATH[:IMAGE]   a tar (optionally gzip-compressed) with manifest.json and layer tars
    oci-archive:PATH[:TAG]        a tar of an OCI image layout (podman save --format oci-archive)
    oci:PATH[:TAG]                an OCI image layout directory (oci-layout, index.json, blobs/sha256/...)

A plain path works too: an existing file is an archive (docker-archive when it holds
``manifest.json``, else an OCI archive when it holds ``oci-layout``), an existing directory holding
``oci-layout`` is an OCI layout. ``IMAGE`` picks one of a docker archive's ``RepoTags`` (needed
when it holds several images); ``TAG`` picks the index entry whose
``org.opencontainers.image.ref.name`` annotation is ``TAG`` (needed when the layout holds several).

Everything is verified like a pull: OCI blobs against their digests, docker-archive layers
against the config's ``rootfs.diff_ids`` (or the ``blobs/sha256/<hex>`` name they are stored
under). Archives are read entry by entry into a scratch directory the caller provides (only
regular files, symlinks and hardlinks between archive members; names with ``..`` or special files
are refused), so nothing is written outside the work directory. Layers are applied by
:func:`extractor.acquire.layers.apply_layers` with the same caps as pulled images.
"""

from __future__ import annotations

import gzip
import hashlib
import posixpath
import re
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from extractor import yamlio
from extractor.acquire.layers import BoundedTarInfo, Layer, LayerLimits, OversizedHeaderError, apply_layers, open_layer
from extractor.acquire.manifests import DIGEST_RE, MAX_MANIFEST_BYTES, Manifest, select_platform
from extractor.acquire.reference import Reference
from extractor.errors import AcquireError, ConfigError, DigestMismatchError, UnsafeLayerError

__all__ = ["LocalImage", "LocalKind", "parse_local_image", "unpack_local_image"]

LocalKind = Literal["docker-archive", "oci-archive", "oci"]
_PREFIXES: tuple[LocalKind, ...] = ("docker-archive", "oci-archive", "oci")
_REF_NAME = "org.opencontainers.image.ref.name"
_BLOB_NAME = re.compile(r"(?:blobs/sha256/)?([a-f0-9]{64})(?:\.tar|\.json)?")
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class LocalImage:
    """A local image input: its ``kind``, the archive file or layout directory ``path``, and the
    optional ``selector`` (an image name for docker archives, a tag for OCI layouts)."""

    kind: LocalKind
    path: Path
    selector: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.path}" + (f":{self.selector}" if self.selector else "")


def _split_selector(rest: str) -> tuple[Path, str | None]:
    """``PATH[:SELECTOR]``: a path that exists as written wins over splitting at a colon."""
    if Path(rest).exists() or ":" not in rest:
        return Path(rest), None
    path, _, selector = rest.partition(":")
    return Path(path), selector or None


def _archive_kind(path: Path) -> LocalKind:
    names = set()
    try:
        with tarfile.open(path, "r|*", tarinfo=BoundedTarInfo) as archive:
            for member in archive:
                names.add(member.name[2:] if member.name.startswith("./") else member.name)
                if "manifest.json" in names:
                    return "docker-archive"
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        raise ConfigError(f"{path}: not a tar archive (expected a docker-archive or OCI archive)") from None
    if "oci-layout" in names:
        return "oci-archive"
    raise ConfigError(f"{path}: neither a docker-archive (manifest.json) nor an OCI archive (oci-layout)")


def parse_local_image(reference: str) -> LocalImage | None:
    """Recognise a local image input (see the module docstring); ``None`` when ``reference`` is
    none (an image reference or a bundle directory). Raises :class:`ConfigError` when a prefixed
    path does not exist or a file is not a recognisable archive."""
    for kind in _PREFIXES:
        if reference.startswith(kind + ":"):
            path, selector = _split_selector(reference[len(kind) + 1 :])
            if not path.exists():
                raise ConfigError(f"{reference}: {path} does not exist")
            if kind == "oci" and not path.is_dir():
                raise ConfigError(f"{reference}: {path} is not an OCI layout directory")
            if kind != "oci" and not path.is_file():
                raise ConfigError(f"{reference}: {path} is not an archive file")
            return LocalImage(kind, path, selector)
    path = Path(reference)
    if path.is_dir():
        return LocalImage("oci", path) if (path / "oci-layout").is_file() else None
    if path.is_file():
        return LocalImage(_archive_kind(path), path)
    return None


def _sha256_file(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def _sha256_stream(stream: IO[bytes]) -> str:
    hasher = hashlib.sha256()
    with stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def _load_json(path: Path, where: str, max_bytes: int = MAX_MANIFEST_BYTES) -> Any:
    try:
        if path.stat().st_size > max_bytes:
            raise AcquireError(f"{where}: larger than {max_bytes} bytes")
        return yamlio.load_json(path.read_bytes())
    except FileNotFoundError:
        raise AcquireError(f"{where}: missing") from None
    except (OSError, ValueError):
        raise AcquireError(f"{where}: not valid JSON") from None


# -- archives ------------------------------------------------------------------------------------
class _Extracted:
    """Regular files of an archive under ``root``, plus link aliases (archive name -> target name)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.aliases: dict[str, str] = {}

    def path(self, name: str, where: str) -> Path:
        parts = [p for p in name.split("/") if p not in ("", ".")]
        key = "/".join(parts)
        for _ in range(40):
            if key not in self.aliases:
                break
            key = self.aliases[key]
        if ".." in parts or not key:
            raise UnsafeLayerError(f"{where}: entry {name!r} leaves the archive")
        path = self.root / key
        if not path.is_file():
            raise AcquireError(f"{where}: {name!r} is not in the archive")
        return path


def _extract_archive(archive_path: Path, root: Path, where: str, limits: LayerLimits) -> _Extracted:
    """Copy the regular files of ``archive_path`` under ``root``; record symlinks/hardlinks."""
    result = _Extracted(root)
    total = 0
    count = 0
    cap = limits.max_bytes * 2  # archives hold compressed or uncompressed layers: bound generously
    try:
        with tarfile.open(archive_path, "r|*", tarinfo=BoundedTarInfo) as archive:
            for member in archive:
                count += 1
                entry = member.name
                if count > limits.max_files:
                    raise UnsafeLayerError(f"{where}: more than {limits.max_files} entries")
                parts = [p for p in entry.split("/") if p not in ("", ".")]
                if entry.startswith("/") or ".." in parts:
                    raise UnsafeLayerError(f"{where}: entry {entry!r} leaves the archive")
                if not parts or member.isdir():
                    continue
                name = "/".join(parts)
                if member.issym() or member.islnk():
                    base = posixpath.dirname(name) if member.issym() else ""
                    target = posixpath.normpath(posixpath.join(base, member.linkname))
                    if member.linkname.startswith("/") or target == ".." or target.startswith("../"):
                        raise UnsafeLayerError(f"{where}: entry {entry!r} links outside the archive")
                    result.aliases[name] = target
                    continue
                if not member.isreg() or member.issparse():
                    raise UnsafeLayerError(f"{where}: entry {entry!r} is not a regular file")
                total += member.size
                if total > cap:
                    raise UnsafeLayerError(f"{where}: entry {entry!r}: archive content exceeds {cap} bytes")
                dest = root.joinpath(*parts)
                dest.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                if source is None:  # pragma: no cover - regular members always have data
                    raise AcquireError(f"{where}: entry {entry!r} is unreadable")
                with dest.open("xb") as out:
                    shutil.copyfileobj(source, out, _CHUNK)
    except FileExistsError:
        raise AcquireError(f"{where}: duplicate entries in the archive") from None
    except OversizedHeaderError as exc:
        raise UnsafeLayerError(f"{where}: {exc}") from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise AcquireError(f"{where}: corrupt archive ({type(exc).__name__}: {str(exc)[:120]})") from None
    return result


def _docker_archive(
    image: LocalImage, dest: Path, scratch: Path, name: str, limits: LayerLimits
) -> None:
    where = str(image)
    files = _extract_archive(image.path, scratch, where, limits)
    entries = _load_json(files.path("manifest.json", where), f"{where}: manifest.json")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries) or not entries:
        raise AcquireError(f"{where}: manifest.json is not a list of images")
    chosen = _choose_docker_entry(entries, image.selector, where)
    config_name = chosen.get("Config")
    layer_names = chosen.get("Layers")
    if not isinstance(config_name, str) or not isinstance(layer_names, list):
        raise AcquireError(f"{where}: manifest.json entry lacks Config or Layers")
    config_path = files.path(config_name, where)
    _verify_named(config_path, config_name, where)
    config = _load_json(config_path, f"{where}: config {config_name}")
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") if isinstance(config, dict) else None
    if not isinstance(diff_ids, list) or len(diff_ids) != len(layer_names):
        raise AcquireError(f"{where}: config {config_name} does not list one diff_id per layer")
    layers: list[Layer] = []
    for layer_name, diff_id in zip(layer_names, diff_ids, strict=True):
        if not isinstance(layer_name, str) or not isinstance(diff_id, str) or not DIGEST_RE.fullmatch(diff_id):
            raise AcquireError(f"{where}: malformed layer entry {str(layer_name)[:80]!r}")
        path = files.path(layer_name, where)
        layer_where = f"{where}: layer {layer_name}"
        actual = _sha256_file(path)
        if actual != diff_id and actual != _named_digest(layer_name):
            uncompressed = _sha256_stream(open_layer(path, where=layer_where))
            if uncompressed != diff_id:
                raise DigestMismatchError(f"{layer_where}: content has digest {uncompressed}, config says {diff_id}")
        layers.append(Layer(path, actual))
    apply_layers(layers, dest, image=name, limits=limits)


def _choose_docker_entry(entries: list[dict[str, Any]], selector: str | None, where: str) -> dict[str, Any]:
    if selector is None:
        if len(entries) == 1:
            return entries[0]
        names = sorted(t for e in entries for t in e.get("RepoTags") or [] if isinstance(t, str))
        raise ConfigError(
            f"{where}: the archive holds {len(entries)} images; name one as docker-archive:PATH:IMAGE "
            f"(tags: {', '.join(names) or 'none'})"
        )
    try:
        wanted = str(Reference.parse(selector))
    except ConfigError:
        wanted = selector
    for entry in entries:
        for tag in entry.get("RepoTags") or []:
            if not isinstance(tag, str):
                continue
            try:
                normalised = str(Reference.parse(tag))
            except ConfigError:
                normalised = tag
            if selector in (tag, normalised) or wanted == normalised:
                return entry
    raise ConfigError(f"{where}: no image tagged {selector!r} in the archive")


def _named_digest(name: str) -> str | None:
    """``sha256:<hex>`` when an archive member is named by its content digest, else ``None``."""
    match = _BLOB_NAME.fullmatch(name)
    return f"sha256:{match.group(1)}" if match else None


def _verify_named(path: Path, name: str, where: str) -> None:
    """Content-addressed members (``<hex>.json``, ``blobs/sha256/<hex>``) must match their name."""
    expected = _named_digest(name)
    if expected is not None and _sha256_file(path) != expected:
        raise DigestMismatchError(f"{where}: {name} does not match its digest")


# -- OCI layouts ---------------------------------------------------------------------------------
class _Layout:
    """An OCI image layout directory whose blobs are verified on read."""

    def __init__(self, root: Path, where: str) -> None:
        self.root = root
        self.where = where
        marker = _load_json(root / "oci-layout", f"{where}: oci-layout")
        if not isinstance(marker, dict) or not str(marker.get("imageLayoutVersion", "")).startswith("1."):
            raise AcquireError(f"{where}: oci-layout is not an OCI image layout version 1")

    def blob(self, digest: str, expected_size: int | None = None) -> Path:
        if not DIGEST_RE.fullmatch(digest):
            raise AcquireError(f"{self.where}: unsupported digest {digest[:80]!r}")
        path = self.root / "blobs" / "sha256" / digest[7:]
        if not path.is_file() or path.is_symlink():
            raise AcquireError(f"{self.where}: blob {digest} is missing from the layout")
        if expected_size is not None and path.stat().st_size != expected_size:
            raise DigestMismatchError(f"{self.where}: blob {digest} has the wrong size")
        actual = _sha256_file(path)
        if actual != digest:
            raise DigestMismatchError(f"{self.where}: blob {digest} has content digest {actual}")
        return path

    def manifest(self, digest: str, size: int | None = None) -> Manifest:
        path = self.blob(digest, size)
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise AcquireError(f"{self.where}: manifest {digest} larger than {MAX_MANIFEST_BYTES} bytes")
        return Manifest.from_bytes(path.read_bytes(), f"{self.where}@{digest}")

    def index(self) -> Manifest:
        path = self.root / "index.json"
        data = path.read_bytes() if path.is_file() else b""
        if not data:
            raise AcquireError(f"{self.where}: index.json is missing")
        return Manifest.from_bytes(data, f"{self.where}: index.json", "application/vnd.oci.image.index.v1+json")


def _oci_layout(
    image: LocalImage, root: Path, dest: Path, name: str, platform: str, limits: LayerLimits
) -> str:
    where = str(image)
    layout = _Layout(root, where)
    entries = layout.index().manifests(f"{where}: index.json")
    if image.selector is not None:
        chosen = [e for e in entries if e.annotations.get(_REF_NAME) in (image.selector,)]
        if not chosen:
            raise ConfigError(f"{where}: no index.json entry is named {image.selector!r}")
    else:
        chosen = entries
    if len(chosen) != 1:
        names = sorted({e.annotations.get(_REF_NAME, "unnamed") for e in chosen})
        raise ConfigError(
            f"{where}: the layout holds {len(chosen)} images; name one as oci:PATH:TAG "
            f"(names: {', '.join(names) or 'none'})"
        )
    top = layout.manifest(chosen[0].digest, chosen[0].size)
    manifest = top
    if top.is_index:
        entry = select_platform(top, platform, f"{where}@{top.digest}")
        manifest = layout.manifest(entry.digest, entry.size)
        if manifest.is_index:
            raise AcquireError(f"{where}: nested image indexes are not supported")
    layers: list[Layer] = []
    remaining = limits.max_bytes * 2
    for descriptor in manifest.layers(f"{where}@{manifest.digest}"):
        remaining -= descriptor.size
        if remaining < 0:
            raise UnsafeLayerError(f"{where}: layers exceed {limits.max_bytes * 2} compressed bytes")
        layers.append(Layer(layout.blob(descriptor.digest, descriptor.size), descriptor.digest, descriptor.media_type))
    apply_layers(layers, dest, image=name, limits=limits)
    return top.digest


def unpack_local_image(
    image: LocalImage,
    dest: Path,
    *,
    scratch: Path,
    name: str,
    platform: str = "linux/amd64",
    limits: LayerLimits | None = None,
) -> str | None:
    """Unpack the bundle directories of ``image`` into ``dest``.

    ``scratch``: an empty directory (inside the work directory) for archive contents; the caller
    removes it. ``name``: how errors name the image. ``platform``: chosen from multi-platform OCI
    indexes. Returns the manifest (or index) digest for OCI layouts and archives, ``None`` for
    docker archives (which keep no manifest). Raises :class:`ConfigError` for an ambiguous or
    unknown selector, :class:`DigestMismatchError`, :class:`UnsafeLayerError` and
    :class:`AcquireError` for malformed archives.
    """
    limits = limits or LayerLimits()
    if image.kind == "docker-archive":
        _docker_archive(image, dest, scratch, name, limits)
        return None
    if image.kind == "oci-archive":
        _extract_archive(image.path, scratch, str(image), limits)
        return _oci_layout(image, scratch, dest, name, platform, limits)
    return _oci_layout(image, image.path, dest, name, platform, limits)
