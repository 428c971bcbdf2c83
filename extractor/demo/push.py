"""Build and push bundle images (``FROM scratch`` + ``manifests/`` + ``metadata/``) without a daemon.

Deterministic: one gzip layer of a tar with sorted entries, mtime 0, uid/gid 0, no user/group
names, modes 0755 (directories) / 0644 (files), gzip header mtime 0; the image config carries
only platform, ``rootfs`` and the labels from ``metadata/annotations.yaml``. The same directory
therefore always gives the same manifest digest. Used by the demo command and the tests; the
low-level :func:`push_image` / :func:`push_index` also push arbitrary layers (hostile-layer tests).
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from extractor import yamlio
from extractor.acquire import AcquireOptions
from extractor.acquire.layers import BUNDLE_DIRS
from extractor.acquire.manifests import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    sha256_digest,
)
from extractor.acquire.reference import Reference
from extractor.errors import BundleError

__all__ = [
    "BuiltImage",
    "ManifestFormat",
    "build_image",
    "bundle_labels",
    "bundle_layer",
    "directory_layer",
    "gzip_bytes",
    "push_bundle_image",
    "push_image",
    "push_index",
]

ManifestFormat = Literal["oci", "docker"]

_TYPES: dict[str, dict[str, str]] = {
    "oci": {
        "manifest": OCI_MANIFEST,
        "config": "application/vnd.oci.image.config.v1+json",
        "layer": "application/vnd.oci.image.layer.v1.tar+gzip",
        "layer_tar": "application/vnd.oci.image.layer.v1.tar",
        "index": OCI_INDEX,
    },
    "docker": {
        "manifest": DOCKER_MANIFEST,
        "config": "application/vnd.docker.container.image.v1+json",
        "layer": "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "layer_tar": "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "index": DOCKER_MANIFEST_LIST,
    },
}


def _canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def gzip_bytes(data: bytes) -> bytes:
    """gzip ``data`` deterministically (level 6, header mtime 0, no file name)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=6, mtime=0) as out:
        out.write(data)
    return buffer.getvalue()


def bundle_layer(bundle_dir: Path) -> bytes:
    """An uncompressed, deterministic tar of ``manifests/`` and ``metadata/`` of ``bundle_dir``.

    Raises :class:`BundleError` when either directory is missing or holds a symlink or special file.
    """
    return directory_layer([(top, bundle_dir / top) for top in BUNDLE_DIRS])


