"""Channel heads, upgrade graphs and resolution as OLM computes them (operator-registry
``model.Channel.Head``/``validateReplacesChain``, skipRange from blang/semver), and the SemVer
rules they rest on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from extractor.catalog import check_channel, load_package, resolve_in, upgrade_path
from extractor.catalog.semver import parse_range, parse_semver
from extractor.demo.catalog import fbc_bundle, fbc_channel, fbc_package, write_json_stream
from extractor.errors import CatalogError, ConfigError
from tests.catalog.test_fbc import PKG, catalog, cm_docs


def v(text: str) -> Any:
    parsed = parse_semver(text)
    assert parsed is not None
    return parsed


def test_semver_precedence_and_strictness() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
               "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0"]
    assert [str(x) for x in sorted(v(t) for t in reversed(ordered))] == ordered
    assert v("1.0.0+build.1") == v("1.0.0+build.2")
    for bad in ("v1.0.0", "1.0", "01.0.0", "1.0.0-01", "1.0.0-", ""):
        assert parse_semver(bad) is None, bad


@pytest.mark.parametrize(("text", "inside", "outside"), [
    (">=1.15.0 <1.16.2", ["1.15.0", "1.16.1", "1.16.2-rc.1"], ["1.14.9", "1.16.2"]),
    (">= 1.0.0 < 2.0.0", ["1.5.0"], ["2.0.0"]),
    ("<1.0.0 || >=3.0.0", ["0.9.0", "3.1.0"], ["1.0.0", "2.9.9"]),
    ("1.2.x", ["1.2.0", "1.2.9"], ["1.3.0", "1.1.9"]),
    (">1.x", ["2.0.0"], ["1.9.9"]),
    ("<=1.2.x", ["1.2.7"], ["1.3.0"]),
    ("!1.0.0", ["1.0.1"], ["1.0.0"]),
    ("=1.0.0", ["1.0.0"], ["1.0.1"]),
])
def test_skip_ranges_as_blang_reads_them(text: str, inside: list[str], outside: list[str]) -> None:
    parsed = parse_range(text)
    assert parsed is not None
    assert all(v(x) in parsed for x in inside)
    assert not any(v(x) in parsed for x in outside)


@pytest.mark.parametrize("text", ["", ">", ">=1.0.0 <<2.0.0", "1.0", "foo", ">=1.0.0 ||", "1.x.3", "!=1.x"])
def test_invalid_skip_ranges(text: str) -> None:
    assert parse_range(text) is None


def index_of(tmp_path: Path, entries: list[dict[str, Any]], versions: dict[str, str] | None = None) -> Any:
    versions = versions or {e["name"]: e["name"].split(".v", 1)[1] for e in entries}
    docs = [fbc_package("p", "c"), fbc_channel("p", "c", entries),
            *[fbc_bundle("p", name, version, f"r.example.com/p:{version}") for name, version in versions.items()]]
    write_json_stream(tmp_path / "c" / "catalog.json", docs)
    return load_package(tmp_path / "c", "p", catalog="cat")


def test_head_skips_skiprange_and_upgrade_paths(tmp_path: Path) -> None:
    index = load_package(catalog(tmp_path), PKG, catalog="cat")
    stable = index.channel(None)
    head = check_channel(stable, index.bundles)
    assert head.name == f"{PKG}.v1.16.2"
    bundles = index.bundles
    path = upgrade_path(stable, bundles, f"{PKG}.v1.15.2", v("1.15.2"), head)
    assert [str(s) for s in path or []] == ["1.15.2 -> 1.16.2 (skips 1.16.0, 1.16.1)"]  # by skipRange
    path = upgrade_path(stable, bundles, f"{PKG}.v1.14.0", v("1.14.0"), head)
    assert [str(s) for s in path or []] == ["1.14.0 -> 1.15.2", "1.15.2 -> 1.16.2 (skips 1.16.0, 1.16.1)"]
    path = upgrade_path(stable, bundles, f"{PKG}.v1.16.0", v("1.16.0"), head)
    assert [str(s) for s in path or []] == ["1.16.0 -> 1.16.2 (skips 1.16.1)"]  # 1.16.1 skips it, 1.16.2's range
    assert upgrade_path(stable, bundles, head.name, v("1.16.2"), head) == []
    # a version the channel no longer has: reached through skipRange, or not at all
    gone = upgrade_path(stable, bundles, f"{PKG}.v1.15.1", v("1.15.1"), head)
    assert [str(s) for s in gone or []] == ["1.15.1 -> 1.16.2 (skips 1.15.2, 1.16.0, 1.16.1)"]
    assert upgrade_path(stable, bundles, f"{PKG}.v1.13.0", v("1.13.0"), head) is None
    other = index.channel("stable-v1.15")
    assert check_channel(other, bundles).name == f"{PKG}.v1.15.2"


def test_resolve_default_channel_version_name_and_errors(tmp_path: Path) -> None:
    index = load_package(catalog(tmp_path), PKG, catalog="cat")
    head = resolve_in(index)
    assert (head.channel, head.bundle, head.version, head.image) == (
        "stable-v1", f"{PKG}.v1.16.2", "1.16.2", "registry.example.com/cm-bundle:v1.16.2")
    pinned = resolve_in(index, version="1.16.0")
    assert (pinned.bundle, pinned.head_version) == (f"{PKG}.v1.16.0", "1.16.2")
    assert resolve_in(index, version=f"{PKG}.v1.16.1").version == "1.16.1"  # olm-extractor matches names
    assert resolve_in(index, version="v1.15.2").version == "1.15.2"
    assert resolve_in(index, channel="stable-v1.15").version == "1.15.2"
    with pytest.raises(ConfigError, match=r"^cat: version '1.16.2' of package 'cert-manager-operator' is not in "
                                          r"channel 'stable-v1.15' \(versions: 1.14.0, 1.15.2\)$"):
        resolve_in(index, channel="stable-v1.15", version="1.16.2")
    with pytest.raises(ConfigError, match=r"^cat: package 'cert-manager-operator' has no channel 'fast' \(channels: "
                                          r"stable-v1, stable-v1.15; default: stable-v1\)$"):
        resolve_in(index, channel="fast")


def test_cycles_several_heads_and_stranded_entries(tmp_path: Path) -> None:
    cycle = index_of(tmp_path / "a", [{"name": "p.v1.0.0", "replaces": "p.v1.1.0"},
                                      {"name": "p.v1.1.0", "replaces": "p.v1.0.0"},
                                      {"name": "p.v1.2.0", "replaces": "p.v1.1.0"}])
    with pytest.raises(CatalogError, match=r"channel 'c': cycle in replaces: p.v1.0.0 -> p.v1.1.0 -> p.v1.0.0$"):
        resolve_in(cycle)
    detached = index_of(tmp_path / "b", [{"name": "p.v1.0.0", "replaces": "p.v1.1.0"},
                                         {"name": "p.v1.1.0", "replaces": "p.v1.0.0"},
                                         {"name": "p.v2.0.0"}])
    with pytest.raises(CatalogError, match="cycle in replaces"):
        resolve_in(detached, version="2.0.0")  # a broken channel is an error even for a pinned version
    heads = index_of(tmp_path / "c", [{"name": "p.v1.0.0"}, {"name": "p.v1.1.0"}])
    with pytest.raises(CatalogError, match=r"several heads .*: p.v1.0.0, p.v1.1.0$"):
        resolve_in(heads)
    stranded = index_of(tmp_path / "d", [{"name": "p.v1.0.0"}, {"name": "p.v1.0.1", "replaces": "p.v1.0.0"},
                                         {"name": "p.v1.1.0", "skips": ["p.v1.0.1"]},
                                         {"name": "p.v1.2.0", "replaces": "p.v1.1.0"}])
    with pytest.raises(CatalogError, match=r"not reachable from the head 'p.v1.2.0' by replaces and skipped by "
                                           r"nothing: p.v1.0.0$"):
        resolve_in(stranded)


def test_dangling_tail_and_skiprange_only_channels(tmp_path: Path) -> None:
    # the last entry of a replaces chain may replace a bundle the channel no longer has (operator-registry)
    tail = index_of(tmp_path / "a", [{"name": "p.v1.1.0", "replaces": "p.v1.0.0"},
                                     {"name": "p.v1.2.0", "replaces": "p.v1.1.0", "skips": ["p.v0.9.0"]}])
    assert resolve_in(tail).version == "1.2.0"
    # upgrades by skipRange alone (as OLM v1 follows them): the head is the one nothing covers
    ranged = index_of(tmp_path / "b", [{"name": "p.v1.0.0"}, {"name": "p.v1.1.0", "skipRange": "<1.1.0"},
                                       {"name": "p.v1.2.0", "skipRange": ">=1.0.0 <1.2.0"}])
    assert resolve_in(ranged).version == "1.2.0"
    index = ranged
    head = check_channel(index.channel(None), index.bundles)
    path = upgrade_path(index.channel(None), index.bundles, "p.v1.0.0", v("1.0.0"), head)
    assert [str(s) for s in path or []] == ["1.0.0 -> 1.2.0 (skips 1.1.0)"]


def test_bundle_without_image(tmp_path: Path) -> None:
    docs = cm_docs()
    docs[-1]["image"] = ""
    index = load_package(catalog(tmp_path, docs), PKG, catalog="cat")
    with pytest.raises(CatalogError, match=r"bundle 'cert-manager-operator\.v1\.16\.2' has no image"):
        resolve_in(index)
    assert resolve_in(index, version="1.16.1").version == "1.16.1"
