"""RegistryClient against real registries (anonymous, token auth) and a tiny misbehaving server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from extractor.acquire import AcquireOptions, acquire
from extractor.acquire.client import RegistryClient
from extractor.acquire.manifests import OCI_INDEX, OCI_MANIFEST
from extractor.acquire.reference import Reference
from extractor.acquire.transport import RetryPolicy
from extractor.acquire.wire import ConnectError, Request, Response, Send
from extractor.demo.push import build_image, gzip_bytes, push_image, push_index
from extractor.errors import (
    AuthenticationError,
    DigestMismatchError,
    NotFoundError,
    RegistryError,
    UnsupportedMediaTypeError,
)
from tests.support.registry import (
    TestRegistry,
    TokenServer,
    make_tar,
    tar_file,
)

NO_RETRY = RetryPolicy(attempts=1)


def _image(content: bytes) -> Any:
    return build_image([make_tar(tar_file("manifests/x.yaml", content), tar_file("metadata/annotations.yaml", b"{}"))])


def test_ping_and_manifests(registry: TestRegistry) -> None:
    image = _image(b"ping")
    digest = push_image(f"{registry.host}/client/ping:v1", image)
    with RegistryClient() as client:
        client.ping(registry.host)
        by_tag = client.get_manifest(Reference.parse(f"{registry.host}/client/ping:v1"))
        by_digest = client.get_manifest(Reference.parse(f"{registry.host}/client/ping@{digest}"))
        assert by_tag == by_digest
        assert (by_tag.digest, by_tag.media_type, by_tag.data) == (digest, OCI_MANIFEST, image.manifest)
        config = by_tag.config("x")
        assert (
            json.loads(client.get_blob(Reference.parse(f"{registry.host}/client/ping"), config.digest))["os"] == "linux"
        )
        with pytest.raises(
            NotFoundError, match=r"client/ping:v2: manifest not found \(HTTP 404 \(MANIFEST_UNKNOWN\)\)"
        ):
            client.get_manifest(Reference.parse(f"{registry.host}/client/ping:v2"))
        with pytest.raises(NotFoundError, match=r"blob sha256:0+ not found"):
            client.get_blob(Reference.parse(f"{registry.host}/client/ping"), "sha256:" + "0" * 64)


def test_list_tags(registry: TestRegistry) -> None:
    image = _image(b"tags")
    tags = ["1.0", "1.1", "2.0", "latest", "v3"]
    for tag in tags:
        push_image(f"{registry.host}/client/tags:{tag}", image)
    with RegistryClient() as client:
        assert sorted(client.list_tags(Reference.parse(f"{registry.host}/client/tags"))) == tags
        with pytest.raises(NotFoundError):
            client.list_tags(Reference.parse(f"{registry.host}/client/no-such-repo"))


def test_list_tags_follows_link_pagination(fake: tuple[str, dict[str, Any]]) -> None:
    # distribution 2.8 ignores ?n= for tag lists, so the pagination is served by the fake registry.
    host, _routes = fake
    pages = {
        None: (["a", "b"], '</v2/ns/p/tags/list?n=2&last=b>; rel="next"'),
        "b": (["c", "d"], f'<http://{host}/v2/ns/p/tags/list?n=2&last=d>; rel="next"'),
        "d": (["e"], None),
    }
    requests: list[str] = []

    def answering(request: Request, send: Send) -> Response:  # answers without the network
        last = parse_qs(urlsplit(request.url).query).get("last", [None])[0]
        requests.append(str(last))
        page, link = pages[last]
        headers = {"Link": link} if link else {}
        body = json.dumps({"name": "ns/p", "tags": page}).encode()
        return Response(200, headers, content=body, request=request)

    with RegistryClient(transport=answering) as client:
        assert client.list_tags(Reference.parse(f"{host}/ns/p"), page_size=2) == ["a", "b", "c", "d", "e"]
    assert requests == ["None", "b", "d"]


def test_index_platform_selection(registry: TestRegistry, tmp_path: Path) -> None:
    amd64, arm64, ppc = _image(b"amd64"), _image(b"arm64"), _image(b"ppc64le")
    base = f"{registry.host}/client/multi"
    index = push_index(f"{base}:both", [(arm64, "linux/arm64"), (amd64, "linux/amd64")])
    push_index(f"{base}:arm-only", [(arm64, "linux/arm64")])
    push_index(f"{base}:neither", [(arm64, "linux/arm64/v8"), (ppc, "linux/ppc64le")])
    options = AcquireOptions(cache_dir=tmp_path / "c", work_dir=tmp_path / "w")

    def content(tag: str, **kwargs: Any) -> bytes:
        opts = AcquireOptions(cache_dir=tmp_path / "c", work_dir=tmp_path / "w", **kwargs)
        return (acquire(f"{base}:{tag}", opts).directory / "manifests/x.yaml").read_bytes()

    assert content("both") == b"amd64"
    assert content("both", platform="linux/arm64") == b"arm64"
    assert content("arm-only") == b"arm64"
    assert content("neither", platform="linux/arm64") == b"arm64"
    with pytest.raises(RegistryError, match=r"no linux/amd64 entry \(platforms: linux/arm64/v8, linux/ppc64le\)"):
        acquire(f"{base}:neither", options)
    result = acquire(f"{base}:both", options)
    assert result.digest == index
    with RegistryClient() as client:
        assert client.get_manifest(Reference.parse(f"{base}:both")).media_type == OCI_INDEX


# -- Bearer tokens ---------------------------------------------------------------------------------


def test_bearer_token_flow(token_registry: tuple[TestRegistry, TokenServer], tmp_path: Path) -> None:
    reg, tokens = token_registry
    options = AcquireOptions(
        username="alice", password="alice-secret-pw", cache_dir=tmp_path / "c", work_dir=tmp_path / "w"
    )
    reference = f"{reg.host}/token/bundle:1"
    push_image(reference, _image(b"token"), options)
    before = tokens.requests
    with options.client() as client:
        ref = Reference.parse(reference)
        manifest = client.get_manifest(ref)
        client.get_manifest(ref.with_digest(manifest.digest))
        client.get_blob(ref, manifest.config("x").digest)
    assert tokens.requests - before == 1  # one token for repository:token/bundle:pull, reused
    result = acquire(reference, options)
    assert (result.directory / "manifests/x.yaml").read_bytes() == b"token"
    with pytest.raises(AuthenticationError) as info:
        acquire(reference, AcquireOptions(username="alice", password="wrong-pw-42", work_dir=tmp_path / "w"))
    assert str(info.value).startswith(f"{reference}: token service 127.0.0.1:")
    assert "refused the credentials from command line (HTTP 401)" in str(info.value)
    assert "wrong-pw-42" not in str(info.value)
    with pytest.raises(AuthenticationError, match="refused anonymous access"):
        acquire(reference, AcquireOptions(work_dir=tmp_path / "w"))


def test_token_expiry_is_honoured(token_registry: tuple[TestRegistry, TokenServer]) -> None:
    reg, tokens = token_registry
    options = AcquireOptions(username="alice", password="alice-secret-pw")
    reference = Reference.parse(f"{reg.host}/token/expiry:1")
    push_image(str(reference), _image(b"expiry"), options)
    tokens.expires_in = 1
    try:
        with options.client() as client:
            before = tokens.requests
            client.get_manifest(reference)
            client.get_manifest(reference)
            assert tokens.requests - before == 1
            time.sleep(1.0)
            client.get_manifest(reference)
            assert tokens.requests - before == 2
    finally:
        tokens.expires_in = 300


# -- a tiny misbehaving registry ---------------------------------------------------------------------
Route = tuple[int, dict[str, str], bytes]


@pytest.fixture
def fake() -> Iterator[tuple[str, dict[str, Route | Callable[[], Route]]]]:
    """A plain HTTP server on 127.0.0.1 answering from a path -> response table (GET/HEAD)."""
    routes: dict[str, Route | Callable[[], Route]] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            route = routes.get(self.path.split("?")[0])
            status, headers, body = (route() if callable(route) else route) if route else (404, {}, b"{}")
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", routes
    finally:
        server.shutdown()
        server.server_close()


def _serve_image(
    routes: dict[str, Any],
    repo: str,
    tag: str,
    layer: bytes,
    *,
    served_layer: bytes | None = None,
    redirect: bool = False,
) -> tuple[str, str]:
    blob = gzip_bytes(layer)
    image = build_image([layer])
    layer_digest = next(d for d, b in image.blobs.items() if b == blob)
    manifest_route = (200, {"Content-Type": OCI_MANIFEST}, image.manifest)
    routes[f"/v2/{repo}/manifests/{tag}"] = manifest_route
    routes[f"/v2/{repo}/manifests/{image.digest}"] = manifest_route
    body = gzip_bytes(served_layer) if served_layer is not None else blob
    if redirect:
        routes[f"/v2/{repo}/blobs/{layer_digest}"] = (307, {"Location": f"/storage/{layer_digest}"}, b"")
        routes[f"/storage/{layer_digest}"] = (200, {}, body)
    else:
        routes[f"/v2/{repo}/blobs/{layer_digest}"] = (200, {}, body)
    return image.digest, layer_digest


def test_layer_digest_mismatch(fake: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    # A real registry verifies digests on upload, so it cannot serve mismatched content: this
    # server does.
    host, routes = fake
    good = make_tar(tar_file("manifests/x.yaml", b"good"))
    evil = make_tar(tar_file("manifests/x.yaml", b"evil"))
    _digest, layer_digest = _serve_image(routes, "ns/bad", "1", good, served_layer=evil)
    cache = tmp_path / "cache"
    with pytest.raises(DigestMismatchError) as info:
        acquire(f"{host}/ns/bad:1", AcquireOptions(cache_dir=cache, work_dir=tmp_path / "w"))
    assert str(info.value).startswith(f"{host}/ns/bad:1: blob {layer_digest}: downloaded content has digest")
    assert not (cache / "blobs/sha256" / layer_digest.split(":")[1]).exists()
    assert [p.name for p in (cache / "blobs/sha256").iterdir() if p.name.startswith(".")] == []
    assert list((tmp_path / "w").iterdir()) == []


def test_manifest_digest_mismatch(fake: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    host, routes = fake
    digest, _ = _serve_image(routes, "ns/m", "1", make_tar(tar_file("manifests/x.yaml", b"m")))
    other = "sha256:" + "1" * 64
    routes[f"/v2/ns/m/manifests/{other}"] = routes["/v2/ns/m/manifests/1"]
    with RegistryClient() as client:
        with pytest.raises(DigestMismatchError, match=f"expected {other}"):
            client.get_manifest(Reference.parse(f"{host}/ns/m@{other}"))
        status, headers, body = routes["/v2/ns/m/manifests/1"]
        routes["/v2/ns/m/manifests/2"] = (status, {**headers, "Docker-Content-Digest": other}, body)
        with pytest.raises(DigestMismatchError):
            client.get_manifest(Reference.parse(f"{host}/ns/m:2"))
        assert client.get_manifest(Reference.parse(f"{host}/ns/m:1")).digest == digest


def test_redirects_schema1_and_server_errors(fake: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    host, routes = fake
    _serve_image(routes, "ns/r", "1", make_tar(tar_file("manifests/x.yaml", b"redirected")), redirect=True)
    result = acquire(f"{host}/ns/r:1", AcquireOptions(cache_dir=tmp_path / "c", work_dir=tmp_path / "w"))
    assert (result.directory / "manifests/x.yaml").read_bytes() == b"redirected"
    schema1 = json.dumps({"schemaVersion": 1, "name": "ns/old"}).encode()
    routes["/v2/ns/old/manifests/1"] = (
        200,
        {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"},
        schema1,
    )
    routes["/v2/ns/boom/manifests/1"] = (500, {}, b'{"errors":[{"code":"UNKNOWN","message":"x"}]}')
    routes["/v2/ns/deny/manifests/1"] = (403, {}, b'{"errors":[{"code":"DENIED"}]}')
    routes["/v2/ns/weird/manifests/1"] = (401, {"WWW-Authenticate": "Negotiate"}, b"")
    with RegistryClient(retry=NO_RETRY) as client:
        with pytest.raises(UnsupportedMediaTypeError, match=r"unsupported manifest type .*v1\+prettyjws"):
            client.get_manifest(Reference.parse(f"{host}/ns/old:1"))
        with pytest.raises(RegistryError, match=r"ns/boom:1: manifest failed \(HTTP 500 \(UNKNOWN\)\)$"):
            client.get_manifest(Reference.parse(f"{host}/ns/boom:1"))
        with pytest.raises(AuthenticationError, match=r"denied \(HTTP 403 \(DENIED\)\)"):
            client.get_manifest(Reference.parse(f"{host}/ns/deny:1"))
        with pytest.raises(AuthenticationError, match="unsupported authentication 'negotiate'"):
            client.get_manifest(Reference.parse(f"{host}/ns/weird:1"))


def test_timeouts_and_unreachable(fake: tuple[str, dict[str, Any]]) -> None:
    host, routes = fake

    def slow() -> Route:
        time.sleep(1.5)
        return (404, {}, b"{}")

    routes["/v2/ns/slow/manifests/1"] = slow
    with (
        RegistryClient(timeout=0.3) as client,
        pytest.raises(RegistryError, match=r"did not answer within 0\.3s") as info,
    ):
        client.get_manifest(Reference.parse(f"{host}/ns/slow:1"))
    assert info.value.__cause__ is None and info.value.__suppress_context__
    with (
        RegistryClient(connect_timeout=1, retry=NO_RETRY) as client,
        pytest.raises(RegistryError, match=r"cannot connect to http://127\.0\.0\.1:9: "),
    ):
        client.get_manifest(Reference.parse("127.0.0.1:9/ns/x:1"))


def test_https_unless_insecure() -> None:
    seen: list[str] = []

    def handler(request: Request, send: Send) -> Response:  # answers without the network
        host = urlsplit(request.url).hostname
        seen.append(f"{request.scheme}://{host}")
        if request.scheme == "https" and host == "mirror.lan":
            raise ConnectError("TLS handshake failed")
        return Response(404, content=b'{"errors": [{"code": "MANIFEST_UNKNOWN"}]}', request=request)

    with RegistryClient(transport=handler, insecure_hosts=("mirror.lan",)) as client:
        for text in ("quay.io/a/b:1", "mirror.lan:5000/a/b:1", "mirror.lan:5000/a/b:2", "busybox"):
            with pytest.raises(NotFoundError):
                client.get_manifest(Reference.parse(text))
    assert seen == [
        "https://quay.io",
        "https://mirror.lan",
        "http://mirror.lan",
        "http://mirror.lan",
        "https://registry-1.docker.io",
    ]


def test_basic_challenge_uses_credentials(fake: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    host, routes = fake
    digest, _ = _serve_image(routes, "ns/basic", "1", make_tar(tar_file("manifests/x.yaml", b"b")))
    open_route = routes["/v2/ns/basic/manifests/1"]
    seen: list[str | None] = []

    def guarded() -> Route:
        return open_route if seen and seen[-1] else (401, {"WWW-Authenticate": 'Basic realm="x"'}, b"")

    def recording(request: Request, send: Send) -> Response:
        seen.append(request.headers.get("Authorization"))
        return send(request)

    routes["/v2/ns/basic/manifests/1"] = guarded
    options = AcquireOptions(username="u", password="p", transport=recording)
    with options.client() as client:
        assert client.get_manifest(Reference.parse(f"{host}/ns/basic:1")).digest == digest
        assert client.get_manifest(Reference.parse(f"{host}/ns/basic:1")).digest == digest
    assert seen == [None, "Basic dTpw", "Basic dTpw"]  # the second request sends Basic at once
