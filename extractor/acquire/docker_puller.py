"""Pull bundle images through the local Docker daemon (docker-py): ``--puller docker``.

:class:`DockerPuller` implements :class:`extractor.acquire.Puller`. The daemon does the registry
work with its own settings (mirrors, proxies, TLS, insecure registries); credentials come from the
docker client configuration (``$DOCKER_CONFIG/config.json`` and its credential helpers, as docker-py
reads them) unless the options carry explicit ones. Steps for one reference:

1. connect with ``docker.from_env()`` (``DOCKER_HOST``, ``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH``);
2. ``POST /images/create`` for the (mirror-rewritten) reference and ``options.platform``, reading
   the progress stream for errors and the ``Digest:`` the daemon reports (the digest the reference
   resolved to: an index digest for multi-platform images, as with :class:`HttpPuller`);
3. create a container from that image, never started (bundle images are ``FROM scratch`` without a
   command, so a placeholder command is given);
4. ``GET /containers/{id}/archive`` for ``/manifests`` and ``/metadata``; each tar stream is saved
   (size-capped) and applied with :func:`extractor.acquire.layers.apply_layers`, the same entry checks as
   native layers (no escapes, absolute or escaping symlinks, devices; size and entry caps; only
   ``manifests/`` and ``metadata/`` written). A directory the image lacks is left out, exactly as
   the native puller leaves it out, so the bundle loader reports it the same way;
5. remove the container (also when a step failed). The pulled image stays in the daemon's store.

The daemon applies layers before these checks see anything: layer entries with ``..`` components
are resolved by the daemon inside the image root (never outside it), so such an entry is only
refused here when the result is unsafe, whereas the native puller refuses the layer outright.

Every docker-py / transport exception becomes one line of the :class:`AcquireError` family naming
the reference (:class:`NotFoundError`, :class:`AuthenticationError`, :class:`RegistryError` for
pull failures). ``PullResult.manifest_digest`` is the daemon's digest too: the daemon does not
report the platform manifest it picked from an index.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from extractor.acquire.layers import BUNDLE_DIRS, Layer, LayerLimits, apply_layers, keep_parts
from extractor.acquire.options import AcquireOptions, PullProgress
from extractor.acquire.puller import KeepDirs, PullResult
from extractor.acquire.reference import Reference
from extractor.errors import (
    AcquireError,
    AuthenticationError,
    ConfigError,
    NotFoundError,
    RegistryError,
    UnsafeLayerError,
)

__all__ = ["CONTAINER_LABEL", "PLACEHOLDER_COMMAND", "DockerPuller"]

log = logging.getLogger(__name__)

CONTAINER_LABEL = "io.github.bundle-extract.extract"
"""Label set on the short-lived containers (value: the image reference), for finding leftovers."""
PLACEHOLDER_COMMAND = ["/bundle-extract-never-started"]
"""Command given to ``containers.create``: the container is never started."""

_DIGEST_STATUS = re.compile(r"Digest: (sha256:[a-f0-9]{64})")
_AUTH_WORDS = ("unauthorized", "denied", "authentication required", "auth credentials", "forbidden")
_NOT_FOUND_WORDS = ("not found", "manifest unknown", "name unknown", "does not exist")
_HEADER_ALLOWANCE = 3 * 1024
"""Tar bytes allowed per entry beyond its content (header, pax header, padding)."""


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _daemon_host() -> str:
    """``DOCKER_HOST`` (user info removed) or docker-py's default socket, for messages."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return re.sub(r"//[^/@]*@", "//", host)


