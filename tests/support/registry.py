"""Real loopback registries for tests: Debian's ``docker-registry`` (CNCF distribution 2.8).

Fixtures (session-scoped; register with ``pytest_plugins = ["tests.support.registry"]`` in
``tests/conftest.py``):

- ``registry``: anonymous registry, a :class:`TestRegistry`.
- ``auth_registry``: htpasswd (Basic) registry with user ``tester`` and a random password.

Helpers: :func:`htpasswd_entry` (bcrypt via the ``bcrypt`` package, else ``htpasswd`` from
apache2-utils), :func:`start_registry`, and :class:`TokenServer`, a tiny Bearer-token service
(RS256 JWTs signed with a throw-away key whose self-signed certificate the registry trusts).
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from extractor.acquire.wire import Request, Response, Send
from extractor.demo.localregistry import LocalRegistry
from tests.support.tools import in_ci, require_tool

__all__ = [
    "CountingTransport",
    "TestRegistry",
    "TokenServer",
    "auth_registry",
    "htpasswd_entry",
    "make_tar",
    "registry",
    "start_registry",
    "tar_file",
    "tar_member",
]


@dataclass
class TestRegistry:
    """A running registry: ``host`` (``127.0.0.1:PORT``), ``url``, optional Basic credentials."""

    __test__ = False  # not a test class despite the name

    server: LocalRegistry
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def url(self) -> str:
        return f"http://{self.server.host}"

    @property
    def log_path(self) -> Path:
        return self.server.log_path

    def stop(self) -> None:
        self.server.stop()


def htpasswd_entry(username: str, password: str) -> str:
    """A ``user:$2y$…`` bcrypt line for distribution's htpasswd auth.

    Uses the ``bcrypt`` Python package when importable, else ``htpasswd -nbB`` (apache2-utils);
    skips (fails under CI) when neither is available.
    """
    try:
        import bcrypt
    except ImportError:
        pass
    else:
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
        return f"{username}:{hashed}"
    tool = require_tool("htpasswd")
    proc = subprocess.run(
        [str(tool), "-nbB", "-C", "5", username, password], capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def start_registry(
    root: Path, *, users: dict[str, str] | None = None, auth: dict[str, Any] | None = None
) -> LocalRegistry:
    """Start ``docker-registry serve`` under ``root`` (storage, config, log) and wait for it.

    ``users``: name -> password for htpasswd auth; ``auth``: a raw ``auth:`` config section
    (e.g. ``{"token": {...}}``). Skips (fails under CI) when the binary is missing.
    """
    require_tool("docker-registry")
    root.mkdir(parents=True, exist_ok=True)
    section = auth
    if users:
        path = root / "htpasswd"
        path.write_text("".join(htpasswd_entry(u, p) + "\n" for u, p in sorted(users.items())))
        section = {"htpasswd": {"realm": "bundle-extract-test", "path": str(path)}}
    return LocalRegistry(root=root, auth=section).start()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestRegistry]:
    """An anonymous registry for the whole session."""
    server = start_registry(tmp_path_factory.mktemp("registry"))
    try:
        yield TestRegistry(server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestRegistry]:
    """A Basic-auth (htpasswd) registry; ``username``/``password`` hold the valid credentials."""
    password = "pw-" + secrets.token_hex(8)
    server = start_registry(tmp_path_factory.mktemp("auth-registry"), users={"tester": password})
    try:
        yield TestRegistry(server, "tester", password)
    finally:
        server.stop()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenServer:
    """A Bearer token service on ``127.0.0.1`` for distribution's ``auth: token:`` mode.

    Issues RS256 JWTs (``x5c`` = the self-signed certificate in ``cert_path``) granting the
    requested scope to ``username``/``password`` (Basic) or to anonymous requests when
    ``allow_anonymous``. ``requests`` counts token requests; ``expires_in`` is sent with each.
    Needs the ``cryptography`` package (skips, or fails under CI, without it).
    """

    issuer = "bundle-extract-test-issuer"
    service = "bundle-extract-test-registry"

    def __init__(
        self,
        root: Path,
        username: str,
        password: str,
        *,
        expires_in: int = 300,
        allow_anonymous: bool = False,
    ) -> None:
        try:
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding, rsa
            from cryptography.x509.oid import NameOID
        except ImportError:
            message = "the cryptography package is needed for the token-auth registry"
            if in_ci():
                pytest.fail(message)
            pytest.skip(message)
        self.username = username
        self.password = password
        self.expires_in = expires_in
        self.allow_anonymous = allow_anonymous
        self.requests = 0
        self._counting = threading.Lock()  # the server answers in threads: no increment may be lost
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bundle-extract test token signer")])
        now = time.time()
        import datetime as _dt

        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_dt.datetime.fromtimestamp(now - 3600, _dt.UTC))
            .not_valid_after(_dt.datetime.fromtimestamp(now + 86400, _dt.UTC))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        root.mkdir(parents=True, exist_ok=True)
        self.cert_path = root / "token-cert.pem"
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")

        def sign(payload: bytes) -> bytes:
            return key.sign(payload, padding.PKCS1v15(), hashes.SHA256())

        server_self = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # silence
                return

            def do_GET(self) -> None:
                with server_self._counting:
                    server_self.requests += 1
                query = parse_qs(urlparse(self.path).query)
                header = self.headers.get("Authorization", "")
                expected = (
                    "Basic " + base64.b64encode(f"{server_self.username}:{server_self.password}".encode()).decode()
                )
                if header != expected and not (server_self.allow_anonymous and not header):
                    self.send_response(401)
                    self.end_headers()
                    return
                access = []
                for scope in query.get("scope", []):
                    kind, _, rest = scope.partition(":")
                    repo, _, actions = rest.rpartition(":")
                    access.append({"type": kind, "name": repo, "actions": actions.split(",")})
                issued = int(time.time())
                claims = {
                    "iss": server_self.issuer,
                    "sub": server_self.username if header else "",
                    "aud": query.get("service", [""])[0],
                    "exp": issued + server_self.expires_in,
                    "nbf": issued - 60,
                    "iat": issued,
                    "jti": secrets.token_hex(8),
                    "access": access,
                }
                head = _b64url(json.dumps({"alg": "RS256", "typ": "JWT", "x5c": [x5c]}).encode())
                body = _b64url(json.dumps(claims).encode())
                signing_input = f"{head}.{body}".encode()
                token = f"{head}.{body}.{_b64url(sign(signing_input))}"
                data = json.dumps({"token": token, "expires_in": server_self.expires_in}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def registry_auth(self) -> dict[str, Any]:
        """The ``auth:`` section for the registry config."""
        return {
            "token": {
                "realm": self.realm,
                "service": self.service,
                "issuer": self.issuer,
                "rootcertbundle": str(self.cert_path),
            }
        }

    def start(self) -> TokenServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestRegistry, TokenServer]]:
    """A registry whose pulls need a Bearer token from a :class:`TokenServer` (Basic credentials
    ``alice``/``alice-secret-pw``); its ``requests`` counts token requests."""
    root = tmp_path_factory.mktemp("token-registry")
    tokens = TokenServer(root, "alice", "alice-secret-pw").start()
    server = start_registry(root / "registry", auth=tokens.registry_auth())
    try:
        yield TestRegistry(server, "alice", "alice-secret-pw"), tokens
    finally:
        server.stop()
        tokens.stop()


# -- layer and request helpers -------------------------------------------------------------------
TarEntry = tuple[tarfile.TarInfo, bytes | None]


def tar_file(name: str, data: bytes = b"", mode: int = 0o644) -> TarEntry:
    """A regular-file entry named exactly ``name`` for :func:`make_tar`."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    return info, data


def tar_member(name: str, kind: bytes, linkname: str = "") -> TarEntry:
    """A non-file entry: ``tarfile.DIRTYPE``, ``SYMTYPE``, ``LNKTYPE``, ``CHRTYPE``, ``FIFOTYPE``…"""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info, None


def make_tar(*entries: TarEntry) -> bytes:
    """An uncompressed tar of ``entries`` in the given order (names written as given)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


class CountingTransport:
    """An interceptor (:data:`extractor.acquire.wire.Interceptor`, ``AcquireOptions(transport=...)``)
    that records ``(method, path)`` of every request and sends it to the network."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    def __call__(self, request: Request, send: Send) -> Response:
        self.requests.append((request.method, request.path))
        return send(request)

    def blob_gets(self) -> list[str]:
        """Paths of blob GETs."""
        return [p for m, p in self.requests if m == "GET" and "/blobs/" in p]
