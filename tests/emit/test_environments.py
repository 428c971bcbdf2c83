"""Settings users own in the generated helmfile, which survive regeneration: ``values/`` files,
environments from bundles.yaml, the kube context the hooks follow, use as a sub-helmfile.

Real tools only: helmfile 0.166 with helm 3.17, kubectl, and the session's kube-apiserver
(``kube_cluster``). The hook tests use a small chart written here (one CRD group per test, so
they never collide, plus the emitter's real hooks: checks, namespaces, CRDs, a post-processor-like
kubectl hook); the regeneration and umbrella tests use the project ``make update-bundle`` generates
from the real bundles.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.draft import Hook, ReleaseSpec
from extractor.emit.helmfile import write_helmfile
from tests.conftest import SeededRegistry
from tests.support.kube import KubeCluster
from tests.support.project import docs, helmfile, tree, update_bundle
from tests.support.tools import require_helm_diff, require_tool

GOOD, DEAD = "good", "dead"

_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"""

_TEMPLATES = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: {{ .Release.Namespace }}
data:
  greeting: {{ .Values.greeting | quote }}
  feature: {{ .Values.feature.enabled | quote }}
---
apiVersion: %s/v1
kind: Widget
metadata:
  name: widget
  namespace: {{ .Release.Namespace }}
