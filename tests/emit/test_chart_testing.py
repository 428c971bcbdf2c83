"""chart-testing (``ct lint``, built by hack/build-ct.sh) passes on the generated charts, version
increment check included: charts regenerated with a bumped revision in a scratch git repository
whose ``origin/main`` holds the previous revision; with helm 3 and with helm 4 as ``helm``.

``--validate-maintainers=false``: ct checks each maintainer name against the GitHub API (network,
and CSV maintainers are teams with e-mail addresses, not GitHub accounts). Everything else is ct's
default lint: the Chart.yaml schema (yamale), yamllint on Chart.yaml and values.yaml, ``helm lint``
and the version bump against the target branch.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from extractor.emit.chart import write_chart
from extractor.tools import tools_dir
from tests.support.drafts import TARGETS, processed_draft
from tests.support.tools import in_ci, require_tool


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args], cwd=repo,
                   check=True, capture_output=True, timeout=60)  # fmt: skip


def _write(repo: Path, revision: int, extra_value: bool = False) -> None:
    for name in TARGETS:
        draft = processed_draft(name)
        if extra_value:
            draft.values["extra"] = True
        target = repo / "charts" / name
        subprocess.run(["rm", "-rf", str(target)], check=True)
        write_chart(draft, target, revision=revision)


@pytest.fixture
def ct_env(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    ct = require_tool("ct")
    for program in ("yamale", "yamllint"):
        require_tool(program)
    conf = tools_dir() / "ct"
    if not (conf / "chart_schema.yaml").is_file():
        message = f"{conf}/chart_schema.yaml missing; run hack/build-ct.sh"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    command = [
        str(ct), "lint", "--target-branch", "main", "--chart-dirs", "charts", "--validate-maintainers=false",
        "--chart-yaml-schema", str(conf / "chart_schema.yaml"), "--lint-conf", str(conf / "lintconf.yaml"),
    ]  # fmt: skip
    return command, dict(os.environ)


def _repo(tmp_path: Path) -> Path:
    remote, repo = tmp_path / "remote.git", tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True, timeout=60)
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "remote", "add", "origin", str(remote))
    _write(repo, 1)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "charts at revision 1")
    _git(repo, "push", "-q", "origin", "main")
    _git(repo, "checkout", "-q", "-b", "update")
    return repo


@pytest.mark.parametrize("helm", ["helm", "helm4"])
def test_ct_lint_passes_with_a_bumped_revision(
    ct_env: tuple[list[str], dict[str, str]], tmp_path: Path, helm: str
) -> None:
    command, env = ct_env
    # ct runs `helm`: put the wanted helm first on PATH under that name
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "helm").symlink_to(require_tool(helm))
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    repo = _repo(tmp_path)
    _write(repo, 2, extra_value=True)
    _git(repo, "commit", "-q", "-a", "-m", "charts at revision 2")
    proc = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert "All charts linted successfully" in output
    for name in TARGETS:
        assert f"✔︎ {name} =>" in output
    assert output.count("Chart version ok.") == len(TARGETS)
    assert "[WARNING]" not in output and "[ERROR]" not in output


def test_ct_lint_refuses_a_change_without_a_new_revision(
    ct_env: tuple[list[str], dict[str, str]], tmp_path: Path
) -> None:
    command, env = ct_env
    env["PATH"] = f"{require_tool('helm').parent}{os.pathsep}{env.get('PATH', '')}"
    repo = _repo(tmp_path)
    _write(repo, 1, extra_value=True)  # content changed, same chart version
    _git(repo, "commit", "-q", "-a", "-m", "changed charts, same revision")
    proc = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode != 0
    assert "chart version not ok" in (proc.stdout + proc.stderr).lower()
