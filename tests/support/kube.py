"""A real Kubernetes API server on loopback for tests: etcd + kube-apiserver, no controllers.

Both binaries are built from Go modules by ``hack/build-kube.sh`` into the tools dir
(``$BUNDLE_EXTRACT_TOOLS/bin``); a missing one fails the test under ``CI=true`` and skips it
elsewhere (:func:`tests.support.tools.require_tool`). ``kubectl`` is looked up the same way.

Fixture (session-scoped; register with ``pytest_plugins = ["tests.support.kube"]`` or import it in
``tests/conftest.py``):

- ``kube_cluster``: one :class:`KubeCluster` for the whole session. Tests share it, so they
  must use names (CRDs, namespaces, webhook configurations) of their own.

For a private cluster (e.g. a test that breaks it), use :func:`start_kube` as a context manager::

    with start_kube(tmp_path) as cluster:
        cluster.kubectl("apply", "--server-side", "-f", str(manifest))

What runs: etcd (plain HTTP on 127.0.0.1, ``--unsafe-no-fsync``) and kube-apiserver (HTTPS on
127.0.0.1 with a serving certificate signed by a throw-away CA, static-token auth for user
``admin`` in ``system:masters``, RBAC). Only the controllers inside kube-apiserver run: CRDs become
Established, but nothing reconciles Deployments, creates service accounts or garbage-collects.
The ``ServiceAccount`` admission plugin is off so pods and the like can be created anyway.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.tools import require_tool

__all__ = [
    "KubeCluster",
    "KubeStartError",
    "KubectlError",
    "kube_cluster",
    "start_kube",
    "write_pki",
]

ADMIN_USER = "admin"
#: Admission plugins that need a controller (or kubelet) to be useful; off in the test cluster.
DISABLED_ADMISSION_PLUGINS = ("ServiceAccount",)
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"  # virtual: only allocated in etcd, never routed
STARTUP_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0


#: the webhook configurations istiod creates once it runs (named for revision ``default`` in
#: istio-system); the sail postsync hook waits for them
ISTIOD_WEBHOOKS = """\
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: istio-sidecar-injector
webhooks: []
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: istio-validator-istio-system
webhooks: []
"""


class KubeStartError(RuntimeError):
    """etcd or kube-apiserver did not come up; the message ends with the tail of its log."""


class KubectlError(AssertionError):
    """``kubectl`` exited non-zero; the message holds the command, exit code and output."""

    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.proc = proc
        super().__init__(
            f"{' '.join(map(str, proc.args))} exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout}--- stderr\n{proc.stderr}"
        )


# --- certificates and keys ---------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """Files written by :func:`write_pki` (PEM)."""

    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    sa_key: Path  # service-account token signing key (private)
    sa_pub: Path  # its public half, for token verification


def write_pki(directory: Path, *, backend: str | None = None) -> Pki:
    """Write a CA, a serving cert for ``127.0.0.1``/``localhost`` and a service-account key pair.

    All keys are ECDSA P-256. ``backend``: ``"cryptography"`` (the Python package), ``"openssl"``
    (the CLI), or ``None`` for the package when importable, else the CLI.
    """
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(
        ca_cert=directory / "ca.crt",
        serving_cert=directory / "serving.crt",
        serving_key=directory / "serving.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
    )
    if backend is None:
        try:
            import cryptography  # noqa: F401
        except ImportError:
            backend = "openssl"
        else:
            backend = "cryptography"
    if backend == "cryptography":
        _pki_cryptography(pki)
    elif backend == "openssl":
        _pki_openssl(pki, directory)
    else:
        raise ValueError(f"unknown PKI backend {backend!r}")
    for key in (pki.serving_key, pki.sa_key):
        key.chmod(0o600)
    return pki


def _pki_cryptography(pki: Pki) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    now = datetime.datetime.now(datetime.UTC)
    not_before, not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=2)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bundle-extract-test-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    serving_key = ec.generate_private_key(ec.SECP256R1())
    serving_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(serving_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    sa_key = ec.generate_private_key(ec.SECP256R1())
    pki.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.serving_cert.write_bytes(serving_cert.public_bytes(serialization.Encoding.PEM))
    pki.serving_key.write_bytes(pem_key(serving_key))
    pki.sa_key.write_bytes(pem_key(sa_key))
    pki.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _pki_openssl(pki: Pki, directory: Path) -> None:
    openssl = require_tool("openssl")

    def run(*args: str) -> None:
        proc = subprocess.run(
            [str(openssl), *args], capture_output=True, text=True, check=False, timeout=60
        )
        if proc.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()}")

    def new_key(path: Path) -> None:
        run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))

    ca_key = directory / "ca.key"
    new_key(ca_key)
    run(
        "req", "-x509", "-new", "-key", str(ca_key), "-out", str(pki.ca_cert), "-days", "2",
        "-sha256", "-subj", "/CN=bundle-extract-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext", "keyUsage=critical,digitalSignature,keyCertSign,cRLSign",
    )
    new_key(pki.serving_key)
    csr = directory / "serving.csr"
    run("req", "-new", "-key", str(pki.serving_key), "-out", str(csr), "-subj", "/CN=kube-apiserver")
    ext = directory / "serving.ext"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )
    run(
        "x509", "-req", "-in", str(csr), "-CA", str(pki.ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(pki.serving_cert), "-days", "2", "-sha256",
        "-extfile", str(ext),
    )
    new_key(pki.sa_key)
    run("pkey", "-in", str(pki.sa_key), "-pubout", "-out", str(pki.sa_pub))


# --- processes ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has Linux SIGKILL the child when the test process dies."""
    if sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)

    return preexec


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT`; always reaps the process."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.popen.kill()
                self.popen.wait()

    def check_alive(self) -> None:
        code = self.popen.poll()
        if code is not None:
            raise KubeStartError(f"{self.name} exited {code} during startup:\n{_tail(self.log)}")


def _spawn(name: str, args: list[str], log: Path, cwd: Path) -> _Proc:
    with log.open("ab") as out:
        popen = subprocess.Popen(
            args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent(),
        )
    return _Proc(name, popen, log)


def _wait_until(
    what: str, probe: Callable[[], bool], procs: list[_Proc], deadline: float, log: Path
) -> None:
    delay = 0.05
    while True:
        for proc in procs:
            proc.check_alive()
        if probe():
            return
        if time.monotonic() > deadline:
            raise KubeStartError(f"{what} not ready after {STARTUP_TIMEOUT:.0f}s:\n{_tail(log)}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _http_ok(url: str, *, context: ssl.SSLContext | None = None, token: str | None = None) -> bool:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


# --- the cluster -------------------------------------------------------------------------------


@dataclass
class KubeCluster:
    """A running etcd + kube-apiserver; ``kubeconfig`` authenticates as cluster admin."""

    root: Path
    server: str  # https://127.0.0.1:PORT
    kubeconfig: Path
    ca_cert: Path
    token: str = field(repr=False)
    kubectl_path: Path
    etcd_url: str
    startup_seconds: float
    _procs: list[_Proc] = field(default_factory=list, repr=False)

    @property
    def pids(self) -> list[int]:
        """Process ids of etcd and kube-apiserver (reaped once :meth:`stop` returns)."""
        return [proc.popen.pid for proc in self._procs]

    @property
    def env(self) -> dict[str, str]:
        """``os.environ`` plus ``KUBECONFIG`` for this cluster and a private kubectl cache dir.

        Pass it to anything that runs kubectl itself (helmfile hooks, helm): the private cache
        keeps discovery results of an earlier cluster on the same port from being reused.
        """
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.root / "kube-cache"),
        }

    def kubectl(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,  # same name as subprocess.run's
        timeout: float = 120,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``kubectl --kubeconfig=<ours> *args``; raise :class:`KubectlError` on failure if
        ``check``. ``env`` entries are added to :attr:`env`."""
        proc = subprocess.run(
            [str(self.kubectl_path), f"--kubeconfig={self.kubeconfig}", *args],
            input=input, capture_output=True, text=True, timeout=timeout, check=False,
            env={**self.env, **(env or {})}, cwd=self.root,
        )
        if check and proc.returncode != 0:
            raise KubectlError(proc)
        return proc

    def wait_established(self, *targets: str, timeout: float = 60) -> None:
        """``kubectl wait --for=condition=Established`` on ``targets``, retried until ``timeout``
        seconds: straight after a CRD is created its status may not exist yet, and kubectl then
        fails at once (the same retry the generated hooks do)."""
        deadline = time.monotonic() + timeout
        while True:
            proc = self.kubectl("wait", "--for=condition=Established", "--timeout=10s", *targets, check=False)
            if proc.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise KubectlError(proc)
            time.sleep(0.5)

    def logs(self) -> dict[str, str]:
        """The tail of each component's log (for assertion messages)."""
        return {proc.name: _tail(proc.log) for proc in self._procs}

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd; drop etcd's data (logs stay). Safe to call twice."""
        for proc in reversed(self._procs):
            proc.stop()
        shutil.rmtree(self.root / "etcd-data", ignore_errors=True)


def _write_kubeconfig(path: Path, server: str, ca_cert: Path, token: str) -> None:
    # JSON is YAML; written by hand so no YAML library is needed here.
    import json

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {"server": server, "certificate-authority": str(ca_cert)}}],
        "users": [{"name": ADMIN_USER, "user": {"token": token}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": ADMIN_USER}}],
        "current-context": "test",
        "preferences": {},
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)


def _start_once(root: Path, etcd: Path, apiserver: Path, kubectl: Path) -> KubeCluster:
    started = time.monotonic()
    deadline = started + STARTUP_TIMEOUT
    pki = write_pki(root / "pki")
    token = secrets.token_hex(24)
    tokens = root / "tokens.csv"
    tokens.write_text(f'{token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
    tokens.chmod(0o600)

    client_port, peer_port, secure_port = _free_port(), _free_port(), _free_port()
    etcd_url = f"http://127.0.0.1:{client_port}"
    peer_url = f"http://127.0.0.1:{peer_port}"
    server = f"https://127.0.0.1:{secure_port}"
    kubeconfig = root / "kubeconfig"
    _write_kubeconfig(kubeconfig, server, pki.ca_cert, token)
    cluster = KubeCluster(
        root=root, server=server, kubeconfig=kubeconfig, ca_cert=pki.ca_cert, token=token,
        kubectl_path=kubectl, etcd_url=etcd_url, startup_seconds=0.0,
    )
    try:
        etcd_log = root / "etcd.log"
        cluster._procs.append(
            _spawn(
                "etcd",
                [
                    str(etcd), "--name=default", f"--data-dir={root / 'etcd-data'}",
                    f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
                    f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
                    f"--initial-cluster=default={peer_url}", "--initial-cluster-state=new",
                    "--unsafe-no-fsync=true", "--log-level=warn",
                    "--quota-backend-bytes=1073741824",
                ],
                etcd_log, root,
            )
        )
        _wait_until(
            "etcd", lambda: _http_ok(f"{etcd_url}/health"), cluster._procs, deadline, etcd_log
        )

        apiserver_log = root / "kube-apiserver.log"
        cluster._procs.append(
            _spawn(
                "kube-apiserver",
                [
                    str(apiserver),
                    f"--etcd-servers={etcd_url}",
                    "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
                    f"--secure-port={secure_port}",
                    f"--cert-dir={root / 'apiserver-certs'}",
                    f"--tls-cert-file={pki.serving_cert}",
                    f"--tls-private-key-file={pki.serving_key}",
                    f"--token-auth-file={tokens}",
                    "--authorization-mode=RBAC",
                    "--anonymous-auth=false",
                    "--service-account-issuer=https://kubernetes.default.svc",
                    f"--service-account-key-file={pki.sa_pub}",
                    f"--service-account-signing-key-file={pki.sa_key}",
                    f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                    f"--disable-admission-plugins={','.join(DISABLED_ADMISSION_PLUGINS)}",
                    "--endpoint-reconciler-type=none",
                    "--allow-privileged=true",
                    "--profiling=false",
                    "--v=1",
                ],
                apiserver_log, root,
            )
        )
        context = ssl.create_default_context(cafile=str(pki.ca_cert))
        _wait_until(
            "kube-apiserver",
            lambda: _http_ok(f"{server}/readyz", context=context, token=token),
            cluster._procs, deadline, apiserver_log,
        )
    except BaseException:
        cluster.stop()
        raise
    cluster.startup_seconds = time.monotonic() - started
    return cluster


def _port_clash(error: KubeStartError) -> bool:
    return "address already in use" in str(error)


@contextlib.contextmanager
def start_kube(tmp_path: Path) -> Iterator[KubeCluster]:
    """Start etcd + kube-apiserver with state under ``tmp_path/kube``; stop them on exit.

    Skips (fails under ``CI=true``) when ``etcd``, ``kube-apiserver`` or ``kubectl`` is missing.
    Raises :class:`KubeStartError` (with the log tail) if a component does not come up; a port
    taken between choosing and binding it is retried with new ports.
    """
    etcd = require_tool("etcd")
    apiserver = require_tool("kube-apiserver")
    kubectl = require_tool("kubectl")
    attempt = 0
    while True:
        attempt += 1
        root = tmp_path / ("kube" if attempt == 1 else f"kube-{attempt}")
        root.mkdir(parents=True)
        try:
            cluster = _start_once(root, etcd, apiserver, kubectl)
        except KubeStartError as error:
            if attempt < 3 and _port_clash(error):
                continue
            raise
        break
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """One etcd + kube-apiserver for the whole test session (see the module docstring)."""
    with start_kube(tmp_path_factory.mktemp("kube-cluster")) as cluster:
        yield cluster


@contextlib.contextmanager
def process_environ(env: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` updated with ``env`` for the block, restored after it (for library code
    that runs kubectl and helm with the process environment, such as ``adopt``)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield
