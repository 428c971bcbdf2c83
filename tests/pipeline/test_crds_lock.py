"""The companion ``<name>-crds`` charts in ``update-bundle``, ``bundles.lock.yaml`` and ``verify``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from extractor import yamlio
from extractor.review.lock import chart_files_digest, read_lock
from tests.support.localproject import bundle_extract, bundles_yaml, local_project
from tests.support.project import tree

NAMES = ("cert-manager-operator", "lws-operator")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return local_project(tmp_path_factory.mktemp("crds-lock") / "project", NAMES)


def _copy(generated: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(generated, copy)
    return copy


def _verify(project: Path) -> tuple[int, list[str]]:
    proc = bundle_extract("verify", "--config", str(project / "bundles.yaml"), check=False)
    return proc.returncode, proc.stdout.splitlines()


def _update(project: Path) -> None:
    bundle_extract("update-bundle", "--config", str(project / "bundles.yaml"))


def test_update_bundle_writes_the_companion_next_to_each_chart(generated: Path) -> None:
    charts = generated / "charts"
    assert sorted(p.name for p in charts.iterdir()) == [
        "cert-manager-operator", "cert-manager-operator-crds", "lws-operator", "lws-operator-crds"]
    lock = read_lock(generated / "bundles.lock.yaml")
    for name in NAMES:
        main = yamlio.load((charts / name / "Chart.yaml").read_bytes())
        companion = yamlio.load((charts / f"{name}-crds" / "Chart.yaml").read_bytes())
        assert companion["version"] == main["version"] == lock.entries[name].chart_version
        # the lock's chart digest covers both charts
        assert lock.entries[name].files == chart_files_digest(charts / name, charts / f"{name}-crds")
        assert lock.entries[name].files != chart_files_digest(charts / name)
    assert _verify(generated) == (0, [])


def test_verify_sees_a_hand_edit_or_a_missing_companion_and_update_bundle_repairs_it(
        generated: Path, tmp_path: Path) -> None:
    project = _copy(generated, tmp_path)
    before = tree(project / "charts")
    values = project / "charts" / "lws-operator-crds" / "values.yaml"
    values.write_text(values.read_text() + "extra: 1\n")
    (project / "charts" / "cert-manager-operator-crds" / "templates" / "namespaces.yaml").unlink()
    code, lines = _verify(project)
    assert code == 1
    assert lines == ["changed: charts/lws-operator-crds/values.yaml",
                     "missing: charts/cert-manager-operator-crds/templates/namespaces.yaml"]
    _update(project)
    assert tree(project / "charts") == before  # repaired, same chart versions
    assert _verify(project) == (0, [])


def test_a_removed_entry_takes_its_companion_along(generated: Path, tmp_path: Path) -> None:
    project = _copy(generated, tmp_path)
    mine = project / "charts" / "mine"  # a directory of the user's: left alone
    mine.mkdir()
    (mine / "Chart.yaml").write_text("apiVersion: v2\nname: mine\nversion: 0.1.0\n")
    (project / "bundles.yaml").write_text(bundles_yaml(("cert-manager-operator",)))
    _update(project)
    assert sorted(p.name for p in (project / "charts").iterdir()) == [
        "cert-manager-operator", "cert-manager-operator-crds", "mine"]


def test_an_entry_named_like_a_companion_is_refused(generated: Path, tmp_path: Path) -> None:
    project = _copy(generated, tmp_path)
    config = project / "bundles.yaml"
    config.write_text(bundles_yaml(NAMES).replace("  - name: lws-operator\n",
                                                  "  - name: cert-manager-operator-crds\n"))
    before = tree(project)
    proc = bundle_extract("update-bundle", "--config", str(config), check=False)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {config}: bundle 'cert-manager-operator-crds' has the name of the CRD chart "
                      "generated for 'cert-manager-operator'; rename it"]
    assert tree(project) == before
