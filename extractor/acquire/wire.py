"""HTTP/1.1 on the standard library (``http.client``): requests, streamed responses, and kept-alive
connections per origin, through the environment's proxies (:mod:`extractor.acquire.proxies`).

:class:`Connections` sends one request (no redirects, no retries: those are
:class:`extractor.acquire.transport.Transport`'s) and returns a :class:`Response` whose body is
read in chunks as they arrive (:meth:`Response.iter_raw`). A connection goes back to its pool once
a body was read to its end, and is dropped otherwise. ``connect_timeout`` bounds the TCP connect
and the TLS handshake, ``timeout`` every later read or write.

Failures are :class:`WireError` subclasses with short texts (an OS error's message, an exception
class name) that never hold headers or credentials; nothing from ``http.client`` is chained.
"""

from __future__ import annotations

import http.client
import selectors
import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit

from extractor.acquire.proxies import Proxies, Proxy

__all__ = [
    "BrokenConnection",
    "ConnectError",
    "ConnectTimeout",
    "Connections",
    "Headers",
    "Interceptor",
    "ReadTimeout",
    "Request",
    "Response",
    "Send",
    "TooManyRedirects",
    "WireError",
    "merge_params",
    "redirect_request",
    "split_url",
]

CHUNK = 256 * 1024
"""Most bytes one read returns (a read returns what arrived, up to this)."""
MAX_IDLE = 4
"""Idle connections kept per origin."""


class WireError(Exception):
    """A request failed below HTTP (connect, TLS, read, write); the text is safe to show."""


class ConnectError(WireError):
    """No connection: refused, unknown host, TLS handshake or certificate failure, proxy refusal."""


class ConnectTimeout(WireError):
    """The connection (or its TLS handshake) was not made within the connect timeout."""


class ReadTimeout(WireError):
    """No byte arrived (or none could be sent) within the timeout."""


class BrokenConnection(WireError):
    """The connection closed or broke mid-exchange, or the answer was not HTTP/1.x."""


class TooManyRedirects(WireError):
    """Too many redirects, or one to a URL that is not http(s)."""


def merge_params(url: str, params: Mapping[str, str | int]) -> str:
    """``url`` with ``params`` set in its query (replacing same-named ones), percent-encoded."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query = urlencode([*kept, *((k, str(v)) for k, v in params.items())], quote_via=quote)
    return parts._replace(query=query).geturl()


class Headers(Mapping[str, str]):
    """Case-insensitive header lookup; a repeated header's values are joined with ``", "``."""

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._values: dict[str, str] = {}
        self._names: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            self._names.setdefault(key, name)
            self._values[key] = f"{self._values[key]}, {value}" if key in self._values else value

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._names.values())

    def __len__(self) -> int:
        return len(self._values)


def split_url(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, target)`` of an absolute ``http(s)://`` URL: ``host`` without
    brackets, the scheme's default port when none is given, ``target`` = path (``/`` if empty)
    and query. Raises :class:`ValueError` for anything else."""
    parts = urlsplit(url)
    port = parts.port  # ValueError for a bad port
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s):// URL")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValueError("URL with whitespace or control characters")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), target


@dataclass
class Request:
    """One HTTP request: ``url`` absolute, ``headers`` as sent (``Host`` is added from ``url``),
    ``content`` the whole body or ``None``. ``verify``: check the server's TLS certificate."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    verify: bool = True

    @property
    def scheme(self) -> str:
        """``http`` or ``https``."""
        return urlsplit(self.url).scheme

    @property
    def netloc(self) -> str:
        """``host[:port]`` as written in ``url`` (lower-case, without credentials)."""
        return urlsplit(self.url).netloc.rpartition("@")[2].lower()

    @property
    def path(self) -> str:
        """The URL's path, without the query."""
        return urlsplit(self.url).path