spec: {size: 1}
"""

#: a post-processor-like hook: kubectl inside a bash script, after the release
_MARK = 'kubectl create configmap "$1" -n "$2" --dry-run=client -o yaml | kubectl apply -f -'


def _small_project(root: Path, name: str, environments: dict[str, str | None] | None = None) -> Path:
    """``root`` holding ``charts/<name>`` (a CRD ``widgets.<name>.example.com`` in presync/, a
    Widget and a ConfigMap from values) and the generated helmfile for it."""
    group = f"{name}.example.com"
    chart = root / "charts" / name
    (chart / "templates").mkdir(parents=True)
    (chart / "presync" / "bundle").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("greeting: generated\nfeature:\n  enabled: false\n")
    (chart / "templates" / "objects.yaml").write_text(_TEMPLATES % group)
    (chart / "presync" / "bundle" / "crd.yaml").write_text(_CRD.format(group=group))
    spec = ReleaseSpec(
        name=name, namespace=name, chart_dir=f"./charts/{name}",
        hooks=(Hook(name="mark", events=("postsync",), command="bash",
                    args=("-c", _MARK, "mark", "marker", "{{ .Release.Namespace }}")),),
        extra_namespaces=(f"{name}-extra",),
        helmfile_values={"feature": {"enabled": False}},
        presync_groups=(("bundle", None),),
        custom_resources=True,
        value_bindings=(("feature.enabled", "feature.enabled"),),
        requires=("apiregistration.k8s.io/v1/APIService",),
        crd_versions=((f"widgets.{group}", ("v1",)),),
    )
    write_helmfile([spec], root / "helmfile.yaml.gotmpl", environments)
    return root


def _closed_port() -> int:
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _two_contexts(cluster: KubeCluster, path: Path) -> Path:
    """A kubeconfig with contexts ``good`` (the test API server) and ``dead`` (a refused port);
    the current context is ``dead``."""
    config = json.loads(cluster.kubeconfig.read_text())
    [good_cluster] = config["clusters"]
    [context] = config["contexts"]
    dead_cluster = {"name": DEAD, "cluster": {**good_cluster["cluster"], "server": f"https://127.0.0.1:{_closed_port()}"}}
    config["clusters"].append(dead_cluster)
    config["contexts"] = [{"name": GOOD, "context": context["context"]},
                          {"name": DEAD, "context": {**context["context"], "cluster": DEAD}}]
    config["current-context"] = DEAD
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return path


def _state(project: Path, *args: str) -> dict[str, Any]:
    [state] = docs(helmfile(project, *args, "build").stdout)
    return state


def _template(project: Path, *args: str) -> list[dict[str, Any]]:
    return docs(helmfile(project, *args, "template", "--skip-deps").stdout)


def _settings(objects: list[dict[str, Any]]) -> object:
    [config_map] = [o for o in objects if o["kind"] == "ConfigMap"]
    return config_map["data"]


# -- environments and values/ files (no cluster) ---------------------------------------------------


def test_environments_are_declared_with_their_kube_context(tmp_path: Path) -> None:
    project = _small_project(tmp_path, "envs", {"prod": "prod-cluster", "staging": None})
    for env, context in [("default", None), ("prod", "prod-cluster"), ("staging", None)]:
        declared = _state(project, "-e", env)["environments"]
        assert isinstance(declared, dict) and set(declared) == {"default", "prod", "staging"}
        assert declared[env].get("kubeContext") == context, (env, declared[env])
        assert declared[env]["values"][-2:] == ["helmfile.values.yaml", f"helmfile.values.{env}.yaml"]
        _template(project, "-e", env)  # each one renders
    # helmfile's own answer to an environment nobody declared
    proc = helmfile(project, "-e", "nowhere", "template", "--skip-deps", check=False)
    assert proc.returncode != 0
    assert "nowhere" in proc.stderr


def test_user_values_files_come_last_and_win_per_environment(tmp_path: Path) -> None:
    project = _small_project(tmp_path, "uservalues", {"prod": None})
    assert _settings(_template(project)) == {"greeting": "generated", "feature": "false"}
    (project / "values").mkdir()
    (project / "values" / "uservalues.yaml").write_text("greeting: from values/uservalues.yaml\n")
    (project / "values" / "uservalues.prod.yaml").write_text("greeting: from values/uservalues.prod.yaml\n")
    # the environment's own user file sets an environment value (here: a chart value bound to it)
    (project / "helmfile.values.prod.yaml").write_text("feature:\n  enabled: true\n")
    assert _settings(_template(project)) == {"greeting": "from values/uservalues.yaml", "feature": "false"}
    assert _settings(_template(project, "-e", "prod")) == {
        "greeting": "from values/uservalues.prod.yaml", "feature": "true"}
    # after every generated entry of the release, so the user wins over them
    [release] = _state(project)["releases"]
    assert release["values"][-2:] == ["values/uservalues.yaml", "values/uservalues.default.yaml"]
    assert release["missingFileHandler"] == "Info"


# -- the kube context the hooks follow (API server) ------------------------------------------------


def _sync_env(cluster: KubeCluster, kubeconfig: Path, **extra: str) -> dict[str, str]:
    kubectl = require_tool("kubectl")
    return {"KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(cluster.root / "kube-cache"),
            "PATH": f"{kubectl.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}", **extra}


@pytest.mark.parametrize(("case", "selection", "command"), [
    ("ctxflag", ("--kube-context", GOOD), "sync"),
    ("ctxenv", ("-e", "remote"), "sync"),
    ("ctxapply", ("-e", "remote"), "apply"),
    ("ctxflagapply", ("--kube-context", GOOD), "apply"),
])
def test_hooks_follow_helms_kube_context(case: str, selection: tuple[str, ...], command: str,
                                         kube_cluster: KubeCluster, tmp_path: Path) -> None:
    """The kubeconfig's current context is a dead server; helm and every hook (CRDs, namespaces,
    checks, the postsync kubectl hook) must all go to the context helmfile was given."""
    project = _small_project(tmp_path / "project", case, {"remote": GOOD})
    kubeconfig = _two_contexts(kube_cluster, tmp_path / "kubeconfig")
    extra = {"HELM_PLUGINS": str(require_helm_diff())} if command == "apply" else {}
    proc = helmfile(project, *selection, command, "--skip-deps", env=_sync_env(kube_cluster, kubeconfig, **extra))
    assert "hook[presync] logs" in proc.stdout + proc.stderr  # the hooks did run
    group = f"{case}.example.com"
    crd = json.loads(kube_cluster.kubectl("get", "crd", f"widgets.{group}", "-o", "json",
                                        "--show-managed-fields").stdout)
    assert "bundle-extract" in {m["manager"] for m in crd["metadata"]["managedFields"]}
    kube_cluster.kubectl("get", "namespace", f"{case}-extra")
    kube_cluster.kubectl("get", f"widgets.{group}", "widget", "-n", case)
    kube_cluster.kubectl("get", "configmap", "settings", "-n", case)
    kube_cluster.kubectl("get", "configmap", "marker", "-n", case)  # the postsync hook's work
    # the user's kubeconfig is left as it was
    assert json.loads(kubeconfig.read_text())["current-context"] == DEAD


def test_without_a_context_everything_uses_the_current_one(kube_cluster: KubeCluster, tmp_path: Path) -> None:
    """The counter-check of the test above: with no context given, the (dead) current context is used."""
    project = _small_project(tmp_path / "project", "ctxnone", {"remote": GOOD})
    kubeconfig = _two_contexts(kube_cluster, tmp_path / "kubeconfig")
    proc = helmfile(project, "sync", "--skip-deps", env=_sync_env(kube_cluster, kubeconfig), check=False)
    assert proc.returncode != 0
    assert "connection refused" in proc.stdout + proc.stderr
    assert kube_cluster.kubectl("get", "crd", "widgets.ctxnone.example.com", check=False).returncode != 0


# -- regeneration keeps values/ (make update-bundle, real bundles) ---------------------------------

CERT_MANAGER = "cert-manager-operator"
OPERATOR_IMAGE = "openshift.io/cert-manager-operator:latest"
WEBHOOK_IMAGE = "quay.io/jetstack/cert-manager-webhook:v1.15.5"
#: files only the user writes; every byte must survive each regeneration
USER_FILES = {
    f"values/{CERT_MANAGER}.yaml": "certManager:\n  spec:\n    logLevel: Debug\n",
    f"values/{CERT_MANAGER}.prod.yaml": "certManager:\n  spec:\n    logLevel: Trace\n",
    # deploy-wide (every release): the operator image from the user's own registry
    "helmfile.values.yaml": f"imageOverrides:\n  {OPERATOR_IMAGE}: user.example.com/cert-manager-operator:v1\n",
    "helmfile.values.prod.yaml": "openshift:\n  enabled: true\n",
}


def _edit_entry(config: Path, name: str, edit: Any) -> None:
    """Apply ``edit`` (a function of the entry mapping) to entry ``name`` of ``config``."""
    data = yamlio.load(config.read_bytes())
    [entry] = [e for e in data["bundles"] if e["name"] == name]
    edit(entry)
    config.write_text(yamlio.dump(data))


def _locked_chart(project: Path, name: str) -> dict[str, Any]:
    lock = yamlio.load((project / "bundles.lock.yaml").read_bytes())
    [entry] = [e for e in lock["bundles"] if e["name"] == name]
    return dict(entry["chart"])


def _cert_manager(project: Path, *args: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The CertManager spec and the operator Deployment's images (container name or env name ->
    image) that ``helmfile template`` renders for the cert-manager release."""
    objects = _template(project, "--selector", f"name={CERT_MANAGER}", *args)
    [cr] = [o for o in objects if o["kind"] == "CertManager"]
    [deployment] = [o for o in objects if o["kind"] == "Deployment"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    images = {container["name"]: container["image"],
              **{e["name"]: e["value"] for e in container.get("env") or [] if "IMAGE" in e["name"] and "value" in e}}
    return cr["spec"], images


def test_update_bundle_keeps_user_files_and_declares_environments(
        project: Path, seeded_registry: SeededRegistry, tmp_path: Path) -> None:
    """Two regenerations that each rebuild the cert-manager chart (its entry changed: a CR spec
    default, then a post-processor option) leave the user's files byte-identical, and their
    values still reach ``helmfile template`` next to the chart's new defaults."""
    copy = tmp_path / "project"
    shutil.copytree(project, copy)
    config = copy / "bundles.yaml"
    config.write_text(config.read_text() + "\nenvironments:\n  prod:\n    kubeContext: prod-cluster\n  lab: {}\n")
    (copy / "values").mkdir(exist_ok=True)
    for name, text in USER_FILES.items():
        (copy / name).write_text(text)
    user_bytes = {name: (copy / name).read_bytes() for name in USER_FILES}
    chart_dir = copy / "charts" / CERT_MANAGER

    def set_operator_log_level(entry: dict[str, Any]) -> None:
        [cr] = entry["postprocessors"]["operator-crs"]
        assert cr["spec"]["operatorLogLevel"] == "Normal"
        cr["spec"]["operatorLogLevel"] = "Debug"

    def bake_in_a_mirror(entry: dict[str, Any]) -> None:
        entry["postprocessors"]["image-mirrors"] = {"mirrors": {"quay.io": "chart.example.com/quay"}}

    for edit in (set_operator_log_level, bake_in_a_mirror):
        before_lock, before_chart = _locked_chart(copy, CERT_MANAGER), tree(chart_dir)
        _edit_entry(config, CERT_MANAGER, edit)
        update_bundle(copy, seeded_registry.mirror, tmp_path / "cache")
        # the chart was really rebuilt, as a new revision
        after_lock = _locked_chart(copy, CERT_MANAGER)
        assert after_lock["files"] != before_lock["files"], edit.__name__
        assert after_lock["revision"] == before_lock["revision"] + 1, (edit.__name__, after_lock)
        assert tree(chart_dir) != before_chart, edit.__name__
        # ... around the user's files, which it never touched
        assert {name: (copy / name).read_bytes() for name in USER_FILES} == user_bytes, edit.__name__
        assert sorted(p.name for p in (copy / "values").iterdir()) == [
            f"{CERT_MANAGER}.prod.yaml", f"{CERT_MANAGER}.yaml"]
        # the user's values win over the chart's defaults in every environment; the new defaults show
        for args, log_level in [((), "Debug"), (("-e", "lab"), "Debug"), (("-e", "prod"), "Trace")]:
            spec, images = _cert_manager(copy, *args)
            assert spec["logLevel"] == log_level, (edit.__name__, args, spec)
            assert spec["operatorLogLevel"] == "Debug", (edit.__name__, args, spec)  # regeneration 1
            assert images[CERT_MANAGER] == "user.example.com/cert-manager-operator:v1", (edit.__name__, images)
            webhook = images["RELATED_IMAGE_CERT_MANAGER_WEBHOOK"]
            assert webhook == (WEBHOOK_IMAGE if edit is set_operator_log_level
                               else "chart.example.com/quay/jetstack/cert-manager-webhook:v1.15.5"), webhook

    environments = _state(copy, "-e", "prod")["environments"]
    assert isinstance(environments, dict) and set(environments) == {"default", "prod", "lab"}
    assert environments["prod"]["kubeContext"] == "prod-cluster"
    prod = _template(copy, "-e", "prod", "--selector", f"name={CERT_MANAGER}")
    # helmfile.values.prod.yaml: an OpenShift cluster has its own Infrastructure object
    assert not [o for o in prod if o["kind"] == "Infrastructure"]
    assert [o for o in _template(copy, "--selector", f"name={CERT_MANAGER}") if o["kind"] == "Infrastructure"]


# -- a sub-helmfile of the user's umbrella (API server) --------------------------------------------

_UMBRELLA = """\
environments:
  default:
    values:
      - authFile: ""
---
helmfiles:
  - path: generated/helmfile.yaml.gotmpl
    selectorsInherited: true
    values:
      - pullSecret:
          authFile: {{ .Values.authFile | quote }}
"""


def test_generated_helmfile_works_inside_an_umbrella(project: Path, kube_cluster: KubeCluster,
                                                    tmp_path: Path) -> None:
    """helmfile runs a sub-helmfile (its charts, values and hooks) from the sub-helmfile's directory:
    run from a third directory, chart paths and the hooks' ``./charts/<name>/presync/...`` resolve."""
    umbrella = tmp_path / "umbrella"
    generated = umbrella / "generated"
    shutil.copytree(project, generated)
    (umbrella / "helmfile.yaml.gotmpl").write_text(_UMBRELLA)
    (generated / "values").mkdir()
    (generated / "values" / "cert-manager-operator.yaml").write_text("certManager:\n  spec:\n    logLevel: Debug\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        kubectl = require_tool("kubectl")
        env = {"HOME": str(elsewhere), "HELMFILE_UPGRADE_NOTICE_DISABLED": "1",
               "PATH": f"{kubectl.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
               "KUBECONFIG": str(kube_cluster.kubeconfig), "KUBECACHEDIR": str(kube_cluster.root / "kube-cache")}
        proc = subprocess.run(
            [str(require_tool("helmfile")), "--helm-binary", str(require_tool("helm")),
             "--file", str(umbrella / "helmfile.yaml.gotmpl"), *args],
            capture_output=True, text=True, cwd=elsewhere, timeout=400, check=False, env=env)
        assert proc.returncode == 0, f"helmfile {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    objects = docs(run("--selector", "name=cert-manager-operator", "template", "--skip-deps").stdout)
    [cr] = [o for o in objects if o["kind"] == "CertManager"]
    assert cr["spec"]["logLevel"] == "Debug"  # values/ beside the sub-helmfile
    assert {o["kind"] for o in objects} >= {"Deployment", "Infrastructure"}

    proc = run("--selector", "name=cert-manager-operator", "sync", "--skip-deps", "--sync-args", "--wait=false")
    assert "hook[presync] logs" in proc.stdout + proc.stderr
    for path in sorted((generated / "charts" / "cert-manager-operator" / "presync").glob("*/*.yaml")):
        name = yamlio.load(path.read_bytes())["metadata"]["name"]
        kube_cluster.kubectl("get", "crd", name)  # applied by the sub-helmfile's presync hooks
    kube_cluster.kubectl("get", "namespace", "cert-manager")
    kube_cluster.kubectl("get", "deployment", "cert-manager-operator-controller-manager", "-n",
                         "cert-manager-operator")
    cert_manager = json.loads(kube_cluster.kubectl("get", "certmanagers.operator.openshift.io", "cluster",
                                                   "-o", "json").stdout)
    assert cert_manager["spec"]["logLevel"] == "Debug"
