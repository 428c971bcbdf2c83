"""HTTP transport to registries: the scheme each host is spoken to with, TLS, redirects and retries.

:class:`Transport` sends one request at a time and knows nothing of authentication or of the
distribution API; the HTTP/1.1 itself is :mod:`extractor.acquire.wire` (``http.client``, kept-alive
connections per host, proxies from ``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``/``NO_PROXY``). Its rules:

- TLS is verified (certifi's CAs, or ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set, plus an optional
  ``ca_file``), loaded when an ``https://`` URL is first used and then shared by every transport
  of the process (:func:`extractor.acquire.tls.shared_context`);
- loopback hosts are spoken to over plain HTTP, unless the first answer shows the port speaks
  TLS; then HTTPS is used, verified unless the host is listed as insecure;
- other insecure hosts get HTTPS without verification, falling back to plain HTTP (Docker's
  behaviour);
- connection failures, 429 and 5xx are retried with backoff (:class:`RetryPolicy`);
- every try has a total deadline (``timeout`` seconds from sending to the last body byte, not
  per read: a server dripping one byte at a time is cut off), at most :data:`MAX_REDIRECTS`
  redirects (followed only where the caller asks; ``Authorization`` is dropped on a redirect to
  another origin, unless it only upgrades http:80 to https:443), and a byte cap on every body read
  into memory (:data:`MAX_BODY_BYTES`, error bodies :data:`MAX_ERROR_BODY_BYTES`).

Network exceptions are never chained (``from None``): their text can hold URLs and headers.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from extractor.acquire.proxies import Proxies
from extractor.acquire.reference import is_insecure, is_loopback
from extractor.acquire.retry import RETRY_STATUSES, RetryPolicy
from extractor.acquire.tls import check_ca_file, shared_context
from extractor.acquire.wire import (
    BrokenConnection,
    ConnectError,
    Connections,
    ConnectTimeout,
    Interceptor,
    ReadTimeout,
    Request,
    Response,
    TooManyRedirects,
    WireError,
    redirect_request,
)
from extractor.errors import RegistryError

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_ERROR_BODY_BYTES",
    "MAX_REDIRECTS",
    "RETRY_STATUSES",
    "Interrupted",
    "RetryPolicy",
    "Transport",
]

MAX_BODY_BYTES = 4 * 1024 * 1024
"""Largest body read into memory (token answers, tag list pages, small blobs, manifests)."""
MAX_ERROR_BODY_BYTES = 64 * 1024
"""Largest error body read (only its ``errors[].code`` values are used)."""
MAX_REDIRECTS = 5


def _retry_after(response: Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), or ``None``."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    import email.utils  # only for an HTTP-date (5 ms to import)

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


class Transport:
    """Sends requests to registries with the scheme rules of the module docstring and retries.

    ``insecure_hosts``: see :func:`extractor.acquire.reference.is_insecure`. ``ca_file``: extra
    trusted CAs (:class:`ConfigError` when it cannot be loaded). ``timeout``: seconds for each
    read/write, and the total deadline of a try; ``connect_timeout``: seconds to connect (TCP and
    TLS handshake). ``transport``: an :data:`~extractor.acquire.wire.Interceptor` that sees every
    request (each redirect hop too) and may answer it without the network (tests,
    instrumentation). Raises :class:`ConfigError` for a bad ``ca_file`` or proxy variable.
    """

    def __init__(
        self,
        *,
        insecure_hosts: tuple[str, ...] = (),
        ca_file: Path | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        transport: Interceptor | None = None,
        user_agent: str = "bundle-extract",
    ) -> None:
        self.insecure_hosts = insecure_hosts
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        if ca_file is not None:
            check_ca_file(ca_file)
        self._ca_file = ca_file
        # the CA bundle is loaded when an https URL is first used, once per process (shared_context)
        self._connections = Connections(timeout=timeout, connect_timeout=connect_timeout, context=self._context,
                                        proxies=Proxies.from_environment())
        self._intercept = transport
        self._headers = {"User-Agent": user_agent, "Accept": "*/*"}
        self._schemes: dict[str, str] = {}
        self._probing: set[str] = set()  # loopback hosts whose first plain-HTTP answer is pending

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._connections.close()

    def _context(self, verify: bool) -> ssl.SSLContext:
        return shared_context(self._ca_file, verify)

    def build_request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                      content: bytes | None = None) -> Request:
        """A :class:`Request` for ``url`` (absolute) with the default headers (User-Agent, Accept)
        overridden by ``headers``; TLS verification as the scheme rules say for its host."""
        all_headers = dict(self._headers)
        for name, value in (headers or {}).items():
            all_headers = {k: v for k, v in all_headers.items() if k.lower() != name.lower()}
            all_headers[name] = value
        request = Request(method, url, all_headers, content)
        request.verify = self._schemes.get(request.netloc) != "https-unverified"
        return request

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

    def send(self, request: Request, label: str, *, stream: bool, follow: bool,
             max_bytes: int = MAX_BODY_BYTES) -> Response:
        """Send one request, retrying transient failures per the :class:`RetryPolicy`.

        Returns the final response (a retried status comes back as the last answer, with the
        number of tries in ``response.attempts``). With ``stream`` the body is left to the caller
        (read it with :meth:`iter_body`, which keeps the deadline); otherwise it is read here, at
        most ``max_bytes`` (an error response: :data:`MAX_ERROR_BODY_BYTES`). Raises one-line
        :class:`RegistryError`s for transport failures and limits, naming ``label``.
        """
        policy = self.retry
        deadline = time.monotonic() + policy.budget
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._send_once(request, label, follow=follow)
                if not stream:
                    self._buffer(response, label, max_bytes)
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
            response.attempts = attempt
            return response

    def iter_body(self, response: Response, label: str) -> Iterator[bytes]:
        """The body of a streamed ``response`` in chunks, within the try's deadline.

        Raises :class:`RegistryError` when the deadline passes or a read stalls,
        :class:`Interrupted` when the connection breaks off (worth starting again).
        """
        deadline = response.deadline
        try:
            # every network read is seen as it arrives (a fixed size would buffer a dripping
            # answer and hide it from the deadline check)
            for chunk in response.iter_raw():
                if deadline is not None and time.monotonic() > deadline:
                    raise RegistryError(f"{label}: the answer took longer than {self.timeout:g}s (--registry-timeout)")
                yield chunk
        except ReadTimeout:
            raise RegistryError(f"{label}: download stalled for more than {self.timeout:g}s") from None
        except BrokenConnection as exc:
            raise Interrupted(f"{label}: download broke off ({exc})") from None
        except WireError as exc:
            raise RegistryError(f"{label}: download failed ({type(exc).__name__})") from None

    def read_body(self, response: Response, label: str, max_bytes: int) -> bytes:
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

    def _buffer(self, response: Response, label: str, max_bytes: int) -> None:
        """Read ``response``'s body into ``response.content`` (capped, within the deadline)."""
        cap = max_bytes if response.is_success or response.is_redirect else MAX_ERROR_BODY_BYTES
        try:
            body = self.read_body(response, label, cap)
        except Interrupted as exc:
            raise _Transient(exc) from None
        except RegistryError:
            if response.is_success:
                raise
            body = b""  # an error answer too big or too slow: its status is what counts
        response.set_content(body)

    def _exchange(self, request: Request) -> Response:
        """One hop: through the interceptor when there is one, else straight to the network."""
        if self._intercept is not None:
            return self._intercept(request, self._connections.send)
        return self._connections.send(request)

    def _follow(self, request: Request, follow: bool) -> Response:
        response = self._exchange(request)
        hops = 0
        while follow and response.is_redirect:
            hops += 1
            response.close()
            if hops > MAX_REDIRECTS:
                raise TooManyRedirects("too many redirects")
            request = redirect_request(request, response)
            response = self._exchange(request)
        return response

    def _send_once(self, request: Request, label: str, *, follow: bool) -> Response:
        """One try (plus the insecure-host and loopback-TLS scheme fallbacks); the body is not read.

        Raises :class:`_Transient` for retryable transport failures, :class:`RegistryError` else.
        """
        host = request.netloc
        scheme = self._schemes.get(host, "https")
        target = f"{request.scheme}://{host}"
        try:
            start = time.monotonic()
            response = self._follow(request, follow)
            response.deadline = start + self.timeout
        except ConnectTimeout:
            raise _Transient(RegistryError(f"{label}: cannot connect to {target}: timed out")) from None
        except ReadTimeout:
            raise RegistryError(f"{label}: {host} did not answer within {self.timeout:g}s") from None
        except ConnectError as exc:
            if scheme == "https-unverified" and request.scheme == "https":
                # Docker's insecure-registry behaviour: fall back to plain HTTP.
                self._schemes[host] = "http"
                return self._send_once(self._rescheme(request, "http"), label, follow=follow)
            reason = str(exc) or type(exc).__name__
            if "CERTIFICATE_VERIFY_FAILED" in reason or "certificate verify failed" in reason:
                raise RegistryError(
                    f"{label}: TLS certificate of {host} is not trusted ({reason}); "
                    f"use --registry-ca-file FILE, or --registry-insecure {host}"
                ) from None
            if "SSL" in reason or "TLS" in reason:
                hint = f" (--registry-insecure {host} for a plain-HTTP registry)"
                raise RegistryError(f"{label}: cannot connect to {target}: {reason}{hint}") from None
            raise _Transient(RegistryError(f"{label}: cannot connect to {target}: {reason}")) from None
        except BrokenConnection as exc:
            raise _Transient(RegistryError(f"{label}: connection to {target} broke ({exc})")) from None
        except TooManyRedirects as exc:
            raise RegistryError(f"{label}: {exc} from {host}") from None
        except WireError as exc:
            raise RegistryError(f"{label}: request to {host} failed ({type(exc).__name__})") from None
        if request.scheme == "http" and host in self._probing:
            self._probing.discard(host)
            if response.status_code == 400 and self._speaks_tls(request, response):
                # A loopback registry serving TLS (Go answers plain HTTP with this 400).
                secure = not is_insecure(host, self.insecure_hosts, loopback=False)
                self._schemes[host] = "https" if secure else "https-unverified"
                return self._send_once(self._rescheme(request, "https"), label, follow=follow)
        return response

    def _speaks_tls(self, request: Request, response: Response) -> bool:
        """True when a 400 answer says the port expects TLS (Go, nginx and others say so).

        A HEAD answer has no body: then ``GET /v2/`` is asked once over plain HTTP to find out.
        """
        try:
            if request.method == "HEAD":
                response.close()
                response = self._exchange(self.build_request("GET", f"http://{request.netloc}/v2/"))
                response.deadline = time.monotonic() + self.timeout
            body = self.read_body(response, request.netloc, MAX_ERROR_BODY_BYTES)[:1024].lower()
        except (WireError, RegistryError):
            return False
        finally:
            response.close()
        return b"https" in body or b"tls" in body or b"ssl" in body

    def _rescheme(self, request: Request, scheme: str) -> Request:
        url = urlsplit(request.url)._replace(scheme=scheme).geturl()
        return Request(request.method, url, dict(request.headers), request.content,
                       self._schemes.get(request.netloc) != "https-unverified")