class Response:
    """A response; its body is streamed (:meth:`iter_raw`) or given whole (``content=``).

    ``url``: the URL that answered (after redirects). ``attempts``: tries it took (set by the
    transport). ``deadline``: the ``time.monotonic()`` by which its body must have arrived, or
    ``None``. Build one directly in an :data:`Interceptor` to answer without the network.
    """

    def __init__(self, status_code: int, headers: Headers | Mapping[str, str] | None = None, *,
                 content: bytes | None = None, request: Request | None = None,
                 stream: Iterator[bytes] | None = None, on_close: Callable[[bool], None] | None = None) -> None:
        self.status_code = status_code
        self.headers = headers if isinstance(headers, Headers) else Headers(headers or {})
        self.request = request
        self.url = request.url if request is not None else ""
        self.attempts = 1
        self.deadline: float | None = None
        self._content = content
        self._stream = stream
        self._on_close = on_close
        self._finished = content is not None or stream is None
        self.is_closed = False

    @property
    def is_success(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status_code < 300

    @property
    def is_redirect(self) -> bool:
        """301, 302, 303, 307 or 308 with a ``Location``."""
        return self.status_code in (301, 302, 303, 307, 308) and "Location" in self.headers

    @property
    def content(self) -> bytes:
        """The body, once read (``b""`` for a streamed response that was closed unread)."""
        return self._content if self._content is not None else b""

    def set_content(self, body: bytes) -> None:
        """Keep ``body`` as the read body (the stream is closed)."""
        self.close()
        self._stream = None
        self._content = body

    def iter_raw(self) -> Iterator[bytes]:
        """The body in chunks as they arrive; the connection is released at its end.

        Raises :class:`ReadTimeout` when a read stalls past the timeout, :class:`BrokenConnection`
        when the connection breaks or closes before the announced length.
        """
        if self._stream is None:
            if self._content:
                yield self._content
            return
        try:
            yield from self._stream
            self._finished = True
        finally:
            self.close()

    def close(self) -> None:
        """Release the connection (kept alive only when the body was read to its end)."""
        if not self.is_closed:
            self.is_closed = True
            if self._on_close is not None:
                self._on_close(self._finished)


def _same_origin(a: str, b: str) -> bool:
    return split_url(a)[:3] == split_url(b)[:3]


def _https_upgrade(a: str, b: str) -> bool:
    """``b`` is ``a`` moved from http:80 to https:443 on the same host (keeps Authorization, as httpx)."""
    scheme_a, host_a, port_a, _ = split_url(a)
    scheme_b, host_b, port_b, _ = split_url(b)
    return host_a == host_b and (scheme_a, port_a, scheme_b, port_b) == ("http", 80, "https", 443)


def redirect_request(request: Request, response: Response) -> Request:
    """The request a redirect ``response`` to ``request`` asks for, by httpx's rules: 303 (and
    301/302 of a POST) become a GET without body; ``Authorization`` is dropped when the target is
    another origin (scheme, host, port), unless it only upgrades http:80 to https:443. Raises
    :class:`TooManyRedirects` when its ``Location`` is not an http(s) URL."""
    url = urljoin(response.url, response.headers["Location"].strip())
    try:
        split_url(url)
    except ValueError:
        raise TooManyRedirects("redirect to an unsupported URL") from None
    method, content = request.method, request.content
    if (response.status_code == 303 and method != "HEAD") or (response.status_code in (301, 302) and method == "POST"):
        method, content = "GET", None
    headers = dict(request.headers)
    if not _same_origin(request.url, url) and not _https_upgrade(request.url, url):
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
    if content is None:
        headers = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "transfer-encoding")}
    return Request(method, url, headers, content, request.verify)


Send = Callable[[Request], Response]
"""Sends a request over the network and returns its response (streamed)."""
Interceptor = Callable[[Request, Send], Response]
"""Sees every request the transport sends (each redirect hop too): call ``send(request)`` to go
to the network, or return a :class:`Response` / raise a :class:`WireError` without it (tests,
instrumentation)."""

_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


