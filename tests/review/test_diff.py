"""The review report on the real sample bundles: projects generated from sail 3.2.1 /
cert-manager-operator v1.15.2 and from sail 3.2.3 / cert-manager-operator v1.16.2, compared as
directories, as git refs of a scratch repository, through the CLI and make, and the errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from extractor.review.diff import ChartReport, ReviewReport, review
from extractor.review.markdown import to_markdown
from tests.review.conftest import NEW, OLD, generate_project
from tests.support.project import REPO
from tests.test_cli import assert_one_line_error, cli

pytestmark = pytest.mark.usefixtures("helm")


def chart(report: ReviewReport, name: str) -> ChartReport:
    [found] = [c for c in report.charts if c.name == name]
    return found


@pytest.fixture(scope="module")
def upgrade(old_project: Path, new_project: Path) -> ReviewReport:
    return review(new_project, str(old_project), str(new_project))


def test_sail_upgrade(upgrade: ReviewReport) -> None:
    sail = chart(upgrade, "sail-operator")
    assert sail.status == "changed" and not sail.downgrade
    assert sail.base is not None and sail.head is not None
    assert (sail.base.version, sail.head.version) == ("3.2.1", "3.2.3")
    assert (sail.base.chart_version, sail.head.chart_version) == ("3.2.1-rev.1", "3.2.3-rev.1")
    images = {i.location: (i.old, i.new) for i in sail.images}
    assert images["Istio/default: spec.version"] == ("v1.27.3", "v1.27.8")  # the operator CR's version
    added = [loc for loc, (old, _) in images.items() if old is None]
    assert "Deployment/servicemesh-operator3: annotation images.v1_27_8.istiod" in added  # pod-template annotation
    # the sail-webhook-ignore post-processor: its hook is switched off by default from 3.2.3 on
    hook = {c.path: c for c in sail.helmfile}["hook sail-webhook-ignore"]
    assert (hook.old, hook.new) == ("on", "off") and hook.note and "sailWebhookIgnore.enabled" in hook.note
    # the Istio CRD accepts the new versions
    istios = {c.name: c for c in sail.crds}["istios.sailoperator.io"]
    enums = [s for s in istios.schema if s.change == "enum" and s.path == "spec.version"]
    assert enums and "v1.27.8" in (enums[0].new or "")
    # generation noise is counted, never listed
    assert sail.noise > 0
    listed = [c for diff in sail.changed for c in diff.changes]
    assert not [c for c in listed if "helm.sh/chart" in c.path or c.path.endswith("crd-checksums")]
    # JSON-valued annotations are compared as data
    paths = {c.path for c in listed}
    assert "spec.template.metadata.annotations.alm-examples[0].spec.version" in paths


def test_cert_manager_upgrade(upgrade: ReviewReport) -> None:
    cm = chart(upgrade, "cert-manager-operator")
    assert cm.base is not None and cm.head is not None
    assert (cm.base.version, cm.head.version) == ("1.15.2", "1.16.2")
    # RBAC is compared as permissions: the bundle regrouped its rules; one permission is new, and sensitive
    [role] = cm.rbac
    assert role.role == "ClusterRole/cert-manager-operator-controller-manager-clusterrole"
    assert (role.added, role.removed) == (("create serviceaccounts/token",), ())
    assert any("serviceaccounts/token" in s for s in role.sensitive)
    assert any("serviceaccounts/token" in s for s in cm.sensitive)
    crds = {c.name: c for c in cm.crds}
    assert ("v1", "spec.renewBeforePercentage", "added") in {
        (s.version, s.path, s.change) for s in crds["certificates.cert-manager.io"].schema}
    assert "spec.vault.auth.clientCertificate" in {s.path for s in crds["issuers.cert-manager.io"].schema}
    assert {"status.conditions[].status"} <= {s.path for s in crds["certmanagers.operator.openshift.io"].schema
                                              if s.change == "required"}
    images = {i.location: (i.old, i.new) for i in cm.images}
    solver = ("Deployment/cert-manager-operator-controller-manager: container cert-manager-operator "
              "env RELATED_IMAGE_CERT_MANAGER_ACMESOLVER")
    assert images[solver] == ("quay.io/jetstack/cert-manager-acmesolver:v1.15.5",
                              "quay.io/jetstack/cert-manager-acmesolver:v1.16.5")
    # v1.16.2 moved three operand images from pinned tags to :latest: flagged
    floating = sorted(i.location.rsplit(" ", 1)[1] for i in cm.images if i.sensitive)
    assert floating == ["RELATED_IMAGE_CERT_MANAGER_CA_INJECTOR", "RELATED_IMAGE_CERT_MANAGER_CONTROLLER",
                        "RELATED_IMAGE_CERT_MANAGER_WEBHOOK"]
    assert sum("floating tag" in s for s in cm.sensitive) == 3


def test_unchanged_chart_and_markdown(upgrade: ReviewReport, old_project: Path, new_project: Path) -> None:
    lws = chart(upgrade, "lws-operator")
    assert lws.status == "unchanged" and not (lws.changed or lws.images or lws.rbac or lws.crds or lws.helmfile)
    text = to_markdown(upgrade)
    summary, _, details = text.partition("<details>")
    # the summary first (a table row per chart, the findings needing attention), details after
    assert "| sail-operator | 3.2.1 → 3.2.3 |" in summary and "| lws-operator | 1.0.0 |" in summary
    assert "Needs attention" in summary and "serviceaccounts/token" in summary
    assert text.count("<details>") == 2 and "lws-operator" not in details
    assert "`v1.27.3` | `v1.27.8`" in details
    # deterministic
    assert to_markdown(review(new_project, str(old_project), str(new_project))) == text


def test_downgrade_is_flagged(old_project: Path, new_project: Path) -> None:
    report = review(old_project, str(new_project), str(old_project))
    sail = chart(report, "sail-operator")
    assert sail.downgrade and "downgrade 3.2.3 -> 3.2.1" in sail.sensitive
    hook = {c.path: c for c in sail.helmfile}["hook sail-webhook-ignore"]
    assert (hook.old, hook.new) == ("off", "on")
    [role] = chart(report, "cert-manager-operator").rbac
    assert role.removed == ("create serviceaccounts/token",) and not role.sensitive
    assert "⚠ downgrade" in to_markdown(report)


def test_chart_removed_and_added(old_project: Path, tmp_path: Path) -> None:
    smaller = tmp_path / "smaller"
    shutil.copytree(old_project, smaller)
    shutil.rmtree(smaller / "charts" / "lws-operator")
    removed = chart(review(smaller, str(old_project), str(smaller)), "lws-operator")
    assert removed.status == "removed" and removed.head is None and removed.removed
    assert removed.crds and all(c.status == "removed" for c in removed.crds)
    assert any("presync hook never deletes CRDs" in s for s in removed.sensitive)
    added = chart(review(smaller, str(smaller), str(old_project)), "lws-operator")
    assert added.status == "added" and added.base is None and added.added
    assert added.rbac and all(r.status == "added" and r.added and not r.removed for r in added.rbac)
    assert {c.path for c in added.helmfile} >= {"needs"}


def test_cli_json_and_errors(old_project: Path, new_project: Path, tmp_path: Path) -> None:
    proc = cli("diff", str(old_project), str(new_project), "--json", "-o", str(new_project))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [c["name"] for c in data["charts"]] == ["cert-manager-operator", "lws-operator", "sail-operator"]
    sail = data["charts"][2]
    assert {"location": "Istio/default: spec.version", "old": "v1.27.3", "new": "v1.27.8",
            "sensitive": []} in sail["images"]
    # directories relative to the current directory
    relative = cli("diff", "old", os.path.relpath(new_project, old_project.parent), "--json", cwd=old_project.parent)
    assert relative.returncode == 0, relative.stderr
    assert json.loads(relative.stdout)["charts"] == data["charts"]
    assert_one_line_error(cli("diff", str(tmp_path), str(new_project), "-o", str(new_project)),
                          "not a generated project")
    # not in a git repository: a ref cannot be read
    assert_one_line_error(cli("diff", "-o", str(new_project)), "HEAD", "not in a git repository")
    missing_helm = cli("diff", str(old_project), str(new_project), env={"BUNDLE_EXTRACT_HELM": str(tmp_path / "no")})
    assert missing_helm.returncode == 8
    assert_one_line_error(missing_helm, "helm: not found")


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True)
    return proc.stdout.strip()


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.relative_to(root).parts}


def test_git_refs_of_a_scratch_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "commit", "-q", "--allow-empty", "-m", "empty")
    project = repo / "deploy"  # the project in a subdirectory of the repository
    generate_project(project, OLD)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "old bundles")
    git(repo, "tag", "v1")
    generate_project(project, NEW)
    status, files = git(repo, "status", "--porcelain"), snapshot(repo)

    working = cli("diff", "--json", "-o", str(project))  # BASE=HEAD, HEAD=the working tree
    assert working.returncode == 0, working.stderr
    data = json.loads(working.stdout)
    assert (data["base"], data["head"]) == ("HEAD", "working tree")
    sail = next(c for c in data["charts"] if c["name"] == "sail-operator")
    assert (sail["base"]["version"], sail["head"]["version"]) == ("3.2.1", "3.2.3")
    assert git(repo, "status", "--porcelain") == status and snapshot(repo) == files  # nothing touched

    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "new bundles")
    files, head = snapshot(repo), git(repo, "rev-parse", "HEAD")
    refs = cli("diff", "v1", "HEAD", "--json", "-o", str(project))
    assert refs.returncode == 0, refs.stderr
    assert json.loads(refs.stdout)["charts"] == data["charts"]  # the same comparison, read from git
    unchanged = json.loads(cli("diff", "--json", "-o", str(project)).stdout)
    assert {c["status"] for c in unchanged["charts"]} == {"unchanged"}
    markdown = cli("diff", "HEAD~1", "-o", str(project))
    assert markdown.returncode == 0, markdown.stderr
    assert markdown.stdout.startswith("## bundle-extract review: `HEAD~1` → `working tree`")

    assert_one_line_error(cli("diff", "no-such-ref", "-o", str(project)), "no-such-ref",
                          "neither a directory nor a git ref")
    assert_one_line_error(cli("diff", "HEAD~2", "-o", str(project)), "HEAD~2", "not a generated project at deploy")
    # make review: the same report, thin wrapper
    made = subprocess.run(["make", "--no-print-directory", "review", f"CONFIG={project / 'bundles.yaml'}", "BASE=v1",
                           "HEAD=HEAD", "REVIEW_ARGS=--json", f"PYTHON={sys.executable}"],
                          cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout) == json.loads(refs.stdout)
    # reading refs touched neither the files, nor the index, nor the refs
    assert snapshot(repo) == files and git(repo, "status", "--porcelain") == ""
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "worktree", "list").count("\n") == 0
