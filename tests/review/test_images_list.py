"""``extractor.review.images_list``: the renderings of ``bundle-extract images`` (the generated
project end to end is in tests/test_cli_images.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extractor import yamlio
from extractor.config import load_config
from extractor.draft import ImageUse, ReleaseSpec
from extractor.errors import ConfigError
from extractor.review.images_list import (
    ChartImages,
    project_images,
    render_json,
    render_plain,
    render_skopeo_sync,
    unpullable_lines,
    write_image_files,
)

DIGEST = "sha256:" + "c" * 64
CHARTS = [
    ChartImages("a", (
        ImageUse("quay.io/ns/op:v1", "container", "Deployment/op", "spec.template.spec.containers[m].image"),
        ImageUse(f"quay.io/ns/op:v1@{DIGEST}", "env", "Deployment/op", "spec.template.spec.containers[m].env[X]"),
        ImageUse("${OPERAND}", "annotation", "Deployment/op", "spec.template.metadata.annotations[img]",
                 "unexpanded placeholder"),
    )),
    ChartImages("b", (ImageUse("quay.io/ns/op:v1", "relatedImages", "ClusterServiceVersion/b.v1",
                               "spec.relatedImages[op]"),)),
]


def test_renderings() -> None:
    assert render_plain(CHARTS) == f"quay.io/ns/op:v1\nquay.io/ns/op:v1@{DIGEST}\n"
    # a reference with a digest is copied by its digest
    assert yamlio.load(render_skopeo_sync(CHARTS)) == {"quay.io": {"images": {"ns/op": [DIGEST, "v1"]}}}
    rows = json.loads(render_json(CHARTS))["images"]
    assert [r["pullable"] for r in rows] == [True, True, False, True]
    assert rows[2]["problem"] == "unexpanded placeholder" and rows[3]["chart"] == "b"
    [line] = unpullable_lines(CHARTS)
    assert line.startswith("chart 'a': Deployment/op: image '${OPERAND}'")
    assert render_plain([]) == "" and render_skopeo_sync([]) == "{}\n"


def test_project_images_reads_release_yaml(tmp_path: Path) -> None:
    (tmp_path / "bundles.yaml").write_text("bundles:\n  - {name: a, image: ./x, namespace: ns}\n")
    chart = tmp_path / "charts" / "a"
    chart.mkdir(parents=True)
    spec = ReleaseSpec(name="a", namespace="ns", chart_dir="./charts/a", images=CHARTS[0].images)
    (chart / "release.yaml").write_text(yamlio.dump(spec.to_dict()))
    assert project_images(load_config(tmp_path / "bundles.yaml"), tmp_path) == [CHARTS[0]]
    with pytest.raises(ConfigError, match="unknown bundle 'b'"):
        project_images(load_config(tmp_path / "bundles.yaml"), tmp_path, ["b"])
    paths = write_image_files(CHARTS, tmp_path / "out")
    assert [p.name for p in paths] == ["images.txt", "images.json", "skopeo-sync.yaml"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["images.json", "images.txt", "skopeo-sync.yaml"]
