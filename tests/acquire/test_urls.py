"""Fetching extraManifests URLs: URL checks, URL mirrors, sha256 verification, the digest cache
and --offline, HTTP failures and limits.

The files are served by a real loopback HTTP server (Python's http.server over
``../shared/extra-crds``); the 500 and redirect cases use the scripted FaultServer of
tests/support/faults.py, because a static server cannot be made to answer that way.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from extractor.acquire import AcquireOptions
from extractor.acquire.retry import RetryPolicy
from extractor.acquire.urlref import UrlMirror, apply_url_mirrors, check_url
from extractor.acquire.urls import fetch_url
from extractor.demo.fileserver import StaticFileServer
from extractor.errors import AcquireError, ConfigError, DigestMismatchError, NotCachedError
from tests.support.faults import answer, fault_server
from tests.support.tools import require_shared

GATEWAY = "https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/v1.4.0/config/crd/standard/" \
    "gateway.networking.k8s.io_gateways.yaml"
FAST = RetryPolicy(attempts=2, backoff=0.05, max_delay=0.1, budget=5)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def served(tmp_path: Path) -> tuple[StaticFileServer, bytes]:
    crds = require_shared("extra-crds")
    data = (crds / "gateway-api-v1.4.0/standard/gateway.networking.k8s.io_gateways.yaml").read_bytes()
    server = StaticFileServer(crds).start()
    yield server, data  # type: ignore[misc]
    server.stop()


def options(tmp_path: Path, server_url: str, **kwargs: object) -> AcquireOptions:
    mirror = UrlMirror.parse(f"https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/v1.4.0/config/crd="
                             f"{server_url}/gateway-api-v1.4.0")
    return AcquireOptions(cache_dir=tmp_path / "cache", url_mirrors=(mirror,), retry=FAST, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("url", "message"), [
    ("http://example.com/x.yaml", "loopback hosts only"),
    ("ftp://example.com/x.yaml", "expected an https:// URL"),
    ("https://user:pw@example.com/x.yaml", "credentials in URLs"),
    ("https:///x.yaml", "expected an https:// URL"),
    ("https://example.com:99999/x", "not a valid URL"),
    ("https://exa mple.com/x", "is not a URL"),
])
def test_check_url_refuses(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        check_url(url)
    assert "pw" not in str(info.value)


@pytest.mark.parametrize("url", [
    "https://user:s3cret@example.com:99999/x",  # bad port: rejected before the credential check
    "ftp://user:s3cret@example.com/x",
    "http://user:s3cret@example.com/x",
    "https://user:s3c/ret@example.com/x",  # an unencoded / in the password
    "https://user:s3cret@exa mple.com/x",
])
def test_check_url_errors_never_show_credentials(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_url(url)
    assert "s3c" not in str(info.value)
    assert "mple.com" in str(info.value)  # the host is still named


@pytest.mark.parametrize("text", ["https://a=ftp://u:s3cret@h", "https://a=https://u:s3cret@h",
                                  "https://u:s3cret@a=", "https://a=https://u:s3cret@h?q"])
def test_url_mirror_errors_never_show_credentials(text: str) -> None:
    with pytest.raises(ConfigError, match="invalid URL mirror") as info:
        UrlMirror.parse(text)
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize("url", ["https://example.com/x.yaml", "http://127.0.0.1:8080/x", "http://localhost/x",
                                 "http://[::1]:80/x"])
def test_check_url_accepts(url: str) -> None:
    check_url(url)


def test_url_mirror_longest_prefix_whole_segments() -> None:
    mirrors = (UrlMirror.parse("https://a.example=http://127.0.0.1:1/all"),
               UrlMirror.parse("https://a.example/x/=http://127.0.0.1:2/x"))
    assert apply_url_mirrors("https://a.example/x/f.yaml", mirrors) == "http://127.0.0.1:2/x/f.yaml"
    assert apply_url_mirrors("https://a.example/xy/f.yaml", mirrors) == "http://127.0.0.1:1/all/xy/f.yaml"
    assert apply_url_mirrors("https://b.example/f.yaml", mirrors) == "https://b.example/f.yaml"
    for bad in ("nothing", "https://a=", "a.example=http://127.0.0.1", "https://a=http://example.com/plain"):
        with pytest.raises(ConfigError, match="invalid URL mirror"):
            UrlMirror.parse(bad)


def test_fetch_verifies_and_caches_then_offline(tmp_path: Path, served: tuple[StaticFileServer, bytes]) -> None:
    server, data = served
    assert fetch_url(GATEWAY, sha(data), options(tmp_path, server.url)) == data
    assert (tmp_path / "cache/blobs/sha256" / sha(data)).read_bytes() == data
    server.stop()  # no network needed any more: the second run and --offline use the cache
    assert fetch_url(GATEWAY, sha(data), options(tmp_path, server.url)) == data
    assert fetch_url(GATEWAY, sha(data), options(tmp_path, server.url, offline=True)) == data


def test_without_cache_dir_the_cache_is_bundle_extract_cache_dir(
    tmp_path: Path, served: tuple[StaticFileServer, bytes], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A library caller that gives no cache_dir uses $BUNDLE_EXTRACT_CACHE_DIR, as the CLI does;
    without it, ${XDG_CACHE_HOME}/bundle-extract."""
    server, data = served
    mirror = options(tmp_path, server.url).url_mirrors
    monkeypatch.setenv("BUNDLE_EXTRACT_CACHE_DIR", str(tmp_path / "env-cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fetch_url(GATEWAY, sha(data), AcquireOptions(url_mirrors=mirror, retry=FAST)) == data
    assert (tmp_path / "env-cache/blobs/sha256" / sha(data)).read_bytes() == data
    assert not (tmp_path / "xdg").exists()
    monkeypatch.setenv("BUNDLE_EXTRACT_CACHE_DIR", "")
    assert fetch_url(GATEWAY, sha(data), AcquireOptions(url_mirrors=mirror, retry=FAST)) == data
    assert (tmp_path / "xdg/bundle-extract/blobs/sha256" / sha(data)).read_bytes() == data


def test_offline_without_cache(tmp_path: Path) -> None:
    opts = AcquireOptions(cache_dir=tmp_path / "cache", offline=True)
    with pytest.raises(NotCachedError, match="is not in the cache"):
        fetch_url(GATEWAY, "0" * 64, opts)


def test_digest_mismatch_names_url_and_both_digests(tmp_path: Path, served: tuple[StaticFileServer, bytes]) -> None:
    server, data = served
    wrong = "a" * 64
    with pytest.raises(DigestMismatchError) as info:
        fetch_url(GATEWAY, wrong, options(tmp_path, server.url))
    message = str(info.value)
    assert GATEWAY in message and f"sha256:{wrong}" in message and f"sha256:{sha(data)}" in message
    assert not (tmp_path / "cache/blobs/sha256" / wrong).exists()


def test_bad_sha256_and_http_failures(tmp_path: Path, served: tuple[StaticFileServer, bytes]) -> None:
    server, _ = served
    with pytest.raises(ConfigError, match="not 64 lower-case hex"):
        fetch_url(GATEWAY, "XYZ", options(tmp_path, server.url))
    missing = GATEWAY.replace("gateways.yaml", "nothing.yaml")
    with pytest.raises(AcquireError, match="HTTP 404"):
        fetch_url(missing, "0" * 64, options(tmp_path, server.url))


def test_server_errors_redirects_and_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with fault_server() as faults:
        faults.routes["/broken"] = [answer(500)]
        faults.routes["/moved"] = [answer(302, headers={"Location": "http://example.invalid/x"})]
        faults.routes["/big"] = [answer(200, b"x" * 2048)]
        opts = AcquireOptions(cache_dir=tmp_path / "cache", retry=FAST,
                              url_mirrors=(UrlMirror.parse(f"https://files.example=http://{faults.host}"),))
        with pytest.raises(AcquireError, match="HTTP 500"):
            fetch_url("https://files.example/broken", "0" * 64, opts)
        assert faults.hits["/broken"] == 2  # retried once (FAST: 2 attempts)
        with pytest.raises(AcquireError, match=r"redirected to http://example\.invalid; only https"):
            fetch_url("https://files.example/moved", "0" * 64, opts)
        monkeypatch.setattr("extractor.acquire.urls.MAX_URL_BYTES", 1024)
        with pytest.raises(AcquireError, match="larger than 1024 bytes"):
            fetch_url("https://files.example/big", "0" * 64, opts)
