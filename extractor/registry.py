"""A small OCI distribution client on httpx: manifests, blobs, tags, pushes, challenge auth.

Everything goes through :meth:`RegistryClient._send` (TLS choice, retries with backoff on
connection failures, 429 and 5xx, see :class:`RetryPolicy`) and :meth:`RegistryClient._request`
(auth: anonymous, Basic, Bearer tokens cached per scope until their ``expires_in`` runs out, then
fetched again).

TLS is verified (certifi's CAs plus an optional ``ca_file``). Loopback hosts are spoken to over
plain HTTP, unless the first answer shows the port speaks TLS; then HTTPS is used, verified
unless the host is listed as insecure. Other insecure hosts get HTTPS without verification,
falling back to plain HTTP (Docker's behaviour). Manifests and blobs are hashed while they stream in and checked against
the digest they were requested by; a blob is written to a temporary file and renamed into place
only after it verified, so nothing from a bad download is ever used.

Errors are one line naming the reference: 401/403 -> :class:`AuthenticationError`,
404 -> :class:`NotFoundError`, bad content -> :class:`DigestMismatchError` /
:class:`UnsupportedMediaTypeError`, anything else -> :class:`RegistryError`. httpx exceptions are
never chained (``from None``): their text can hold URLs and headers.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import json
import os
import random
import re
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from extractor.auth import Credentials
from extractor.errors import (
    AuthenticationError,
    ConfigError,
    DigestMismatchError,
    NotFoundError,
    RegistryError,
    UnsupportedMediaTypeError,
)
from extractor.reference import Reference, is_insecure, is_loopback

__all__ = [
    "ACCEPT_MANIFESTS",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "RETRY_STATUSES",
    "CredentialsProvider",
    "Descriptor",
    "Manifest",
    "RegistryClient",
    "RetryPolicy",
    "select_platform",
    "sha256_digest",
]

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_MANIFESTS = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
INDEXES = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
ACCEPT_MANIFESTS = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST])

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
"""Largest manifest accepted (the distribution spec's suggested limit)."""
DEFAULT_TOKEN_LIFETIME = 60
"""Seconds a token without ``expires_in`` is valid (the token spec's default)."""
_CHUNK = 256 * 1024
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_CHALLENGE_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')

CredentialsProvider = Callable[[Reference], Credentials | None]
"""Returns the credentials to use for a reference (its registry/repository), or ``None``."""

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses that are retried (with ``Retry-After`` honoured when the server sends one)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a request is retried after a transient failure.

    Transient: a connection that cannot be made or breaks before the answer (refused, reset,
    connect timeout; not a TLS certificate failure), a blob download cut off mid-stream, and the
    statuses in :data:`RETRY_STATUSES`. ``attempts``: tries per request in total (1 = never
    retry). ``backoff``: seconds before the first retry, doubled for each further one (plus up to
    10 % jitter), at most ``max_delay``; a ``Retry-After`` header (seconds or HTTP date) replaces
    the computed delay. ``budget``: seconds of waiting one request may spend on retries; a retry
    whose delay would exceed it is not made.
    """

    attempts: int = 4
    backoff: float = 0.5
    max_delay: float = 10.0
    budget: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        if retry_after is not None:
            return max(retry_after, 0.0)
        base: float = min(self.backoff * 2.0 ** (attempt - 1), self.max_delay)
        return base * (1 + random.random() / 10)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), or ``None``."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


class _Transient(Exception):
    """A failure worth retrying; ``error`` is what is raised when no retry is left."""

    def __init__(self, error: RegistryError) -> None:
        super().__init__(str(error))
        self.error = error


class _Interrupted(RegistryError):
    """A download broke off mid-stream (retried by :meth:`RegistryClient.download_blob`)."""


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor. ``platform``: ``os/arch[/variant]`` for index entries."""

    media_type: str
    digest: str
    size: int
    platform: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, value: Any, where: str) -> Descriptor:
        """Parse a descriptor object; raises :class:`RegistryError` naming ``where`` when malformed."""
        if not isinstance(value, dict):
            raise RegistryError(f"{where}: malformed descriptor in manifest")
        digest = value.get("digest")
        size = value.get("size")
        if not isinstance(digest, str) or not isinstance(size, int) or size < 0:
            raise RegistryError(f"{where}: malformed descriptor in manifest")
        if not _DIGEST.fullmatch(digest):
            raise UnsupportedMediaTypeError(f"{where}: unsupported digest {digest[:80]!r} (only sha256)")
        platform = None
        raw_platform = value.get("platform")
        if isinstance(raw_platform, dict):
            parts = [str(raw_platform.get("os", "")), str(raw_platform.get("architecture", ""))]
            if raw_platform.get("variant"):
                parts.append(str(raw_platform["variant"]))
            platform = "/".join(parts)
        annotations = value.get("annotations")
        return cls(
            media_type=str(value.get("mediaType", "")),
            digest=digest,
            size=size,
            platform=platform,
            annotations=dict(annotations) if isinstance(annotations, dict) else {},
        )