def directory_layer(trees: Sequence[tuple[str, Path]]) -> bytes:
    """An uncompressed, deterministic tar holding each ``(name, directory)`` of ``trees`` as
    ``name/`` (``name`` may have several components, e.g. ``configs`` or ``a/b``).

    Raises :class:`BundleError` when a directory is missing or holds a symlink or special file.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for top, root in trees:
            if not root.is_dir() or root.is_symlink():
                raise BundleError(f"{root.parent}: no {root.name}/ directory")
            paths = [root, *sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix())]
            for path in paths:
                rel = path.relative_to(root).as_posix()
                name = top.strip("/") if rel == "." else f"{top.strip('/')}/{rel}"
                info = tarfile.TarInfo(name)
                info.mtime = 0
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                if path.is_symlink():
                    raise BundleError(f"{path}: symlinks are not supported in images built here")
                if path.is_dir():
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    archive.addfile(info)
                elif path.is_file():
                    data = path.read_bytes()
                    info.size = len(data)
                    info.mode = 0o644
                    archive.addfile(info, io.BytesIO(data))
                else:
                    raise BundleError(f"{path}: not a regular file or directory")
    return buffer.getvalue()


def bundle_labels(bundle_dir: Path) -> dict[str, str]:
    """The ``annotations`` of ``metadata/annotations.yaml`` as image labels (strings).

    Raises :class:`BundleError` when the file is missing or has no ``annotations`` mapping.
    """
    path = bundle_dir / "metadata" / "annotations.yaml"
    try:
        data = yamlio.load(path.read_bytes())
    except OSError:
        raise BundleError(f"{path}: cannot read") from None
    annotations = data.get("annotations") if isinstance(data, dict) else None
    if not isinstance(annotations, dict):
        raise BundleError(f"{path}: no 'annotations' mapping")
    return {str(k): str(v) for k, v in annotations.items()}


@dataclass(frozen=True)
class BuiltImage:
    """An image ready to push: blobs by digest, the manifest bytes, its media type and digest."""

    blobs: Mapping[str, bytes]
    manifest: bytes
    media_type: str

    @property
    def digest(self) -> str:
        """``sha256:`` digest of the manifest."""
        return sha256_digest(self.manifest)


def build_image(
    layers: Sequence[bytes],
    *,
    labels: Mapping[str, str] | None = None,
    manifest_format: ManifestFormat = "oci",
    compress: bool = True,
    platform: str = "linux/amd64",
) -> BuiltImage:
    """Build an image from uncompressed tar ``layers`` (oldest first).

    ``compress``: gzip each layer (else store plain tar, OCI ``…layer.v1.tar``). ``labels``:
    image config labels. ``platform``: ``os/arch`` recorded in the config.
    """
    types = _TYPES[manifest_format]
    os_name, _, architecture = platform.partition("/")
    blobs: dict[str, bytes] = {}
    descriptors: list[dict[str, Any]] = []
    diff_ids: list[str] = []
    for tar in layers:
        diff_ids.append(sha256_digest(tar))
        blob = gzip_bytes(tar) if compress else tar
        digest = sha256_digest(blob)
        blobs[digest] = blob
        media_type = types["layer"] if compress else types["layer_tar"]
        descriptors.append({"mediaType": media_type, "digest": digest, "size": len(blob)})
    config: dict[str, Any] = {
        "architecture": architecture or "amd64",
        "os": os_name or "linux",
        "config": {"Labels": dict(sorted((labels or {}).items()))},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    config_bytes = _canonical_json(config)
    config_digest = sha256_digest(config_bytes)
    blobs[config_digest] = config_bytes
    manifest = {
        "schemaVersion": 2,
        "mediaType": types["manifest"],
        "config": {"mediaType": types["config"], "digest": config_digest, "size": len(config_bytes)},
        "layers": descriptors,
    }
    return BuiltImage(blobs=blobs, manifest=_canonical_json(manifest), media_type=types["manifest"])


def push_image(reference: str, image: BuiltImage, options: AcquireOptions | None = None) -> str:
    """Push ``image``'s blobs (skipping those present) and manifest to ``reference``.

    ``options``: connection settings (insecure hosts, credentials, timeouts, transport); its
    mirrors and cache are not used. Returns the manifest digest. Raises the
    :class:`RegistryError` family.
    """
    options = options or AcquireOptions()
    ref = Reference.parse(reference)
    with options.client() as client:
        for digest, blob in image.blobs.items():
            client.upload_blob(ref, blob, digest)
        return client.put_manifest(ref, image.manifest, image.media_type)


def push_index(
    reference: str,
    entries: Sequence[tuple[BuiltImage, str]],
    options: AcquireOptions | None = None,
    *,
    manifest_format: ManifestFormat = "oci",
) -> str:
    """Push each ``(image, "os/arch[/variant]")`` by digest, then an index of them at ``reference``.

    Returns the index digest.
    """
    options = options or AcquireOptions()
    ref = Reference.parse(reference)
    manifests: list[dict[str, Any]] = []
    for image, platform in entries:
        push_image(str(ref.with_digest(image.digest)), image, options)
        parts = platform.split("/")
        spec: dict[str, str] = {"os": parts[0], "architecture": parts[1] if len(parts) > 1 else ""}
        if len(parts) > 2:
            spec["variant"] = parts[2]
        manifests.append({
            "mediaType": image.media_type, "digest": image.digest, "size": len(image.manifest),
            "platform": spec,
        })
    media_type = _TYPES[manifest_format]["index"]
    index = _canonical_json({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests})
    with options.client() as client:
        return client.put_manifest(ref, index, media_type)


def push_bundle_image(
    bundle_dir: Path,
    reference: str,
    options: AcquireOptions | None = None,
    *,
    manifest_format: ManifestFormat = "oci",
) -> str:
    """Build the bundle image of ``bundle_dir`` and push it to ``reference``; return its digest.

    Deterministic: the same directory and format always give the same digest. Raises
    :class:`BundleError` for a malformed directory and the :class:`RegistryError` family.
    """
    image = build_image(
        [bundle_layer(bundle_dir)], labels=bundle_labels(bundle_dir), manifest_format=manifest_format
    )
    return push_image(reference, image, options)
