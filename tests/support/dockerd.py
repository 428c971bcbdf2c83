"""A real, private Docker daemon for tests (Debian ``docker.io``'s ``dockerd``, run as root).

Fixture (session-scoped; imported into ``tests/conftest.py``):

- ``dockerd``: a :class:`TestDockerd` listening on a private unix socket, allowed to pull over
  plain HTTP from the session ``registry`` (``--insecure-registry 127.0.0.1:PORT``).

The daemon runs with ``--storage-driver=vfs --iptables=false --ip6tables=false --bridge=none``
(no container is ever started), its own ``--config-file`` (an empty ``{}``, so the host's
``/etc/docker/daemon.json`` does not apply), and data root, exec root, pid file and socket under
one short directory in ``/tmp`` (unix socket paths must stay under 108 bytes; dockerd puts
containerd's socket in ``<exec-root>/containerd/``). dockerd starts its own containerd, which runs
in a session of its own; teardown stops dockerd with SIGTERM (it stops containerd), then kills
whatever is still running from that directory (by pid), unmounts what dockerd mounted there and
removes the directory.

Missing ``dockerd`` or not root: fails under ``CI=true``, skips elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.registry import TestRegistry
from tests.support.tools import in_ci, require_tool

__all__ = ["TestDockerd", "dockerd", "start_dockerd"]

_SOCKET_LIMIT = 100  # sockaddr_un.sun_path is 108 bytes; keep a margin


@dataclass
class TestDockerd:
    """A running private daemon: ``host`` is the ``DOCKER_HOST`` value (``unix://<socket>``)."""

    __test__ = False  # not a test class despite the name

    root: Path
    socket: Path
    process: subprocess.Popen[bytes]

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def exec_root(self) -> Path:
        return self.root / "x"

    @property
    def log_path(self) -> Path:
        return self.root / "dockerd.log"

    def client(self) -> Any:
        """A ``docker.DockerClient`` for this daemon (caller closes it)."""
        import docker

        return docker.DockerClient(base_url=self.host, timeout=60)

    def containers(self) -> list[dict[str, Any]]:
        """Every container the daemon has, running or not (``GET /containers/json?all=1``)."""
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(self.socket)), timeout=30) as client:
            response = client.get("http://docker/containers/json", params={"all": "1"})
            response.raise_for_status()
            result: list[dict[str, Any]] = response.json()
            return result

    def log_tail(self, lines: int = 30) -> str:
        """The end of dockerd's log (for failure messages)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop dockerd and everything it started; unmount and remove :attr:`root`."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)  # dockerd's own session (start_new_session)
                self.process.wait(timeout=30)
        _kill_leftovers(self.root)
        _unmount_below(self.root)
        shutil.rmtree(self.root, ignore_errors=True)


def _pids_using(root: Path) -> list[int]:
    """Processes whose command line mentions ``root`` (containerd and any shim it started)."""
    needle = str(root).encode()
    pids: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            pids.append(int(entry.name))
    return pids


def _kill_leftovers(root: Path) -> None:
    """SIGTERM, then SIGKILL, processes still running from ``root`` (normally none)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = _pids_using(root)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _pids_using(root):
            time.sleep(0.1)


def _unmount_below(root: Path) -> None:
    """Lazily unmount every mount point at or below ``root`` (deepest first)."""
    prefix = str(root)
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return
    points = [line.split()[4] for line in lines if len(line.split()) > 4]
    mine = [p for p in points if p == prefix or p.startswith(prefix + "/")]
    for point in sorted(set(mine), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _short_tmp_dir() -> Path:
    """A fresh directory whose socket paths stay short (``$TMPDIR`` when short enough, else /tmp)."""
    base = tempfile.gettempdir()
    if len(base) > 40:
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix="bxd-", dir=base))


def start_dockerd(insecure_registries: tuple[str, ...] = (), *, timeout: float = 60.0) -> TestDockerd:
    """Start a private dockerd and wait until ``/_ping`` answers ``OK``.

    Skips (fails under CI) when dockerd is missing or the tests do not run as root; fails with
    the end of dockerd's log when it exits or does not answer within ``timeout`` seconds.
    """
    binary = require_tool("dockerd")
    if os.geteuid() != 0:
        message = "a private dockerd needs root"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    root = _short_tmp_dir()
    socket = root / "d.sock"
    exec_root = root / "x"
    if len(str(exec_root / "containerd" / "containerd.sock.ttrpc")) > _SOCKET_LIMIT:
        pytest.fail(f"{root}: path too long for dockerd's unix sockets")
    config = root / "daemon.json"
    config.write_text("{}\n")
    args = [
        str(binary),
        "--config-file", str(config),
        "--storage-driver=vfs",
        "--iptables=false",
        "--ip6tables=false",
        "--bridge=none",
        "-H", f"unix://{socket}",
        "--data-root", str(root / "data"),
        "--exec-root", str(exec_root),
        "--pidfile", str(root / "dockerd.pid"),
    ]
    for host in insecure_registries:
        args += ["--insecure-registry", host]
    with (root / "dockerd.log").open("wb") as log:
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    daemon = TestDockerd(root=root, socket=socket, process=process)
    deadline = time.monotonic() + timeout
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket)), timeout=2) as client:
            while True:
                if process.poll() is not None:
                    pytest.fail(f"dockerd exited with {process.returncode}:\n{daemon.log_tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if socket.exists() and client.get("http://docker/_ping").text == "OK":
                        return daemon
                if time.monotonic() > deadline:
                    pytest.fail(f"dockerd did not answer /_ping within {timeout}s:\n{daemon.log_tail()}")
                time.sleep(0.05)
    except BaseException:
        daemon.stop()
        raise


@pytest.fixture(scope="session")
def dockerd(registry: TestRegistry) -> Iterator[TestDockerd]:
    """A private dockerd for the session that may pull from ``registry`` over plain HTTP."""
    daemon = start_dockerd((registry.host,))
    try:
        yield daemon
    finally:
        daemon.stop()
