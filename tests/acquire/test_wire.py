"""The HTTP/1.1 layer on http.client: headers, URLs, redirect rules, and kept-alive connections.

The connection cases use the scripted FaultServer of tests/support/faults.py (it counts the TCP
connections it accepts and can close a connection it announced as kept alive, which a real
registry does not do on demand).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from extractor.acquire import AcquireOptions, acquire
from extractor.acquire.client import RegistryClient
from extractor.acquire.manifests import OCI_MANIFEST
from extractor.acquire.reference import Reference
from extractor.acquire.retry import RetryPolicy
from extractor.acquire.wire import (
    Headers,
    Request,
    Response,
    TooManyRedirects,
    merge_params,
    redirect_request,
    split_url,
)
from extractor.demo.push import build_image, gzip_bytes
from extractor.errors import NotFoundError
from tests.support.faults import FaultServer, answer, fault_server
from tests.support.registry import make_tar, tar_file


def test_headers_are_case_insensitive_and_join_repeats() -> None:
    headers = Headers([("Link", "<a>"), ("content-type", "x/y"), ("LINK", "<b>")])
    assert headers["link"] == "<a>, <b>" and headers.get("Content-Type") == "x/y"
    assert "CONTENT-TYPE" in headers and "Location" not in headers and len(headers) == 2
    assert Headers({"A": "1"}).get("a") == "1"


@pytest.mark.parametrize(("url", "expected"), [
    ("http://127.0.0.1:5000/v2/", ("http", "127.0.0.1", 5000, "/v2/")),
    ("https://quay.io", ("https", "quay.io", 443, "/")),
    ("https://[::1]:8443/a?b=c", ("https", "::1", 8443, "/a?b=c")),
    ("http://Example.COM/x", ("http", "example.com", 80, "/x")),
])
def test_split_url(url: str, expected: tuple[str, str, int, str]) -> None:
    assert split_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://h/x", "https:///x", "https://h:99999/", "/relative", "https://h/a b",
                                 "https://h/\r\nX-Injected: 1"])
def test_split_url_refuses(url: str) -> None:
    with pytest.raises(ValueError):
        split_url(url)


def test_merge_params() -> None:
    assert merge_params("https://auth.io/token", {"service": "reg", "scope": "repository:a/b:pull"}) == (
        "https://auth.io/token?service=reg&scope=repository%3Aa%2Fb%3Apull"
    )
    assert merge_params("http://h/v2/x?_state=abc&digest=old", {"digest": "sha256:1"}) == (
        "http://h/v2/x?_state=abc&digest=sha256%3A1"
    )
    assert merge_params("http://h/t?n=1", {"n": 2}) == "http://h/t?n=2"


def _redirected(status: int, method: str, source: str, location: str, content: bytes | None = None) -> Request:
    request = Request(method, source, {"Authorization": "Basic x", "Accept": "a/b"}, content, verify=False)
    response = Response(status, {"Location": location}, content=b"", request=request)
    return redirect_request(request, response)


def test_redirect_rules() -> None:
    same = _redirected(307, "PUT", "http://h:5000/v2/a", "/store/b?sig=1", b"data")
    assert (same.method, same.url, same.content, same.verify) == ("PUT", "http://h:5000/store/b?sig=1", b"data", False)
    assert same.headers == {"Authorization": "Basic x", "Accept": "a/b"}  # same origin keeps credentials
    for other in ("http://h:5001/b", "https://h:5000/b", "http://storage/b"):
        assert "Authorization" not in _redirected(302, "GET", "http://h:5000/v2/a", other).headers, other
    assert _redirected(301, "GET", "http://h/a", "https://h/b").headers["Authorization"] == "Basic x"  # upgrade
    see_other = _redirected(303, "POST", "http://h/a", "/b", b"body")
    assert (see_other.method, see_other.content) == ("GET", None)
    assert _redirected(302, "POST", "http://h/a", "/b", b"body").method == "GET"
    assert _redirected(303, "HEAD", "http://h/a", "/b").method == "HEAD"
    assert _redirected(308, "POST", "http://h/a", "/b", b"body").content == b"body"
    with pytest.raises(TooManyRedirects):
        _redirected(302, "GET", "http://h/a", "ftp://h/b")


# -- kept-alive connections -------------------------------------------------------------------------
def _counting(server: FaultServer) -> list[Any]:
    """Record the TCP connections ``server`` accepts (wraps its accept)."""
    accepted: list[Any] = []
    accept = server.server.get_request

    def get_request() -> tuple[Any, Any]:
        connection = accept()
        accepted.append(connection[1])
        return connection

    server.server.get_request = get_request  # type: ignore[method-assign]
    return accepted


@pytest.fixture
def faults() -> Iterator[FaultServer]:
    with fault_server() as server:
        yield server


def _image(server: FaultServer, repo: str, wrap: Callable[[Any], Any] = lambda h: h) -> list[str]:
    layer = make_tar(tar_file("manifests/x.yaml", b"kept"), tar_file("metadata/annotations.yaml", b"{}"))
    image = build_image([layer])
    paths = [f"/v2/{repo}/manifests/1"]
    server.routes[paths[0]] = [wrap(answer(200, image.manifest, {"Content-Type": OCI_MANIFEST}))]
    for digest, blob in image.blobs.items():
        paths.append(f"/v2/{repo}/blobs/{digest}")
        server.routes[paths[-1]] = [wrap(answer(200, blob))]
    assert gzip_bytes(layer) in image.blobs.values()
    return paths


def test_one_connection_per_registry(faults: FaultServer, tmp_path: Path) -> None:
    accepted = _counting(faults)
    paths = _image(faults, "ns/kept")
    result = acquire(f"{faults.host}/ns/kept:1", AcquireOptions(cache_dir=tmp_path / "c", work_dir=tmp_path / "w"))
    assert (result.directory / "manifests/x.yaml").read_bytes() == b"kept"
    assert sorted(faults.hits.values()) == [1, 1] and set(faults.hits) < set(paths)  # manifest, layer
    assert len(accepted) == 1  # both over one kept-alive connection


def test_a_connection_the_server_closed_is_replaced(faults: FaultServer, tmp_path: Path) -> None:
    def then_close(handler: Callable[[BaseHTTPRequestHandler], None]) -> Callable[[BaseHTTPRequestHandler], None]:
        def handle(request: BaseHTTPRequestHandler) -> None:
            handler(request)  # announced as kept alive (HTTP/1.1, no Connection: close) ...
            request.close_connection = True  # ... but closed right after

        return handle

    accepted = _counting(faults)
    paths = _image(faults, "ns/closed", then_close)
    options = AcquireOptions(cache_dir=tmp_path / "c", work_dir=tmp_path / "w", retry=RetryPolicy(attempts=1))
    result = acquire(f"{faults.host}/ns/closed:1", options)
    assert (result.directory / "manifests/x.yaml").read_bytes() == b"kept"
    assert sorted(faults.hits.values()) == [1, 1] and set(faults.hits) < set(paths)  # none lost or retried
    assert len(accepted) == 2


def test_error_and_empty_answers_keep_the_connection(faults: FaultServer) -> None:
    accepted = _counting(faults)
    faults.routes["/v2/"] = [answer(200, b"")]
    with RegistryClient() as client:
        client.ping(faults.host)
        client.ping(faults.host)
        with pytest.raises(NotFoundError, match="HTTP 404"):
            client.get_manifest(Reference.parse(f"{faults.host}/ns/none:1"))
        client.ping(faults.host)
    assert len(accepted) == 1
