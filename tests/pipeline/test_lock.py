"""bundles.lock.yaml and verify, through the real pipeline: local bundle directories and, for
digests and same-tag rebuilds, images in the real loopback registry."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest

from extractor import yamlio
from extractor.acquire import AcquireOptions
from extractor.config import load_config
from extractor.demo.push import push_bundle_image
from extractor.errors import ConfigError, EntriesError
from extractor.pipeline import generate, update_bundle, verify
from extractor.review import lock as lockmod
from extractor.review.lock import LOCK_NAME, chart_files_digest, read_lock
from tests.conftest import REPO
from tests.support.registry import TestRegistry

FIXTURE = REPO / "tests/fixtures/bundles/webhook-demo"
CSV = "manifests/demo.clusterserviceversion.yaml"


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and modification time (ns), so that "untouched" means not rewritten."""
    return {p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file() and "cache" not in p.parts}


def project(tmp_path: Path, image: str = "./bundle", version: str | None = None) -> Path:
    root = tmp_path / "project"
    if image == "./bundle":
        shutil.copytree(FIXTURE, root / "bundle")
    else:
        root.mkdir()
    entry = {"name": "demo", "image": image, "namespace": "demo"}
    if version:
        entry["version"] = version
    (root / "bundles.yaml").write_text(yamlio.dump({"bundles": [entry]}))
    return root


def options(tmp_path: Path) -> AcquireOptions:
    return AcquireOptions(cache_dir=tmp_path / "cache", work_dir=tmp_path / "work")


def chart_version(root: Path) -> str:
    return str(yamlio.load((root / "charts/demo/Chart.yaml").read_bytes())["version"])


def test_lock_records_inputs_and_chart_versions_move_with_content(tmp_path: Path) -> None:
    root = project(tmp_path)
    update_bundle(root / "bundles.yaml", root, options(tmp_path))
    lock = read_lock(root / LOCK_NAME)
    entry = lock.entries["demo"]
    assert (entry.csv_name, entry.csv_version, entry.revision) == ("webhook-demo.v0.1.0", "1.0.0", 1)
    assert chart_version(root) == entry.chart_version == "1.0.0-rev.1"
    assert entry.files == chart_files_digest(root / "charts/demo", root / "charts/demo-crds")  # + its CRD chart
    assert entry.digest.startswith("tree:sha256:") and entry.generator == lockmod.GENERATOR
    assert not list((root / "charts/demo").glob(".generated.json"))
    # nothing changed: nothing is rewritten, not even the lock
    before = snapshot(root)
    update_bundle(root / "bundles.yaml", root, options(tmp_path))
    assert snapshot(root) == before
    # the bundle changes, not its CSV version: next revision
    csv = root / "bundle" / CSV
    csv.write_text(csv.read_text().replace("capabilities: template wins", "capabilities: changed"))
    update_bundle(root / "bundles.yaml", root, options(tmp_path))
    assert chart_version(root) == "1.0.0-rev.2" and read_lock(root / LOCK_NAME).entries["demo"].revision == 2
    # a new CSV version starts again at revision 1, and sorts above every earlier chart
    csv.write_text(csv.read_text().replace("version: 1.0.0", "version: 1.0.1"))
    update_bundle(root / "bundles.yaml", root, options(tmp_path))
    assert chart_version(root) == "1.0.1-rev.1"


def test_a_new_generator_release_rewrites_only_what_its_output_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path)
    update_bundle(root / "bundles.yaml", root, options(tmp_path))
    before = snapshot(root)
    monkeypatch.setattr(lockmod, "GENERATOR", "bundle-extract 99.0.0")
    monkeypatch.setattr(importlib.import_module("extractor.pipeline.update"), "GENERATOR", "bundle-extract 99.0.0")
    update_bundle(root / "bundles.yaml", root, options(tmp_path))
    after = snapshot(root)
    changed = sorted(p for p in after if after[p] != before.get(p))
    assert changed == [LOCK_NAME]  # every chart file untouched, same chart version
    assert "bundle-extract 99.0.0" in (root / LOCK_NAME).read_text()
    assert chart_version(root) == "1.0.0-rev.1"


