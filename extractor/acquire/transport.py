"""HTTP transport to registries: the scheme each host is spoken to with, TLS, and retries.

:class:`Transport` sends one request at a time and knows nothing of authentication or of the
distribution API. Its rules:

- TLS is verified (certifi's CAs plus an optional ``ca_file``);
- loopback hosts are spoken to over plain HTTP, unless the first answer shows the port speaks
  TLS; then HTTPS is used, verified unless the host is listed as insecure;
- other insecure hosts get HTTPS without verification, falling back to plain HTTP (Docker's
  behaviour);
- connection failures, 429 and 5xx are retried with backoff (:class:`RetryPolicy`);
- every try has a total deadline (``timeout`` seconds from sending to the last body byte, not
  per read: a server dripping one byte at a time is cut off), at most :data:`MAX_REDIRECTS`
  redirects, and a byte cap on every body read into memory (:data:`MAX_BODY_BYTES`, error bodies
  :data:`MAX_ERROR_BODY_BYTES`).

httpx exceptions are never chained (``from None``): their text can hold URLs and headers.
"""

from __future__ import annotations

import email.utils
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from extractor.acquire.reference import is_insecure, is_loopback
from extractor.acquire.retry import RETRY_STATUSES, RetryPolicy
from extractor.errors import ConfigError, RegistryError

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_ERROR_BODY_BYTES",
    "MAX_REDIRECTS",
    "RETRY_STATUSES",
    "Interrupted",
    "RetryPolicy",
    "Transport",
    "check_ca_file",
]

MAX_BODY_BYTES = 4 * 1024 * 1024
"""Largest body read into memory (token answers, tag list pages, small blobs, manifests)."""
MAX_ERROR_BODY_BYTES = 64 * 1024
"""Largest error body read (only its ``errors[].code`` values are used)."""
MAX_REDIRECTS = 5

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


class Interrupted(RegistryError):
    """A download broke off mid-stream (retried by the blob download of the registry client)."""


def check_ca_file(path: Path) -> None:
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


