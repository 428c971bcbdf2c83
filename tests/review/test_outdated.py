"""``bundle-extract outdated`` against a real loopback registry: newer versions by track and
versionPattern, floating tags and pre-releases left out, a rebuilt tag (same tag, new digest),
exit codes 0/3, an unreachable registry, local entries, and the bundles.yaml policy fields."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from extractor.acquire import AcquireOptions
from extractor.acquire.reference import Mirror
from extractor.config import load_config
from extractor.demo.localregistry import free_port
from extractor.demo.push import push_bundle_image
from extractor.emit.chart import ANNOTATION_PREFIX
from extractor.errors import ConfigError
from extractor.pipeline import generate
from extractor.review.outdated import allowed_by_track, generated_state
from extractor.review.versions import parse_version
from tests.support.project import REPO, tree
from tests.support.registry import TestRegistry
from tests.support.tools import require_shared
from tests.test_cli import assert_one_line_error, cli

UPSTREAM = "registry.example.com"


def entry_yaml(name: str, image: str, version: str, extra: str = "") -> str:
    """bundles.yaml holding the repository's entry ``name`` with another image/version (+ ``extra`` keys)."""
    text = (REPO / "bundles.yaml").read_text(encoding="utf-8")
    start = text.index(f"  - name: {name}\n")
    end = text.find("\n  - name:", start + 1)
    entry = text[start:] if end < 0 else text[start:end]
    lines = [line for line in entry.splitlines() if not line.startswith(("    image:", "    version:", "    needs:"))]
    lines[1:1] = [f"    image: {image}", f"    version: {version}"] + ([f"    {extra}"] if extra else [])
    return "bundles:\n" + "\n".join(lines) + "\n"


def generate_at(root: Path, image: str, version: str, mirror: str, extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "bundles.yaml").write_text(entry_yaml("cert-manager-operator", image, version, extra), encoding="utf-8")
    options = AcquireOptions(mirrors=(Mirror.parse(mirror),), cache_dir=root.parent / "pull-cache",
                             work_dir=root.parent / "work")
    generate(load_config(root / "bundles.yaml"), root, options)
    return root


