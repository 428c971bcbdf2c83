"""The GitHub Actions workflows users get (.github/workflows/), checked.

- actionlint (built by hack/build-actionlint.sh) with shellcheck on every workflow: no finding;
  and on a deliberately broken workflow: it reports it (so a clean run means something).
- The project's rules, as :func:`problems` (also fed broken workflows, so each rule can fail):
  every ``uses:`` pinned by a 40-hex commit SHA with its version in a comment, and only inputs
  the pinned action declares (actionlint cannot check inputs of SHA-pinned actions);
  ``${{ secrets.* }}`` only as a value of ``env:``/``with:``; no ``${{ }}`` at all in ``run:``
  scripts (data reaches shell through the environment); ``permissions:`` declared, read-only at
  the top, writes only on jobs that open PRs or comment; ``concurrency:`` declared.
- The workflows are thin calls of the make targets and ``bundle-extract`` commands a person runs,
  and re-implement none of them (no helmfile, no ``bundle-extract diff``/``update-bundle`` of their
  own).
- The glue the workflows do run is run here: the registry login (auth file 0600 under
  $RUNNER_TEMP, secret never printed), the outdated step (exit codes, the matrix, refusal of
  names make would expand) and the PR's add-paths (git pathspecs, with and without a lock file).
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from tests.support.tools import require_tool

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
EXPECTED = ("charts.yml", "regenerate.yml", "test.yml")
#: Every workflow file: actionlint and the rules apply to workflows added later too.
ALL = sorted({p.name for p in WORKFLOWS.glob("*.y*ml")} | set(EXPECTED))

#: The inputs of each pinned action, from its action.yml at that commit. An action pinned to
#: another commit must be added here after reading its action.yml (and its changelog).
ACTION_INPUTS: dict[str, frozenset[str]] = {
    # v7.0.1
    "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1": frozenset({
        "allow-unsafe-pr-checkout", "clean", "fetch-depth", "fetch-tags", "filter", "github-server-url",
        "lfs", "path", "persist-credentials", "ref", "repository", "set-safe-directory", "show-progress",
        "sparse-checkout", "sparse-checkout-cone-mode", "ssh-key", "ssh-known-hosts", "ssh-strict",
        "ssh-user", "submodules", "token",
    }),
    # v7.0.0
    "actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97": frozenset({
        "allow-prereleases", "architecture", "cache", "cache-dependency-path", "check-latest",
        "freethreaded", "pip-version", "python-version", "python-version-file", "token",
        "update-environment",
    }),
    # v7.0.0
    "actions/setup-go@b7ad1dad31e06c5925ef5d2fc7ad053ef454303e": frozenset({
        "architecture", "cache", "cache-dependency-path", "check-latest", "go-download-base-url",
        "go-version", "go-version-file", "token",
    }),
    # v5.0.5
    "actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae": frozenset({
        "enableCrossOsArchive", "fail-on-cache-miss", "key", "lookup-only", "path", "restore-keys",
        "save-always", "upload-chunk-size",
    }),
    # v8.1.1
    "peter-evans/create-pull-request@5f6978faf089d4d20b00c7766989d076bb2fc7f1": frozenset({
        "add-paths", "assignees", "author", "base", "body", "body-path", "branch", "branch-suffix",
        "branch-token", "commit-message", "committer", "delete-branch", "draft", "labels",
        "maintainer-can-modify", "milestone", "path", "push-to-fork", "reviewers", "sign-commits",
        "signoff", "team-reviewers", "title", "token",
    }),
    # v3.0.5
    "marocchino/sticky-pull-request-comment@5770ad5eb8f42dd2c4f34da00c94c5381e49af88": frozenset({
        "GITHUB_TOKEN", "append", "delete", "follow_symbolic_links", "header", "hide",
        "hide_and_recreate", "hide_classify", "hide_details", "ignore_empty", "message", "number",
        "number_force", "only_create", "only_update", "owner", "path", "recreate", "repo",
        "skip_unchanged",
    }),
}  # fmt: skip

#: Actions whose job may hold write permissions (they push branches, open PRs, comment).
WRITERS = ("peter-evans/create-pull-request@", "marocchino/sticky-pull-request-comment@")
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[^@\s]+)?@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
SECRET = re.compile(r"\$\{\{[^}]*\bsecrets\.")
AUTH_FILE = '"$RUNNER_TEMP/registry-auth.json"'


# --- helpers ---------------------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    """A workflow as data (yamlio's core schema: ``on`` stays a string key)."""
    data = yamlio.load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path}: not a mapping"
    return data


def walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every string in ``node`` with the keys leading to it (list items as ``[i]``)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, (*path, f"[{i}]"))
    elif isinstance(node, str):
        yield path, node


def steps(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(job id, step) for every step of every job."""
    for job_id, job in workflow.get("jobs", {}).items():
        for step in job.get("steps", []):
            yield job_id, step


def scripts(workflow: dict[str, Any]) -> str:
    """All ``run:`` scripts of a workflow, one after the other."""
    return "\n".join(step["run"] for _, step in steps(workflow) if "run" in step)


def find_step(job: dict[str, Any], *, uses: str = "", run: str = "", name: str = "") -> tuple[int, dict[str, Any]]:
    """The first step of ``job`` whose uses starts with ``uses``, whose run script matches the
    regex ``run``, or whose name starts with ``name``: (index, step)."""
    for i, step in enumerate(job["steps"]):
        if uses and str(step.get("uses", "")).startswith(uses):
            return i, step
        if run and re.search(run, step.get("run", "")):
            return i, step
        if name and str(step.get("name", "")).startswith(name):
            return i, step
    raise AssertionError(f"no step with uses={uses!r} run={run!r} name={name!r}")


def problems(text: str) -> list[str]:
    """The project's rules for a workflow file's text; an empty list when it keeps them all."""
    found: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        match = USES_LINE.match(line)
        if not match:
            continue
        ref = match["ref"].strip("'\"")
        if ref.startswith("./"):
            continue
        if ref.startswith("docker://"):
            if "@sha256:" not in ref:
                found.append(f"line {number}: {ref} is not pinned by digest")
            continue
        if not PINNED.match(ref):
            found.append(f"line {number}: {ref} is not pinned by a full commit SHA")
        elif not re.search(r"#\s*v\d+(\.\d+)*\s*$", match["rest"]):
            found.append(f"line {number}: {ref} has no '# vX.Y.Z' comment naming its version")
    workflow = yamlio.load(text)
    if not isinstance(workflow, dict):
        return [*found, "not a mapping"]
    for path, value in walk(workflow):
        if SECRET.search(value) and (len(path) < 2 or path[-2] not in ("env", "with")):
            found.append(f"{'.'.join(path)}: a secret outside env:/with:")
    for job_id, step in steps(workflow):
        if "${{" in step.get("run", ""):
            found.append(f"job {job_id}: step {step.get('name', '?')!r}: ${{{{ }}}} in a run script (use env:)")
        uses = str(step.get("uses", ""))
        if PINNED.match(uses):
            known = ACTION_INPUTS.get(uses)
            if known is None:
                found.append(f"job {job_id}: {uses}: not in ACTION_INPUTS (read its action.yml, add it)")
            else:
                for key in sorted(set(step.get("with", {})) - known):
                    found.append(f"job {job_id}: {uses}: unknown input {key!r}")
    if "permissions" not in workflow:
        found.append("no top-level permissions:")
    elif "write" in json.dumps(workflow["permissions"]):
        found.append("top-level permissions grant write access")
    if "concurrency" not in workflow:
        found.append("no concurrency:")
    for job_id, job in workflow.get("jobs", {}).items():
        if "write" in json.dumps(job.get("permissions", {})):
            used = [str(step.get("uses", "")) for step in job.get("steps", [])]
            if not any(u.startswith(WRITERS) for u in used):
                found.append(f"job {job_id}: write permissions without an action that needs them")
    return found


def run_script(script: str, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a step's script as the runner does (``bash --noprofile --norc -eo pipefail``) in
    ``tmp_path``, with RUNNER_TEMP, GITHUB_ENV, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY there."""
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    script_file = runner_temp / "step.sh"
    script_file.write_text(script)
    files = {name: tmp_path / name.lower() for name in ("GITHUB_ENV", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")}
    for path in files.values():
        path.touch()
    full_env = {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path), "RUNNER_TEMP": str(runner_temp),
        **{name: str(path) for name, path in files.items()}, **env,
    }  # fmt: skip
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
        cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=60, check=False,
    )


def makefile_targets() -> set[str]:
    """The targets the Makefile defines."""
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return {m[1] for m in re.finditer(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.MULTILINE)}


@pytest.fixture(scope="module")
def workflows() -> dict[str, dict[str, Any]]:
    return {name: load(WORKFLOWS / name) for name in EXPECTED}


# --- actionlint ------------------------------------------------------------------------------------


def actionlint(*files: Path, cwd: Path) -> tuple[int, list[dict[str, Any]]]:
    """Run actionlint with shellcheck on ``files``: (exit code, findings)."""
    tool = require_tool("actionlint")
    shellcheck = require_tool("shellcheck")
    proc = subprocess.run(
        [str(tool), "-format", "{{json .}}", "-shellcheck", str(shellcheck), *map(str, files)],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode in (0, 1), f"actionlint failed ({proc.returncode}): {proc.stderr}"
    return proc.returncode, json.loads(proc.stdout or "[]")


def test_the_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS.glob("*.y*ml")} >= set(EXPECTED)


@pytest.mark.parametrize("name", ALL)
def test_actionlint_finds_nothing(name: str) -> None:
    code, findings = actionlint(WORKFLOWS / name, cwd=REPO)
    assert findings == [], "\n".join(f"{f['filepath']}:{f['line']}: [{f['kind']}] {f['message']}" for f in findings)
    assert code == 0


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    """A clean run means something: the same actionlint, with shellcheck, finds these."""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on:\n  pull_request:\n  schedule:\n    - cron: '61 * * * *'\n"
        "permissions: {}\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - run: echo $UNQUOTED\n"  # shellcheck SC2086
        "      - run: echo '${{ github.event.pull_request.title }}'\n"  # script injection
        "      - run: echo hi\n        uses: actions/checkout@v4\n"  # run and uses together
        "  other:\n"
        "    needs: nowhere\n"  # unknown job
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n      - run: 'true'\n"
    )
    code, findings = actionlint(broken, cwd=tmp_path)
    kinds = {f["kind"] for f in findings}
    assert code == 1
    assert {"shellcheck", "expression", "syntax-check", "events", "job-needs"} <= kinds, findings
    assert any("SC2086" in f["message"] for f in findings)


