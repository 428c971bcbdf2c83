"""A small OCI distribution client on the standard library's HTTP: manifests, blobs, tags and pushes.

:class:`RegistryClient` speaks the distribution API (``/v2/``) on top of
:class:`~extractor.acquire.transport.Transport` (schemes, TLS, retries) and
:class:`~extractor.acquire.challenges.Authenticator` (Basic and Bearer challenge auth).
Manifests and blobs are hashed while they stream in and checked against the digest they were
requested by; a blob is written to a temporary file and renamed into place only after it
verified, so nothing from a bad download is ever used.

Errors are one line naming the reference: 401/403 -> :class:`AuthenticationError`,
404 -> :class:`NotFoundError`, bad content -> :class:`DigestMismatchError` /
:class:`UnsupportedMediaTypeError`, anything else -> :class:`RegistryError`. Network exceptions
are never chained (``from None``): their text can hold URLs and headers.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from urllib.parse import urljoin, urlsplit

from extractor import yamlio
from extractor.acquire.challenges import Authenticator, CredentialsProvider
from extractor.acquire.manifests import (
    ACCEPT_MANIFESTS,
    DIGEST_RE,
    MAX_MANIFEST_BYTES,
    Manifest,
    sha256_digest,
)
from extractor.acquire.reference import Reference
from extractor.acquire.transport import MAX_ERROR_BODY_BYTES, Interrupted, RetryPolicy, Transport
from extractor.acquire.wire import Interceptor, Response, merge_params, split_url
from extractor.errors import (
    AuthenticationError,
    DigestMismatchError,
    NotFoundError,
    RegistryError,
    UnsupportedMediaTypeError,
)

__all__ = ["RegistryClient"]

_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


_ERROR_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


def _error_codes(body: bytes) -> str:
    """``" (CODE1, CODE2)"`` from a distribution error body, or ``""``. Only well-formed codes
    (``NAME_UNKNOWN``) are kept: an error body is the server's text and never echoed as is."""
    try:
        parsed = yamlio.load_json(body)
        errors = parsed.get("errors", []) if isinstance(parsed, dict) else []
        codes = [str(e.get("code")) for e in errors if isinstance(e, dict) and isinstance(e.get("code"), str)]
    except (ValueError, AttributeError, UnicodeDecodeError):
        return ""
    codes = [code for code in codes if _ERROR_CODE.match(code)]
    return f" ({', '.join(codes[:3])})" if codes else ""


def _same_host(url: str, base: str) -> bool:
    """True when ``url`` is on the host and port of ``base`` (``scheme://host[:port]``)."""
    try:
        return split_url(url)[1:3] == split_url(base + "/")[1:3]
    except ValueError:
        return False


