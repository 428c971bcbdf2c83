"""Transport: verified TLS against a real HTTPS docker-registry (CA generated here), custom CA
files, --registry-insecure, retries with backoff, broken downloads and cross-host redirects.

The fault-injection cases (429, 5xx, a connection cut mid-blob, a redirect to another host) use a
tiny HTTP server on 127.0.0.1, because a real registry cannot be made to misbehave that way.
"""

from __future__ import annotations

import datetime
import email.utils
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from extractor.acquire import AcquireOptions, acquire
from extractor.acquire.client import RegistryClient
from extractor.acquire.manifests import OCI_MANIFEST
from extractor.acquire.reference import Reference
from extractor.acquire.tls import shared_context
from extractor.acquire.transport import RetryPolicy
from extractor.acquire.wire import Request, Response, Send
from extractor.demo.localregistry import LocalRegistry
from extractor.demo.push import build_image, gzip_bytes, push_bundle_image
from extractor.errors import ConfigError, RegistryError
from tests.support.faults import FaultServer, answer, fault_server, truncated
from tests.support.registry import make_tar, tar_file
from tests.support.tools import require_shared, require_tool
from tests.test_cli import assert_one_line_error, cli

LWS = "leader-worker-set-v1.0.0-rendered"
FAST = RetryPolicy(attempts=4, backoff=0.05, max_delay=0.2, budget=10)


# -- a real HTTPS registry ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TLSRegistry:
    host: str
    ca_file: Path
    other_ca: Path
    reference: str