def outdated(project: Path, mirror: str, *args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return cli("outdated", "--config", str(project / "bundles.yaml"), "--mirror", mirror, *args,
               env={"BUNDLE_EXTRACT_CACHE_DIR": str(cache)})


def set_policy(project: Path, image: str, extra: str) -> None:
    (project / "bundles.yaml").write_text(entry_yaml("cert-manager-operator", image, "v1.15.2", extra))


@pytest.fixture
def pushed(registry: TestRegistry, request: pytest.FixtureRequest) -> tuple[str, str, dict[str, str]]:
    """A repository of its own holding Red Hat style, floating and pre-release tags; returns the
    upstream image name, the mirror, and tag -> digest."""
    old = require_shared("bundles", "cert-manager-operator-v1.15.2")
    new = require_shared("bundles", "cert-manager-operator-v1.16.2")
    repository = f"outdated/{request.node.name.replace('_', '-')}/cert-manager-operator-bundle"
    digests = {}
    for tag, directory in [("v1.14.9", old), ("v1.15.2", old), ("v1.15.2-4", old), ("v1.15.3", new),
                           ("v1.16.0-rc.1", new), ("v1.16.2", new), ("latest", new), ("v1.15", old),
                           ("v1", new)]:
        digests[tag] = push_bundle_image(directory, f"{registry.host}/{repository}:{tag}")
    return f"{UPSTREAM}/{repository}", f"{UPSTREAM}={registry.host}", digests


def test_newer_versions_rebuild_and_exit_codes(pushed: tuple[str, str, dict[str, str]], tmp_path: Path) -> None:
    image, mirror, digests = pushed
    project = generate_at(tmp_path / "project", image, "v1.15.2", mirror)
    state = generated_state(load_config(project / "bundles.yaml").entry("cert-manager-operator"), project)
    assert state is not None and state.digest == digests["v1.15.2"] and state.image == f"{image}:v1.15.2"
    cache = tmp_path / "cache"

    proc = outdated(project, mirror, "--json", cache=cache)
    assert proc.returncode == 3, proc.stderr
    [result] = json.loads(proc.stdout)
    # floating tags (latest, v1.15, v1), the pre-release and older versions are never listed
    assert result["newer"] == ["v1.15.2-4", "v1.15.3", "v1.16.2"]
    assert result["proposed"] == "v1.15.3"  # track patch (default): same major.minor
    assert (result["version"], result["rebuild"]) == ("v1.15.2", False)
    assert result["digest"] == result["tagDigest"] == digests["v1.15.2"]

    # a rebuild: the same tag pushed again with other bytes (docker media types) -> a new digest
    rebuilt = push_bundle_image(require_shared("bundles", "cert-manager-operator-v1.15.2"),
                                f"{mirror.split('=')[1]}/{image.split('/', 1)[1]}:v1.15.2", manifest_format="docker")
    assert rebuilt != digests["v1.15.2"]
    proc = outdated(project, mirror, "--json", cache=cache)
    assert proc.returncode == 3, proc.stderr
    [result] = json.loads(proc.stdout)
    assert result["rebuild"] is True
    assert (result["digest"], result["tagDigest"]) == (digests["v1.15.2"], rebuilt)
    table = outdated(project, mirror, cache=cache)
    assert table.returncode == 3
    header, row = table.stdout.splitlines()[:2]
    assert header.split() == ["BUNDLE", "CURRENT", "PROPOSED", "REBUILT", "NEWER"]
    assert row.split()[:4] == ["cert-manager-operator", "v1.15.2", "v1.15.3", "yes"]

    # the policy: a pattern picks the Red Hat rebuilds of this version, track minor the next minor
    set_policy(project, image, "versionPattern: 'v1[.]15[.]2-[0-9]+'")
    assert json.loads(outdated(project, mirror, "--json", cache=cache).stdout)[0]["proposed"] == "v1.15.2-4"
    set_policy(project, image, "track: minor")
    assert json.loads(outdated(project, mirror, "--json", cache=cache).stdout)[0]["proposed"] == "v1.16.2"
    set_policy(project, image, "versionPattern: 'v1[.]16[.]0-.*'")  # pre-releases only when a pattern asks
    [result] = json.loads(outdated(project, mirror, "--json", cache=cache).stdout)
    assert (result["newer"], result["proposed"]) == (["v1.16.0-rc.1"], None)  # rc.1 is on the minor track only
    assert not cache.exists()  # outdated reads the registry, it never fills the cache


def test_nothing_to_do_exits_0(pushed: tuple[str, str, dict[str, str]], tmp_path: Path) -> None:
    image, mirror, _ = pushed
    project = generate_at(tmp_path / "project", image, "v1.16.2", mirror)
    proc = outdated(project, mirror, "--json", cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    [result] = json.loads(proc.stdout)
    assert (result["newer"], result["proposed"], result["rebuild"]) == ([], None, False)
    table = outdated(project, mirror, cache=tmp_path / "cache")
    assert table.returncode == 0 and table.stdout.splitlines()[-1] == "nothing to do"
    # --offline: the tags and the digest recorded by the pull that generated the project (cache
    # records are keyed by the mirror the pull went through)
    offline = outdated(project, mirror, "--json", "--offline", cache=tmp_path / "pull-cache")
    assert offline.returncode == 0, offline.stderr
    [cached] = json.loads(offline.stdout)
    assert (cached["version"], cached["tagDigest"], cached["newer"]) == ("v1.16.2", result["digest"], [])
    # make outdated is a thin wrapper: same output, same exit code (make reports it)
    made = subprocess.run(["make", "--no-print-directory", "outdated", f"CONFIG={project / 'bundles.yaml'}",
                           f"MIRROR={mirror}", "OUTDATED_ARGS=--json", f"PYTHON={sys.executable}"],
                          cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache")})
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout) == json.loads(proc.stdout)


def test_unreachable_registry_names_the_entry_and_writes_nothing(
    pushed: tuple[str, str, dict[str, str]], tmp_path: Path
) -> None:
    image, mirror, _ = pushed
    project = generate_at(tmp_path / "project", image, "v1.15.2", mirror)
    before = tree(project)
    dead = f"{UPSTREAM}=127.0.0.1:{free_port()}"  # nothing listens there
    proc = outdated(project, dead, "--json", "--registry-retries", "0", cache=tmp_path / "cache2")
    assert proc.returncode == 1  # not 3: that would read as "updates available"
    assert_one_line_error(proc, "cert-manager-operator")
    assert proc.stdout == ""
    assert tree(project) == before
    assert not (tmp_path / "cache2").exists()
    assert_one_line_error(outdated(project, mirror, "--bundle", "nope", cache=tmp_path / "cache2"), "nope")


def test_local_entries_are_skipped(tmp_path: Path) -> None:
    directory = require_shared("bundles", "cert-manager-operator-v1.15.2")
    config = tmp_path / "bundles.yaml"
    config.write_text(entry_yaml("cert-manager-operator", str(directory), "v1.15.2"), encoding="utf-8")
    proc = cli("outdated", "--config", str(config), "--json")
    assert proc.returncode == 0, proc.stderr
    [result] = json.loads(proc.stdout)
    assert result["proposed"] is None and any("local bundle" in note for note in result["notes"])


@pytest.mark.parametrize(("extra", "fragment"), [
    ("track: weekly", "track must be one of patch, minor, major"),
    ("track: [patch]", "track must be one of"),
    ("versionPattern: '(v1'", "versionPattern '(v1' is not a valid regex"),
    ("versionPattern: 12", "versionPattern must be a non-empty string"),
])
def test_policy_fields_are_checked(tmp_path: Path, extra: str, fragment: str) -> None:
    config = tmp_path / "bundles.yaml"
    config.write_text(entry_yaml("cert-manager-operator", "quay.io/x/y", "v1.0.0", extra), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    message = str(caught.value)
    assert "\n" not in message and "bundle 'cert-manager-operator'" in message and fragment in message


def test_policy_fields_are_read(tmp_path: Path) -> None:
    config = tmp_path / "bundles.yaml"
    config.write_text(entry_yaml("cert-manager-operator", "quay.io/x/y", "v1.0.0", "track: major"))
    entry = load_config(config).entry("cert-manager-operator")
    assert (entry.track, entry.version_pattern) == ("major", None)
    config.write_text(entry_yaml("cert-manager-operator", "quay.io/x/y", "v1.0.0", "versionPattern: 'v1[.].*'"))
    entry = load_config(config).entry("cert-manager-operator")
    assert (entry.track, entry.version_pattern) == ("patch", "v1[.].*")


@pytest.mark.parametrize(("current", "candidate", "track", "allowed"), [
    ("v1.15.2", "v1.15.9", "patch", True), ("v1.15.2", "v1.16.0", "patch", False),
    ("v1.15.2", "v1.16.0", "minor", True), ("v1.15.2", "v2.0.0", "minor", False),
    ("v1.15.2", "v2.0.0", "major", True), ("1.0", "1.0-1735829384", "patch", True),
])
def test_tracks(current: str, candidate: str, track: str, allowed: bool) -> None:
    a, b = parse_version(current), parse_version(candidate)
    assert a is not None and b is not None
    assert allowed_by_track(a, b, track) is allowed


def test_generated_state_reads_chart_annotations(tmp_path: Path) -> None:
    config = tmp_path / "bundles.yaml"
    config.write_text(entry_yaml("cert-manager-operator", "quay.io/x/y", "v1.0.0"))
    entry = load_config(config).entry("cert-manager-operator")
    assert generated_state(entry, tmp_path) is None
    chart = tmp_path / "charts" / "cert-manager-operator"
    chart.mkdir(parents=True)
    digest = "sha256:" + "ab" * 32
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: x\nversion: 1.0.0\nappVersion: '1.0'\nannotations:\n"
                                      f"  {ANNOTATION_PREFIX}bundle-image: quay.io/x/y:v1.0.0\n"
                                      f"  {ANNOTATION_PREFIX}bundle-digest: '{digest}'\n")
    state = generated_state(entry, tmp_path)
    assert state is not None
    assert (state.image, state.digest, state.app_version, state.chart_version) == (
        "quay.io/x/y:v1.0.0", digest, "1.0", "1.0.0")
    (chart / "Chart.yaml").write_text("- not a mapping\n")
    with pytest.raises(ConfigError, match=r"Chart\.yaml"):
        generated_state(entry, tmp_path)
