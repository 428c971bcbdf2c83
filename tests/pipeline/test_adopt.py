"""extractor.pipeline.adopt on the session API server with a small hand-written project.

The project holds one bundles.yaml entry and its chart (no bundle is pulled: adopt reads only the
entry and ``charts/<name>/``); an "old" chart is installed with real helm under another release
name. Everything lives in a namespace of its own, with cluster-scoped names of its own, removed at
the end of the module. The migration of the real reference charts is tests/test_migration.py.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from extractor.errors import AdoptionRefusedError, ConfigError, ToolError
from extractor.pipeline.adopt import (
    HELM_MANAGED_BY,
    RELEASE_NAME,
    RELEASE_NAMESPACE,
    AdoptOptions,
    AdoptResult,
    ObjectRef,
    _Cluster,
    adopt,
)
from tests.support.kube import KubeCluster, process_environ
from tests.support.tools import require_tool

SUFFIX = secrets.token_hex(3)
NAMESPACE = f"adopt-{SUFFIX}"
RELEASE = "widget-operator"
OLD = "widget-operator-old"
CLUSTER_ROLE = f"adopt-test-{SUFFIX}"

CHART = {
    "Chart.yaml": f"apiVersion: v2\nname: {RELEASE}\nversion: 1.0.0\n",
    "values.yaml": "pullSecret:\n  name: widget-operator-pull-secret\n  dockerConfigJson: ''\nextra: false\n",
    "templates/sa.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: widget\n",
    "templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n",
    # cluster-scoped, with a namespace the template sets anyway (as the old sail chart's Istio)
    "templates/clusterrole.yaml": (f"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n"
                                   f"  name: {CLUSTER_ROLE}\n  namespace: {NAMESPACE}\nrules: []\n"),
    "templates/hook.yaml": ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hook-data\n  annotations:\n"
                            "    helm.sh/hook: pre-install\n"),
    "templates/secret.yaml": ("{{- if .Values.pullSecret.dockerConfigJson }}\napiVersion: v1\nkind: Secret\n"
                              "metadata:\n  name: {{ .Values.pullSecret.name }}\n"
                              "type: kubernetes.io/dockerconfigjson\ndata:\n"
                              "  .dockerconfigjson: {{ .Values.pullSecret.dockerConfigJson | b64enc }}\n{{- end }}\n"),
    "templates/extra.yaml": ("{{- if .Values.extra }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                             "  name: extra\n{{- end }}\n"),
}
OLD_CHART = {
    "Chart.yaml": f"apiVersion: v2\nname: {OLD}\nversion: 0.1.0\n",
    "templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n",
    "templates/gone.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old-only\n",
}


@dataclass
class Setup:
    cluster: KubeCluster
    project: Path
    env: dict[str, str]

    def run(self, **options: Any) -> AdoptResult:
        options.setdefault("release", RELEASE)
        with process_environ(self.env):  # adopt runs kubectl and helm with the process environment
            return adopt(AdoptOptions(config=self.project / "bundles.yaml", **options))

    def meta(self, *target: str) -> dict[str, Any]:
        out = self.cluster.kubectl("get", *target, "-n", NAMESPACE, "-o", "jsonpath={.metadata}").stdout
        meta: dict[str, Any] = json.loads(out)
        return meta

    def helm(self, *args: str) -> None:
        subprocess.run([str(require_tool("helm")), *args], capture_output=True, text=True, timeout=120,
                       check=True, env={**os.environ, **self.env})


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture(scope="module")
def setup(kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("adopt")
    project = root / "project"
    write(project, {
        "bundles.yaml": (f"bundles:\n  - name: {RELEASE}\n    image: registry.example.com/widget/bundle\n"
                         f"    version: '1.0'\n    namespace: {NAMESPACE}\n"
                         "environments:\n  staging: {}\n  elsewhere: {kubeContext: no-such-context}\n"),
        **{f"charts/{RELEASE}/{name}": text for name, text in CHART.items()},
    })
    write(root / "old", OLD_CHART)
    env = {"KUBECONFIG": str(kube_cluster.kubeconfig), "KUBECACHEDIR": str(kube_cluster.root / "kube-cache"),
           "BUNDLE_EXTRACT_KUBECTL": str(require_tool("kubectl")), "BUNDLE_EXTRACT_HELM": str(require_tool("helm"))}
    state = Setup(kube_cluster, project, env)
    kube_cluster.kubectl("create", "namespace", NAMESPACE)
    state.helm("install", OLD, str(root / "old"), "-n", NAMESPACE)
    try:
        yield state
    finally:
        state.helm("uninstall", OLD, "-n", NAMESPACE, "--ignore-not-found")
        kube_cluster.kubectl("delete", "configmaps,serviceaccounts,secrets", "--all", "-n", NAMESPACE, check=False)
        kube_cluster.kubectl("delete", "clusterrole", CLUSTER_ROLE, "--ignore-not-found", check=False)
        kube_cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=false", check=False)
        finalize = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE},
                    "spec": {"finalizers": []}}
        kube_cluster.kubectl("replace", "--raw", f"/api/v1/namespaces/{NAMESPACE}/finalize", "-f", "-",
                             input=json.dumps(finalize), check=False)


def test_nothing_exists_yet_but_the_old_release(setup: Setup) -> None:
    result = setup.run(from_release=OLD, dry_run=True)
    assert {str(a.ref) for a in result.adopted} == {f"ConfigMap {NAMESPACE}/settings"}
    assert result.adopted[0].owner == f"release {OLD} in {NAMESPACE}"
    # the pull Secret counts (the helmfile fills it at deploy time); the hook does not
    assert {str(r) for r in result.absent} == {
        f"ClusterRole {CLUSTER_ROLE}", f"ServiceAccount {NAMESPACE}/widget",
        f"Secret {NAMESPACE}/widget-operator-pull-secret"}
    assert [(str(item.ref), item.source) for item in result.left_over] == [
        (f"ConfigMap {NAMESPACE}/old-only", f"release {OLD}")]
    assert "do not 'helm uninstall" in result.left_over[0].fate  # the old release still exists
    assert setup.meta("configmap", "settings")["annotations"][RELEASE_NAME] == OLD  # dry run: unchanged


def test_refuses_every_object_of_another_release_and_changes_nothing(setup: Setup) -> None:
    setup.cluster.kubectl("create", "serviceaccount", "widget", "-n", NAMESPACE)
    setup.cluster.kubectl("create", "clusterrole", CLUSTER_ROLE, "--verb=get", "--resource=pods")
    setup.cluster.kubectl("annotate", "serviceaccount", "widget", "-n", NAMESPACE,
                          f"{RELEASE_NAME}={RELEASE}", f"{RELEASE_NAMESPACE}=another-namespace")
    setup.cluster.kubectl("annotate", "clusterrole", CLUSTER_ROLE, f"{RELEASE_NAME}=third-party",
                          f"{RELEASE_NAMESPACE}=kube-system")
    before = setup.meta("configmap", "settings")
    with pytest.raises(AdoptionRefusedError) as caught:
        setup.run(from_release=OLD)
    message = str(caught.value)
    assert "\n" not in message
    assert f"ClusterRole {CLUSTER_ROLE} belongs to Helm release third-party in namespace kube-system" in message
    # the same release name in another namespace is another release
    assert f"ServiceAccount {NAMESPACE}/widget belongs to Helm release {RELEASE} in namespace another-namespace" \
        in message
    assert setup.meta("configmap", "settings") == before  # adoptable, but nothing was changed
    setup.cluster.kubectl("annotate", "serviceaccount", "widget", "-n", NAMESPACE,
                          f"{RELEASE_NAME}-", f"{RELEASE_NAMESPACE}-")
    setup.cluster.kubectl("annotate", "clusterrole", CLUSTER_ROLE, f"{RELEASE_NAME}-", f"{RELEASE_NAMESPACE}-")


def test_adopts_unowned_and_old_release_objects_then_finds_them_owned(setup: Setup) -> None:
    result = setup.run(from_release=OLD)
    assert {(str(a.ref), a.owner) for a in result.adopted} == {
        (f"ConfigMap {NAMESPACE}/settings", f"release {OLD} in {NAMESPACE}"),
        (f"ServiceAccount {NAMESPACE}/widget", "none"),
        (f"ClusterRole {CLUSTER_ROLE}", "none"),
    }
    for target in (("configmap", "settings"), ("serviceaccount", "widget"), ("clusterrole", CLUSTER_ROLE)):
        meta = setup.meta(*target)
        assert meta["labels"]["app.kubernetes.io/managed-by"] == HELM_MANAGED_BY
        assert meta["annotations"][RELEASE_NAME] == RELEASE
        assert meta["annotations"][RELEASE_NAMESPACE] == NAMESPACE
    again = setup.run(from_release=OLD)
    assert again.adopted == ()
    assert len(again.owned) == 3


def test_helm_installs_the_release_over_the_adopted_objects(setup: Setup) -> None:
    setup.helm("install", RELEASE, str(setup.project / "charts" / RELEASE), "-n", NAMESPACE)
    try:
        result = setup.run(from_release=OLD)
        assert result.adopted == () and len(result.owned) == 3
    finally:
        setup.helm("uninstall", RELEASE, "-n", NAMESPACE, "--keep-history=false")


def test_user_values_files_change_the_objects_the_release_owns(setup: Setup) -> None:
    (setup.project / "values").mkdir(exist_ok=True)
    (setup.project / "values" / f"{RELEASE}.yaml").write_text("extra: true\n")
    try:
        result = setup.run(from_release=OLD, dry_run=True)
    finally:
        (setup.project / "values" / f"{RELEASE}.yaml").unlink()
    assert f"ConfigMap {NAMESPACE}/extra" in {str(r) for r in result.absent}


def test_the_environment_brings_its_values_file_and_kube_context(setup: Setup) -> None:
    (setup.project / "values").mkdir(exist_ok=True)
    (setup.project / "values" / f"{RELEASE}.staging.yaml").write_text("extra: true\n")
    try:
        staging = setup.run(from_release=OLD, environment="staging", dry_run=True)
        default = setup.run(from_release=OLD, dry_run=True)
    finally:
        (setup.project / "values" / f"{RELEASE}.staging.yaml").unlink()
    assert f"ConfigMap {NAMESPACE}/extra" in {str(r) for r in staging.absent}
    assert f"ConfigMap {NAMESPACE}/extra" not in {str(r) for r in default.absent}
    with pytest.raises(ToolError, match="no-such-context"):
        setup.run(from_release=OLD, environment="elsewhere", dry_run=True)
    with pytest.raises(ConfigError, match=r"no environment 'prod' \(known: default, elsewhere, staging\)"):
        setup.run(environment="prod")


def test_an_object_changed_after_the_check_is_not_patched(setup: Setup) -> None:
    """The patch carries the resourceVersion that was read: a change in between is a Conflict."""
    setup.cluster.kubectl("create", "configmap", "raced", "-n", NAMESPACE)
    ref = ObjectRef("ConfigMap", NAMESPACE, "raced", "v1")
    with process_environ(setup.env):
        cluster = _Cluster(None, 60)
        meta = cluster.metadata(ref)
        assert meta is not None
        setup.cluster.kubectl("label", "configmap", "raced", "-n", NAMESPACE, "changed=yes")
        with pytest.raises(ToolError, match=r"Conflict|modified"):
            cluster.label_as_owned(ref, str(meta["resourceVersion"]), RELEASE, NAMESPACE)
    assert RELEASE_NAME not in (setup.meta("configmap", "raced").get("annotations") or {})


@pytest.mark.parametrize(("options", "message"), [
    ({"release": "nope"}, "no bundle named 'nope'"),
    ({"from_release": "never-installed"}, "--from-release never-installed: no Helm release"),
    ({"values": (Path("/nonexistent/values.yaml"),)}, "values file not found"),
])
def test_bad_input_is_one_line_naming_it(setup: Setup, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        setup.run(**options)


def test_a_missing_chart_is_refused(setup: Setup, tmp_path: Path) -> None:
    (tmp_path / "bundles.yaml").write_bytes((setup.project / "bundles.yaml").read_bytes())
    with pytest.raises(ConfigError, match="no generated chart for release 'widget-operator'"):
        adopt(AdoptOptions(release=RELEASE, config=tmp_path / "bundles.yaml"))