def _certificates(root: Path) -> tuple[Path, Path, Path, Path]:
    """A throw-away CA, a server certificate it signs (127.0.0.1, localhost), and an unrelated CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def ca(name: str) -> tuple[Any, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return key, cert

    ca_key, ca_cert = ca("bundle-extract test CA")
    _other_key, other_cert = ca("some other CA")
    server_key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_cert.subject).public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = (root / "ca.pem", root / "other-ca.pem", root / "server.pem", root / "server-key.pem")
    paths[0].write_bytes(ca_cert.public_bytes(pem))
    paths[1].write_bytes(other_cert.public_bytes(pem))
    paths[2].write_bytes(server_cert.public_bytes(pem))
    paths[3].write_bytes(
        server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


@pytest.fixture(scope="module")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSRegistry]:
    require_tool("docker-registry")  # cryptography (a test dependency) is imported by _certificates
    root = tmp_path_factory.mktemp("tls-registry")
    ca_file, other_ca, cert, key = _certificates(root)
    server = LocalRegistry(root=root / "registry", tls=(cert, key)).start()
    try:
        reference = f"{server.host}/leader-worker-set/lws-operator-bundle:1.0"
        push_bundle_image(require_shared("bundles", LWS), reference, AcquireOptions(ca_file=ca_file))
        yield TLSRegistry(server.host, ca_file, other_ca, reference)
    finally:
        server.stop()


def test_tls_is_verified(tls_registry: TLSRegistry, tmp_path: Path) -> None:
    def pull(**kwargs: Any) -> Path:
        options = AcquireOptions(cache_dir=tmp_path / "cache", work_dir=tmp_path / "work", **kwargs)
        return acquire(tls_registry.reference, options).directory

    with pytest.raises(RegistryError) as info:
        pull()
    message = str(info.value)
    assert message.startswith(f"{tls_registry.reference}: TLS certificate of {tls_registry.host} is not trusted")
    assert "--registry-ca-file" in message and f"--registry-insecure {tls_registry.host}" in message
    with pytest.raises(RegistryError, match="is not trusted"):
        pull(ca_file=tls_registry.other_ca)
    assert (pull(ca_file=tls_registry.ca_file) / "manifests").is_dir()
    # unverified TLS when the host is named insecure (the blobs are cached: ask for the manifest again)
    assert (pull(insecure_hosts=(tls_registry.host,)) / "manifests").is_dir()
    assert (pull(insecure_hosts=("127.0.0.1",)) / "manifests").is_dir()
    with pytest.raises(RegistryError, match="is not trusted"):
        pull(insecure_hosts=("127.0.0.1:1",))


def test_tls_through_the_cli(tls_registry: TLSRegistry, seeded_registry: Any, tmp_path: Path) -> None:
    env = {"BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache")}
    args = ["run", tls_registry.reference, "-n", "lws"]
    assert_one_line_error(cli(*args, env=env), tls_registry.reference, "not trusted", "--registry-ca-file")
    with_ca = cli(*args, "--registry-ca-file", str(tls_registry.ca_file), env=env)
    assert with_ca.returncode == 0, with_ca.stderr
    by_env = cli(*args, env={**env, "BUNDLE_EXTRACT_REGISTRY_CA_FILE": str(tls_registry.ca_file)})
    fresh = {"BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "c2")}
    insecure = cli(*args, "--registry-insecure", tls_registry.host, env=fresh)
    plain = cli("run", seeded_registry.images["lws-operator"], "-n", "lws", env=env)
    assert with_ca.stdout == by_env.stdout == insecure.stdout == plain.stdout != ""
    assert with_ca.stderr == ""
    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("nothing here")
    assert_one_line_error(cli(*args, "--registry-ca-file", str(bad), env=env), str(bad), "not a PEM")


def test_tls_context_is_loaded_once_per_process(tls_registry: TLSRegistry, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(tls_registry.other_ca.read_bytes())
    wrong = shared_context(ca_file, True)
    assert shared_context(ca_file, True) is wrong  # every transport of the process gets this one
    assert shared_context(tls_registry.ca_file, True) is not wrong
    assert shared_context(None, False) is shared_context(ca_file, False)  # unverified: no CA file is read

    def pull(cache: str) -> Path:
        options = AcquireOptions(ca_file=ca_file, cache_dir=tmp_path / cache, work_dir=tmp_path / "work")
        return acquire(tls_registry.reference, options).directory

    with pytest.raises(RegistryError, match="is not trusted"):
        pull("c1")
    # the same path rewritten with the CA that signed the registry: a new context, which trusts it
    ca_file.write_bytes(tls_registry.ca_file.read_bytes() + b"\n")
    assert (pull("c2") / "manifests").is_dir()
    assert shared_context(ca_file, True) is not wrong
    certifi_only = shared_context(None, True)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_registry.ca_file))
    assert shared_context(None, True) is not certifi_only


def test_bad_ca_files(tls_registry: TLSRegistry, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CA file not found"):
        RegistryClient(ca_file=tmp_path / "missing.pem")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match="not a PEM CA certificate bundle"):
        RegistryClient(ca_file=garbage)
    # a file found good once and then broken is checked again
    changing = tmp_path / "changing.pem"
    changing.write_bytes(tls_registry.ca_file.read_bytes())
    RegistryClient(ca_file=changing).close()
    RegistryClient(ca_file=changing).close()
    changing.write_bytes(garbage.read_bytes())
    with pytest.raises(ConfigError, match="not a PEM CA certificate bundle"):
        RegistryClient(ca_file=changing)


# -- fault injection ------------------------------------------------------------------------------
@pytest.fixture
def faults() -> Iterator[FaultServer]:
    with fault_server() as server:
        yield server


def _serve(server: FaultServer, repo: str, content: bytes) -> tuple[str, str, bytes]:
    """Routes for a one-layer image; returns (manifest path, blob path, blob). The manifest bytes
    are kept in ``server.manifests[repo]``."""
    layer = make_tar(tar_file("manifests/x.yaml", content), tar_file("metadata/annotations.yaml", b"{}"))
    image = build_image([layer])
    blob = gzip_bytes(layer)
    layer_digest = next(d for d, b in image.blobs.items() if b == blob)
    manifest_path = f"/v2/{repo}/manifests/1"
    blob_path = f"/v2/{repo}/blobs/{layer_digest}"
    server.routes[manifest_path] = [answer(200, image.manifest, {"Content-Type": OCI_MANIFEST})]
    server.manifests[repo] = image.manifest
    server.routes[blob_path] = [answer(200, blob)]
    return manifest_path, blob_path, blob


def _acquire(server: FaultServer, repo: str, tmp_path: Path, retry: RetryPolicy = FAST) -> bytes:
    options = AcquireOptions(cache_dir=tmp_path / "cache", work_dir=tmp_path / "work", retry=retry)
    return (acquire(f"{server.host}/{repo}:1", options).directory / "manifests/x.yaml").read_bytes()


def test_429_honours_retry_after(faults: FaultServer, tmp_path: Path) -> None:
    manifest_path, _blob_path, _ = _serve(faults, "ns/busy", b"busy")
    ok = faults.routes[manifest_path][0]
    faults.routes[manifest_path] = [answer(429, b"{}", {"Retry-After": "1"}), ok]
    assert _acquire(faults, "ns/busy", tmp_path) == b"busy"
    first, second = faults.times[manifest_path]
    assert second - first >= 0.95  # Retry-After: 1 beats the 50 ms backoff
    # an HTTP-date Retry-After works too
    when = email.utils.formatdate(time.time() + 1, usegmt=True)
    faults.hits.clear()
    faults.times.clear()
    faults.routes[manifest_path] = [answer(429, b"{}", {"Retry-After": when}), ok]
    assert _acquire(faults, "ns/busy", tmp_path / "2") == b"busy"
    assert faults.hits[manifest_path] == 2


def test_5xx_is_retried_with_backoff_then_gives_up(faults: FaultServer, tmp_path: Path) -> None:
    manifest_path, blob_path, _ = _serve(faults, "ns/flaky", b"flaky")
    faults.routes[blob_path] = [answer(503), answer(502), faults.routes[blob_path][0]]
    assert _acquire(faults, "ns/flaky", tmp_path) == b"flaky"
    assert faults.hits[blob_path] == 3
    gaps = [b - a for a, b in zip(faults.times[blob_path], faults.times[blob_path][1:], strict=False)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # exponential backoff
    faults.routes[manifest_path] = [answer(500, b'{"errors":[{"code":"UNKNOWN"}]}')]
    with pytest.raises(RegistryError) as info:
        _acquire(faults, "ns/flaky", tmp_path)
    assert str(info.value) == f"{faults.host}/ns/flaky:1: manifest failed (HTTP 500 (UNKNOWN), 4 attempts)"
    assert faults.hits[manifest_path] == 1 + 4


def test_retries_are_bounded_in_time(faults: FaultServer, tmp_path: Path) -> None:
    manifest_path, _, _ = _serve(faults, "ns/slow", b"slow")
    faults.routes[manifest_path] = [answer(429, b"{}", {"Retry-After": "120"})]
    start = time.monotonic()
    with pytest.raises(RegistryError, match=r"HTTP 429"):
        _acquire(faults, "ns/slow", tmp_path, RetryPolicy(attempts=5, budget=5))
    assert time.monotonic() - start < 2  # a 120 s wait does not fit a 5 s budget: no retry
    assert faults.hits[manifest_path] == 1
    with pytest.raises(RegistryError, match=r"HTTP 429"):
        _acquire(faults, "ns/slow", tmp_path, RetryPolicy(attempts=1))
    assert faults.hits[manifest_path] == 2


def test_connection_errors_are_retried(tmp_path: Path) -> None:
    from extractor.demo.localregistry import free_port

    port = free_port()
    start = time.monotonic()
    with pytest.raises(RegistryError) as info:
        acquire(f"127.0.0.1:{port}/ns/none:1", AcquireOptions(work_dir=tmp_path, retry=FAST))
    elapsed = time.monotonic() - start
    assert str(info.value).startswith(f"127.0.0.1:{port}/ns/none:1: cannot connect to http://127.0.0.1:{port}: ")
    assert str(info.value).endswith("(4 attempts)")
    assert 0.05 + 0.1 + 0.2 <= elapsed < 5


def test_broken_download_starts_again(faults: FaultServer, tmp_path: Path) -> None:
    _manifest_path, blob_path, blob = _serve(faults, "ns/cut", b"cut" * 50_000)
    faults.routes[blob_path] = [truncated(blob), answer(200, blob)]
    assert _acquire(faults, "ns/cut", tmp_path) == b"cut" * 50_000
    assert faults.hits[blob_path] == 2
    faults.routes[blob_path] = [truncated(blob)]
    with pytest.raises(RegistryError) as info:
        _acquire(faults, "ns/cut", tmp_path / "again")
    assert "download broke off" in str(info.value) and str(info.value).endswith("(4 attempts)")
    blobs = list((tmp_path / "again/cache/blobs/sha256").iterdir())
    assert len(blobs) == 1 and blobs[0].read_bytes() == faults.manifests["ns/cut"]  # no partial layer


def test_redirect_to_other_host_drops_credentials(faults: FaultServer, tmp_path: Path) -> None:
    storage = FaultServer()
    try:
        _manifest_path, blob_path, blob = _serve(faults, "ns/redirect", b"redirected")
        faults.routes[blob_path] = [answer(307, b"", {"Location": f"http://{storage.host}/bucket/blob?sig=1"})]
        storage.routes["/bucket/blob"] = [answer(200, blob)]
        options = AcquireOptions(
            username="user", password="secret-pw", cache_dir=tmp_path / "c", work_dir=tmp_path / "w", retry=FAST
        )
        # the fake registry asks for nothing, so make the client send Basic credentials anyway
        with options.client() as client:
            client._auth.basic_hosts.add(faults.host)
            path = tmp_path / "blob"
            client.download_blob(Reference.parse(f"{faults.host}/ns/redirect"), blob_path.rsplit("/", 1)[1], path,
                                 max_bytes=10**6)
        assert path.read_bytes() == blob
        assert faults.auth[blob_path] == ["Basic dXNlcjpzZWNyZXQtcHc="]
        assert storage.auth["/bucket/blob"] == [None]
    finally:
        storage.close()


def test_plain_http_registry_on_loopback_needs_no_probe(registry: Any) -> None:
    seen: list[str] = []

    def recording(request: Request, send: Send) -> Response:
        seen.append(f"{request.scheme} {request.path}")
        return send(request)

    with RegistryClient(transport=recording) as client:
        client.ping(registry.host)
        client.ping(registry.host)
    assert seen == ["http /v2/", "http /v2/"]