# --- the project's rules -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_workflow_keeps_the_rules(name: str) -> None:
    assert problems((WORKFLOWS / name).read_text(encoding="utf-8")) == []


def test_the_rules_catch_breaking_workflows() -> None:
    broken = """\
on: push
jobs:
  build:
    runs-on: ubuntu-24.04
    permissions:
      contents: write
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-go@b7ad1dad31e06c5925ef5d2fc7ad053ef454303e
      - uses: actions/cache@0123456789012345678901234567890123456789 # v9.9.9
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
        with:
          fetch-dept: 0
      - run: echo "${{ secrets.TOKEN }}"
      - run: make update-bundle BUNDLE=${{ matrix.bundle }}
      - uses: docker://alpine:3
"""
    found = problems(broken)
    expected = [
        "actions/checkout@v4 is not pinned by a full commit SHA",
        "setup-go@b7ad1dad31e06c5925ef5d2fc7ad053ef454303e has no '# vX.Y.Z' comment",
        "actions/cache@0123456789012345678901234567890123456789: not in ACTION_INPUTS",
        "unknown input 'fetch-dept'",
        "jobs.build.steps.[4].run: a secret outside env:/with:",
        "${{ }} in a run script",
        "docker://alpine:3 is not pinned by digest",
        "no top-level permissions:",
        "no concurrency:",
        "job build: write permissions without an action that needs them",
    ]
    for text in expected:
        assert any(text in problem for problem in found), (text, found)
    assert sum("${{ }} in a run script" in p for p in found) == 2
    top_write = "on: push\npermissions: write-all\nconcurrency: x\njobs: {}\n"
    assert problems(top_write) == ["top-level permissions grant write access"]


def test_every_action_is_pinned_to_one_commit(workflows: dict[str, dict[str, Any]]) -> None:
    """The same action is pinned to the same commit everywhere (one place to bump)."""
    pins: dict[str, set[str]] = {}
    for workflow in workflows.values():
        for _, step in steps(workflow):
            if "uses" in step:
                action, _, sha = step["uses"].partition("@")
                pins.setdefault(action, set()).add(sha)
    assert {a: s for a, s in pins.items() if len(s) > 1} == {}
    assert len({key.partition("@")[0] for key in ACTION_INPUTS}) == len(ACTION_INPUTS)


