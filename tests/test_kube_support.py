"""The loopback Kubernetes API server of tests/support/kube.py does what the helmfile hooks need."""

from __future__ import annotations

import json
import os
import ssl
from pathlib import Path

import pytest

from tests.support import kube
from tests.support.kube import KubeCluster, KubectlError, KubeStartError, start_kube, write_pki

kube_cluster = kube.kube_cluster  # the session fixture, until tests/conftest.py registers it

CRD_GROUP = "kubesupport.bundle-extract.test"
CRD_NAME = f"widgets.{CRD_GROUP}"
CRD = f"""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {CRD_NAME}
spec:
  group: {CRD_GROUP}
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    listKind: WidgetList
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size:
                  type: integer
"""

WEBHOOK_NAME = "kubesupport-webhook.bundle-extract.test"
WEBHOOK = f"""\
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: {WEBHOOK_NAME}
webhooks:
  - name: widgets.{CRD_GROUP}
    admissionReviewVersions: ["v1"]
    sideEffects: None
    failurePolicy: Ignore
    timeoutSeconds: 1
    clientConfig:
      url: https://127.0.0.1:1/mutate
    rules:
      - apiGroups: ["{CRD_GROUP}"]
        apiVersions: ["v1"]
        operations: ["CREATE"]
        resources: ["gadgets"]
"""


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes whose arguments contain ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        cmdline = raw.replace(b"\0", b" ").decode(errors="replace")
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def test_crd_server_side_apply_and_established(kube_cluster: KubeCluster, tmp_path: Path) -> None:
    manifest = tmp_path / "crd.yaml"
    manifest.write_text(CRD)
    for _ in range(2):  # a second apply is a no-op, as a rerun of the presync hook would be
        kube_cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
    kube_cluster.wait_established(f"crd/{CRD_NAME}")
    got = kube_cluster.kubectl("get", f"crd/{CRD_NAME}", "-o", "json", "--show-managed-fields")
    crd = json.loads(got.stdout)
    managers = {entry["manager"] for entry in crd["metadata"]["managedFields"]}
    assert "kubectl" in managers  # server-side apply's field manager
    # The new type is served: a custom resource of it can be applied and read back.
    kube_cluster.kubectl(
        "apply", "--server-side", "-f", "-",
        input=f"apiVersion: {CRD_GROUP}/v1\nkind: Widget\nmetadata:\n  name: w1\n  namespace: default\n"
        "spec:\n  size: 3\n",
    )
    size = kube_cluster.kubectl("get", "widget/w1", "-n", "default", "-o", "jsonpath={.spec.size}")
    assert size.stdout == "3"


def test_mutating_webhook_configuration_annotate(kube_cluster: KubeCluster, tmp_path: Path) -> None:
    manifest = tmp_path / "webhook.yaml"
    manifest.write_text(WEBHOOK)
    kube_cluster.kubectl("apply", "--server-side", "-f", str(manifest))
    try:
        kube_cluster.kubectl(
            "annotate", "--overwrite", f"mutatingwebhookconfiguration/{WEBHOOK_NAME}",
            "cert-manager.io/inject-ca-from=demo/serving-cert",
        )
        got = kube_cluster.kubectl(
            "get", f"mutatingwebhookconfiguration/{WEBHOOK_NAME}",
            "-o", r"jsonpath={.metadata.annotations.cert-manager\.io/inject-ca-from}",
        )
        assert got.stdout == "demo/serving-cert"
    finally:
        kube_cluster.kubectl("delete", f"mutatingwebhookconfiguration/{WEBHOOK_NAME}", "--wait=false")


def test_objects_need_no_controllers(kube_cluster: KubeCluster) -> None:
    """ServiceAccount admission is off: a pod is accepted in a namespace with no service account."""
    kube_cluster.kubectl("create", "namespace", "kubesupport-pods")
    kube_cluster.kubectl("run", "p", "-n", "kubesupport-pods", "--image=example.invalid/none:1")
    got = kube_cluster.kubectl("get", "pod/p", "-n", "kubesupport-pods", "-o", "jsonpath={.metadata.name}")
    assert got.stdout == "p"


def test_service_account_tokens_verify(kube_cluster: KubeCluster) -> None:
    """The generated signing key works: a TokenRequest token authenticates as its service account."""
    kube_cluster.kubectl("create", "namespace", "kubesupport-sa")
    kube_cluster.kubectl("create", "serviceaccount", "bot", "-n", "kubesupport-sa")
    token = kube_cluster.kubectl("create", "token", "bot", "-n", "kubesupport-sa").stdout.strip()
    who = kube_cluster.kubectl(
        "auth", "whoami", f"--token={token}", "-o", "jsonpath={.status.userInfo.username}"
    )
    assert who.stdout == "system:serviceaccount:kubesupport-sa:bot"


def test_kubectl_error_carries_output(kube_cluster: KubeCluster) -> None:
    with pytest.raises(KubectlError, match=r"NotFound|not found"):
        kube_cluster.kubectl("get", "configmap/no-such-thing", "-n", "default")
    assert kube_cluster.kubectl("get", "configmap/no-such-thing", check=False).returncode != 0


def test_private_cluster_lifecycle_leaves_nothing_running(tmp_path: Path) -> None:
    with start_kube(tmp_path) as cluster:
        assert cluster.server.startswith("https://127.0.0.1:")
        version = json.loads(cluster.kubectl("version", "-o", "json").stdout)
        assert version["serverVersion"]["gitVersion"].startswith("v1.")
        assert cluster.kubectl("get", "--raw", "/readyz").stdout == "ok"
        pids = cluster.pids
        assert len(pids) == 2
        assert all(Path(f"/proc/{pid}").exists() for pid in pids)
        root = cluster.root
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert _processes_mentioning(str(root)) == []
    assert not (root / "etcd-data").exists()
    assert (root / "kube-apiserver.log").is_file()


def test_failed_start_stops_etcd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kube-apiserver refusing its flags raises KubeStartError and leaves no etcd behind."""
    monkeypatch.setattr(kube, "DISABLED_ADMISSION_PLUGINS", ("NoSuchAdmissionPlugin",))
    expected = r"kube-apiserver exited(.|\n)*NoSuchAdmissionPlugin"
    with pytest.raises(KubeStartError, match=expected), start_kube(tmp_path):
        pass
    assert _processes_mentioning(str(tmp_path)) == []


@pytest.mark.parametrize("backend", ["cryptography", "openssl"])
def test_pki_backends(tmp_path: Path, backend: str) -> None:
    """Either backend's serving certificate verifies for 127.0.0.1 against its CA."""
    pki = write_pki(tmp_path, backend=backend)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pki.serving_cert, pki.serving_key)
    client_ctx = ssl.create_default_context(cafile=str(pki.ca_cert))
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="127.0.0.1")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, end in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            break
    assert all(done.values())
    assert "BEGIN PUBLIC KEY" in pki.sa_pub.read_text()
    assert oct(pki.sa_key.stat().st_mode & 0o777) == "0o600"