def _reason(exc: BaseException) -> str:
    """A short safe text for a connect failure (first line, at most 200 characters)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {exc.verify_message}"[:200]
    text = str(exc).split("\n")[0].strip()
    return text[:200] or type(exc).__name__


def _alive(conn: http.client.HTTPConnection) -> bool:
    """False when an idle connection was closed by the server (readable = EOF or stray bytes)."""
    sock = conn.sock
    if sock is None:
        return False
    try:  # a selector, not select.select: that refuses descriptors past 1023 in a busy process
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ)
            return not selector.select(0)
    except (OSError, ValueError):
        return False


Key = tuple[str, str, int, bool, Proxy | None]


class Connections:
    """Kept-alive connections, per ``(scheme, host, port, verify, proxy)``.

    ``context``: returns the TLS context for ``verify`` (called on the first HTTPS connection, so
    CA bundles are only loaded when HTTPS is used). ``proxies``: from the environment.
    """

    def __init__(self, *, timeout: float, connect_timeout: float, context: Callable[[bool], ssl.SSLContext],
                 proxies: Proxies) -> None:
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._context = context
        self._proxies = proxies
        self._idle: dict[Key, list[http.client.HTTPConnection]] = {}

    def close(self) -> None:
        """Close every idle connection."""
        for pool in self._idle.values():
            for conn in pool:
                conn.close()
        self._idle.clear()

    def _connect(self, key: Key) -> http.client.HTTPConnection:
        scheme, host, port, verify, proxy = key
        conn: http.client.HTTPConnection
        address = (proxy.host, proxy.port) if proxy is not None else (host, port)
        if scheme == "https":
            conn = http.client.HTTPSConnection(*address, timeout=self.connect_timeout, context=self._context(verify))
            if proxy is not None:
                auth = {"Proxy-Authorization": proxy.authorization} if proxy.authorization else None
                conn.set_tunnel(host, port, headers=auth)
        else:
            conn = http.client.HTTPConnection(*address, timeout=self.connect_timeout)
        try:
            conn.connect()
            assert conn.sock is not None
            conn.sock.settimeout(self.timeout)
        except TimeoutError:
            conn.close()
            via = f" (through proxy {proxy.name})" if proxy is not None else ""
            raise ConnectTimeout(f"timed out{via}") from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            conn.close()
            via = f" (through proxy {proxy.name})" if proxy is not None else ""
            raise ConnectError(_reason(exc) + via) from None
        return conn

    def send(self, request: Request) -> Response:
        """Send ``request`` on a kept-alive or new connection; the body is left to the caller.

        Raises :class:`ConnectError`, :class:`ConnectTimeout`, :class:`ReadTimeout` (no answer
        within the timeout) and :class:`BrokenConnection`.
        """
        try:
            scheme, host, port, target = split_url(request.url)
        except ValueError:
            raise ConnectError("invalid URL") from None
        proxy = self._proxies.for_url(scheme, host, port)
        key: Key = (scheme, host, port, request.verify if scheme == "https" else True, proxy)
        headers = dict(request.headers)
        if proxy is not None and scheme == "http":
            target = request.url  # absolute form, to the proxy
            if proxy.authorization:
                headers["Proxy-Authorization"] = proxy.authorization
        pool = self._idle.setdefault(key, [])
        while True:
            reused = False
            conn = None
            while pool and conn is None:
                candidate = pool.pop()
                if _alive(candidate):
                    conn, reused = candidate, True
                else:
                    candidate.close()
            if conn is None:
                conn = self._connect(key)
            try:
                conn.request(request.method, target, body=request.content, headers=headers)
                raw = conn.getresponse()
            except _STALE:
                conn.close()
                if reused:
                    continue  # the server closed an idle connection just now: once more on a new one
                raise BrokenConnection("the server closed the connection") from None
            except TimeoutError:
                conn.close()
                raise ReadTimeout("no answer") from None
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise BrokenConnection(type(exc).__name__) from None
            except ValueError:  # a header value http.client refuses (CR, LF, not Latin-1)
                conn.close()
                raise WireError("invalid request header") from None
            return self._response(request, raw, conn, key)

    def _response(self, request: Request, raw: http.client.HTTPResponse, conn: http.client.HTTPConnection,
                  key: Key) -> Response:
        def chunks() -> Iterator[bytes]:
            try:
                while chunk := raw.read1(CHUNK):
                    yield chunk
            except TimeoutError:
                raise ReadTimeout("read stalled") from None
            except (OSError, http.client.HTTPException, ValueError) as exc:
                raise BrokenConnection(type(exc).__name__) from None
            if not raw.chunked and raw.length:  # EOF before Content-Length bytes
                raise BrokenConnection("IncompleteRead")

        def on_close(finished: bool) -> None:
            done = finished or request.method == "HEAD" or (not raw.chunked and raw.length == 0)
            raw.close()
            if done and not raw.will_close and conn.sock is not None:
                pool = self._idle.setdefault(key, [])
                if len(pool) < MAX_IDLE:
                    pool.append(conn)
                    return
            conn.close()

        return Response(raw.status, Headers(raw.getheaders()), request=request, stream=chunks(), on_close=on_close)