def _explanation(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    text = explanation if isinstance(explanation, str) and explanation else str(exc)
    text = text.removeprefix("Error while fetching server API version: ")
    return _one_line(text)


def _pull_error(image: str, ref: Reference, message: str, status: int | None = None) -> RegistryError:
    """Classify a pull failure the daemon reported (HTTP status and/or message text)."""
    lowered = message.lower()
    text = f"{image}: the Docker daemon could not pull {ref}: {_one_line(message)}"
    if status in (401, 403) or any(word in lowered for word in _AUTH_WORDS):
        return AuthenticationError(text)
    if status == 404 or any(word in lowered for word in _NOT_FOUND_WORDS):
        return NotFoundError(text)
    return RegistryError(text)


def _platform_matches(have: str, wanted: str) -> bool:
    """``os/arch[/variant]`` equality; a variant only counts when ``wanted`` names one."""
    have_parts, wanted_parts = have.split("/"), wanted.split("/")
    if have_parts[:2] != wanted_parts[:2]:
        return False
    return len(wanted_parts) < 3 or have_parts[2:3] == wanted_parts[2:3]


class DockerPuller:
    """A :class:`~extractor.acquire.Puller` backed by the local Docker daemon.

    ``options``: ``platform``, ``timeout`` (seconds per daemon read), ``max_bytes``/``max_files``
    (caps on the extracted archives), ``progress`` (``download`` reports without a layer digest,
    ``unpack``, ``done``) and explicit credentials (``username``/``password`` or an ``authfile``)
    are used; the registry transport settings (``insecure_hosts``, ``ca_file``, ``transport``,
    ``cache_dir``) are the daemon's business and ignored. Raises :class:`ConfigError` when the
    ``docker`` package is not installed or ``offline`` is set. The daemon is contacted on the
    first :meth:`pull`.
    """

    def __init__(self, options: AcquireOptions) -> None:
        try:
            import docker
            import requests  # docker-py's transport; its errors are not wrapped in DockerException
        except ImportError:
            raise ConfigError(
                "--puller docker needs the docker Python package: pip install 'bundle-extract[docker]'"
            ) from None
        if options.offline:
            raise ConfigError("--offline reads the native puller's blob cache: use it with --puller http")
        self.options = options
        self._docker: Any = docker
        self._transport_errors: tuple[type[BaseException], ...] = (requests.RequestException,)
        self._client: Any = None

    # -- connection --------------------------------------------------------------------------
    def _api(self, image: str) -> Any:
        """The low-level ``APIClient`` of a ``docker.from_env()`` client (connects once)."""
        if self._client is None:
            try:
                self._client = self._docker.from_env(timeout=self.options.timeout)
            except (self._docker.errors.DockerException, *self._transport_errors) as exc:
                raise AcquireError(
                    f"{image}: cannot connect to the Docker daemon at {_daemon_host()}: {_explanation(exc)}"
                ) from None
        return self._client.api

    def close(self) -> None:
        """Close the daemon connection."""
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None

    # -- the Puller protocol ---------------------------------------------------------------------
    def pull(self, ref: Reference, dest: Path, *, image: str,
             keep: KeepDirs = BUNDLE_DIRS,
             skipped: tuple[int, int] | None = None) -> PullResult:
        """Pull ``ref`` through the daemon and unpack its bundle directories into ``dest``.

        ``keep``: the directories to unpack (a bundle's by default), or a function of the image's
        labels returning them (a catalog's configs directory); only those are read out of the
        container, so ``skipped`` (caps on the rest, see
        :meth:`extractor.acquire.http_puller.HttpPuller.pull`) has nothing to count.

        ``image``: the reference named in errors. Returns the digest the daemon resolved ``ref``
        to (``digest`` and ``manifest_digest`` alike). Raises :class:`AcquireError` (daemon
        unreachable, container or archive failures), :class:`NotFoundError`,
        :class:`AuthenticationError`, :class:`RegistryError` (pull failures),
        :class:`UnsafeLayerError` (refused archive entries, caps).
        """
        api = self._api(image)
        errors = self._docker.errors
        try:
            digest = self._pull(api, ref, image)
            image_id = self._image_id(api, ref, image)
            dirs = keep(self._labels(api, image_id)) if callable(keep) else keep
            container = self._create(api, image_id, image)
            try:
                self._report(image, "unpack")
                self._extract(api, container, dest, image, dirs)
            except BaseException:
                try:
                    self._remove(api, container, image)
                except Exception as exc:  # keep the original error; say what was left behind
                    log.warning("%s", exc)
                raise
            self._remove(api, container, image)
            self._report(image, "done")
        except errors.DockerException as exc:
            raise AcquireError(f"{image}: Docker daemon error: {_explanation(exc)}") from None
        except self._transport_errors as exc:
            raise AcquireError(
                f"{image}: lost the connection to the Docker daemon at {_daemon_host()}: {_explanation(exc)}"
            ) from None
        return PullResult(digest=digest, manifest_digest=digest)

    # -- steps -----------------------------------------------------------------------------------
    def _report(self, image: str, event: str) -> None:
        if self.options.progress is not None:
            self.options.progress(PullProgress(image, event))

    def _auth_config(self, ref: Reference) -> dict[str, str] | None:
        """Explicit credentials from the options; ``None`` lets docker-py use the docker config."""
        if not (self.options.username or self.options.authfile):
            return None
        credentials = self.options.credentials(ref)
        if credentials is None:
            return None
        return {"username": credentials.username, "password": credentials.password}

    def _pull(self, api: Any, ref: Reference, image: str) -> str:
        """Run the pull; return the digest the daemon reports for ``ref``."""
        errors = self._docker.errors
        selector = ref.digest or ref.tag or "latest"
        log.debug("docker pull %s:%s (platform %s)", ref.name, selector, self.options.platform)
        reported: str | None = None
        sizes: dict[str, int] = {}  # layer id -> total bytes, from its "Downloading" reports
        try:
            stream = api.pull(
                ref.name, tag=selector, stream=True, decode=True, platform=self.options.platform,
                auth_config=self._auth_config(ref),
            )
            for message in stream:
                if not isinstance(message, dict):
                    continue
                if message.get("error") or message.get("errorDetail"):
                    detail = message.get("errorDetail") or {}
                    text = str(message.get("error") or detail.get("message") or "unknown error")
                    if ref.digest and "cannot overwrite digest" in text.lower():
                        raise self._other_platform(image, f"{ref.name}@{ref.digest}", "another platform")
                    raise _pull_error(image, ref, text, detail.get("code") if isinstance(detail, dict) else None)
                status = str(message.get("status") or "")
                match = _DIGEST_STATUS.search(status)
                if match:
                    reported = match.group(1)
                elif self.options.progress is not None:
                    self._layer_progress(image, status, message, sizes)
        except errors.APIError as exc:
            raise _pull_error(image, ref, _explanation(exc), exc.status_code) from None
        if ref.digest:
            if reported and reported != ref.digest:
                raise RegistryError(f"{image}: the Docker daemon pulled {reported}, not {ref.digest}")
            return ref.digest
        if reported:
            return reported
        return self._repo_digest(api, ref, image)

    def _layer_progress(self, image: str, status: str, message: dict[str, Any], sizes: dict[str, int]) -> None:
        """Report ``download`` for a layer's ``Downloading`` and ``Pull complete`` statuses.

        The daemon coalesces progress (a watcher sees only the newest status of a layer), so a small
        layer may show no ``Downloading`` at all; ``Pull complete`` always ends a fresh layer and is
        reported as fully received (``done == total``, the size last seen, 0 when none was). A
        layer the daemon already had (``Already exists``) is not reported.
        """
        assert self.options.progress is not None
        layer = str(message.get("id") or "")
        if status == "Downloading":
            detail = message.get("progressDetail") or {}
            total = int(detail.get("total") or 0)
            sizes[layer] = total
            self.options.progress(PullProgress(image, "download", None, int(detail.get("current") or 0), total))
        elif status == "Pull complete":
            total = sizes.get(layer, 0)
            self.options.progress(PullProgress(image, "download", None, total, total))

    def _repo_digest(self, api: Any, ref: Reference, image: str) -> str:
        """The ``RepoDigests`` entry of the pulled image for ``ref``'s repository."""
        errors = self._docker.errors
        try:
            attrs = api.inspect_image(f"{ref.name}:{ref.tag or 'latest'}")
        except errors.NotFound:
            raise AcquireError(f"{image}: the Docker daemon has no image {ref} after pulling it") from None
        for entry in attrs.get("RepoDigests") or []:
            name, _, digest = str(entry).partition("@")
            with contextlib.suppress(ConfigError):
                if Reference.parse(name).name == ref.name and re.fullmatch(r"sha256:[a-f0-9]{64}", digest):
                    return digest
        raise RegistryError(f"{image}: the Docker daemon reported no digest for {ref}")

    def _image_id(self, api: Any, ref: Reference, image: str) -> str:
        """The local image ID the pull left for ``ref``.

        A tag names the image just pulled for ``options.platform``. A digest names whatever image
        the daemon first stored under it: the daemon keeps one image per repository digest, so a
        multi-platform image pinned by digest and pulled earlier for another platform is refused
        rather than used. Raises :class:`AcquireError` / :class:`RegistryError`.
        """
        errors = self._docker.errors
        target = f"{ref.name}@{ref.digest}" if ref.digest else f"{ref.name}:{ref.tag or 'latest'}"
        try:
            attrs = api.inspect_image(target)
        except errors.NotFound:
            raise AcquireError(f"{image}: the Docker daemon has no image {target} after pulling it") from None
        have = "/".join(str(attrs.get(key) or "") for key in ("Os", "Architecture", "Variant")).rstrip("/")
        if ref.digest and not _platform_matches(have, self.options.platform) and self._is_index(api, ref, target):
            raise self._other_platform(image, target, have)
        return str(attrs["Id"])

    def _other_platform(self, image: str, target: str, have: str) -> RegistryError:
        return RegistryError(
            f"{image}: the Docker daemon holds {target} for {have}, not {self.options.platform} (it keeps one "
            f"platform per digest; remove it with 'docker rmi {target}' or use --puller http)"
        )

    def _is_index(self, api: Any, ref: Reference, target: str) -> bool:
        """Whether ``target`` is a multi-platform index in the registry (asked through the daemon)."""
        errors = self._docker.errors
        try:
            descriptor = api.inspect_distribution(target, auth_config=self._auth_config(ref)).get("Descriptor") or {}
        except errors.APIError:
            return True  # cannot tell: refuse rather than hand out another platform's bundle
        media_type = str(descriptor.get("mediaType") or "")
        return "manifest.list" in media_type or "image.index" in media_type

    def _create(self, api: Any, image_id: str, image: str) -> str:
        container = api.create_container(
            image_id, command=PLACEHOLDER_COMMAND, network_disabled=True, labels={CONTAINER_LABEL: image[:200]},
        )
        container_id = str(container["Id"])
        log.debug("%s: created container %s", image, container_id[:12])
        return container_id

    def _remove(self, api: Any, container: str, image: str) -> None:
        """Remove ``container`` and its anonymous volumes. Raises :class:`AcquireError`."""
        errors = self._docker.errors
        try:
            api.remove_container(container, v=True, force=True)
        except errors.NotFound:
            return
        except (errors.DockerException, *self._transport_errors) as exc:
            raise AcquireError(f"{image}: cannot remove container {container[:12]}: {_explanation(exc)}") from None

    def _labels(self, api: Any, image_id: str) -> dict[str, str]:
        """The image config's labels (``Config.Labels``), as strings."""
        labels = (api.inspect_image(image_id).get("Config") or {}).get("Labels") or {}
        return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}

    def _extract(self, api: Any, container: str, dest: Path, image: str, dirs: Sequence[str] = BUNDLE_DIRS) -> None:
        """Save the archives of ``dirs`` (``/manifests`` and ``/metadata``; capped) and apply them to
        ``dest``. The daemon names an archive's entries from the directory's own name, so a nested
        directory (``a/b/configs``) is applied below ``dest/a/b``."""
        errors = self._docker.errors
        limits = LayerLimits(max_bytes=self.options.max_bytes, max_files=self.options.max_files)
        budget = limits.max_bytes + limits.max_files * _HEADER_ALLOWANCE + 10 * 1024
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".docker-archive-", dir=dest.parent) as tmp:
            groups: dict[tuple[str, ...], tuple[list[Layer], list[str]]] = {}
            for index, parts in enumerate(keep_parts(dirs)):
                path = "/" + "/".join(parts)
                try:
                    chunks, _stat = api.get_archive(container, path)
                except errors.NotFound:
                    log.debug("%s: no %s in the image", image, path)
                    continue
                archive = Path(tmp) / f"{index}-{parts[-1]}.tar"
                with archive.open("wb") as out:
                    for chunk in chunks:
                        budget -= len(chunk)
                        if budget < 0:
                            raise UnsafeLayerError(
                                f"{image}: docker archive {path}: image content exceeds {limits.max_bytes} "
                                "bytes uncompressed"
                            )
                        out.write(chunk)
                layers, names = groups.setdefault(parts[:-1], ([], []))
                layers.append(Layer(archive, f"docker archive {path}", "application/x-tar"))
                names.append(parts[-1])
            if not groups:
                dest.mkdir(parents=True, exist_ok=True)
            for parent, (layers, names) in groups.items():
                apply_layers(layers, dest.joinpath(*parent), image=image, limits=limits, keep=names)