@dataclass(frozen=True)
class Manifest:
    """A verified manifest or index: its exact bytes, digest and media type."""

    digest: str
    media_type: str
    data: bytes = field(repr=False)

    @classmethod
    def from_bytes(cls, data: bytes, where: str, content_type: str | None = None) -> Manifest:
        """Parse and classify ``data``. Raises :class:`UnsupportedMediaTypeError` for schema1 and
        unknown media types, :class:`RegistryError` for invalid JSON."""
        try:
            parsed = json.loads(data)
        except ValueError:
            raise RegistryError(f"{where}: manifest is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise RegistryError(f"{where}: manifest is not a JSON object")
        media_type = parsed.get("mediaType")
        if not isinstance(media_type, str) or not media_type:
            media_type = (content_type or "").split(";")[0].strip()
            if not media_type and parsed.get("schemaVersion") == 2:
                media_type = OCI_INDEX if "manifests" in parsed else OCI_MANIFEST
        if parsed.get("schemaVersion") == 1 or media_type not in IMAGE_MANIFESTS | INDEXES:
            raise UnsupportedMediaTypeError(
                f"{where}: unsupported manifest type {media_type or 'schema1'!r} "
                "(need an OCI or Docker schema2 manifest or index)"
            )
        return cls(digest=sha256_digest(data), media_type=media_type, data=data)

    @property
    def is_index(self) -> bool:
        """True for an OCI index or Docker manifest list."""
        return self.media_type in INDEXES

    def json(self) -> dict[str, Any]:
        """The parsed JSON object."""
        value: dict[str, Any] = json.loads(self.data)
        return value

    def manifests(self, where: str) -> list[Descriptor]:
        """Index entries (empty for an image manifest)."""
        return [Descriptor.from_json(d, where) for d in self.json().get("manifests") or []]

    def layers(self, where: str) -> list[Descriptor]:
        """Layer descriptors, oldest first (empty for an index)."""
        return [Descriptor.from_json(d, where) for d in self.json().get("layers") or []]

    def config(self, where: str) -> Descriptor:
        """The image config descriptor. Raises :class:`RegistryError` when there is none."""
        return Descriptor.from_json(self.json().get("config"), where)


def select_platform(index: Manifest, platform: str, where: str) -> Descriptor:
    """Pick the index entry for ``platform`` (``os/arch[/variant]``), else the only image entry.

    Attestation entries (``unknown/unknown``) are ignored. Raises :class:`RegistryError` listing
    the available platforms when neither rule applies.
    """
    entries = [
        d for d in index.manifests(where)
        if d.platform != "unknown/unknown"
        and d.annotations.get("vnd.docker.reference.type") != "attestation-manifest"
    ]
    wanted = platform.split("/")
    for entry in entries:
        have = (entry.platform or "").split("/")
        if have[:2] == wanted[:2] and (len(wanted) < 3 or have[2:3] == wanted[2:3]):
            return entry
    if len(entries) == 1:
        return entries[0]
    available = ", ".join(sorted(d.platform or "unspecified" for d in entries)) or "none"
    raise RegistryError(f"{where}: image index has no {platform} entry (platforms: {available})")


@dataclass
class _Token:
    value: str = field(repr=False)
    expires: float  # time.monotonic() deadline


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) for m in
              _CHALLENGE_PARAM.finditer(rest)}
    return scheme.lower(), params