class RegistryClient:
    """A distribution-API client. Use as a context manager or call :meth:`close`.

    ``credentials``: called with a reference to get its credentials (``None`` = anonymous); called
    at most once per repository. ``insecure_hosts``: hosts reached over plain HTTP or unverified
    TLS (see :func:`extractor.acquire.reference.is_insecure`; non-loopback insecure hosts first try
    HTTPS without certificate checks, like Docker). ``ca_file``: a PEM bundle of extra CA
    certificates trusted for HTTPS (besides certifi's); :class:`ConfigError` when it cannot be
    loaded. ``timeout``: seconds for each read/write/pool wait; ``connect_timeout``: seconds to
    connect. ``retry``: the :class:`RetryPolicy`. ``transport``: an
    :data:`~extractor.acquire.wire.Interceptor` seeing every request (tests, instrumentation).
    Proxies come from the environment (:mod:`extractor.acquire.proxies`).
    """

    def __init__(
        self,
        *,
        credentials: CredentialsProvider | None = None,
        insecure_hosts: tuple[str, ...] = (),
        ca_file: Path | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: Interceptor | None = None,
        user_agent: str = "bundle-extract",
    ) -> None:
        self._transport = Transport(
            insecure_hosts=insecure_hosts, ca_file=ca_file, timeout=timeout, connect_timeout=connect_timeout,
            retry=retry, transport=transport, user_agent=user_agent,
        )
        self._auth = Authenticator(self._transport, credentials)

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection pools."""
        self._transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- requests ------------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        url: str,
        *,
        label: str,
        ref: Reference | None,
        actions: str = "pull",
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        stream: bool = False,
        follow: bool = False,
    ) -> Response:
        """Send a request with whatever auth the registry's challenge asks for.

        ``ref``: whose credentials and repository scope to use (``None`` for ``/v2/``).
        Returns the final response (any status); the caller maps statuses to errors.
        """
        host = urlsplit(url).netloc.lower()
        scope = f"repository:{ref.repository}:{actions}" if ref is not None else ""
        answered = False
        while True:
            all_headers = dict(headers or {})
            authorization = self._auth.authorization(host, ref, scope)
            if authorization:
                all_headers["Authorization"] = authorization
            request = self._transport.build_request(method, url, headers=all_headers, content=content)
            response = self._transport.send(request, label, stream=stream, follow=follow)
            if response.status_code != 401 or answered:
                return response
            challenge = response.headers.get("WWW-Authenticate", "")
            response.close()
            answered = True
            self._auth.answer(challenge, host, ref, label, scope)

    def _check(self, response: Response, label: str, what: str) -> None:
        """Raise the project's error for a non-2xx ``response``."""
        status = response.status_code
        if 200 <= status < 300:
            return
        body = b""
        if not response.is_closed:
            with contextlib.suppress(RegistryError):
                body = self._transport.read_body(response, label, MAX_ERROR_BODY_BYTES)
        else:
            body = response.content[:MAX_ERROR_BODY_BYTES]
        codes = _error_codes(body)
        if status == 401 and not response.headers.get("WWW-Authenticate"):
            codes += ", no WWW-Authenticate challenge"
        attempts = response.attempts
        if attempts > 1:
            codes += f", {attempts} attempts"
        if status in (401, 403):
            raise AuthenticationError(f"{label}: access to {what} denied (HTTP {status}{codes})")
        if status == 404:
            raise NotFoundError(f"{label}: {what} not found (HTTP 404{codes})")
        raise RegistryError(f"{label}: {what} failed (HTTP {status}{codes})")

    # -- reading -------------------------------------------------------------------------------
    def ping(self, registry: str) -> None:
        """``GET /v2/`` on ``registry`` (host[:port]); raises unless the API answers 200.

        Without credentials a registry answering 401 raises :class:`AuthenticationError`.
        """
        url = f"{self._transport.base(registry)}/v2/"
        response = self._request("GET", url, label=registry, ref=None)
        self._check(response, registry, "the registry API")

    def get_manifest(self, ref: Reference) -> Manifest:
        """Fetch the manifest or index ``ref`` points to (by digest if it has one, else by tag).

        Verified: against ``ref.digest``, else against the ``Docker-Content-Digest`` header when
        the registry sends one. Raises :class:`DigestMismatchError`, :class:`NotFoundError`,
        :class:`AuthenticationError`, :class:`UnsupportedMediaTypeError`, :class:`RegistryError`.
        """
        label = str(ref)
        url = f"{self._transport.base(ref.api_host)}/v2/{ref.repository}/manifests/{ref.selector}"
        response = self._request(
            "GET", url, label=label, ref=ref, headers={"Accept": ACCEPT_MANIFESTS}, stream=True, follow=True
        )
        try:
            self._check(response, label, "manifest")
        except BaseException:
            response.close()
            raise
        data = self._transport.read_body(response, f"{label}: manifest", MAX_MANIFEST_BYTES)
        digest = sha256_digest(data)
        expected = ref.digest or response.headers.get("Docker-Content-Digest")
        if expected and expected.startswith("sha256:") and expected != digest:
            raise DigestMismatchError(f"{label}: manifest content has digest {digest}, expected {expected}")
        return Manifest.from_bytes(data, label, response.headers.get("Content-Type"))

    def _iter(self, response: Response, label: str) -> Iterator[bytes]:
        return self._transport.iter_body(response, label)

    def download_blob(self, ref: Reference, digest: str, dest: Path, *, max_bytes: int,
                      expected_size: int | None = None,
                      progress: Callable[[int], None] | None = None) -> int:
        """Stream blob ``digest`` of ``ref``'s repository into ``dest``; return its size in bytes.

        The blob is written to a temporary file next to ``dest`` and renamed to ``dest`` only once
        its sha256 matched ``digest`` (redirects to blob storage are followed). A download that
        breaks off mid-stream starts again (the :class:`RetryPolicy`'s attempts and backoff).
        ``progress`` is called with the bytes received so far after each chunk. Raises
        :class:`DigestMismatchError` (nothing is left behind), :class:`RegistryError` when it
        exceeds ``max_bytes`` or ``expected_size``, and the usual HTTP errors.
        """
        label = f"{ref}: blob {digest}"
        if not DIGEST_RE.fullmatch(digest):
            raise UnsupportedMediaTypeError(f"{label}: unsupported digest algorithm")
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._download_once(ref, digest, dest, max_bytes=max_bytes, expected_size=expected_size,
                                           progress=progress)
            except Interrupted as exc:
                if attempt >= self._transport.retry.attempts:
                    raise RegistryError(f"{exc} ({attempt} attempts)") from None
                time.sleep(self._transport.retry.delay(attempt))

    def _download_once(self, ref: Reference, digest: str, dest: Path, *, max_bytes: int,
                       expected_size: int | None, progress: Callable[[int], None] | None) -> int:
        label = f"{ref}: blob {digest}"
        limit = max_bytes if expected_size is None else min(max_bytes, expected_size)
        url = f"{self._transport.base(ref.api_host)}/v2/{ref.repository}/blobs/{digest}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        response = self._request("GET", url, label=str(ref), ref=ref, stream=True, follow=True)
        import tempfile  # here: resolving a tag (a no-op update-bundle) downloads no blob

        fd, tmp_name = tempfile.mkstemp(prefix=".partial-", dir=dest.parent)
        tmp = Path(tmp_name)
        out = os.fdopen(fd, "wb")
        try:
            self._check(response, str(ref), f"blob {digest}")
            hasher = hashlib.sha256()
            total = 0
            with out:
                for chunk in self._iter(response, label):
                    total += len(chunk)
                    if total > limit:
                        raise RegistryError(f"{label}: larger than {limit} bytes")
                    hasher.update(chunk)
                    out.write(chunk)
                    if progress is not None:
                        progress(total)
            actual = "sha256:" + hasher.hexdigest()
            if actual != digest:
                raise DigestMismatchError(f"{label}: downloaded content has digest {actual}")
            if expected_size is not None and total != expected_size:
                raise RegistryError(f"{label}: size {total} differs from the manifest's {expected_size}")
            os.replace(tmp, dest)
            return total
        except BaseException:
            out.close()
            tmp.unlink(missing_ok=True)
            raise
        finally:
            response.close()

    def get_blob(self, ref: Reference, digest: str, *, max_bytes: int = MAX_MANIFEST_BYTES) -> bytes:
        """Fetch a small blob (e.g. an image config) into memory, verified against ``digest``."""
        label = f"{ref}: blob {digest}"
        url = f"{self._transport.base(ref.api_host)}/v2/{ref.repository}/blobs/{digest}"
        response = self._request("GET", url, label=str(ref), ref=ref, stream=True, follow=True)
        try:
            self._check(response, str(ref), f"blob {digest}")
        except BaseException:
            response.close()
            raise
        data = self._transport.read_body(response, label, max_bytes)
        if sha256_digest(data) != digest:
            raise DigestMismatchError(f"{label}: downloaded content has digest {sha256_digest(data)}")
        return data

    def list_tags(self, repository: Reference, *, page_size: int = 1000, max_pages: int = 1000) -> list[str]:
        """All tags of ``repository`` (its tag/digest are ignored), following ``Link`` pagination.

        Returns the tags in registry order. Raises :class:`NotFoundError` for an unknown
        repository and the usual errors otherwise.
        """
        label = repository.name
        base = self._transport.base(repository.api_host)
        url: str | None = merge_params(f"{base}/v2/{repository.repository}/tags/list", {"n": page_size})
        tags: list[str] = []
        for _ in range(max_pages):
            if url is None:
                return tags
            response = self._request("GET", url, label=label, ref=repository)
            self._check(response, label, "tag list")
            try:
                page = yamlio.load_json(response.content).get("tags") or []
                if not isinstance(page, list):
                    raise ValueError("tags is not a list")
            except (ValueError, AttributeError, UnicodeDecodeError):
                raise RegistryError(f"{label}: malformed tag list") from None
            tags.extend(str(t) for t in page)
            match = _LINK_NEXT.search(response.headers.get("Link", ""))
            url = urljoin(url, match.group(1)) if match else None
            if url is not None and not _same_host(url, base):
                raise RegistryError(f"{label}: tag list pagination points to another host")
        raise RegistryError(f"{label}: tag list has more than {max_pages} pages")

    # -- writing -------------------------------------------------------------------------------
    def blob_exists(self, ref: Reference, digest: str) -> bool:
        """``HEAD`` the blob in ``ref``'s repository: True if present, False on 404."""
        url = f"{self._transport.base(ref.api_host)}/v2/{ref.repository}/blobs/{digest}"
        response = self._request("HEAD", url, label=str(ref), ref=ref, actions="pull,push")
        if response.status_code == 404:
            return False
        self._check(response, str(ref), f"blob {digest}")
        return True

    def upload_blob(self, ref: Reference, data: bytes, digest: str | None = None) -> str:
        """Upload ``data`` as one blob (``POST`` then monolithic ``PUT``); return its digest.

        Skips the upload when the registry already has the blob.
        """
        digest = digest or sha256_digest(data)
        if self.blob_exists(ref, digest):
            return digest
        label = str(ref)
        base = self._transport.base(ref.api_host)
        start = self._request(
            "POST", f"{base}/v2/{ref.repository}/blobs/uploads/", label=label, ref=ref, actions="pull,push",
            content=b"",
        )
        self._check(start, label, "blob upload")
        location = start.headers.get("Location")
        if not location:
            raise RegistryError(f"{label}: blob upload answered without a Location")
        upload_url = merge_params(urljoin(base + "/", location), {"digest": digest})
        if not _same_host(upload_url, base):
            raise RegistryError(f"{label}: blob upload location points to another host")
        done = self._request(
            "PUT", upload_url, label=label, ref=ref, actions="pull,push", content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        self._check(done, label, f"blob upload {digest}")
        return digest

    def put_manifest(self, ref: Reference, data: bytes, media_type: str) -> str:
        """``PUT`` ``data`` as the manifest for ``ref`` (tag or digest); return its digest."""
        label = str(ref)
        url = f"{self._transport.base(ref.api_host)}/v2/{ref.repository}/manifests/{ref.selector}"
        response = self._request(
            "PUT", url, label=label, ref=ref, actions="pull,push", content=data,
            headers={"Content-Type": media_type},
        )
        self._check(response, label, "manifest upload")
        digest = sha256_digest(data)
        returned = response.headers.get("Docker-Content-Digest")
        if returned and returned != digest:
            raise DigestMismatchError(f"{label}: registry stored the manifest as {returned}, not {digest}")
        return digest