class Transport:
    """Sends requests to registries with the scheme rules of the module docstring and retries.

    ``insecure_hosts``: see :func:`extractor.acquire.reference.is_insecure`. ``ca_file``: extra
    trusted CAs (:class:`ConfigError` when it cannot be loaded). ``timeout``: seconds for each
    read/write/pool wait; ``connect_timeout``: seconds to connect. ``transport``: an httpx
    transport used for every request instead of the network (tests, instrumentation).
    """

    def __init__(
        self,
        *,
        insecure_hosts: tuple[str, ...] = (),
        ca_file: Path | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = "bundle-extract",
    ) -> None:
        self.insecure_hosts = insecure_hosts
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        if ca_file is not None:
            check_ca_file(ca_file)
        timeouts = httpx.Timeout(timeout, connect=connect_timeout)
        headers = {"User-Agent": user_agent}
        if transport is None:
            # Loading the CA bundle costs ~70 ms: only do it when an https URL is first used.
            # The default transport serves http:// only (https:// is mounted), so it needs no CAs.
            plain = httpx.HTTPTransport(verify=False)
            mounts: dict[str, httpx.BaseTransport] = {
                "https://": _LazyTransport(lambda: httpx.HTTPTransport(verify=_ssl_context(ca_file)))
            }
            self.client = httpx.Client(timeout=timeouts, transport=plain, mounts=mounts, headers=headers,
                                       max_redirects=MAX_REDIRECTS)
        else:
            self.client = httpx.Client(timeout=timeouts, transport=transport, headers=headers,
                                       max_redirects=MAX_REDIRECTS)
        self._unverified: httpx.Client | None = None
        if transport is None:
            self._unverified_factory: Callable[[], httpx.Client] = lambda: httpx.Client(
                timeout=timeouts, headers=headers, verify=False, max_redirects=MAX_REDIRECTS
            )
        else:
            self._unverified_factory = lambda: self.client
        self._schemes: dict[str, str] = {}
        self._probing: set[str] = set()  # loopback hosts whose first plain-HTTP answer is pending

    def close(self) -> None:
        """Close the connection pools."""
        self.client.close()
        if self._unverified is not None and self._unverified is not self.client:
            self._unverified.close()

    def _scheme(self, host: str) -> str:
        if host not in self._schemes:
            if is_loopback(host):
                self._schemes[host] = "http"
                self._probing.add(host)
            elif is_insecure(host, self.insecure_hosts):
                self._schemes[host] = "https-unverified"
            else:
                self._schemes[host] = "https"
        return self._schemes[host]

    def base(self, host: str) -> str:
        """``http://host`` or ``https://host``, as the scheme rules say for ``host`` (``host[:port]``)."""
        scheme = self._scheme(host)
        return f"{'https' if scheme.startswith('https') else 'http'}://{host}"

    def send(self, request: httpx.Request, label: str, *, stream: bool, follow: bool,
             max_bytes: int = MAX_BODY_BYTES) -> httpx.Response:
        """Send one request, retrying transient failures per the :class:`RetryPolicy`.

        Returns the final response (a retried status comes back as the last answer, with the
        number of tries in ``response.extensions["attempts"]``). With ``stream`` the body is left
        to the caller (read it with :meth:`iter_body`, which keeps the deadline); otherwise it is
        read here, at most ``max_bytes`` (an error response: :data:`MAX_ERROR_BODY_BYTES`). Raises
        one-line :class:`RegistryError`s for transport failures and limits, naming ``label``.
        """
        policy = self.retry
        deadline = time.monotonic() + policy.budget
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._send_once(request, label, follow=follow)
                if not stream:
                    response = self._buffered(response, label, max_bytes)
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

    def iter_body(self, response: httpx.Response, label: str) -> Iterator[bytes]:
        """The body of a streamed ``response`` in chunks, within the try's deadline.

        Raises :class:`RegistryError` when the deadline passes or a read stalls,
        :class:`Interrupted` when the connection breaks off (worth starting again).
        """
        deadline = response.extensions.get("deadline")
        try:
            # chunk_size None: every network read is seen as it arrives (a fixed size would buffer
            # a dripping answer and hide it from the deadline check)
            for chunk in response.iter_bytes():
                if isinstance(deadline, float) and time.monotonic() > deadline:
                    raise RegistryError(f"{label}: the answer took longer than {self.timeout:g}s (--registry-timeout)")
                yield chunk
        except httpx.TimeoutException:
            raise RegistryError(f"{label}: download stalled for more than {self.timeout:g}s") from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise Interrupted(f"{label}: download broke off ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise RegistryError(f"{label}: download failed ({type(exc).__name__})") from None

    def read_body(self, response: httpx.Response, label: str, max_bytes: int) -> bytes:
        """Read a streamed body, at most ``max_bytes`` (:class:`RegistryError` past it), then close."""
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in self.iter_body(response, label):
                total += len(chunk)
                if total > max_bytes:
                    raise RegistryError(f"{label}: answer larger than {max_bytes} bytes")
                chunks.append(chunk)
        finally:
            response.close()
        return b"".join(chunks)

    def _buffered(self, response: httpx.Response, label: str, max_bytes: int) -> httpx.Response:
        """A copy of ``response`` with its body read (capped, within the deadline)."""
        cap = max_bytes if response.is_success or response.is_redirect else MAX_ERROR_BODY_BYTES
        try:
            body = self.read_body(response, label, cap)
        except Interrupted as exc:
            raise _Transient(exc) from None
        except RegistryError:
            if response.is_success:
                raise
            body = b""  # an error answer too big or too slow: its status is what counts
        return httpx.Response(response.status_code, headers=response.headers, content=body,
                              request=response.request, extensions=dict(response.extensions))

    def _send_once(self, request: httpx.Request, label: str, *, follow: bool) -> httpx.Response:
        """One try (plus the insecure-host and loopback-TLS scheme fallbacks); the body is not read.

        Raises :class:`_Transient` for retryable transport failures, :class:`RegistryError` else.
        """
        host = request.url.netloc.decode("ascii")
        scheme = self._schemes.get(host, "https")
        client = self.client
        if scheme == "https-unverified" and request.url.scheme == "https":
            if self._unverified is None:
                self._unverified = self._unverified_factory()
            client = self._unverified
        target = f"{request.url.scheme}://{host}"
        try:
            start = time.monotonic()
            response = client.send(request, stream=True, follow_redirects=follow)
            response.extensions["deadline"] = start + self.timeout
        except httpx.ConnectTimeout:
            raise _Transient(RegistryError(f"{label}: cannot connect to {target}: timed out")) from None
        except httpx.TimeoutException:
            raise RegistryError(f"{label}: {host} did not answer within {self.timeout:g}s") from None
        except httpx.ConnectError as exc:
            if scheme == "https-unverified" and request.url.scheme == "https":
                # Docker's insecure-registry behaviour: fall back to plain HTTP.
                self._schemes[host] = "http"
                return self._send_once(self._rescheme(request, "http"), label, follow=follow)
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
                secure = not is_insecure(host, self.insecure_hosts, loopback=False)
                self._schemes[host] = "https" if secure else "https-unverified"
                return self._send_once(self._rescheme(request, "https"), label, follow=follow)
        return response

    def _speaks_tls(self, request: httpx.Request, response: httpx.Response) -> bool:
        """True when a 400 answer says the port expects TLS (Go, nginx and others say so).

        A HEAD answer has no body: then ``GET /v2/`` is asked once over plain HTTP to find out.
        """
        try:
            if request.method == "HEAD":
                response.close()
                probe = self.client.build_request("GET", request.url.copy_with(path="/v2/", query=None))
                response = self.client.send(probe, stream=True)
                response.extensions["deadline"] = time.monotonic() + self.timeout
            body = self.read_body(response, str(request.url.netloc), MAX_ERROR_BODY_BYTES)[:1024].lower()
        except (httpx.HTTPError, RegistryError):
            return False
        finally:
            response.close()
        return b"https" in body or b"tls" in body or b"ssl" in body

    def _rescheme(self, request: httpx.Request, scheme: str) -> httpx.Request:
        return self.client.build_request(
            request.method, request.url.copy_with(scheme=scheme), headers=request.headers, content=request.content
        )
