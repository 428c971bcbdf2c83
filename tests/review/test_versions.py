"""Version discovery: SemVer-aware tag order, and list-versions against a real loopback registry
(online, through a mirror, offline from the cache's tag records)."""

from __future__ import annotations

from pathlib import Path

from extractor.demo.push import build_image, push_image
from extractor.review.versions import sort_tags
from tests.support.registry import TestRegistry, make_tar, tar_file
from tests.test_cli import assert_one_line_error, cli


def test_sort_tags() -> None:
    tags = ["latest", "v1.10.0", "v1.9.0", "1.2", "v1.10.0-rc.2", "v1.10.0-rc.10", "v1.10.0-alpha",
            "sha256-abc.sig", "v1.10.0+build.1", "v2", "10.0.0", "v1.10.0"]
    assert sort_tags(tags) == [
        "1.2", "v1.9.0", "v1.10.0-alpha", "v1.10.0-rc.2", "v1.10.0-rc.10", "v1.10.0", "v1.10.0+build.1",
        "v2", "10.0.0", "latest", "sha256-abc.sig",
    ]


def test_list_versions(registry: TestRegistry, tmp_path: Path) -> None:
    image = build_image([make_tar(tar_file("manifests/x.yaml", b"x"))])
    tags = ["v0.9.1", "v0.10.0", "v0.10.0-rc.1", "latest", "v0.2.0"]
    for tag in tags:
        push_image(f"{registry.host}/versions/bundle:{tag}", image)
    env = {"BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache")}
    proc = cli("list-versions", f"{registry.host}/versions/bundle", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["v0.2.0", "v0.9.1", "v0.10.0-rc.1", "v0.10.0", "latest"]
    mirrored = cli("list-versions", "quay.io/versions/bundle:ignored", "--mirror", f"quay.io={registry.host}", env=env)
    assert mirrored.stdout == proc.stdout
    assert_one_line_error(cli("list-versions", f"{registry.host}/versions/missing", env=env),
                          f"{registry.host}/versions/missing", "not found")
    assert_one_line_error(cli("list-versions", env=env), "REPOSITORY or --bundle")
    # offline: the tags pulled before are listed from the cache
    assert_one_line_error(cli("list-versions", f"{registry.host}/versions/bundle", "--offline", env=env),
                          "no tags of this repository are in the cache")
    for tag in ("v0.10.0", "v0.9.1"):
        cli("run", f"{registry.host}/versions/bundle:{tag}", "-n", "x", env=env)  # fails to render; caches the tag
    offline = cli("list-versions", f"{registry.host}/versions/bundle", "--offline", env=env)
    assert offline.stdout.splitlines() == ["v0.9.1", "v0.10.0"]