# --- thin calls of make and bundle-extract -----------------------------------------------------------


def test_workflows_call_make_targets(workflows: dict[str, dict[str, Any]]) -> None:
    regenerate = scripts(workflows["regenerate.yml"])
    charts = scripts(workflows["charts.yml"])
    assert re.search(r'^\s*make update-bundle BUNDLE="\$BUNDLE" VERSION="\$VERSION"$', regenerate, re.M)
    assert re.search(r"^\s*make .*\breview\b", regenerate, re.M)
    assert re.search(r"^\s*bundle-extract outdated --json\b", regenerate, re.M)
    for target in ("verify", "lint", "template", "tools"):
        assert re.search(rf"^\s*make (.* )?{target}\b", charts, re.M), target
    assert re.search(r'^\s*make .*\breview BASE="\$base" HEAD="\$HEAD_SHA"', charts, re.M)
    assert re.search(r'^\s*helm lint --strict "\$chart"', charts, re.M)
    assert re.search(r"^\s*make test$", scripts(workflows["test.yml"]), re.M)


COMMAND = r"(?:^|[;&|(]|\bthen|\bdo)\s*"  # a word in command position


def reimplementations(script: str) -> list[str]:
    """Lines of ``script`` doing themselves what a make target does: helmfile/helm/kubectl (but
    ``helm lint --strict``, which no target runs), bundle-extract other than ``outdated --json``,
    git diff/archive (``make review``), editable installs (``make tools``)."""
    own_tools = re.compile(rf"{COMMAND}(helm(file)?|helm4|kubectl)\b(?! lint --strict)")
    own_git = re.compile(rf"{COMMAND}git (diff|archive)\b")
    editable = re.compile(r"\bpip install\b.*\s-e\b")
    cli = re.compile(rf"{COMMAND}(bundle-extract|python3? -m extractor)\b.*")

    def bad(line: str) -> bool:
        if own_tools.search(line) or own_git.search(line) or editable.search(line):
            return True
        return any(not m[0].strip().startswith("bundle-extract outdated --json") for m in cli.finditer(line))

    return [line.strip() for line in script.splitlines() if bad(line.strip())]


def test_workflows_reimplement_nothing(workflows: dict[str, dict[str, Any]]) -> None:
    """helmfile, regeneration and the review report come from make; bundle-extract is called
    directly only for `outdated --json`, whose exit code 3 make would turn into its own error."""
    for name, workflow in workflows.items():
        assert reimplementations(scripts(workflow)) == [], name


def test_reimplementations_are_found() -> None:
    script = """\
make lint
helmfile --file helmfile.yaml.gotmpl template
if true; then helm template charts/x; fi
helm lint --strict "$chart"
python -m extractor update-bundle --bundle x
x=$(bundle-extract diff HEAD)
bundle-extract outdated --json >out.json
git diff --stat
python -m pip install -e '.[test]'
echo "the bundle-extract review, see helmfile.yaml.gotmpl"
"""
    assert reimplementations(script) == [
        "helmfile --file helmfile.yaml.gotmpl template",
        "if true; then helm template charts/x; fi",
        "python -m extractor update-bundle --bundle x",
        "x=$(bundle-extract diff HEAD)",
        "git diff --stat",
        "python -m pip install -e '.[test]'",
    ]


def test_make_targets_exist(workflows: dict[str, dict[str, Any]]) -> None:
    defined = makefile_targets()
    called: set[str] = set()
    for workflow in workflows.values():
        for line in scripts(workflow).splitlines():
            match = re.match(r"\s*make\s+(.*)", line)
            if match:
                words = [w for w in match[1].split() if not w.startswith("-") and "=" not in w]
                called.add(words[0])
    assert called >= {"tools", "test", "update-bundle", "review", "verify", "lint", "template"}
    assert called - defined == set()


# --- regenerate.yml ------------------------------------------------------------------------------------


def test_regenerate_runs_on_schedule_and_by_hand(workflows: dict[str, dict[str, Any]]) -> None:
    on = workflows["regenerate.yml"]["on"]
    assert set(on) == {"schedule", "workflow_dispatch"}
    assert re.fullmatch(r"\d+ \d+ \* \* [0-6]", on["schedule"][0]["cron"])
    assert workflows["regenerate.yml"]["permissions"] == {}
    assert workflows["regenerate.yml"]["concurrency"]["cancel-in-progress"] is False