def test_hand_edited_or_corrupt_locks_are_refused(tmp_path: Path) -> None:
    root = project(tmp_path)
    update_bundle(root / "bundles.yaml", root, options(tmp_path))
    lock_file = root / LOCK_NAME
    good = lock_file.read_text()
    lock_file.write_text(good.replace("revision: 1", "revision: 5"))
    with pytest.raises(ConfigError, match=r"entry 'demo': the entry was edited by hand"):
        update_bundle(root / "bundles.yaml", root, options(tmp_path))
    lock_file.write_text(good.replace("lockVersion: 1", "lockVersion: 7"))
    with pytest.raises(ConfigError, match="lockVersion 7"):
        read_lock(lock_file)
    lock_file.write_text(good.replace("digest: tree:sha256:", "digest: md5:"))
    with pytest.raises(ConfigError, match="entry 'demo': digest 'md5:"):
        read_lock(lock_file)
    lock_file.write_text("bundles: [\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        verify(root / "bundles.yaml", root, options(tmp_path))


def test_verify_finds_every_difference_and_writes_nothing(tmp_path: Path) -> None:
    root = project(tmp_path)
    with pytest.raises(ConfigError, match="no lock yet"):
        verify(root / "bundles.yaml", root, options(tmp_path))
    update_bundle(root / "bundles.yaml", root, options(tmp_path))
    assert verify(root / "bundles.yaml", root, options(tmp_path)) == []
    (root / "charts/demo/values.yaml").write_text("# edited\n")
    (root / "charts/demo/templates/extra.yaml").write_text("kind: ConfigMap\n")
    (root / "charts/demo/.helmignore").unlink()
    before = snapshot(root)
    assert verify(root / "bundles.yaml", root, options(tmp_path)) == [
        "changed: charts/demo/values.yaml",
        "missing: charts/demo/.helmignore",
        "unexpected: charts/demo/templates/extra.yaml",
    ]
    assert snapshot(root) == before  # verify wrote nothing into the project
    lock_file = root / LOCK_NAME
    lock_file.write_text(lock_file.read_text() + "# hand-added comment\n")  # still a valid lock
    assert "changed: bundles.lock.yaml" in verify(root / "bundles.yaml", root, options(tmp_path))
    # a bundle directory that no longer matches its locked digest is named
    csv = root / "bundle" / CSV
    csv.write_text(csv.read_text().replace("capabilities: template wins", "capabilities: x"))
    with pytest.raises(EntriesError, match="bundle 'demo': content is tree:sha256:"):
        verify(root / "bundles.yaml", root, options(tmp_path))


def test_verify_pulls_the_locked_digest_not_the_tag(registry: TestRegistry, tmp_path: Path) -> None:
    """A tag re-pushed with other content (a rebuild) does not disturb verify, which pulls by the
    locked digest; update-bundle then picks the rebuild up and bumps the chart version."""
    repository = f"{registry.host}/lock-test/demo-bundle"
    push_bundle_image(FIXTURE, f"{repository}:v1")
    root = project(tmp_path, image=repository, version="v1")
    update_bundle(root / "bundles.yaml", root, options(tmp_path))
    first = read_lock(root / LOCK_NAME).entries["demo"]
    assert first.digest.startswith("sha256:") and first.version == "v1"
    rebuilt = tmp_path / "rebuilt"
    shutil.copytree(FIXTURE, rebuilt)
    (rebuilt / CSV).write_text((rebuilt / CSV).read_text().replace("capabilities: template wins", "capabilities: r"))
    push_bundle_image(rebuilt, f"{repository}:v1")
    assert verify(root / "bundles.yaml", root, options(tmp_path)) == []
    update_bundle(root / "bundles.yaml", root, options(tmp_path))
    second = read_lock(root / LOCK_NAME).entries["demo"]
    assert second.digest != first.digest and second.revision == 2 and chart_version(root) == "1.0.0-rev.2"
    assert verify(root / "bundles.yaml", root, options(tmp_path)) == []


def test_failed_generation_leaves_the_lock_alone(tmp_path: Path) -> None:
    root = project(tmp_path)
    update_bundle(root / "bundles.yaml", root, options(tmp_path))
    config = load_config(root / "bundles.yaml")
    shutil.rmtree(root / "bundle")
    before = snapshot(root)
    with pytest.raises(EntriesError, match="bundle 'demo'"):
        generate(config, root, options(tmp_path))
    assert snapshot(root) == before
