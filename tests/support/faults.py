"""A tiny scripted HTTP server on 127.0.0.1 for registry faults a real registry cannot produce
(429 with Retry-After, 5xx, a connection cut mid-blob, a redirect to another host)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FaultServer", "Handler", "answer", "fault_server", "truncated"]

Handler = Callable[[BaseHTTPRequestHandler], None]


class FaultServer:
    """A plain-HTTP server on 127.0.0.1 whose GET answers are scripted per path.

    ``routes[path]`` is a list of handlers used one per request (the last one repeats); each
    handler writes a whole answer. ``hits[path]`` counts requests, ``times[path]`` their times,
    ``auth[path]`` the Authorization headers seen.
    """

    def __init__(self) -> None:
        self.routes: dict[str, list[Handler]] = {}
        self.hits: dict[str, int] = {}
        self.times: dict[str, list[float]] = {}
        self.auth: dict[str, list[str | None]] = {}
        self.manifests: dict[str, bytes] = {}
        outer = self

        class Requests(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                count = outer.hits.get(path, 0)
                outer.hits[path] = count + 1
                outer.times.setdefault(path, []).append(time.monotonic())
                outer.auth.setdefault(path, []).append(self.headers.get("Authorization"))
                handlers = outer.routes.get(path)
                if not handlers:
                    answer(404, b'{"errors":[{"code":"NOT_FOUND"}]}')(self)
                    return
                handlers[min(count, len(handlers) - 1)](self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Requests)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Handler:
    def handle(request: BaseHTTPRequestHandler) -> None:
        request.send_response(status)
        for key, value in (headers or {}).items():
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    return handle


def truncated(body: bytes) -> Handler:
    """Announce the full length, send half, then drop the connection."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body[: len(body) // 2])
        request.wfile.flush()
        request.close_connection = True
        request.connection.shutdown(2)

    return handle


@contextlib.contextmanager
def fault_server() -> Iterator[FaultServer]:
    """A :class:`FaultServer` for the duration of the ``with`` block."""
    server = FaultServer()
    try:
        yield server
    finally:
        server.close()
