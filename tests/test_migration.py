"""Migrating a cluster from the old rhaii-on-xks charts to the generated ones (docs/migrate.md).

The old charts (``../shared/reference-charts``, rhaii-on-xks 8f3386a) are installed with their
umbrella helmfile on an API server of the module's own (``migration_cluster``), then the generated project
(``project``: ``make update-bundle`` of ``../shared/bundles`` through the loopback registry) takes
over: ``bundle-extract adopt`` per release, ``helmfile sync``, ``helmfile apply``.

The faithful minimum of the old install (everything else runs as published):

- the umbrella's ``kserve-rhaii-xks`` release (an OCI chart on ghcr.io) is left out: network;
- sail's presync ``kubectl apply -k https://github.com/kubernetes-sigs/gateway-api/...`` hook is
  removed from the copy of its helmfile (network); the Gateway API Inference Extension hook, also
  from GitHub, is switched off with the chart's own value ``gatewayAPI.inferenceExtension.enabled:
  false``, and the ``fixWebhookLoop`` postsync hook with ``fixWebhookLoop.enabled: false`` (its
  ``scripts/fix-webhook-loop.sh`` is not part of the reference copy: shell scripts were not
  copied), both passed as values by the umbrella's ``helmfiles:`` entry for sail;
- Helm does not wait (``--sync-args --wait=false`` overrides ``helmDefaults.wait: true``): no
  controllers run here, Deployments never become ready;
- the charts sit under ``charts/<name>/`` beside the umbrella, as in the rhaii-on-xks repository;
  ``HOME`` holds a made-up ``~/.config/containers/auth.json`` (``useSystemPodmanAuth: true``).

Namespaces cannot be unique: the old charts hard-code ``istio-system`` and
``openshift-lws-operator`` in their presync manifests, and the cluster-scoped names (ClusterRoles,
``CertManager``/``LeaderWorkerSetOperator`` ``cluster``, ``Istio`` ``default``) are fixed in both
generations. So the module runs its own API server (other modules install the same charts on the
session's), uses the real namespaces, checks first that they are free, and removes what it created
at the end: the releases (helm uninstall), what is left in its namespaces, the namespaces, the
istiod webhook configurations, and the CRDs that did not exist before the module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.pipeline.adopt import (
    HELM_MANAGED_BY,
    RELEASE_NAME,
    RELEASE_NAMESPACE,
    AdoptOptions,
    AdoptResult,
    adopt,
)
from tests.support.kube import ISTIOD_WEBHOOKS, KubeCluster, process_environ, start_kube
from tests.support.project import REPO, helmfile
from tests.support.tools import require_helm_diff, require_shared, require_tool

RELEASES = {  # release -> namespace, the same in both generations
    "cert-manager-operator": "cert-manager-operator",
    "sail-operator": "istio-system",
    "lws-operator": "openshift-lws-operator",
}
NAMESPACES = (*RELEASES.values(), "cert-manager")
CHARTS = ("cert-manager-operator", "sail-operator", "lws-operator")

#: the Istio settings the old sail chart's istio-cr.yaml sets, carried into values/sail-operator.yaml
#: as docs/migrate.md says
SAIL_VALUES = {"istio": {"spec": {"values": {
    "pilot": {"env": {
        "PILOT_ENABLE_GATEWAY_API": "true",
        "PILOT_ENABLE_GATEWAY_API_DEPLOYMENT_CONTROLLER": "true",
        "PILOT_ENABLE_GATEWAY_API_STATUS": "true",
        "ENABLE_GATEWAY_API_INFERENCE_EXTENSION": "true",
    }},
    "meshConfig": {
        "accessLogFile": "/dev/stdout",
        "defaultConfig": {"proxyMetadata": {"ENABLE_GATEWAY_API_INFERENCE_EXTENSION": "true"}},
    },
}}}}

#: what adopt adopts: the lws objects the old helmfile created with kubectl, outside Helm
ADOPTED = {
    "cert-manager-operator": set(),
    "sail-operator": set(),
    "lws-operator": {"ServiceAccount openshift-lws-operator/lws-controller-manager",
                     "LeaderWorkerSetOperator cluster"},
}
#: what adopt lists as left over: the old objects the new charts do not own (old RBAC names, the
#: old pull Secrets `redhat-pull-secret`), and the istiod ServiceAccount of sail's old presync hook
LEFT_OVER = {
    "cert-manager-operator": {
        "ClusterRoleBinding cert-manager-operator-controller-manager-clusterrolebinding",
        "Role cert-manager-operator/cert-manager-operator-controller-manager-role",
        "RoleBinding cert-manager-operator/cert-manager-operator-controller-manager-rolebinding",
        "Secret cert-manager-operator/redhat-pull-secret",
        "Secret cert-manager/redhat-pull-secret",
    },
    "sail-operator": {
        "ClusterRole servicemesh-operator3-clusterrole",
        "ClusterRoleBinding servicemesh-operator3-clusterrolebinding",
        "Role istio-system/servicemesh-operator3-role",
        "RoleBinding istio-system/servicemesh-operator3-rolebinding",
        "Secret istio-system/redhat-pull-secret",
        "ServiceAccount istio-system/istiod",
    },
    "lws-operator": {
        "ClusterRole openshift-lws-operator-clusterrole",
        "ClusterRoleBinding openshift-lws-operator-clusterrolebinding",
        "Role openshift-lws-operator/openshift-lws-operator-role",
        "RoleBinding kube-system/openshift-lws-operator-auth-reader",
        "RoleBinding openshift-lws-operator/openshift-lws-operator-rolebinding",
        "Secret openshift-lws-operator/redhat-pull-secret",
    },
}
#: left-overs that stay in the cluster after the sync (created outside Helm by the old helmfile)
STAYING = {"ServiceAccount istio-system/istiod"}
OTHER_RELEASE = "someone-elses-release"


def output(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


def old_umbrella(root: Path) -> Path:
    """The rhaii-on-xks umbrella helmfile and its three charts under ``root``, reduced to what
    runs without network (module docstring); returns the umbrella helmfile."""
    reference = require_shared("reference-charts")
    umbrella = reference / "_umbrella" / "rhaii-on-xks"
    text = (umbrella / "helmfile.yaml.gotmpl").read_text()
    text = text[: text.index("\n---\n\n{{ $kserveChart")] + "\n"  # the kserve OCI release: network
    sail_entry = ('  - path: charts/sail-operator/helmfile.yaml.gotmpl\n    selectorsInherited: true\n'
                  '    values:\n      - useSystemPodmanAuth: {{ .Values.useSystemPodmanAuth }}\n'
                  '      - pullSecretFile: {{ .Values.pullSecretFile | default "" | quote }}\n')
    assert text.count(sail_entry) == 1, "the umbrella's sail entry changed shape"
    text = text.replace(sail_entry, sail_entry + "      - fixWebhookLoop: {enabled: false}\n"
                                                 "      - gatewayAPI: {inferenceExtension: {enabled: false}}\n")
    root.mkdir(parents=True)
    (root / "helmfile.yaml.gotmpl").write_text(text)
    shutil.copyfile(umbrella / "values.yaml", root / "values.yaml")
    for chart in CHARTS:
        shutil.copytree(reference / chart, root / "charts" / chart)
    sail = root / "charts" / "sail-operator" / "helmfile.yaml.gotmpl"
    hook = ('      # Apply Gateway API CRDs (required - not included in KServe)\n'
            '      - events: ["presync"]\n        showlogs: true\n        command: "kubectl"\n'
            '        args: ["apply", "-k", "https://github.com/kubernetes-sigs/gateway-api/config/crd?ref='
            '{{ .Values.gatewayAPI.version }}"]\n')
    sail_text = sail.read_text()
    assert sail_text.count(hook) == 1, "the sail helmfile's Gateway API hook changed shape"
    sail.write_text(sail_text.replace(hook, ""))
    return root / "helmfile.yaml.gotmpl"


@dataclass
class Migration:
    """The cluster, the environment helm/helmfile/kubectl/adopt run with, the old umbrella and a
    copy of the generated project."""

    cluster: KubeCluster
    env: dict[str, str]
    umbrella: Path
    project: Path
    crds_before: set[str]

    def adopt_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "extractor", "adopt", "--config",
                               str(self.project / "bundles.yaml"), *args],
                              capture_output=True, text=True, timeout=300, check=False, cwd=REPO,
                              env={**os.environ, **self.env})

    def adopt(self, release: str, *, dry_run: bool = False) -> AdoptResult:
        with process_environ(self.env):
            return adopt(AdoptOptions(release=release, config=self.project / "bundles.yaml", dry_run=dry_run))

    def helmfile(self, *args: str) -> subprocess.CompletedProcess[str]:
        return helmfile(self.project, *args, env=self.env, check=False)

    def helm(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(require_tool("helm")), *args], capture_output=True, text=True, timeout=120,
                              check=True, env={**os.environ, **self.env})

    def revisions(self) -> dict[str, str]:
        listed = json.loads(self.helm("list", "--all-namespaces", "-o", "json").stdout)
        return {r["name"]: r["revision"] for r in listed if r["name"] in RELEASES}

    def metadata(self, *target: str) -> dict[str, Any]:
        meta: dict[str, Any] = json.loads(self.cluster.kubectl("get", *target, "-o", "jsonpath={.metadata}").stdout)
        return meta


@pytest.fixture(scope="module")
def migration_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """An API server of this module's own: the old charts hard-code their namespaces and
    cluster-scoped names, which other modules' tests on the session's server also use."""
    with start_kube(tmp_path_factory.mktemp("migration-kube")) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def migration(migration_cluster: KubeCluster, project: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Migration]:
    cluster = migration_cluster
    for namespace in NAMESPACES:
        taken = cluster.kubectl("get", "namespace", namespace, "--ignore-not-found", "-o", "name").stdout
        assert not taken.strip(), f"namespace {namespace} exists before the old charts are installed"
    kubectl, helm = require_tool("kubectl"), require_tool("helm")
    root = tmp_path_factory.mktemp("migration")
    home = root / "home"
    (home / ".config" / "containers").mkdir(parents=True)
    # made up: the pull Secrets of both generations are built from it, nothing is pulled
    (home / ".config" / "containers" / "auth.json").write_text(
        json.dumps({"auths": {"registry.redhat.io": {"auth": "bWlncmF0aW9uOnRlc3Q="}}}))
    env = {
        "KUBECONFIG": str(cluster.kubeconfig),
        "KUBECACHEDIR": str(cluster.root / "kube-cache"),
        "HOME": str(home),
        "PATH": os.pathsep.join([str(kubectl.parent), str(helm.parent), os.environ.get("PATH", "/usr/bin:/bin")]),
        "BUNDLE_EXTRACT_KUBECTL": str(kubectl),
        "BUNDLE_EXTRACT_HELM": str(helm),
        "HELM_PLUGINS": str(require_helm_diff()),
        "HELMFILE_UPGRADE_NOTICE_DISABLED": "1",
    }
    copy = root / "project"
    shutil.copytree(project, copy)
    (copy / "values").mkdir(exist_ok=True)
    (copy / "values" / "sail-operator.yaml").write_text(yamlio.dump(SAIL_VALUES))
    crds = set(cluster.kubectl("get", "crd", "-o", "name").stdout.split())
    state = Migration(cluster, env, old_umbrella(root / "old"), copy, crds)
    try:
        yield state
    finally:
        _clean_up(state)


def _clean_up(state: Migration) -> None:
    cluster = state.cluster
    helm = str(require_tool("helm"))
    for release, namespace in RELEASES.items():
        subprocess.run([helm, "uninstall", release, "-n", namespace, "--ignore-not-found", "--wait=false"],
                       capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **state.env})
    kinds = cluster.kubectl("api-resources", "--namespaced=true", "--verbs=delete", "-o", "name").stdout.split()
    for namespace in NAMESPACES:  # no namespace controller here: empty them, then finalize them
        cluster.kubectl("delete", ",".join(kinds), "--all", "-n", namespace, "--wait=false", check=False)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found", check=False)
        finalize = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace},
                    "spec": {"finalizers": []}}
        cluster.kubectl("replace", "--raw", f"/api/v1/namespaces/{namespace}/finalize", "-f", "-",
                        input=json.dumps(finalize), check=False)
    cluster.kubectl("delete", "-f", "-", "--ignore-not-found", input=ISTIOD_WEBHOOKS, check=False)
    created = sorted(set(cluster.kubectl("get", "crd", "-o", "name").stdout.split()) - state.crds_before)
    if created:
        cluster.kubectl("delete", *created, "--ignore-not-found", timeout=300, check=False)
    # the API server is as it was (a failure here is an error of the module's last test)
    for namespace in NAMESPACES:
        left = cluster.kubectl("get", "namespace", namespace, "--ignore-not-found", "-o", "name").stdout
        assert not left.strip(), f"namespace {namespace} is still there after the clean-up"
    assert set(cluster.kubectl("get", "crd", "-o", "name").stdout.split()) <= state.crds_before


@pytest.fixture(scope="module")
def old_installed(migration: Migration) -> subprocess.CompletedProcess[str]:
    """``helmfile sync`` of the old umbrella (as ``make deploy-all`` ran ``helmfile apply``)."""
    proc = subprocess.run(
        [str(require_tool("helmfile")), "--helm-binary", str(require_tool("helm")), "--file", str(migration.umbrella),
         "sync", "--skip-deps", "--sync-args", "--wait=false"],
        capture_output=True, text=True, timeout=600, check=False, cwd=migration.umbrella.parent,
        env={**os.environ, **migration.env})
    assert proc.returncode == 0, output(proc)
    return proc


@pytest.fixture(scope="module")
def sync_without_adopt(migration: Migration, old_installed: object) -> subprocess.CompletedProcess[str]:
    """What users hit today: the generated lws release over the old one, without adopting."""
    return migration.helmfile("sync", "--skip-deps", "--selector", "name=lws-operator", "--sync-args", "--wait=false")


@pytest.fixture(scope="module")
def dry_run(migration: Migration, sync_without_adopt: object
            ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], dict[str, Any]]:
    before = migration.metadata("serviceaccount", "lws-controller-manager", "-n", "openshift-lws-operator")
    proc = migration.adopt_cli("--release", "lws-operator", "--dry-run")
    after = migration.metadata("serviceaccount", "lws-controller-manager", "-n", "openshift-lws-operator")
    return proc, before, after


@pytest.fixture(scope="module")
def refused(migration: Migration, dry_run: object
            ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], dict[str, Any]]:
    """``LeaderWorkerSetOperator cluster`` owned by another release: adopt must refuse and change
    nothing (the ServiceAccount it could adopt keeps its resourceVersion); then the ownership is
    taken off again."""
    lwso = ("leaderworkersetoperator", "cluster")
    migration.cluster.kubectl("annotate", *lwso, f"{RELEASE_NAME}={OTHER_RELEASE}",
                              f"{RELEASE_NAMESPACE}=elsewhere")
    migration.cluster.kubectl("label", *lwso, f"app.kubernetes.io/managed-by={HELM_MANAGED_BY}", "--overwrite")
    before = migration.metadata("serviceaccount", "lws-controller-manager", "-n", "openshift-lws-operator")
    proc = migration.adopt_cli("--release", "lws-operator")
    after = migration.metadata("serviceaccount", "lws-controller-manager", "-n", "openshift-lws-operator")
    migration.cluster.kubectl("annotate", *lwso, f"{RELEASE_NAME}-", f"{RELEASE_NAMESPACE}-")
    migration.cluster.kubectl("label", *lwso, "app.kubernetes.io/managed-by-")
    return proc, before, after


@pytest.fixture(scope="module")
def adopted(migration: Migration, refused: object) -> dict[str, subprocess.CompletedProcess[str]]:
    procs = {release: migration.adopt_cli("--release", release) for release in RELEASES}
    for release, proc in procs.items():
        assert proc.returncode == 0, f"adopt {release}:\n{output(proc)}"
    return procs


@pytest.fixture(scope="module")
def synced(migration: Migration, adopted: object) -> subprocess.CompletedProcess[str]:
    migration.cluster.kubectl("apply", "-f", "-", input=ISTIOD_WEBHOOKS)  # the sail postsync hook waits for them
    proc = migration.helmfile("sync", "--skip-deps", "--sync-args", "--wait=false")
    assert proc.returncode == 0, output(proc)
    return proc


def printed(proc: subprocess.CompletedProcess[str], prefix: str) -> set[str]:
    """The objects the CLI printed on lines ``<prefix>: <object> (...)``."""
    return {line[len(prefix) + 2:].split(" (", 1)[0] for line in proc.stdout.splitlines()
            if line.startswith(prefix + ": ")}


# --- before: the old charts, and what a sync without adoption does ------------------------------


def test_old_umbrella_installs_the_three_releases(migration: Migration, old_installed: object) -> None:
    assert migration.revisions() == dict.fromkeys(RELEASES, "1")
    # the objects its hooks created outside Helm
    sa = migration.metadata("serviceaccount", "lws-controller-manager", "-n", "openshift-lws-operator")
    assert sa["labels"]["app.kubernetes.io/managed-by"] == "rhaii-on-xks"
    istiod = migration.metadata("serviceaccount", "istiod", "-n", "istio-system")
    assert istiod["annotations"][RELEASE_NAME] == "default-istiod"


def test_sync_without_adopt_fails_on_ownership_and_changes_no_release(
    migration: Migration, sync_without_adopt: subprocess.CompletedProcess[str]
) -> None:
    assert sync_without_adopt.returncode != 0
    assert ('ServiceAccount "lws-controller-manager" in namespace "openshift-lws-operator" exists and cannot be '
            "imported into the current release: invalid ownership metadata") in output(sync_without_adopt)
    assert migration.revisions()["lws-operator"] == "1"


# --- adopt: --dry-run, refusal, the real thing ---------------------------------------------------


def test_dry_run_lists_what_it_would_adopt_and_changes_nothing(
    dry_run: tuple[subprocess.CompletedProcess[str], dict[str, Any], dict[str, Any]]
) -> None:
    proc, before, after = dry_run
    assert proc.returncode == 0, output(proc)
    assert printed(proc, "would adopt") == ADOPTED["lws-operator"]
    assert "dry run: nothing changed" in proc.stderr
    assert after == before


def test_adopt_refuses_an_object_of_another_release_and_changes_nothing(
    refused: tuple[subprocess.CompletedProcess[str], dict[str, Any], dict[str, Any]]
) -> None:
    proc, before, after = refused
    assert proc.returncode == 10, output(proc)
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "LeaderWorkerSetOperator cluster belongs to Helm release someone-elses-release in namespace elsewhere" \
        in lines[0]
    assert after == before  # the ServiceAccount it would otherwise adopt: untouched


def test_adopt_adopts_exactly_the_objects_created_outside_helm(
    migration: Migration, adopted: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    for release, proc in adopted.items():
        assert printed(proc, "adopted") == ADOPTED[release], f"{release}:\n{proc.stdout}"
    sa = migration.metadata("serviceaccount", "lws-controller-manager", "-n", "openshift-lws-operator")
    assert sa["labels"]["app.kubernetes.io/managed-by"] == HELM_MANAGED_BY
    assert sa["annotations"][RELEASE_NAME] == "lws-operator"
    assert sa["annotations"][RELEASE_NAMESPACE] == "openshift-lws-operator"


def test_adopt_lists_exactly_the_expected_left_overs(adopted: dict[str, subprocess.CompletedProcess[str]]) -> None:
    found = {release: printed(proc, "left over") for release, proc in adopted.items()}
    assert found == LEFT_OVER
    assert "ServiceAccount istio-system/istiod (from old helmfile hook; left in the cluster" \
        in adopted["sail-operator"].stdout


# --- after: helmfile sync and apply of the generated project ------------------------------------


def test_sync_after_adopt_upgrades_every_release(migration: Migration, synced: object) -> None:
    assert migration.revisions() == dict.fromkeys(RELEASES, "2")


def test_every_new_object_exists_and_belongs_to_its_release(migration: Migration, synced: object) -> None:
    """adopt (a dry run now) finds every object of each deployed release in the cluster, owned by
    that release; it renders the pull Secret whether or not the deploy found a credential for it."""
    for release, namespace in RELEASES.items():
        result = migration.adopt(release, dry_run=True)
        assert result.adopted == (), release
        assert {(r.kind, r.name) for r in result.absent} <= {("Secret", f"{release}-pull-secret")}, release
        owned = {(r.kind, r.namespace, r.name) for r in result.owned}
        deployed = set()
        for doc in yamlio.load_all(migration.helm("get", "manifest", release, "-n", namespace).stdout):
            if doc:
                kind, name = doc["kind"], doc["metadata"]["name"]
                # a manifest may leave the release namespace off a namespaced object
                given = doc["metadata"].get("namespace") or ""
                deployed.add((kind, namespace if not given and (kind, namespace, name) in owned else given, name))
        assert deployed == owned, release


def test_left_overs_are_gone_but_the_ones_outside_helm(migration: Migration, synced: object) -> None:
    for release, names in LEFT_OVER.items():
        for name in names:
            kind, _, ref = name.partition(" ")
            namespace, _, obj = ref.rpartition("/")
            scope = ("-n", namespace) if namespace else ()
            found = migration.cluster.kubectl("get", kind, obj, *scope, "--ignore-not-found", "-o", "name").stdout
            assert bool(found.strip()) == (name in STAYING), f"{release}: {name}"
    istiod = migration.metadata("serviceaccount", "istiod", "-n", "istio-system")
    assert istiod["annotations"][RELEASE_NAME] == "default-istiod"  # the left-over: still the old pull Secret's
    pulls = json.loads(migration.cluster.kubectl("get", "serviceaccount", "istiod", "-n", "istio-system",
                                                 "-o", "json").stdout)["imagePullSecrets"]
    assert pulls == [{"name": "redhat-pull-secret"}]


def test_istio_settings_carried_in_values_reach_the_istio_resource(migration: Migration, synced: object) -> None:
    istio = json.loads(migration.cluster.kubectl("get", "istios.sailoperator.io", "default", "-o", "json").stdout)
    values = istio["spec"]["values"]
    wanted = SAIL_VALUES["istio"]["spec"]["values"]
    assert values["pilot"]["env"] == wanted["pilot"]["env"]
    assert values["meshConfig"] == wanted["meshConfig"]
    assert values["global"]["imagePullSecrets"] == ["sail-operator-pull-secret"]


def test_helm_template_of_the_sail_chart_carries_the_values(migration: Migration) -> None:
    chart = migration.project / "charts" / "sail-operator"
    text = migration.helm("template", "sail-operator", str(chart), "-n", "istio-system",
                          "-f", str(migration.project / "values" / "sail-operator.yaml")).stdout
    istio = next(d for d in yamlio.load_all(text) if d and d["kind"] == "Istio")
    assert istio["spec"]["values"]["pilot"]["env"] == SAIL_VALUES["istio"]["spec"]["values"]["pilot"]["env"]
    assert istio["spec"]["values"]["meshConfig"]["accessLogFile"] == "/dev/stdout"


def test_apply_after_the_migration_has_nothing_to_change(migration: Migration, synced: object) -> None:
    proc = migration.helmfile("apply", "--skip-deps", "--detailed-exitcode", "--sync-args", "--wait=false")
    assert proc.returncode == 0, output(proc)
    assert output(proc).count("Comparing release=") == len(RELEASES)
    assert migration.revisions() == dict.fromkeys(RELEASES, "2")
