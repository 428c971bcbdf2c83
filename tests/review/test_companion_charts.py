"""The review report leaves the companion ``<name>-crds`` charts out: they repeat the presync CRDs,
which the report already reviews with their chart."""

from __future__ import annotations

from pathlib import Path

from extractor.review.snapshot import load_project
from tests.support.localproject import local_project


def test_load_project_skips_companion_charts(tmp_path: Path) -> None:
    project = local_project(tmp_path / "project", ("cert-manager-operator", "lws-operator"))
    assert (project / "charts" / "lws-operator-crds").is_dir()
    snapshot = load_project("HEAD", project)
    assert sorted(snapshot.charts) == ["cert-manager-operator", "lws-operator"]
    assert snapshot.charts["lws-operator"].crd_files  # the CRDs are reviewed with their chart
