"""Proxies from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY), as httpx's
trust_env honoured them: parsing, and requests to real loopback registries (plain HTTP, and HTTPS
through a CONNECT tunnel) via a tiny forwarding proxy written here (no proxy server is installed;
it only forwards bytes, the registry answering is the real one).
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

from extractor.acquire.client import RegistryClient
from extractor.acquire.proxies import Proxies, Proxy
from extractor.acquire.reference import Reference
from extractor.acquire.retry import RetryPolicy
from extractor.demo.push import build_image, push_image
from extractor.errors import ConfigError, RegistryError
from tests.acquire.test_transport import TLSRegistry, tls_registry  # noqa: F401 (fixture)
from tests.support.registry import TestRegistry, make_tar, tar_file

VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def test_environment_parsing() -> None:
    proxies = Proxies.from_environment({"HTTPS_PROXY": "http://u%40x:p%3Aw@proxy.lan:3128", "http_proxy": "cache:8080",
                                        "HTTP_PROXY": "http://ignored:1", "NO_PROXY": "internal.lan, .corp,10.0.0.1,"
                                        "localhost,[::1],reg.io:5000,https://exact.io,[fd00::2]:5000"})
    assert proxies.https == Proxy("proxy.lan", 3128, "Basic dUB4OnA6dw==")  # u@x:p:w, unquoted
    assert proxies.http == Proxy("cache", 8080) and proxies.http.name == "cache:8080"
    assert "p%3Aw" not in repr(proxies)
    direct = [("https", "internal.lan", 443), ("https", "a.internal.lan", 443), ("https", "x.corp", 443),
              ("http", "10.0.0.1", 80), ("http", "localhost", 80), ("http", "::1", 80), ("http", "reg.io", 5000),
              ("https", "exact.io", 443), ("http", "fd00::2", 5000)]
    for scheme, host, port in direct:
        assert proxies.for_url(scheme, host, port) is None, host
    proxied = [("https", "corp", 443), ("https", "xinternal.lan", 443), ("http", "10.0.0.10", 80),
               ("http", "reg.io", 5001), ("http", "exact.io", 80), ("https", "127.0.0.1", 443),
               ("http", "fd00::2", 5001)]
    for scheme, host, port in proxied:
        assert proxies.for_url(scheme, host, port) is not None, host
    every = Proxies.from_environment({"ALL_PROXY": "http://all:1", "https_proxy": "http://s:2"})
    assert (every.http, every.https) == (Proxy("all", 1), Proxy("s", 2))
    assert Proxies.from_environment({"ALL_PROXY": "http://all:1", "NO_PROXY": "a,*"}) == Proxies()
    assert Proxies.from_environment({}) == Proxies()


@pytest.mark.parametrize("value", ["socks5://u:s3cret@h:1080", "https://u:s3cret@h", "http://u:s3cret@h:99999"])
def test_unusable_proxies_are_named_without_their_password(value: str) -> None:
    with pytest.raises(ConfigError, match=r"^HTTPS_PROXY: ") as info:
        Proxies.from_environment({"HTTPS_PROXY": value})
    assert "s3cret" not in str(info.value)


# -- a forwarding proxy ---------------------------------------------------------------------------
class ForwardProxy:
    """An HTTP proxy on 127.0.0.1: absolute-form requests are forwarded, CONNECT is tunnelled.

    ``seen``: ``(method, target, Proxy-Authorization)`` of each request. ``refuse``: answer 407.
    """

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None]] = []
        self.refuse = False
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _refused(self) -> bool:
                outer.seen.append((self.command, self.path, self.headers.get("Proxy-Authorization")))
                if outer.refuse:
                    self.send_response(407, "Proxy Authentication Required")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                return outer.refuse

            def do_CONNECT(self) -> None:
                if self._refused():
                    return
                host, port = self.path.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)), timeout=10)
                self.send_response(200, "Connection established")
                self.end_headers()
                self.close_connection = True
                sockets = [self.connection, upstream]
                try:
                    while True:
                        readable, _, _ = select.select(sockets, [], [], 10)
                        if not readable:
                            return
                        for sock in readable:
                            data = sock.recv(65536)
                            if not data:
                                return
                            (upstream if sock is self.connection else self.connection).sendall(data)
                finally:
                    upstream.close()

            def _forward(self) -> None:
                if self._refused():
                    return
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-authorization",
                                                                                       "connection")}
                upstream = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                try:
                    target = parts.path + (f"?{parts.query}" if parts.query else "")
                    upstream.request(self.command, target, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardProxy]:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    server = ForwardProxy()
    try:
        yield server
    finally:
        server.close()


def _pushed(registry: TestRegistry, name: str) -> Reference:
    reference = f"{registry.host}/proxied/{name}:1"
    image = build_image([make_tar(tar_file("manifests/x.yaml", b"proxied"), tar_file("metadata/a.yaml", b"{}"))])
    push_image(reference, image)
    return Reference.parse(reference)


def test_plain_http_through_http_proxy(proxy: ForwardProxy, registry: TestRegistry,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _pushed(registry, "plain")
    monkeypatch.setenv("HTTP_PROXY", proxy.url.replace("http://", "http://pu:pp-s3cret@"))
    with RegistryClient() as client:
        client.ping(registry.host)
        manifest = client.get_manifest(ref)
        assert client.get_blob(ref, manifest.config("x").digest).startswith(b"{")
    auth = "Basic cHU6cHAtczNjcmV0"  # pu:pp-s3cret
    assert proxy.seen[:2] == [("GET", f"http://{registry.host}/v2/", auth),
                              ("GET", f"http://{registry.host}/v2/proxied/plain/manifests/1", auth)]
    assert len(proxy.seen) == 3
    monkeypatch.setenv("NO_PROXY", "example.com,127.0.0.1")
    with RegistryClient() as client:
        client.get_manifest(ref)
    assert len(proxy.seen) == 3  # NO_PROXY: straight to the registry
    proxy.refuse = True
    monkeypatch.setenv("NO_PROXY", "")
    with RegistryClient(retry=RetryPolicy(attempts=1)) as client, pytest.raises(RegistryError) as info:
        client.get_manifest(ref)
    assert str(info.value) == f"{ref}: manifest failed (HTTP 407)"


def test_https_through_a_connect_tunnel(proxy: ForwardProxy, tls_registry: TLSRegistry,  # noqa: F811
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ref = Reference.parse(tls_registry.reference)
    monkeypatch.setenv("https_proxy", proxy.url.replace("http://", "http://pu:pp-s3cret@"))
    with RegistryClient(ca_file=tls_registry.ca_file) as client:
        client.ping(tls_registry.host)  # the first plain-HTTP probe of a loopback host goes past no proxy
        assert client.get_manifest(ref).digest.startswith("sha256:")
    assert {(m, t) for m, t, _ in proxy.seen} == {("CONNECT", tls_registry.host)}
    assert {a for _, _, a in proxy.seen} == {"Basic cHU6cHAtczNjcmV0"}
    proxy.refuse = True
    with (
        RegistryClient(ca_file=tls_registry.ca_file, retry=RetryPolicy(attempts=1)) as client,
        pytest.raises(RegistryError) as info,
    ):
        client.get_manifest(ref)
    message = str(info.value)
    assert message.startswith(f"{ref}: cannot connect to https://{tls_registry.host}: Tunnel connection failed: 407")
    assert message.endswith(f"(through proxy {urlsplit(proxy.url).netloc})") and "s3cret" not in message
