"""bundles.yaml entries naming a catalog, a package and a channel instead of an image, end to end
against the loopback registry: update-bundle resolves them (channel head or pinned version) and
locks the catalog digest and the resolved bundle image and digest; a second run changes nothing;
verify regenerates from the lock even after the catalog moved on; outdated proposes the channel
head with the upgrade path and says when the locked version left the channel; update-bundle
VERSION= pins a version of the channel; bad entries are one-line errors that write nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.config import load_config
from extractor.demo.catalog import push_catalog_image, write_json_stream
from extractor.errors import ConfigError
from extractor.review.lock import LOCK_NAME, read_lock
from tests.support.catalogs import CM, SAIL, CatalogRegistry, catalog_registry, cert_manager_docs  # noqa: F401
from tests.support.project import tree
from tests.test_cli import assert_one_line_error, cli


def project(root: Path, catalog: str, cm: str = "", sail: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "bundles.yaml").write_text(f"""bundles:
  - name: cert-manager-operator
    catalog: {catalog}
    package: {CM}
    channel: stable-v1   # the default channel, named
{cm}    namespace: cert-manager-operator
  - name: sail-operator
    catalog: {catalog}
    package: {SAIL}
{sail}    namespace: istio-system
    needs: [cert-manager-operator]
""")
    return root


def run(*args: str, cache: Path) -> Any:
    return cli(*args, env={"BUNDLE_EXTRACT_CACHE_DIR": str(cache), "BUNDLE_EXTRACT_JOBS": "1"})


def own_catalog(catalog_registry: CatalogRegistry, tmp_path: Path, name: str) -> tuple[str, Path]:  # noqa: F811
    """A copy of the session catalog under a tag of its own (tests here re-push it)."""
    fbc = tmp_path / f"{name}-fbc"
    shutil.copytree(catalog_registry.fbc, fbc)
    ref = f"{catalog_registry.host}/catalog-test/{name}:v1"
    push_catalog_image(fbc, ref)
    return ref, fbc


def test_update_verify_and_outdated(catalog_registry: CatalogRegistry, tmp_path: Path) -> None:  # noqa: F811
    catalog, fbc = own_catalog(catalog_registry, tmp_path, "entries-index")
    root = project(tmp_path / "project", catalog, cm='    version: "1.15.2"\n')
    cache = tmp_path / "cache"
    done = run("update-bundle", "--config", str(root / "bundles.yaml"), cache=cache)
    assert done.returncode == 0, done.stderr
    charts = root / "charts"
    assert yamlio.load((charts / "cert-manager-operator" / "Chart.yaml").read_text())["appVersion"] == "1.15.2"
    assert yamlio.load((charts / "sail-operator" / "Chart.yaml").read_text())["appVersion"] == "3.2.3"  # the head
    lock = read_lock(root / LOCK_NAME)
    cm = lock.entries["cert-manager-operator"]
    cm_image = catalog_registry.images[CM]["1.15.2"]
    assert (cm.image, cm.version) == tuple(cm_image.split("@"))
    assert cm.digest == cm.version  # the catalog names the bundle by digest, and that is what was pulled
    assert cm.catalog is not None and cm.catalog.to_dict() == {
        "image": catalog, "digest": cm.catalog.digest, "package": CM, "channel": "stable-v1",
        "bundle": f"{CM}.v1.15.2", "version": "1.15.2"}
    assert cm.catalog.digest.startswith("sha256:")
    sail = lock.entries["sail-operator"]
    assert sail.catalog is not None and (sail.catalog.channel, sail.catalog.version) == ("stable", "3.2.3")
    assert "catalog:" in (root / LOCK_NAME).read_text()

    before = tree(root)
    again = run("update-bundle", "--config", str(root / "bundles.yaml"), cache=cache)
    assert again.returncode == 0, again.stderr
    assert tree(root) == before  # nothing changed: nothing rewritten

    # the catalog moves on: sail 3.2.1 becomes the only entry of its default channel, cert-manager
    # v1.15.2 leaves stable-v1 (v1.16.2's skipRange still covers it)
    docs = cert_manager_docs(catalog_registry.images[CM])
    docs[1]["entries"] = [e for e in docs[1]["entries"] if e["name"] != f"{CM}.v1.15.2"]
    docs[1]["entries"][1]["replaces"] = f"{CM}.v1.14.0"  # v1.16.0
    docs[1]["entries"][2]["replaces"] = f"{CM}.v1.14.0"  # v1.16.1
    write_json_stream(fbc / CM / "catalog.json", docs)
    push_catalog_image(fbc, catalog)
    verified = run("verify", "--config", str(root / "bundles.yaml"), cache=cache)
    assert verified.returncode == 0, verified.stderr + verified.stdout  # the lock, not the catalog

    report = run("outdated", "--config", str(root / "bundles.yaml"), "--json", cache=cache)
    assert report.returncode == 3, report.stderr
    results = {r["name"]: r for r in json.loads(report.stdout)}
    cm_result = results["cert-manager-operator"]
    assert cm_result["version"] == "1.15.2" and cm_result["proposed"] == "1.16.2"
    assert cm_result["newer"] == ["1.16.0", "1.16.1", "1.16.2"]
    assert cm_result["catalog"]["inChannel"] is False and cm_result["catalog"]["head"] == "1.16.2"
    assert cm_result["catalog"]["upgradePath"] == ["1.15.2 -> 1.16.2 (skips 1.16.0, 1.16.1)"]
    assert "locked version 1.15.2 is no longer in channel 'stable-v1'" in cm_result["notes"]
    assert results["sail-operator"]["proposed"] is None and results["sail-operator"]["rebuild"] is False
    table = run("outdated", "--config", str(root / "bundles.yaml"), cache=cache)
    assert "upgrade path: 1.15.2 -> 1.16.2 (skips 1.16.0, 1.16.1)" in table.stdout

    # VERSION= pins a version of the channel, written into bundles.yaml with the charts
    bumped = run("update-bundle", "--config", str(root / "bundles.yaml"), "--bundle", "cert-manager-operator",
                 "--version", "1.16.2", cache=cache)
    assert bumped.returncode == 0, bumped.stderr
    assert load_config(root / "bundles.yaml").entry("cert-manager-operator").version == "1.16.2"
    assert read_lock(root / LOCK_NAME).entries["cert-manager-operator"].catalog.version == "1.16.2"  # type: ignore[union-attr]
    assert yamlio.load((charts / "cert-manager-operator" / "Chart.yaml").read_text())["appVersion"] == "1.16.2"
    report = run("outdated", "--config", str(root / "bundles.yaml"), "--bundle", "cert-manager-operator",
                 cache=cache)
    assert report.returncode == 0, report.stdout + report.stderr
    assert "nothing to do" in report.stdout


def test_outdated_upgrade_path_from_a_version_in_the_channel(
    catalog_registry: CatalogRegistry, tmp_path: Path,  # noqa: F811
) -> None:
    root = project(tmp_path / "project", catalog_registry.catalog, cm='    version: "1.14.0"\n',
                   sail='    version: "3.2.3"\n')
    cache = tmp_path / "cache"
    done = run("update-bundle", "--config", str(root / "bundles.yaml"), cache=cache)
    assert done.returncode == 0, done.stderr
    report = run("outdated", "--config", str(root / "bundles.yaml"), "--json", cache=cache)
    assert report.returncode == 3
    cm = next(r for r in json.loads(report.stdout) if r["name"] == "cert-manager-operator")
    assert cm["catalog"]["upgradePath"] == ["1.14.0 -> 1.15.2", "1.15.2 -> 1.16.2 (skips 1.16.0, 1.16.1)"]
    assert cm["catalog"]["inChannel"] is True and cm["track"] == "channel stable-v1"
    assert cm["rebuild"] is False and cm["tagDigest"] == cm["digest"]


def test_bad_catalog_entries(catalog_registry: CatalogRegistry, tmp_path: Path) -> None:  # noqa: F811
    root = project(tmp_path / "project", catalog_registry.catalog, cm='    version: "9.9.9"\n')
    proc = run("update-bundle", "--config", str(root / "bundles.yaml"), cache=tmp_path / "cache")
    assert_one_line_error(proc, "bundle 'cert-manager-operator'", "version '9.9.9'", "(versions: 1.14.0, 1.15.2, "
                          "1.16.0, 1.16.1, 1.16.2)")
    assert sorted(p.name for p in root.iterdir()) == ["bundles.yaml"]  # nothing written
    root = project(tmp_path / "nolabel", catalog_registry.no_label)
    proc = run("update-bundle", "--config", str(root / "bundles.yaml"), cache=tmp_path / "cache")
    assert proc.returncode == 9 and "not a file-based catalog image" in proc.stderr
    assert sorted(p.name for p in root.iterdir()) == ["bundles.yaml"]


@pytest.mark.parametrize(("entry", "fragment"), [
    ("    image: x/y\n    catalog: c\n    package: p\n", "'package' goes with 'catalog' and 'package' instead of"),
    ("    image: x/y\n    version: v1\n    package: p\n", "'package' goes with 'catalog'"),
    ("    catalog: c\n", "'package' must be a non-empty string"),
    ("    catalog: c\n    package: Not_A_Package\n", "is not a package name"),
    ("    catalog: c\n    package: p\n    channel: ''\n", "'channel' must be a non-empty string"),
])
def test_catalog_keys_in_bundles_yaml(tmp_path: Path, entry: str, fragment: str) -> None:
    (tmp_path / "bundles.yaml").write_text(f"bundles:\n  - name: x\n{entry}    namespace: ns\n")
    with pytest.raises(ConfigError, match=fragment):
        load_config(tmp_path / "bundles.yaml")


def test_local_catalog_directory_relative_to_bundles_yaml(catalog_registry: CatalogRegistry, tmp_path: Path) -> None:  # noqa: F811
    shutil.copytree(catalog_registry.fbc, tmp_path / "project" / "fbc")
    root = project(tmp_path / "project", "./fbc", sail='    channel: stable-3.2\n    version: "3.2.1"\n')
    config = load_config(root / "bundles.yaml")
    assert config.entry("sail-operator").catalog_reference == str(root / "fbc")
    done = run("update-bundle", "--config", str(root / "bundles.yaml"), cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    sail = read_lock(root / LOCK_NAME).entries["sail-operator"]
    assert sail.catalog is not None and sail.catalog.digest.startswith("tree:sha256:")
    assert (sail.catalog.image, sail.catalog.channel, sail.catalog.version) == ("./fbc", "stable-3.2", "3.2.1")
