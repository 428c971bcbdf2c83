"""``helmfile apply`` (what ``make deploy`` runs) on a generated project, against a real
kube-apiserver (tests/support/kube.py) with the helm-diff plugin built by hack/build-helm-diff.sh.

apply = helm-diff per release, then a sync (presync hooks, helm upgrade, postsync hooks) of the
releases that changed only. The generated charts rely on that: a CRD change is a chart change
(the ``<chart>-crd-checksums`` ConfigMap), so the presync hook that applies the CRDs is never
skipped when a CRD changed, and is skipped when nothing did.

No controllers run in the test cluster, so Helm is told not to wait for Deployments
(``--sync-args --wait=false``); everything else is the real thing. The steps build on each other
(first apply, unchanged apply, CRD change, ``make deploy``), one module-scoped fixture per step.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.acquire.reference import Reference
from extractor.config import load_config
from extractor.demo.push import push_bundle_image
from extractor.tools import tools_dir
from tests.conftest import SeededRegistry
from tests.support.kube import ISTIOD_WEBHOOKS as WEBHOOKS
from tests.support.kube import KubeCluster, start_kube
from tests.support.project import REPO, helmfile, update_bundle
from tests.support.tools import require_helm_diff, require_tool

RELEASES = {"cert-manager-operator", "sail-operator", "lws-operator"}
#: the sail CRD the CRD-change step edits, and the annotation it carries in the bundle
SAIL_CRD = "ztunnels.sailoperator.io"
SAIL_CRD_FILE = "manifests/sailoperator.io_ztunnels.yaml"
CONTROLLER_GEN = "controller-gen.kubebuilder.io/version"
NEW_CRD = "istios.sailoperator.io"
CHANGE_TAG = "3.2.1-crdchange"
CHANGE_ANNOTATION = "bundle-extract.test/crd-change"
#: an annotation value the presync hook (server-side apply, --force-conflicts) puts back
TAMPERED = "tampered-by-test"



@dataclass(frozen=True)
class Deploy:
    """A copy of the ``project`` fixture and what helmfile needs to deploy it to ``cluster``."""

    project: Path
    cluster: KubeCluster
    env: dict[str, str]

    def apply(self, *, changes: bool) -> subprocess.CompletedProcess[str]:
        """``helmfile apply --detailed-exitcode``: exit 2 when something changed (and was synced),
        0 when nothing did; assert it is the one ``changes`` expects."""
        proc = helmfile(self.project, "apply", "--skip-deps", "--detailed-exitcode",
                        "--sync-args", "--wait=false", env=self.env, check=False)
        assert proc.returncode == (2 if changes else 0), (
            f"helmfile apply exited {proc.returncode}, expected {2 if changes else 0}:\n{output(proc)}")
        return proc

    def crd(self, name: str) -> dict[str, Any]:
        out = self.cluster.kubectl("get", "crd", name, "-o", "json", "--show-managed-fields").stdout
        crd: dict[str, Any] = json.loads(out)
        return crd


def crd_annotations(obj: dict[str, Any]) -> dict[str, str]:
    result: dict[str, str] = obj["metadata"].get("annotations") or {}
    return result


def crd_names(project: Path) -> list[str]:
    return crd_names_of(project, "*")


def crd_names_of(project: Path, chart: str) -> list[str]:
    return sorted(yamlio.load(p.read_bytes())["metadata"]["name"]
                  for p in (project / "charts").glob(f"{chart}/presync/*/*.yaml"))


def output(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


def hook_events(proc: subprocess.CompletedProcess[str]) -> set[str]:
    """The events whose hooks helmfile ran (it prefixes their logs with ``hook[EVENT] logs |``)."""
    return set(re.findall(r"^hook\[(\w+)\] logs \|", output(proc), re.MULTILINE))


def crds_applied(proc: subprocess.CompletedProcess[str]) -> set[str]:
    """The CRDs the presync hooks applied server-side (``kubectl apply`` logs each one)."""
    return set(re.findall(r"customresourcedefinition\.apiextensions\.k8s\.io/(\S+) serverside-applied",
                          output(proc)))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    with start_kube(tmp_path_factory.mktemp("kube")) as kube:
        yield kube


@pytest.fixture(scope="module")
def deploy(project: Path, cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory) -> Deploy:
    plugins = require_helm_diff()
    kubectl = require_tool("kubectl")
    copy = tmp_path_factory.mktemp("deploy") / "project"
    shutil.copytree(project, copy)
    env = {
        "KUBECONFIG": str(cluster.kubeconfig),
        "KUBECACHEDIR": str(cluster.root / "kube-cache"),
        "HELM_PLUGINS": str(plugins),
        # the hooks run kubectl and bash from PATH
        "PATH": f"{kubectl.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    cluster.kubectl("apply", "-f", "-", input=WEBHOOKS)
    return Deploy(copy, cluster, env)


@pytest.fixture(scope="module")
def first_apply(deploy: Deploy) -> subprocess.CompletedProcess[str]:
    return deploy.apply(changes=True)


@pytest.fixture(scope="module")
def second_apply(deploy: Deploy, first_apply: subprocess.CompletedProcess[str]
                 ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], dict[str, Any]]:
    """Tamper with a field the presync hook owns, apply again with nothing changed; return the
    apply and the CRD before and after it."""
    deploy.cluster.kubectl("annotate", "crd", SAIL_CRD, f"{CONTROLLER_GEN}={TAMPERED}", "--overwrite")
    before = deploy.crd(SAIL_CRD)
    proc = deploy.apply(changes=False)
    return proc, before, deploy.crd(SAIL_CRD)


@pytest.fixture(scope="module")
def crd_change(deploy: Deploy, second_apply: object, seeded_registry: SeededRegistry,
               tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """Push the sail bundle with one CRD annotated under a new tag, ``make update-bundle`` to it,
    apply."""
    bundle = tmp_path_factory.mktemp("bundle") / "sail"
    shutil.copytree(seeded_registry.bundle_dirs["sail-operator"], bundle)
    crd_file = bundle / SAIL_CRD_FILE
    text = crd_file.read_text()
    anchor = f"  annotations:\n    {CONTROLLER_GEN}:"
    assert text.count(anchor) == 1, f"{crd_file} changed shape"
    crd_file.write_text(text.replace(anchor, f'  annotations:\n    {CHANGE_ANNOTATION}: "yes"\n'
                                             f"    {CONTROLLER_GEN}:"))
    sail = Reference.parse(load_config(deploy.project / "bundles.yaml").entry("sail-operator").reference)
    push_bundle_image(bundle, f"{seeded_registry.host}/{sail.repository}:{CHANGE_TAG}")
    update_bundle(deploy.project, seeded_registry.mirror, tmp_path_factory.mktemp("cache"),
                  "BUNDLE=sail-operator", f"VERSION={CHANGE_TAG}")
    # as if the new bundle version brought a CRD the cluster does not have yet, with a custom
    # resource of it in the chart: helm-diff runs before the presync hook, so it must not validate
    # the Istio CR against the cluster (the release sets disableValidation)
    deploy.cluster.kubectl("delete", "crd", NEW_CRD)
    return deploy.apply(changes=True)


# --- (a) the first apply installs everything -----------------------------------------------------


def test_first_apply_installs_all_releases(deploy: Deploy, first_apply: subprocess.CompletedProcess[str]) -> None:
    proc = subprocess.run([str(require_tool("helm")), "list", "--all-namespaces", "-o", "json"],
                          capture_output=True, text=True, timeout=60, check=True,
                          env={**os.environ, **deploy.env})
    releases = {r["name"]: r for r in json.loads(proc.stdout)}
    assert set(releases) == RELEASES, proc.stdout
    assert {r["status"] for r in releases.values()} == {"deployed"}
    assert {r["revision"] for r in releases.values()} == {"1"}


def test_first_apply_runs_the_presync_hooks(deploy: Deploy, first_apply: subprocess.CompletedProcess[str]) -> None:
    assert "namespace/cert-manager created" in output(first_apply)
    names = crd_names(deploy.project)
    assert crds_applied(first_apply) == set(names)
    deploy.cluster.kubectl("get", "namespace", "cert-manager")  # the operand namespace
    assert len(names) == 39  # the bundles' 28 + the Infrastructure stub + sail's 10 Gateway API extraManifests
    for name in names:
        crd = deploy.crd(name)
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions.get("Established") == "True", name
        assert "bundle-extract" in {m["manager"] for m in crd["metadata"]["managedFields"]}, name


# --- (b) an apply with nothing changed skips everything ------------------------------------------


def test_unchanged_apply_reports_no_changes_and_skips_the_hooks(
    second_apply: tuple[subprocess.CompletedProcess[str], dict[str, Any], dict[str, Any]],
) -> None:
    proc, before, after = second_apply  # exit code 0: no changes (--detailed-exitcode)
    assert hook_events(proc) == set(), output(proc)
    assert "UPDATED RELEASES" not in output(proc)
    assert output(proc).count("Comparing release=") == len(RELEASES)
    # had the presync hook run, server-side apply would have taken the annotation back
    assert crd_annotations(after)[CONTROLLER_GEN] == TAMPERED
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


# --- (c) a CRD change is a chart change: apply runs the presync hook -----------------------------


def test_crd_change_shows_in_the_diff_and_runs_the_presync_hook(
    deploy: Deploy, crd_change: subprocess.CompletedProcess[str]
) -> None:
    text = output(crd_change)
    assert "sail-operator-crd-checksums, ConfigMap (v1) has changed" in text, text
    assert crds_applied(crd_change) == set(crd_names_of(deploy.project, "sail-operator")), text
    assert hook_events(crd_change) == {"presync", "postsync"}
    crd = deploy.crd(SAIL_CRD)
    assert crd_annotations(crd)[CHANGE_ANNOTATION] == "yes"
    assert crd_annotations(crd)[CONTROLLER_GEN] != TAMPERED  # the whole group was re-applied
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions.get("Established") == "True"


def test_an_upgrade_bringing_a_new_crd_with_its_custom_resource_applies(
    deploy: Deploy, crd_change: subprocess.CompletedProcess[str]
) -> None:
    crd = deploy.crd(NEW_CRD)
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]}.get("Established") == "True"
    istio = json.loads(deploy.cluster.kubectl("get", NEW_CRD, "default", "-o", "json").stdout)
    assert istio["spec"]["version"] == "v1.27.3"


def test_crd_change_upgrades_only_the_changed_release(
    deploy: Deploy, crd_change: subprocess.CompletedProcess[str]
) -> None:
    proc = subprocess.run([str(require_tool("helm")), "list", "--all-namespaces", "-o", "json"],
                          capture_output=True, text=True, timeout=60, check=True,
                          env={**os.environ, **deploy.env})
    revisions = {r["name"]: r["revision"] for r in json.loads(proc.stdout)}
    assert revisions == {"cert-manager-operator": "1", "sail-operator": "2", "lws-operator": "1"}


# --- (d) make deploy -----------------------------------------------------------------------------


def test_make_deploy_runs_helmfile_apply_with_the_plugin(
    deploy: Deploy, crd_change: subprocess.CompletedProcess[str]
) -> None:
    """``make deploy`` finds helm, helmfile and helm-diff itself (the Makefile exports
    ``HELM_PLUGINS``); nothing changed since the last apply, so Helm has nothing to wait for."""
    # the environment of the earlier applies (no HELM_PLUGINS: the Makefile must set it; HOME =
    # the project, so the pull-secret values read no user auth file), plus where the tools are
    env = {key: value for key, value in deploy.env.items() if key != "HELM_PLUGINS"}
    env.update(HOME=str(deploy.project), BUNDLE_EXTRACT_TOOLS=str(tools_dir()))
    proc = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "deploy",
                           f"CONFIG={deploy.project / 'bundles.yaml'}"],
                          capture_output=True, text=True, env=env, timeout=180, check=False)
    assert proc.returncode == 0, output(proc)
    assert re.search(r"helmfile\.yaml\.gotmpl\s+apply", proc.stdout)  # make echoes the command
    assert output(proc).count("Comparing release=") == len(RELEASES)  # helm diff ran for each
    assert hook_events(proc) == set(), output(proc)
