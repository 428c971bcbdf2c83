"""The URLs of the repository's bundles.yaml ``extraManifests`` (Gateway API and Inference
Extension CRDs on raw.githubusercontent.com) served from ``../shared/extra-crds`` by a loopback
HTTP server, reached through ``--url-mirror`` (the sha256 in bundles.yaml is still checked).

The server (:class:`extractor.demo.fileserver.StaticFileServer`, Python's http.server: a real
server, tests cannot reach github.com) starts on first use and lives for the test session
(``extra_crds_server`` fixture stops it). Every test that generates from a copy of the
repository's bundles.yaml passes :func:`url_mirror_value` (``URL_MIRROR=`` for make,
``BUNDLE_EXTRACT_URL_MIRROR`` for the CLI) or :func:`url_mirrors` (``AcquireOptions``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from extractor.acquire.urlref import UrlMirror
from extractor.demo.fileserver import StaticFileServer, extra_crd_url_mirrors
from tests.support.tools import require_shared

_LOCK = threading.Lock()
_SERVER: StaticFileServer | None = None


def extra_crds_url() -> str:
    """``http://127.0.0.1:PORT`` of the session's server of ``../shared/extra-crds`` (started on first use)."""
    global _SERVER
    with _LOCK:
        if _SERVER is None:
            _SERVER = StaticFileServer(require_shared("extra-crds")).start()
        return _SERVER.url


def url_mirrors() -> tuple[UrlMirror, ...]:
    """``AcquireOptions.url_mirrors`` sending the bundles.yaml URLs to the loopback server."""
    return extra_crd_url_mirrors(extra_crds_url())


def url_mirror_value() -> str:
    """The same as a ``URL_MIRROR`` / ``BUNDLE_EXTRACT_URL_MIRROR`` value (space-separated SRC=DST)."""
    return " ".join(str(m) for m in url_mirrors())


@pytest.fixture(scope="session", autouse=True)
def extra_crds_server() -> Iterator[None]:
    """Stops the server at the end of the session (it starts lazily, only for tests that need it)."""
    global _SERVER
    yield
    with _LOCK:
        if _SERVER is not None:
            _SERVER.stop()
            _SERVER = None