def test_regenerate_matrix_comes_from_outdated(workflows: dict[str, dict[str, Any]]) -> None:
    jobs = workflows["regenerate.yml"]["jobs"]
    outdated, regenerate = jobs["outdated"], jobs["regenerate"]
    assert outdated["permissions"] == {"contents": "read"}
    assert outdated["outputs"]["matrix"] == "${{ steps.outdated.outputs.matrix }}"
    _, step = find_step(outdated, run=r"bundle-extract outdated --json")
    assert step["id"] == "outdated"
    assert regenerate["needs"] == "outdated"
    assert regenerate["if"] == "needs.outdated.outputs.updates == 'true'"
    assert regenerate["strategy"]["matrix"] == {"include": "${{ fromJSON(needs.outdated.outputs.matrix) }}"}
    assert regenerate["strategy"]["fail-fast"] is False
    assert regenerate["env"]["BUNDLE"] == "${{ matrix.bundle }}"
    assert regenerate["env"]["VERSION"] == "${{ matrix.version }}"
    python = find_step(outdated, uses="actions/setup-python@")[1]
    assert python["with"]["python-version"] == "3.11"


def test_regenerate_opens_one_pr_per_bundle(workflows: dict[str, dict[str, Any]]) -> None:
    job = workflows["regenerate.yml"]["jobs"]["regenerate"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    index, pr = find_step(job, uses="peter-evans/create-pull-request@")
    assert pr["with"]["branch"] == "regenerate/${{ matrix.bundle }}"
    assert pr["with"]["token"] == "${{ secrets.REGENERATE_PR_TOKEN || github.token }}"
    body = pr["with"]["body-path"]
    review_index, review = find_step(job, run=r"\bmake .*\breview\b")
    assert review_index < index
    assert f">{body}" in review["run"].replace(" ", ""), "the review step writes the PR body"
    assert index == len(job["steps"]) - 1, "the PR is the last step"


def test_pr_add_paths_stage_charts_helmfile_and_bundle_files(
    workflows: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """add-paths are handed to `git add --`: one pathspec matching no file makes git add nothing,
    so they must work with and without bundles.lock.yaml, and take new CRD files along."""
    git = require_tool("git")
    job = workflows["regenerate.yml"]["jobs"]["regenerate"]
    pathspecs = find_step(job, uses="peter-evans/create-pull-request@")[1]["with"]["add-paths"].split()
    files = [
        "charts/sail-operator/Chart.yaml", "charts/sail-operator/presync/sailoperator.io/new-crd.yaml",
        "helmfile.yaml.gotmpl", "bundles.yaml", "bundles.lock.yaml",
    ]  # fmt: skip
    for with_lock in (True, False):
        repo = tmp_path / f"lock-{with_lock}"
        for name in files if with_lock else files[:-1]:
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            (repo / name).write_text("x\n")
        (repo / "unrelated.txt").write_text("not committed\n")
        subprocess.run([str(git), "init", "-q", str(repo)], check=True)
        add = subprocess.run([str(git), "add", "--", *pathspecs], cwd=repo, capture_output=True, text=True, check=False)
        assert add.returncode == 0, add.stderr
        staged = subprocess.run(
            [str(git), "diff", "--cached", "--name-only"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.split()
        assert staged == sorted(files if with_lock else files[:-1])


# --- the registry login ----------------------------------------------------------------------------


def login_jobs(workflows: dict[str, dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for name, workflow in workflows.items():
        for job_id, job in workflow["jobs"].items():
            if any("secrets.REDHAT_REGISTRY" in json.dumps(step) for step in job["steps"]):
                found.append((name, job_id, job))
    return found


def test_registry_login_is_removed_at_the_end(workflows: dict[str, dict[str, Any]]) -> None:
    jobs = login_jobs(workflows)
    assert {(name, job_id) for name, job_id, _ in jobs} == {
        ("regenerate.yml", "outdated"), ("regenerate.yml", "regenerate"), ("charts.yml", "checks"),
    }  # fmt: skip
    for name, job_id, job in jobs:
        login_index, login = find_step(job, name="Registry credentials")
        assert login["env"] == {
            "REGISTRY_USER": "${{ secrets.REDHAT_REGISTRY_USER }}",
            "REGISTRY_TOKEN": "${{ secrets.REDHAT_REGISTRY_TOKEN }}",
        }, (name, job_id)
        cleanup_index, cleanup = find_step(job, run=re.escape(f"rm -f {AUTH_FILE}"))
        assert cleanup["if"] == "always()", (name, job_id)
        assert login_index < cleanup_index, (name, job_id)
        # Gone before anything renders charts with it or a third-party action runs.
        for i, step in enumerate(job["steps"]):
            renders = re.search(r"make .*\b(review|lint|template)\b", step.get("run", ""))
            if i > login_index and ("uses" in step or renders):
                assert i > cleanup_index, (name, job_id, step)


def login_script(workflows: dict[str, dict[str, Any]]) -> str:
    scripts_seen = {str(find_step(job, name="Registry credentials")[1]["run"]) for _, _, job in login_jobs(workflows)}
    assert len(scripts_seen) == 1, "the login steps differ between jobs"
    return scripts_seen.pop()


def test_registry_login_writes_a_private_auth_file(workflows: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    user, token = "12345|ci-robot", "eyJ-s3cret-t0ken/+="
    proc = run_script(login_script(workflows), tmp_path, {"REGISTRY_USER": user, "REGISTRY_TOKEN": token})
    assert proc.returncode == 0, proc.stderr
    auth_file = tmp_path / "runner-temp" / "registry-auth.json"
    assert stat.S_IMODE(auth_file.stat().st_mode) == 0o600
    encoded = base64.b64encode(f"{user}:{token}".encode()).decode()
    assert json.loads(auth_file.read_text()) == {"auths": {"registry.redhat.io": {"auth": encoded}}}
    # Only the mask command reaches the log; the runner turns it into a mask, it is not shown.
    assert proc.stdout == f"::add-mask::{encoded}\n"
    assert token not in proc.stdout + proc.stderr
    assert (tmp_path / "github_env").read_text() == f"REGISTRY_AUTH_FILE={auth_file}\n"
    # The secrets are nowhere on a command line: the script reads them from the environment.
    assert "$REGISTRY_TOKEN" not in login_script(workflows).replace('[ -z "$REGISTRY_TOKEN" ]', "")


def test_registry_login_without_secrets_warns(workflows: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    proc = run_script(login_script(workflows), tmp_path, {"REGISTRY_USER": "", "REGISTRY_TOKEN": ""})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("::warning::secrets REDHAT_REGISTRY_USER and REDHAT_REGISTRY_TOKEN are not set")
    assert not (tmp_path / "runner-temp" / "registry-auth.json").exists()
    assert (tmp_path / "github_env").read_text() == ""


# --- the outdated step -----------------------------------------------------------------------------


def run_outdated(workflows: dict[str, dict[str, Any]], tmp_path: Path, report: Any, code: int) -> tuple[
    subprocess.CompletedProcess[str], dict[str, str]
]:
    """Run the outdated step with a stand-in bundle-extract printing ``report`` and exiting ``code``."""
    require_tool("jq")
    script = find_step(workflows["regenerate.yml"]["jobs"]["outdated"], run=r"bundle-extract outdated")[1]["run"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "report.json").write_text(json.dumps(report))
    fake = bin_dir / "bundle-extract"
    fake.write_text(f'#!/bin/sh\n[ "$*" = "outdated --json" ] || exit 99\ncat "{tmp_path}/report.json"\nexit {code}\n')
    fake.chmod(0o755)
    proc = run_script(script, tmp_path, {"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    outputs = dict(
        line.split("=", 1) for line in (tmp_path / "github_output").read_text().splitlines() if "=" in line
    )
    return proc, outputs


def entry(name: str, version: str, proposed: str | None, rebuild: bool) -> dict[str, Any]:
    return {"name": name, "image": f"registry.redhat.io/x/{name}-bundle", "version": version, "digest": "sha256:1",
            "tagDigest": "sha256:2", "rebuild": rebuild, "newer": [], "proposed": proposed, "track": "patch",
            "notes": []}  # fmt: skip


def test_outdated_step_builds_the_matrix(workflows: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    report = [
        entry("cert-manager-operator", "v1.15.2", "v1.15.3", True),  # newer version (and a rebuild)
        entry("sail-operator", "3.2.1", None, True),  # rebuild only: the same version again
        entry("lws-operator", "1.0.0", None, False),  # nothing to do
    ]
    proc, outputs = run_outdated(workflows, tmp_path, report, 3)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(outputs["matrix"]) == [
        {"bundle": "cert-manager-operator", "version": "v1.15.3", "rebuild": False},
        {"bundle": "sail-operator", "version": "3.2.1", "rebuild": True},
    ]
    assert outputs["updates"] == "true"
    assert "cert-manager-operator" in (tmp_path / "github_step_summary").read_text()


def test_outdated_step_nothing_to_do(workflows: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    proc, outputs = run_outdated(workflows, tmp_path, [entry("lws-operator", "1.0.0", None, False)], 0)
    assert proc.returncode == 0, proc.stderr
    assert outputs == {"matrix": "[]", "updates": "false"}


@pytest.mark.parametrize(
    ("report", "code"),
    [
        ([], 1),  # a registry error
        ([], 2),  # bundles.yaml or options
        ([entry("sail-operator", "3.2.1", "$(shell id)", False)], 3),  # make would expand it
        ([entry("sail operator", "3.2.1", "3.2.3", False)], 3),
        ([entry("sail-operator", "3.2.1", "3.2.3 BUNDLE=x", False)], 3),
    ],
)
def test_outdated_step_fails(workflows: dict[str, dict[str, Any]], tmp_path: Path, report: Any, code: int) -> None:
    proc, outputs = run_outdated(workflows, tmp_path, report, code)
    assert proc.returncode != 0
    assert "::error::" in proc.stdout
    assert "matrix" not in outputs


# --- charts.yml and test.yml ---------------------------------------------------------------------------


def test_charts_checks(workflows: dict[str, dict[str, Any]]) -> None:
    charts = workflows["charts.yml"]
    assert set(charts["on"]) == {"pull_request"}
    assert charts["permissions"] == {"contents": "read"}
    review = charts["jobs"]["review"]
    assert review["permissions"] == {"contents": "read", "pull-requests": "write"}
    checkout = find_step(review, uses="actions/checkout@")[1]
    assert checkout["with"]["fetch-depth"] == 0, "the merge base of base and head must be fetched"
    _, diff = find_step(review, run=r"make .*\breview\b")
    assert diff["env"] == {
        "BASE_SHA": "${{ github.event.pull_request.base.sha }}",
        "HEAD_SHA": "${{ github.event.pull_request.head.sha }}",
    }
    assert 'git merge-base "$BASE_SHA" "$HEAD_SHA"' in diff["run"]
    _, comment = find_step(review, uses="marocchino/sticky-pull-request-comment@")
    assert comment["with"]["header"] == "bundle-extract-review", "one comment, updated"
    assert comment["with"]["path"] in diff["run"]


def test_test_workflow_runs_make_test_as_root(workflows: dict[str, dict[str, Any]]) -> None:
    test = workflows["test.yml"]
    assert {"push", "pull_request"} <= set(test["on"])
    job = test["jobs"]["test"]
    # dockerd in the tests needs root and privileges; install-tools.sh needs Debian's packages.
    assert job["container"]["image"] == "python:3.11-bookworm"
    assert "--privileged" in job["container"]["options"]


def test_tools_are_cached_and_built_with_go(workflows: dict[str, dict[str, Any]]) -> None:
    """Every job running make tools (make test runs it) has Go for hack/build-*.sh and the tools
    cache (binaries and ct's config files), keyed on hack/*.sh, restored before make runs."""
    seen = 0
    for name, workflow in workflows.items():
        for job_id, job in workflow["jobs"].items():
            if not any(re.search(r"^\s*make (tools|test)\b", s.get("run", ""), re.M) for s in job["steps"]):
                continue
            seen += 1
            assert job["container"]["image"] == "python:3.11-bookworm", (name, job_id)
            make_index, _ = find_step(job, run=r"^\s*make (tools|test)\b")
            cache_index, cache = find_step(job, uses="actions/cache@")
            go_index, _ = find_step(job, uses="actions/setup-go@")
            assert max(cache_index, go_index) < make_index, (name, job_id)
            # tools/ct: the config files build-ct.sh checks beside the binary (else ct rebuilds every run)
            assert {"~/.cache/bundle-extract/tools/bin", "~/.cache/bundle-extract/tools/ct"} <= set(
                cache["with"]["path"].split()), (name, job_id)
            assert "hashFiles('hack/*.sh')" in cache["with"]["key"]
    assert seen == 4
