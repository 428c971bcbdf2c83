"""The native puller: the distribution API (:class:`~extractor.acquire.client.RegistryClient`)
with the content-addressed :class:`~extractor.acquire.blobs.BlobCache`.

A warm run re-resolving a tag makes one manifest request; a digest reference whose manifests are
cached makes none; ``offline`` serves everything from the cache or raises :class:`NotCachedError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from extractor import yamlio
from extractor.acquire.blobs import BlobCache
from extractor.acquire.manifests import Manifest, select_platform
from extractor.acquire.options import AcquireOptions, PullProgress, default_cache_dir
from extractor.acquire.puller import KeepDirs, PullResult
from extractor.acquire.reference import Reference
from extractor.errors import NotCachedError, RegistryError

if TYPE_CHECKING:
    from extractor.acquire.layers import Layer

__all__ = ["MAX_LAYERS", "HttpPuller", "KeepDirs"]

MAX_LAYERS = 128
"""Most layers an image may have (bundle images have one or a few; Docker's own limit is 127)."""



class HttpPuller:
    """Pull over the distribution API (:class:`RegistryClient`) with a :class:`BlobCache`."""

    def __init__(self, options: AcquireOptions) -> None:
        self.options = options
        self.cache = BlobCache(options.cache_dir or default_cache_dir())
        self.client = options.client()

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    def _manifest(self, ref: Reference) -> Manifest:
        if not ref.digest and self.options.offline:
            recorded = self.cache.tag_digest(ref)
            if recorded is None:
                raise NotCachedError(
                    f"{ref}: tag {ref.tag} is not in the cache {self.cache.root} (pull it once without --offline)"
                )
            ref = ref.with_digest(recorded)
        if ref.digest:
            cached = self.cache.get(ref.digest)
            if cached is not None:
                return Manifest.from_bytes(cached.read_bytes(), str(ref))
            if self.options.offline:
                raise NotCachedError(f"{ref}: manifest {ref.digest} is not in the cache {self.cache.root}")
        manifest = self.client.get_manifest(ref)
        self.cache.put_bytes(manifest.digest, manifest.data)
        if not ref.digest:
            self.cache.record_tag(ref, manifest.digest)
        return manifest

    def resolve(self, ref: Reference) -> str:
        """The ``sha256:`` digest ``ref`` points to (an index digest for multi-platform images, what
        :meth:`pull` returns as ``PullResult.digest``), without fetching layers: a digest reference
        as it is, a tag by one manifest request (cached with its tag record, so a pull by that
        digest fetches no manifest again), offline from the cached tag record.

        Raises the :class:`RegistryError` family, :class:`NotCachedError` offline.
        """
        if ref.digest:
            return ref.digest
        return self._manifest(ref).digest

    def labels(self, ref: Reference, manifest: Manifest) -> dict[str, str]:
        """The ``config.Labels`` of image ``manifest`` (its config blob, verified and cached).

        Raises :class:`RegistryError` for a config that is not a JSON object or labels that are
        not strings, :class:`NotCachedError` offline when the config is not cached.
        """
        where = f"{ref.with_digest(manifest.digest)}"
        descriptor = manifest.config(where)
        cached = self.cache.get(descriptor.digest)
        if cached is not None:
            data = cached.read_bytes()
        elif self.options.offline:
            raise NotCachedError(f"{where}: image config {descriptor.digest} is not in the cache {self.cache.root}")
        else:
            data = self.client.get_blob(ref, descriptor.digest)
            self.cache.put_bytes(descriptor.digest, data)
        try:
            config = yamlio.load_json(data)
        except ValueError:
            raise RegistryError(f"{where}: image config {descriptor.digest} is not valid JSON") from None
        inner = config.get("config") if isinstance(config, dict) else None
        labels = (inner.get("Labels") if isinstance(inner, dict) else None) or {}
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise RegistryError(f"{where}: image config {descriptor.digest}: labels are not strings")
        return {str(k): v for k, v in labels.items()}

    def _report(self, image: str, event: str, digest: str | None = None, done: int = 0, total: int = 0) -> None:
        if self.options.progress is not None:
            self.options.progress(PullProgress(image, event, digest, done, total))

    def pull(self, ref: Reference, dest: Path, *, image: str, keep: KeepDirs | None = None,
             skipped: tuple[int, int] | None = None) -> PullResult:
        """Resolve ``ref`` (index -> ``options.platform``), fetch missing layers, unpack the ``keep``
        directories (:data:`KeepDirs`; ``None``: a bundle's ``manifests/`` and ``metadata/``) into
        ``dest``. A ``keep`` function is called with the image's labels before any layer is fetched.
        ``skipped``: ``(bytes, entries)`` caps for content outside the ``keep`` directories
        (:class:`LayerLimits`); the compressed download is then capped at twice the larger byte cap.

        Raises the :class:`RegistryError` family, :class:`UnsafeLayerError`, :class:`AcquireError`
        and whatever the ``keep`` function raises.
        """
        from extractor.acquire.layers import BUNDLE_DIRS, Layer, LayerLimits, apply_layers  # not for resolve

        keep = BUNDLE_DIRS if keep is None else keep
        top = self._manifest(ref)
        manifest = top
        if top.is_index:
            entry = select_platform(top, self.options.platform, str(ref))
            manifest = self._manifest(ref.with_digest(entry.digest))
            if manifest.is_index:
                raise RegistryError(f"{ref}: nested image indexes are not supported")
        where = f"{ref.with_digest(manifest.digest)}"
        dirs = keep(self.labels(ref, manifest)) if callable(keep) else keep
        layers: list[Layer] = []
        remaining = max(self.options.max_bytes, skipped[0] if skipped else 0) * 2  # compressed: bounded too
        descriptors = manifest.layers(where)
        if len(descriptors) > MAX_LAYERS:
            raise RegistryError(f"{where}: manifest lists {len(descriptors)} layers (at most {MAX_LAYERS} accepted)")
        cached = {d.digest: self.cache.get(d.digest) for d in descriptors}
        total = sum(d.size for d in descriptors)
        self._report(image, "resolved", done=sum(d.size for d in descriptors if cached[d.digest]), total=total)
        for descriptor in descriptors:
            path = cached[descriptor.digest]
            if path is None:
                if self.options.offline:
                    raise NotCachedError(f"{image}: layer {descriptor.digest} is not in the cache {self.cache.root}")
                path = self.cache.path(descriptor.digest)
                layer_digest, size = descriptor.digest, descriptor.size

                def report(done: int, layer_digest: str = layer_digest, size: int = size) -> None:
                    self._report(image, "download", layer_digest, done, size)

                self.client.download_blob(
                    ref, descriptor.digest, path, max_bytes=remaining, expected_size=descriptor.size,
                    progress=report if self.options.progress else None,
                )
                cached[descriptor.digest] = path  # a layer listed twice is downloaded once
                remaining -= descriptor.size
            layers.append(Layer(path, descriptor.digest, descriptor.media_type))
        limits = LayerLimits(max_bytes=self.options.max_bytes, max_files=self.options.max_files,
                             skipped_bytes=skipped[0] if skipped else None,
                             skipped_files=skipped[1] if skipped else None)
        self._report(image, "unpack")
        apply_layers(layers, dest, image=image, limits=limits, keep=dirs)
        self._report(image, "done")
        return PullResult(digest=top.digest, manifest_digest=manifest.digest)
