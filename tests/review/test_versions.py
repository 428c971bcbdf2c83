"""Version discovery: SemVer-aware tag order with Red Hat release numbers, floating tags, and
list-versions against a real loopback registry (online, through a mirror, offline from the cache's
tag records)."""

from __future__ import annotations

from pathlib import Path

import pytest

from extractor.demo.push import build_image, push_image
from extractor.review.versions import is_floating, parse_version, sort_tags
from tests.support.registry import TestRegistry, make_tar, tar_file
from tests.test_cli import assert_one_line_error, cli


def test_sort_tags() -> None:
    tags = ["latest", "v1.10.0", "v1.9.0", "1.2", "v1.10.0-rc.2", "v1.10.0-rc.10", "v1.10.0-alpha",
            "sha256-abc.sig", "v1.10.0+build.1", "v2", "10.0.0", "v1.10.0"]
    assert sort_tags(tags) == [
        "1.2", "v1.9.0", "v1.10.0-alpha", "v1.10.0-rc.2", "v1.10.0-rc.10", "v1.10.0", "v1.10.0+build.1",
        "v2", "10.0.0", "latest", "sha256-abc.sig",
    ]


def test_red_hat_release_numbers_sort_after_the_plain_version() -> None:
    # a numeric suffix is a rebuild (after), a suffix with letters a pre-release (before)
    tags = ["v1.15.3", "v1.15.2-10", "v1.15.2", "v1.15.2-4", "v1.15.2-rc.1", "v1.15.2-rebuild"]
    assert sort_tags(tags) == ["v1.15.2-rc.1", "v1.15.2-rebuild", "v1.15.2", "v1.15.2-4", "v1.15.2-10", "v1.15.3"]
    assert sort_tags(["1.0-1735829384", "1.0", "1.1", "1.0-1735829999"]) == [
        "1.0", "1.0-1735829384", "1.0-1735829999", "1.1",
    ]
    assert sort_tags(["3.2.1", "3.2.1-rebuild", "3.2.1-1"]) == ["3.2.1-rebuild", "3.2.1", "3.2.1-1"]
    # dotted numeric suffixes are release numbers too, compared part by part
    assert sort_tags(["1.2.3-2.10", "1.2.3-2.9", "1.2.3"]) == ["1.2.3", "1.2.3-2.9", "1.2.3-2.10"]


@pytest.mark.parametrize(("tag", "floating"), [
    ("latest", True), ("stable", True), ("v1.15", True), ("v2", True), ("1.0", True),
    ("v1.15.2", False), ("v1.15.2-4", False), ("1.0-1735829384", False), ("v1.16.0-rc.1", False),
    ("sha256-abc.sig", True),
])
def test_floating_tags(tag: str, floating: bool) -> None:
    assert is_floating(tag) is floating


def test_parse_version() -> None:
    version = parse_version("v1.15.2-4+meta")
    assert version is not None
    assert (version.numbers, version.release, version.prerelease, version.build) == ((1, 15, 2), (4,), None, "meta")
    pre = parse_version("1.0.0-rc.1")
    assert pre is not None and pre.is_prerelease and pre.release is None
    assert parse_version("latest") is None
    # the prefix v and the text do not matter for precedence
    a, b = parse_version("v1.15.2"), parse_version("1.15.2")
    assert a is not None and b is not None and a.precedence() == b.precedence()


def test_list_versions(registry: TestRegistry, tmp_path: Path) -> None:
    image = build_image([make_tar(tar_file("manifests/x.yaml", b"x"))])
    tags = ["v0.9.1", "v0.10.0", "v0.10.0-rc.1", "latest", "v0.2.0", "v0.10.0-3"]
    for tag in tags:
        push_image(f"{registry.host}/versions/bundle:{tag}", image)
    env = {"BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache")}
    proc = cli("list-versions", f"{registry.host}/versions/bundle", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["v0.2.0", "v0.9.1", "v0.10.0-rc.1", "v0.10.0", "v0.10.0-3", "latest"]
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
