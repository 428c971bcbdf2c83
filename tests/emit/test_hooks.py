"""The generated helmfile's hooks, run for real: ``helmfile sync`` against a real kube-apiserver
(etcd + kube-apiserver built from Go modules, tests/support/kube.py). No controllers run there, so
Helm is told not to wait for Deployments to become ready; everything else is the real thing:
namespaces created by the presync hook, CRDs applied server-side and Established before Helm
installs the custom resources, and the sail postsync hook annotating istiod's webhooks."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from extractor import yamlio
from extractor.emit.helmfile import KUBE_CONTEXT_ARG
from tests.support.kube import ISTIOD_WEBHOOKS as WEBHOOKS
from tests.support.kube import KubeCluster, start_kube
from tests.support.project import helmfile


def sync(project: Path, cluster: KubeCluster, *args: str, env: dict[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    # helm must not wait for Deployments: nothing runs pods here
    return helmfile(project, "sync", "--skip-deps", "--sync-args", "--wait=false", *args,
                    env={"KUBECONFIG": cluster.env["KUBECONFIG"], "KUBECACHEDIR": cluster.env["KUBECACHEDIR"],
                         **(env or {})}, check=check)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> KubeCluster:
    with start_kube(tmp_path_factory.mktemp("kube")) as kube:
        yield kube  # type: ignore[misc]


@pytest.fixture(scope="module")
def synced(project: Path, cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("synced") / "project"
    shutil.copytree(project, copy)
    # the webhook configurations istiod would create once it runs
    cluster.kubectl("apply", "-f", "-", input=WEBHOOKS)
    sync(copy, cluster)
    return copy


def crd_names(project: Path) -> list[str]:
    return sorted(yamlio.load(p.read_bytes())["metadata"]["name"]
                  for p in (project / "charts").glob("*/presync/*/*.yaml"))


def test_presync_hooks_apply_crds_server_side_and_wait_until_established(synced: Path, cluster: KubeCluster) -> None:
    names = crd_names(synced)
    assert len(names) == 39  # the bundles' 28 + the Infrastructure stub + sail's 10 Gateway API extraManifests
    for name in names:
        crd = json.loads(cluster.kubectl("get", "crd", name, "-o", "json", "--show-managed-fields").stdout)
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions.get("Established") == "True", name
        # server-side apply: our field manager owns the fields, no last-applied annotation
        managers = {m["manager"] for m in crd["metadata"]["managedFields"]}
        assert "bundle-extract" in managers, (name, managers)
        assert "kubectl.kubernetes.io/last-applied-configuration" not in crd["metadata"].get("annotations", {})


def test_operand_namespace_and_custom_resources_exist(synced: Path, cluster: KubeCluster) -> None:
    cluster.kubectl("get", "namespace", "cert-manager")
    for kind, name in [("certmanagers.operator.openshift.io", "cluster"), ("istios.sailoperator.io", "default"),
                       ("leaderworkersetoperators.operator.openshift.io", "cluster"),
                       ("infrastructures.config.openshift.io", "cluster")]:
        cluster.kubectl("get", kind, name)
    istio = json.loads(cluster.kubectl("get", "istios.sailoperator.io", "default", "-o", "json").stdout)
    assert istio["spec"]["namespace"] == "istio-system"
    assert istio["spec"]["version"] == "v1.27.3"  # from the bundle's alm-examples
    for namespace, deployment in [("cert-manager-operator", "cert-manager-operator-controller-manager"),
                                  ("istio-system", "servicemesh-operator3"),
                                  ("openshift-lws-operator", "openshift-lws-operator")]:
        cluster.kubectl("get", "deployment", deployment, "-n", namespace)
    cluster.kubectl("get", "rolebinding", "-n", "kube-system", "lws-operator-openshift-lws-operator-auth-reader")


def test_sail_postsync_hook_annotated_istiod_webhooks(synced: Path, cluster: KubeCluster) -> None:
    for kind, name in [("mutatingwebhookconfiguration", "istio-sidecar-injector"),
                       ("validatingwebhookconfiguration", "istio-validator-istio-system")]:
        obj = json.loads(cluster.kubectl("get", kind, name, "-o", "json").stdout)
        assert obj["metadata"]["annotations"]["sailoperator.io/ignore"] == "true", name


def test_sail_hook_fails_loudly_when_the_webhooks_never_appear(synced: Path, cluster: KubeCluster) -> None:
    cluster.kubectl("delete", "mutatingwebhookconfiguration", "istio-sidecar-injector")
    cluster.kubectl("delete", "validatingwebhookconfiguration", "istio-validator-istio-system")
    proc = sync(synced, cluster, "--selector", "name=sail-operator",
                env={"SAIL_WEBHOOK_IGNORE_TIMEOUT": "3"}, check=False)
    assert proc.returncode != 0, proc.stdout
    assert "did not appear within 3s" in proc.stdout + proc.stderr


def test_sail_hook_is_off_when_disabled(synced: Path, cluster: KubeCluster) -> None:
    proc = sync(synced, cluster, "--selector", "name=sail-operator",
                "--state-values-set", "sailWebhookIgnore.enabled=false",
                env={"SAIL_WEBHOOK_IGNORE_TIMEOUT": "3"}, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sail-webhook-ignore" not in proc.stdout + proc.stderr


def test_crd_stub_is_created_only_where_missing(synced: Path, cluster: KubeCluster) -> None:
    name = "servicemonitors.monitoring.coreos.com"
    stub = json.loads(cluster.kubectl("get", "crd", name, "-o", "json").stdout)
    assert "bundle-extract.io/stub" in stub["metadata"]["annotations"]
    assert stub["status"]["conditions"] and any(
        c["type"] == "Established" and c["status"] == "True" for c in stub["status"]["conditions"])
    # a real CRD of that name (here: one without our marker) is left alone by the next sync
    cluster.kubectl("delete", "crd", name)
    real = {**stub, "metadata": {"name": name, "annotations": {"origin": "prometheus-operator"}}}
    real.pop("status")
    cluster.kubectl("create", "-f", "-", input=json.dumps(real))
    proc = sync(synced, cluster, "--selector", "name=lws-operator")
    assert f"crd-stubs: {name} exists, left as it is" in proc.stdout + proc.stderr
    after = json.loads(cluster.kubectl("get", "crd", name, "-o", "json").stdout)
    assert after["metadata"]["annotations"] == {"origin": "prometheus-operator"}


def _renamed_crds(source: Path, dest: Path, suffix: str) -> None:
    """Copies of the CRD files in ``source`` under a new API group (``<group>.<suffix>``): CRDs the
    cluster has never seen, so each round creates them afresh."""
    dest.mkdir(parents=True)
    for path in sorted(source.glob("*.yaml")):
        crd = yamlio.load(path.read_bytes())
        group = f"{crd['spec']['group']}.{suffix}"
        crd["spec"]["group"] = group
        crd["metadata"] = {"name": f"{crd['spec']['names']['plural']}.{group}"}
        (dest / path.name).write_text(yamlio.dump(crd))


def test_crd_hooks_never_fail_on_freshly_created_crds(synced: Path, cluster: KubeCluster, tmp_path: Path) -> None:
    """kubectl wait fails at once while a new CRD has no status yet; the generated wait retries.

    Every round runs each release's generated ``crds-*`` presync hooks exactly as helmfile would
    (command and arguments from ``helmfile build``, cwd = the project), apply immediately followed
    by wait, the moment the race happens, on CRDs new to the cluster: the hooks take the CRD
    directory as a positional argument, so each round passes copies under a new API group.
    Not one hook run may fail.
    """
    state = next(d for d in yamlio.load_all(
        helmfile(synced, "build", env={"KUBECONFIG": cluster.env["KUBECONFIG"]}).stdout) if d)
    hooks = [h for r in state["releases"] for h in r.get("hooks", [])
             if h["name"].startswith("crds-") and "presync" in h["events"]]
    waits = [h for h in hooks if h["name"].endswith("-established")]
    assert waits and len(waits) * 2 == len(hooks)
    runs = 0
    for round_ in range(6):
        for hook in hooks:
            directory = hook["args"][-1]
            assert directory.endswith("/presync/" + hook["name"].removeprefix("crds-").removesuffix("-established")
                                      + "/")
            fresh = tmp_path / f"round{round_}" / directory.strip("./").replace("/", "_")
            if not fresh.exists():
                _renamed_crds(synced / directory, fresh, f"r{round_}.example")
            args = [*hook["args"][:-1], str(fresh) + "/"]
            # what helmfile renders the kube-context argument to when no context is given
            args = ["" if arg == KUBE_CONTEXT_ARG else arg for arg in args]
            proc = subprocess.run([hook["command"], *args], cwd=synced, env=cluster.env, capture_output=True,
                                  text=True, timeout=400, check=False)
            assert proc.returncode == 0, f"round {round_}, hook {hook['name']}:\n{proc.stdout}\n{proc.stderr}"
            runs += 1
    assert runs == 6 * len(hooks)
    created = json.loads(cluster.kubectl("get", "crd", "-o", "json").stdout)["items"]
    fresh_crds = [c for c in created if c["spec"]["group"].endswith(".r5.example")]
    assert len(fresh_crds) == len(crd_names(synced))
    for crd in fresh_crds:
        assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}.get("Established") == "True"
