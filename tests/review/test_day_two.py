"""The whole day-two loop, as a platform team runs it, in a scratch git repository against the real
loopback registry holding sail 3.2.1 and 3.2.3 and cert-manager-operator v1.15.2 and v1.16.2
(../shared/bundles):

make update-bundle -> commit -> cert-manager's v1.15.2 tag is re-pushed with new content (a rebuild)
-> outdated lists the newer versions and the rebuild -> make update-bundle BUNDLE=... VERSION=...
-> bundle-extract diff names what a reviewer must see -> make verify passes, and fails after a
hand edit of a chart file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from extractor import yamlio
from extractor.demo.push import push_bundle_image
from extractor.review.lock import LOCK_NAME, read_lock
from tests.support.project import REPO
from tests.support.registry import TestRegistry
from tests.support.tools import require_shared, require_tool
from tests.support.urlserver import url_mirror_value

SAIL = "openshift-service-mesh/istio-sail-operator-bundle"
CERT_MANAGER = "cert-manager/cert-manager-operator-bundle"


def run(cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    if check:
        assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def make(target: str, project: Path, env: dict[str, str], *variables: str,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["make", "--no-print-directory", "-C", str(REPO), target, f"CONFIG={project / 'bundles.yaml'}",
                f"PYTHON={sys.executable}", *variables], project, env, check)


def two_bundle_config() -> str:
    """The repository's bundles.yaml without lws (cert-manager-operator and sail-operator)."""
    text = (REPO / "bundles.yaml").read_text()
    return text[: text.index("  # Leader Worker Set Operator.")]


def test_day_two_loop(registry: TestRegistry, tmp_path: Path) -> None:
    require_tool("helm")
    # a namespace of its own in the session registry: this test re-pushes a tag, which must not
    # change what other tests pull from the registry.redhat.io paths
    host = f"{registry.host}/day-two"
    for repository, tag, directory in [
        (SAIL, "3.2.1", "servicemeshoperator3-v3.2.1"), (SAIL, "3.2.3", "servicemeshoperator3-v3.2.3"),
        (CERT_MANAGER, "v1.15.2", "cert-manager-operator-v1.15.2"),
        (CERT_MANAGER, "v1.16.2", "cert-manager-operator-v1.16.2"),
    ]:
        push_bundle_image(require_shared("bundles", directory), f"{host}/{repository}:{tag}")
    mirror = f"MIRROR=registry.redhat.io={host}"
    env = {**os.environ, "BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache"), "GIT_AUTHOR_NAME": "t",
           "BUNDLE_EXTRACT_URL_MIRROR": url_mirror_value(),
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    project = tmp_path / "platform"
    project.mkdir()
    (project / "bundles.yaml").write_text(two_bundle_config())
    run(["git", "init", "-q", "-b", "main"], project, env)

    # 1. generate and commit
    make("update-bundle", project, env, mirror)
    lock = read_lock(project / LOCK_NAME)
    assert {n: e.chart_version for n, e in lock.entries.items()} == {
        "cert-manager-operator": "1.15.2-rev.1", "sail-operator": "3.2.1-rev.1"}
    run(["git", "add", "-A"], project, env)
    run(["git", "commit", "-q", "-m", "charts"], project, env)
    make("verify", project, env, mirror)

    # 2. upstream rebuilds v1.15.2 (same tag, new content)
    rebuilt = tmp_path / "rebuilt"
    shutil.copytree(require_shared("bundles", "cert-manager-operator-v1.15.2"), rebuilt)
    csv = next((rebuilt / "manifests").glob("*.clusterserviceversion.yaml"))
    csv.write_text(csv.read_text().replace("description:", "description: Rebuilt.", 1))
    push_bundle_image(rebuilt, f"{host}/{CERT_MANAGER}:v1.15.2")

    # 3. outdated: the newer versions and the rebuild, exit 3
    outdated = run([sys.executable, "-m", "extractor", "outdated", "--json", "--config", str(project / "bundles.yaml"),
                    "--mirror", f"registry.redhat.io={host}"], project, env, check=False)
    assert outdated.returncode == 3, outdated.stderr
    found = {r["name"]: r for r in json.loads(outdated.stdout)}
    assert found["sail-operator"]["proposed"] == "3.2.3"
    assert "v1.16.2" in found["cert-manager-operator"]["newer"]
    assert found["cert-manager-operator"]["rebuild"] is True
    assert make("outdated", project, env, mirror, check=False).returncode != 0  # make reports "updates"

    # 4. pick up the rebuild, then bump both bundles
    make("update-bundle", project, env, mirror, "BUNDLE=cert-manager-operator")
    assert read_lock(project / LOCK_NAME).entries["cert-manager-operator"].chart_version == "1.15.2-rev.2"
    run(["git", "commit", "-q", "-am", "rebuild"], project, env)
    make("update-bundle", project, env, mirror, "BUNDLE=sail-operator", "VERSION=3.2.3")
    make("update-bundle", project, env, mirror, "BUNDLE=cert-manager-operator", "VERSION=v1.16.2")
    config = yamlio.load((project / "bundles.yaml").read_bytes())
    assert [b["version"] for b in config["bundles"]] == ["v1.16.2", "3.2.3"]

    # 5. the review report names what a reviewer must see
    report = run([sys.executable, "-m", "extractor", "diff", "--output", str(project)], project, env).stdout
    assert "3.2.1" in report and "3.2.3" in report
    assert "v1.27.3" in report and "v1.27.8" in report  # the Istio control plane
    assert "sail-webhook-ignore" in report
    token_lines = [line for line in report.splitlines() if "serviceaccounts/token" in line]
    assert token_lines and any(re.search(r"sensitive|⚠|escalat", line, re.I) for line in token_lines), token_lines
    assert "1.15.2" in report and "1.16.2" in report  # appVersion: the CSV version
    review = make("review", project, env, "BASE=HEAD")
    assert "v1.27.8" in review.stdout

    # 6. verify: clean after the bump, drift after a hand edit
    make("verify", project, env, mirror)
    values = project / "charts/sail-operator/values.yaml"
    values.write_text(values.read_text() + "# hand edit\n")
    drift = make("verify", project, env, mirror, check=False)
    assert drift.returncode != 0
    assert "changed: charts/sail-operator/values.yaml" in drift.stdout