def _basic(creds: Credentials) -> str:
    token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode("ascii")
    return f"Basic {token}"


def _error_codes(response: httpx.Response) -> str:
    """``" (CODE1, CODE2)"`` from a distribution error body, or ``""``."""
    try:
        body = json.loads(response.content[:65536])
        codes = [str(e.get("code")) for e in body.get("errors", []) if isinstance(e, dict) and e.get("code")]
    except (ValueError, AttributeError, httpx.ResponseNotRead):
        return ""
    return f" ({', '.join(codes[:3])})" if codes else ""


def _check_ca_file(path: Path) -> None:
    """Raise :class:`ConfigError` unless ``path`` holds at least one PEM certificate."""
    try:
        ssl.create_default_context(cafile=str(path))
    except FileNotFoundError:
        raise ConfigError(f"{path}: CA file not found") from None
    except (OSError, ssl.SSLError, ValueError):
        raise ConfigError(f"{path}: not a PEM CA certificate bundle") from None


def _ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    """httpx's default verifying context (certifi, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``) plus ``ca_file``."""
    context = httpx.create_ssl_context(verify=True, trust_env=True)
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    return context


class _LazyTransport(httpx.BaseTransport):
    """Creates the wrapped transport on the first request."""

    def __init__(self, factory: Callable[[], httpx.BaseTransport]) -> None:
        self._factory = factory
        self._transport: httpx.BaseTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._transport is None:
            self._transport = self._factory()
        return self._transport.handle_request(request)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class RegistryClient:
    """A distribution-API client. Use as a context manager or call :meth:`close`.

    ``credentials``: called with a reference to get its credentials (``None`` = anonymous); called
    at most once per repository. ``insecure_hosts``: hosts reached over plain HTTP or unverified
    TLS (see :func:`extractor.reference.is_insecure`; non-loopback insecure hosts first try HTTPS
    without certificate checks, like Docker). ``ca_file``: a PEM bundle of extra CA certificates
    trusted for HTTPS (besides certifi's); :class:`ConfigError` when it cannot be loaded.
    ``timeout``: seconds for each read/write/pool wait; ``connect_timeout``: seconds to connect.
    ``retry``: the :class:`RetryPolicy`. ``transport``: an httpx transport (tests, proxies).
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
        transport: httpx.BaseTransport | None = None,
        user_agent: str = "bundle-extract",
    ) -> None:
        self._credentials = credentials
        self._insecure_hosts = insecure_hosts
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._ca_file = ca_file
        if ca_file is not None:
            _check_ca_file(ca_file)
        timeouts = httpx.Timeout(timeout, connect=connect_timeout)
        headers = {"User-Agent": user_agent}
        if transport is None:
            # Loading the CA bundle costs ~70 ms: only do it when an https URL is first used.
            # The default transport serves http:// only (https:// is mounted), so it needs no CAs.
            plain = httpx.HTTPTransport(verify=False)
            mounts: dict[str, httpx.BaseTransport] = {
                "https://": _LazyTransport(lambda: httpx.HTTPTransport(verify=_ssl_context(ca_file)))
            }
            self._client = httpx.Client(timeout=timeouts, transport=plain, mounts=mounts, headers=headers)
        else:
            self._client = httpx.Client(timeout=timeouts, transport=transport, headers=headers)
        self._unverified: httpx.Client | None = None
        if transport is None:
            self._unverified_factory: Callable[[], httpx.Client] = lambda: httpx.Client(
                timeout=timeouts, headers=headers, verify=False
            )
        else:
            self._unverified_factory = lambda: self._client
        self._schemes: dict[str, str] = {}
        self._probing: set[str] = set()  # loopback hosts whose first plain-HTTP answer is pending
        self._creds: dict[str, Credentials | None] = {}
        self._basic_hosts: set[str] = set()
        self._tokens: dict[tuple[str, str], _Token] = {}

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection pools."""
        self._client.close()
        if self._unverified is not None and self._unverified is not self._client:
            self._unverified.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- transport -----------------------------------------------------------------------------
    def _scheme(self, host: str) -> str:
        if host not in self._schemes:
            if is_loopback(host):
                self._schemes[host] = "http"
                self._probing.add(host)
            elif is_insecure(host, self._insecure_hosts):
                self._schemes[host] = "https-unverified"
            else:
                self._schemes[host] = "https"
        return self._schemes[host]

    def _base(self, host: str) -> str:
        scheme = self._scheme(host)
        return f"{'https' if scheme.startswith('https') else 'http'}://{host}"

    def _send(self, request: httpx.Request, label: str, *, stream: bool, follow: bool) -> httpx.Response:
        """Send one request, retrying transient failures per the :class:`RetryPolicy`.

        Returns the final response (a retried status comes back as the last answer, with the
        number of tries in ``response.extensions["attempts"]``). Raises one-line
        :class:`RegistryError`s for transport failures.
        """
        policy = self._retry
        deadline = time.monotonic() + policy.budget
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._send_once(request, label, stream=stream, follow=follow)
            except _Transient as exc:
                delay = policy.delay(attempt)
                if attempt >= policy.attempts or time.monotonic() + delay > deadline:
                    suffix = f" ({attempt} attempts)" if attempt > 1 else ""
                    raise type(exc.error)(f"{exc.error}{suffix}") from None
                time.sleep(delay)
                continue
            if response.status_code in RETRY_STATUSES and attempt < policy.attempts:
                delay = policy.delay(attempt, _retry_after(response))
                if time.monotonic() + delay <= deadline:
                    response.close()
                    time.sleep(delay)
                    continue
            response.extensions["attempts"] = attempt
            return response

    def _send_once(self, request: httpx.Request, label: str, *, stream: bool, follow: bool) -> httpx.Response:
        """One try (plus the insecure-host and loopback-TLS scheme fallbacks).

        Raises :class:`_Transient` for retryable transport failures, :class:`RegistryError` else.
        """
        host = request.url.netloc.decode("ascii")
        scheme = self._schemes.get(host, "https")
        client = self._client
        if scheme == "https-unverified" and request.url.scheme == "https":
            if self._unverified is None:
                self._unverified = self._unverified_factory()
            client = self._unverified
        target = f"{request.url.scheme}://{host}"
        try:
            response = client.send(request, stream=stream, follow_redirects=follow)
        except httpx.ConnectTimeout:
            raise _Transient(RegistryError(f"{label}: cannot connect to {target}: timed out")) from None
        except httpx.TimeoutException:
            raise RegistryError(f"{label}: {host} did not answer within {self._timeout:g}s") from None
        except httpx.ConnectError as exc:
            if scheme == "https-unverified" and request.url.scheme == "https":
                # Docker's insecure-registry behaviour: fall back to plain HTTP.
                self._schemes[host] = "http"
                return self._send_once(self._rescheme(request, "http"), label, stream=stream, follow=follow)
            reason = str(exc).split("\n")[0][:200] or type(exc).__name__
            if "CERTIFICATE_VERIFY_FAILED" in reason or "certificate verify failed" in reason:
                raise RegistryError(
                    f"{label}: TLS certificate of {host} is not trusted ({reason}); "
                    f"use --registry-ca-file FILE, or --registry-insecure {host}"
                ) from None
            if "SSL" in reason or "TLS" in reason:
                hint = f" (--registry-insecure {host} for a plain-HTTP registry)"
                raise RegistryError(f"{label}: cannot connect to {target}: {reason}{hint}") from None
            raise _Transient(RegistryError(f"{label}: cannot connect to {target}: {reason}")) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise _Transient(
                RegistryError(f"{label}: connection to {target} broke ({type(exc).__name__})")
            ) from None
        except httpx.TooManyRedirects:
            raise RegistryError(f"{label}: too many redirects from {host}") from None
        except httpx.HTTPError as exc:
            raise RegistryError(f"{label}: request to {host} failed ({type(exc).__name__})") from None
        if request.url.scheme == "http" and host in self._probing:
            self._probing.discard(host)
            if response.status_code == 400 and self._speaks_tls(request, response):
                # A loopback registry serving TLS (Go answers plain HTTP with this 400).
                secure = not is_insecure(host, self._insecure_hosts, loopback=False)
                self._schemes[host] = "https" if secure else "https-unverified"
                return self._send_once(self._rescheme(request, "https"), label, stream=stream, follow=follow)
        return response

    def _speaks_tls(self, request: httpx.Request, response: httpx.Response) -> bool:
        """True when a 400 answer says the port expects TLS (Go, nginx and others say so).

        A HEAD answer has no body: then ``GET /v2/`` is asked once over plain HTTP to find out.
        """
        try:
            if request.method == "HEAD":
                response.close()
                probe = self._client.build_request("GET", request.url.copy_with(path="/v2/", query=None))
                response = self._client.send(probe)
            body = response.read()[:1024].lower()
        except httpx.HTTPError:
            return False
        finally:
            response.close()
        return b"https" in body or b"tls" in body or b"ssl" in body

    def _rescheme(self, request: httpx.Request, scheme: str) -> httpx.Request:
        return self._client.build_request(
            request.method, request.url.copy_with(scheme=scheme), headers=request.headers, content=request.content
        )

    # -- auth ----------------------------------------------------------------------------------
    def _lookup_credentials(self, ref: Reference | None) -> Credentials | None:
        if ref is None or self._credentials is None:
            return None
        if ref.name not in self._creds:
            self._creds[ref.name] = self._credentials(ref)
        return self._creds[ref.name]

    def _authorization(self, host: str, ref: Reference | None, scope: str) -> str | None:
        token = self._tokens.get((host, scope))
        if token is not None:
            if time.monotonic() < token.expires:
                return f"Bearer {token.value}"
            del self._tokens[(host, scope)]
        if host in self._basic_hosts:
            creds = self._lookup_credentials(ref)
            if creds is not None:
                return _basic(creds)
        return None

    def _fetch_token(
        self, host: str, ref: Reference | None, label: str, params: dict[str, str], scope: str
    ) -> None:
        realm = params.get("realm", "")
        try:
            realm_url = httpx.URL(realm)
        except (httpx.InvalidURL, TypeError):
            raise AuthenticationError(f"{label}: registry {host} sent an invalid token realm") from None
        realm_host = realm_url.netloc.decode("ascii")
        if realm_url.scheme not in ("http", "https") or not realm_host:
            raise AuthenticationError(f"{label}: registry {host} sent an invalid token realm")
        if realm_url.scheme == "http" and not is_insecure(realm_host, self._insecure_hosts):
            raise AuthenticationError(
                f"{label}: token service {realm_host} is plain HTTP (use --registry-insecure {realm_host})"
            )
        query: dict[str, str] = {}
        if params.get("service"):
            query["service"] = params["service"]
        if scope:
            query["scope"] = scope
        creds = self._lookup_credentials(ref)
        headers = {}
        if creds is not None:
            headers["Authorization"] = _basic(creds)
        request = self._client.build_request("GET", realm_url.copy_merge_params(query), headers=headers)
        response = self._send(request, label, stream=False, follow=True)
        if response.status_code in (401, 403):
            who = f"the credentials from {creds.source}" if creds else "anonymous access"
            raise AuthenticationError(
                f"{label}: token service {realm_host} refused {who} (HTTP {response.status_code})"
            )
        if response.status_code != 200:
            raise RegistryError(f"{label}: token service {realm_host} answered HTTP {response.status_code}")
        try:
            body = response.json()
            value = body.get("token") or body.get("access_token")
            lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        except (ValueError, AttributeError, TypeError):
            raise RegistryError(f"{label}: token service {realm_host} sent a malformed answer") from None
        if not isinstance(value, str) or not value:
            raise RegistryError(f"{label}: token service {realm_host} sent no token")
        # Refresh a little early so a token does not expire between check and use.
        expires = time.monotonic() + max(lifetime - min(10.0, lifetime / 10), 0.0)
        self._tokens[(host, scope)] = _Token(value, expires)

    def _request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        label: str,
        ref: Reference | None,
        actions: str = "pull",
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        stream: bool = False,
        follow: bool = False,
    ) -> httpx.Response:
        """Send a request with whatever auth the registry's challenge asks for.

        ``ref``: whose credentials and repository scope to use (``None`` for ``/v2/``).
        Returns the final response (any status); the caller maps statuses to errors.
        """
        url = httpx.URL(url)
        host = url.netloc.decode("ascii")
        scope = f"repository:{ref.repository}:{actions}" if ref is not None else ""
        answered = False
        while True:
            all_headers = dict(headers or {})
            authorization = self._authorization(host, ref, scope)
            if authorization:
                all_headers["Authorization"] = authorization
            request = self._client.build_request(method, url, headers=all_headers, content=content)
            response = self._send(request, label, stream=stream, follow=follow)
            if response.status_code != 401 or answered:
                return response
            challenge = response.headers.get("WWW-Authenticate", "")
            response.close()
            scheme, params = _parse_challenge(challenge)
            answered = True
            if scheme == "basic":
                if self._lookup_credentials(ref) is None:
                    raise AuthenticationError(
                        f"{label}: {host} requires authentication and no credentials were found "
                        "(use --authfile or --registry-username/--registry-password)"
                    )
                self._basic_hosts.add(host)
            elif scheme == "bearer" and params.get("realm"):
                self._fetch_token(host, ref, label, params, params.get("scope") or scope)
                if params.get("scope") and params["scope"] != scope:
                    self._tokens[(host, scope)] = self._tokens[(host, params["scope"])]
            else:
                raise AuthenticationError(f"{label}: {host} asked for unsupported authentication {scheme!r}")

    @staticmethod
    def _check(response: httpx.Response, label: str, what: str) -> None:
        """Raise the project's error for a non-2xx ``response``."""
        status = response.status_code
        if 200 <= status < 300:
            return
        if not response.is_closed:
            with contextlib.suppress(httpx.HTTPError):
                response.read()
            response.close()
        codes = _error_codes(response)
        attempts = response.extensions.get("attempts", 1)
        if isinstance(attempts, int) and attempts > 1:
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
        url = f"{self._base(registry)}/v2/"
        response = self._request("GET", url, label=registry, ref=None)
        self._check(response, registry, "the registry API")

    def get_manifest(self, ref: Reference) -> Manifest:
        """Fetch the manifest or index ``ref`` points to (by digest if it has one, else by tag).

        Verified: against ``ref.digest``, else against the ``Docker-Content-Digest`` header when
        the registry sends one. Raises :class:`DigestMismatchError`, :class:`NotFoundError`,
        :class:`AuthenticationError`, :class:`UnsupportedMediaTypeError`, :class:`RegistryError`.
        """
        label = str(ref)
        url = f"{self._base(ref.api_host)}/v2/{ref.repository}/manifests/{ref.selector}"
        response = self._request(
            "GET", url, label=label, ref=ref, headers={"Accept": ACCEPT_MANIFESTS}, stream=True, follow=True
        )
        try:
            self._check(response, label, "manifest")
            chunks: list[bytes] = []
            total = 0
            hasher = hashlib.sha256()
            for chunk in self._iter(response, label):
                total += len(chunk)
                if total > MAX_MANIFEST_BYTES:
                    raise RegistryError(f"{label}: manifest larger than {MAX_MANIFEST_BYTES} bytes")
                hasher.update(chunk)
                chunks.append(chunk)
        finally:
            response.close()
        data = b"".join(chunks)
        digest = "sha256:" + hasher.hexdigest()
        expected = ref.digest or response.headers.get("Docker-Content-Digest")
        if expected and expected.startswith("sha256:") and expected != digest:
            raise DigestMismatchError(f"{label}: manifest content has digest {digest}, expected {expected}")
        return Manifest.from_bytes(data, label, response.headers.get("Content-Type"))

    def _iter(self, response: httpx.Response, label: str) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes(_CHUNK)
        except httpx.TimeoutException:
            raise RegistryError(f"{label}: download stalled for more than {self._timeout:g}s") from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise _Interrupted(f"{label}: download broke off ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise RegistryError(f"{label}: download failed ({type(exc).__name__})") from None

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
        if not _DIGEST.fullmatch(digest):
            raise UnsupportedMediaTypeError(f"{label}: unsupported digest algorithm")
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._download_once(ref, digest, dest, max_bytes=max_bytes, expected_size=expected_size,
                                           progress=progress)
            except _Interrupted as exc:
                if attempt >= self._retry.attempts:
                    raise RegistryError(f"{exc} ({attempt} attempts)") from None
                time.sleep(self._retry.delay(attempt))

    def _download_once(self, ref: Reference, digest: str, dest: Path, *, max_bytes: int,
                       expected_size: int | None, progress: Callable[[int], None] | None) -> int:
        label = f"{ref}: blob {digest}"
        limit = max_bytes if expected_size is None else min(max_bytes, expected_size)
        url = f"{self._base(ref.api_host)}/v2/{ref.repository}/blobs/{digest}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        response = self._request("GET", url, label=str(ref), ref=ref, stream=True, follow=True)
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
        url = f"{self._base(ref.api_host)}/v2/{ref.repository}/blobs/{digest}"
        response = self._request("GET", url, label=str(ref), ref=ref, stream=True, follow=True)
        try:
            self._check(response, str(ref), f"blob {digest}")
            chunks: list[bytes] = []
            total = 0
            for chunk in self._iter(response, label):
                total += len(chunk)
                if total > max_bytes:
                    raise RegistryError(f"{label}: larger than {max_bytes} bytes")
                chunks.append(chunk)
        finally:
            response.close()
        data = b"".join(chunks)
        if sha256_digest(data) != digest:
            raise DigestMismatchError(f"{label}: downloaded content has digest {sha256_digest(data)}")
        return data

    def list_tags(self, repository: Reference, *, page_size: int = 1000, max_pages: int = 1000) -> list[str]:
        """All tags of ``repository`` (its tag/digest are ignored), following ``Link`` pagination.

        Returns the tags in registry order. Raises :class:`NotFoundError` for an unknown
        repository and the usual errors otherwise.
        """
        label = repository.name
        base = self._base(repository.api_host)
        first = httpx.URL(f"{base}/v2/{repository.repository}/tags/list", params={"n": page_size})
        url: httpx.URL | None = first
        tags: list[str] = []
        for _ in range(max_pages):
            if url is None:
                return tags
            response = self._request("GET", url, label=label, ref=repository)
            self._check(response, label, "tag list")
            try:
                page = response.json().get("tags") or []
            except (ValueError, AttributeError):
                raise RegistryError(f"{label}: malformed tag list") from None
            tags.extend(str(t) for t in page)
            match = _LINK_NEXT.search(response.headers.get("Link", ""))
            url = url.join(match.group(1)) if match else None
            if url is not None and url.netloc.decode("ascii") != repository.api_host:
                raise RegistryError(f"{label}: tag list pagination points to another host")
        raise RegistryError(f"{label}: tag list has more than {max_pages} pages")

    # -- writing -------------------------------------------------------------------------------
    def blob_exists(self, ref: Reference, digest: str) -> bool:
        """``HEAD`` the blob in ``ref``'s repository: True if present, False on 404."""
        url = f"{self._base(ref.api_host)}/v2/{ref.repository}/blobs/{digest}"
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
        base = self._base(ref.api_host)
        start = self._request(
            "POST", f"{base}/v2/{ref.repository}/blobs/uploads/", label=label, ref=ref, actions="pull,push",
            content=b"",
        )
        self._check(start, label, "blob upload")
        location = start.headers.get("Location")
        if not location:
            raise RegistryError(f"{label}: blob upload answered without a Location")
        upload_url = httpx.URL(base).join(location).copy_merge_params({"digest": digest})
        if upload_url.netloc.decode("ascii") != ref.api_host:
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
        url = f"{self._base(ref.api_host)}/v2/{ref.repository}/manifests/{ref.selector}"
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
