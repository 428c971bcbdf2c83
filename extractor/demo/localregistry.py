"""Run a throw-away OCI registry on loopback (Debian's ``docker-registry``, CNCF distribution 2.8).

Used by ``bundle-extract demo`` to seed sample bundle images; the test suite uses it too.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from extractor import yamlio
from extractor.errors import ToolError
from extractor.tools import find_tool

__all__ = ["LocalRegistry", "free_port"]


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _api_status(port: int, *, tls: bool) -> int | None:
    """The HTTP status of ``GET /v2/`` on ``127.0.0.1:port`` (TLS unverified), ``None`` when
    nothing answers within a second."""
    conn: http.client.HTTPConnection
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=1.0, context=context)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        conn.request("GET", "/v2/")
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


@dataclass
class LocalRegistry:
    """A ``docker-registry serve`` process listening on ``127.0.0.1:<port>``.

    ``root``: directory for its config, storage and log. ``auth``: optional ``auth:`` section of
    the distribution config (e.g. htpasswd). ``tls``: optional ``(certificate, key)`` PEM files:
    the registry then serves HTTPS only. Use as a context manager, or call
    :meth:`start`/:meth:`stop`. ``host`` is ``127.0.0.1:<port>``.
    """

    root: Path
    auth: dict[str, object] | None = None
    tls: tuple[Path, Path] | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "registry.log"

    def start(self, timeout: float = 20.0) -> LocalRegistry:
        """Start the registry and wait until ``/v2/`` answers. Raises :class:`ToolError`."""
        binary = find_tool("docker-registry")
        if binary is None:
            raise ToolError("docker-registry: not found (install the Debian package docker-registry: make tools)")
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        config: dict[str, object] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.root / "storage")}, "delete": {"enabled": True}},
            "http": {"addr": self.host, "secret": "bundle-extract-local"},
        }
        if self.tls:
            config["http"] = {"addr": self.host, "secret": "bundle-extract-local",
                              "tls": {"certificate": str(self.tls[0]), "key": str(self.tls[1])}}
        if self.auth:
            config["auth"] = self.auth
        config_path = self.root / "config.yml"
        config_path.write_text(yamlio.dump(config), encoding="utf-8")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(binary), "serve", str(config_path)], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-1:]
                raise ToolError(f"docker-registry exited at start: {' '.join(tail) or 'no output'}")
            if _api_status(self.port, tls=self.tls is not None) in (200, 401):
                return self
            time.sleep(0.05)
        self.stop()
        raise ToolError(f"docker-registry did not answer on {self.host} within {timeout:.0f}s")

    def stop(self) -> None:
        """Terminate the process (kill after 5 s)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
