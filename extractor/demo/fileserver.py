"""A loopback static file server for the URLs of bundles.yaml ``extraManifests`` (demo and tests).

The repository's bundles.yaml names the Gateway API and Gateway API Inference Extension CRDs by
their GitHub release URLs. Without network (the demo, tests, disconnected generation) the same
bytes come from a local copy laid out as ``../shared/extra-crds`` is (see its SOURCES.md), served
over plain HTTP on 127.0.0.1 and reached through :func:`extra_crd_url_mirrors` (the sha256 of
bundles.yaml is still checked).
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from types import TracebackType

from extractor.acquire.urlref import UrlMirror

__all__ = ["EXTRA_CRD_SOURCES", "StaticFileServer", "extra_crd_url_mirrors"]

#: release URL prefix -> directory of the local copy (``../shared/extra-crds`` layout)
EXTRA_CRD_SOURCES: dict[str, str] = {
    "https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/v1.4.0/config/crd": "gateway-api-v1.4.0",
    "https://raw.githubusercontent.com/kubernetes-sigs/gateway-api-inference-extension/v1.2.0/config/crd":
        "gateway-api-inference-extension-v1.2.0",
}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class StaticFileServer:
    """Serves ``directory`` read-only at ``http://127.0.0.1:<port>`` from a daemon thread while
    the ``with`` block runs (:attr:`url`)."""

    def __init__(self, directory: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="static-file-server", daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> StaticFileServer:
        """Start serving; returns ``self``."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (again: nothing)."""
        if not self._thread.is_alive():
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> StaticFileServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def extra_crd_url_mirrors(base_url: str) -> tuple[UrlMirror, ...]:
    """The URL mirrors sending each :data:`EXTRA_CRD_SOURCES` prefix to its directory under ``base_url``."""
    return tuple(UrlMirror(source, f"{base_url.rstrip('/')}/{directory}")
                 for source, directory in EXTRA_CRD_SOURCES.items())
