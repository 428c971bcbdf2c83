"""Reading file-based catalogs: JSON streams and YAML, one or many files per package,
.indexignore, case-insensitive keys, and every malformed catalog refused with one line naming the
file, document and object. Memory stays bounded on a large generated catalog."""

from __future__ import annotations

import json
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from extractor.catalog import load_package
from extractor.catalog.walk import catalog_files, iter_documents
from extractor.demo.catalog import (
    fbc_bundle,
    fbc_channel,
    fbc_package,
    generate_catalog,
    write_json_stream,
    write_yaml_stream,
)
from extractor.errors import CatalogError, ConfigError
from tests.support.catalogs import CM, cert_manager_stable

PKG = CM


def cm_docs(image: str = "registry.example.com/cm-bundle") -> list[dict[str, Any]]:
    """A package with two channels and five versions, with a skips and a skipRange entry."""
    def b(version: str) -> dict[str, Any]:
        return fbc_bundle(PKG, f"{PKG}.v{version}", version, f"{image}:v{version}")

    stable = cert_manager_stable()
    return [
        fbc_package(PKG, "stable-v1"),
        fbc_channel(PKG, "stable-v1", stable),
        fbc_channel(PKG, "stable-v1.15", stable[:2]),
        *[b(v) for v in ("1.14.0", "1.15.2", "1.16.0", "1.16.1", "1.16.2")],
    ]


def other_docs() -> list[dict[str, Any]]:
    return [fbc_package("other", "alpha"), fbc_channel("other", "alpha", [{"name": "other.v0.1.0"}]),
            fbc_bundle("other", "other.v0.1.0", "0.1.0", "registry.example.com/other:0.1.0")]


def catalog(tmp_path: Path, docs: list[dict[str, Any]] | None = None) -> Path:
    root = tmp_path / "configs"
    write_json_stream(root / PKG / "catalog.json", cm_docs() if docs is None else docs)
    write_json_stream(root / "other" / "catalog.json", other_docs())
    return root


def test_json_stream_package_channels_and_bundles(tmp_path: Path) -> None:
    index = load_package(catalog(tmp_path), PKG, catalog="cat")
    assert index.default_channel == "stable-v1"
    assert sorted(index.channels) == ["stable-v1", "stable-v1.15"]
    assert [e.name for e in index.channels["stable-v1"].entries][-1] == f"{PKG}.v1.16.2"
    assert index.channels["stable-v1"].entries[3].skips == (f"{PKG}.v1.16.0",)
    assert index.channels["stable-v1"].entries[4].skip_range == ">=1.15.0 <1.16.2"
    assert index.bundles[f"{PKG}.v1.16.1"].image == "registry.example.com/cm-bundle:v1.16.1"
    assert str(index.bundles[f"{PKG}.v1.16.1"].semver) == "1.16.1"
    assert index.packages == (PKG, "other")


def test_yaml_and_many_files_per_package_give_the_same_package(tmp_path: Path) -> None:
    one = load_package(catalog(tmp_path / "a"), PKG)
    root = tmp_path / "b" / "configs"
    docs = cm_docs()
    write_yaml_stream(root / PKG / "package.yaml", docs[:1])
    write_yaml_stream(root / PKG / "channels.yml", docs[1:3])
    for doc in docs[3:]:  # one JSON file per bundle, single objects
        (root / PKG / "bundles").mkdir(parents=True, exist_ok=True)
        (root / PKG / "bundles" / f"{doc['name']}.json").write_text(json.dumps(doc))
    write_yaml_stream(root / "other.yaml", other_docs())
    many = load_package(root, PKG)
    assert many.channels == {k: v.__class__(v.name, v.entries, many.channels[k].where) for k, v in one.channels.items()}
    assert {n: (b.image, b.version) for n, b in many.bundles.items()} == \
        {n: (b.image, b.version) for n, b in one.bundles.items()}
    assert "channels.yml: document 2 (line" in many.channels["stable-v1.15"].where


def test_keys_are_case_insensitive_like_declcfg_meta(tmp_path: Path) -> None:
    docs = cm_docs()
    docs[0] = {"Schema": "olm.package", "Name": PKG, "DefaultChannel": "stable-v1"}
    assert load_package(catalog(tmp_path, docs), PKG).default_channel == "stable-v1"


def test_indexignore_and_single_file_catalogs(tmp_path: Path) -> None:
    root = catalog(tmp_path)
    (root / "README.md").write_text("# not FBC: would not parse\n: : :\n")
    (root / PKG / "notes").mkdir()
    (root / PKG / "notes" / "todo.txt").write_text("{ broken")
    (root / ".indexignore").write_text("# docs\n*.md\n")
    (root / PKG / ".indexignore").write_text("notes/\n")
    files = [rel for rel, _ in catalog_files(root)]
    assert files == [f"{PKG}/catalog.json", "other/catalog.json"]
    (root / PKG / ".indexignore").write_text("notes/\n!notes/todo.txt\n")  # inside an ignored directory
    assert [rel for rel, _ in catalog_files(root)] == files
    (root / PKG / ".indexignore").write_text("notes/*\n!notes/todo.txt\n")
    with pytest.raises(CatalogError, match=r"notes/todo.txt: document 1: invalid JSON at line 1"):
        load_package(root, PKG)
    single = load_package(root / PKG / "catalog.json", PKG, catalog="one-file")
    assert single.default_channel == "stable-v1"


def test_an_indexignore_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path) -> None:
    root = catalog(tmp_path)
    os.mkfifo(root / PKG / ".indexignore")  # no writer: a plain open would wait for one forever
    with pytest.raises(CatalogError, match=rf"^{PKG}/.indexignore: not a regular file$"):
        list(catalog_files(root))


def test_documents_are_streamed_not_read_whole(tmp_path: Path) -> None:
    path = write_json_stream(tmp_path / "big.json", [{"schema": "x.other", "n": i, "pad": "y" * 100_000}
                                                   for i in range(200)])
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_documents(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 200
    assert path.stat().st_size > 20_000_000
    assert peak < 4_000_000, peak  # a document and a read buffer, not the 20 MB file


def test_large_generated_catalog_in_bounded_memory(tmp_path: Path) -> None:
    names = generate_catalog(tmp_path / "configs", packages=120, versions=8)
    size = sum(p.stat().st_size for p in (tmp_path / "configs").rglob("*.json"))
    tracemalloc.start()
    try:
        index = load_package(tmp_path / "configs", names[60])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(index.bundles) == 8 and len(index.packages) == 120
    assert size > 15_000_000
    assert peak < size / 5, (peak, size)


@pytest.mark.parametrize(("mutate", "fragments"), [
    (lambda d: d.append(fbc_package(PKG, "stable-v1")), ["duplicate package 'cert-manager-operator'",
                                                         "cert-manager-operator/catalog.json: document 9"]),
    (lambda d: d[1]["entries"].append({"name": f"{PKG}.v9.9.9", "replaces": f"{PKG}.v1.16.2"}),
     ["channel 'stable-v1' entry 'cert-manager-operator.v9.9.9' names an unknown bundle"]),
    (lambda d: d.append(fbc_channel(PKG, "stable-v1", [])), ["duplicate channel 'stable-v1'"]),
    (lambda d: d.append(d[4]), ["duplicate bundle 'cert-manager-operator.v1.15.2'"]),
    (lambda d: d.append(fbc_bundle(PKG, f"{PKG}.v2.0.0", "2.0.0", "x/y:z")),
     ["bundle 'cert-manager-operator.v2.0.0' is in no channel's entries"]),
    (lambda d: d.append(fbc_bundle("ghost", "ghost.v1", "1.0.0", "x/y:z")),
     ["unknown package 'ghost'", "olm.bundle 'ghost.v1'"]),
    (lambda d: d.append({"name": "x", "package": PKG}), ["no root 'schema' field", "document 9"]),
    (lambda d: d[4]["properties"].pop(0), ["bundle 'cert-manager-operator.v1.15.2' must have exactly 1 "
                                           "'olm.package' property, found 0"]),
    (lambda d: d[4]["properties"][0]["value"].update(version="v1.15.2"),
     ["version 'v1.15.2' is not a semantic version"]),
    (lambda d: d[5]["properties"][0]["value"].update(version="1.15.2"), ["the same version 1.15.2"]),
    (lambda d: d[1]["entries"][4].update(skipRange=">=1.15.0 <<1.16.2"), ["invalid skipRange '>=1.15.0 <<1.16.2'"]),
    (lambda d: d[0].update(defaultChannel="fast"), ["defaultChannel 'fast' is not one of its channels "
                                                    "(stable-v1, stable-v1.15)"]),
    (lambda d: d[1].update(entries="nope"), ["'entries' must be a list"]),
    (lambda d: d.append({"schema": "olm.bundle", "Name": "a", "name": "b", "package": PKG}),
     ["duplicate keys 'Name' and 'name'"]),
    (lambda d: d.append(["not", "an", "object"]), ["document 9 (line", "not an object"]),
])
def test_malformed_catalogs_are_one_line_errors(tmp_path: Path, mutate: Any, fragments: list[str]) -> None:
    docs = cm_docs()
    mutate(docs)
    with pytest.raises(CatalogError) as caught:
        load_package(catalog(tmp_path, docs), PKG, catalog="quay.io/x/catalog:v1")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("quay.io/x/catalog:v1: ")
    for fragment in fragments:
        assert fragment in message


def test_broken_json_and_yaml_name_file_document_and_line(tmp_path: Path) -> None:
    root = catalog(tmp_path)
    text = (root / PKG / "catalog.json").read_text()
    (root / PKG / "catalog.json").write_text(text[: text.rindex("}") - 3])
    with pytest.raises(CatalogError, match=r"^cat: cert-manager-operator/catalog.json: document 8: invalid JSON "
                                           r"at line \d+: "):
        load_package(root, PKG, catalog="cat")
    (root / PKG / "catalog.json").write_text("schema: olm.package\nname: [unclosed\n")
    with pytest.raises(CatalogError, match=r"^cat: cert-manager-operator/catalog.json: document 1 \(line 1\): "
                                           "invalid YAML"):
        load_package(root, PKG, catalog="cat")
    (root / PKG / "catalog.json").write_bytes(b'{"schema": "\xff"}')
    with pytest.raises(CatalogError, match="not UTF-8"):
        load_package(root, PKG, catalog="cat")


def test_unknown_package_lists_what_exists(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^cat: no package 'cert-manager' \(packages: cert-manager-operator, "
                                          r"other\)$"):
        load_package(catalog(tmp_path), "cert-manager", catalog="cat")
    names = generate_catalog(tmp_path / "big", packages=60, versions=1, object_bytes=10)
    with pytest.raises(ConfigError) as caught:
        load_package(tmp_path / "big", "operator-0O42", catalog="big")
    message = str(caught.value)
    assert message.startswith("big: no package 'operator-0O42' (packages: operator-0042, ")  # close match first
    assert message.endswith("(+20 more))") and names[-1] not in message


def test_symlinks_leaving_the_catalog_are_refused(tmp_path: Path) -> None:
    root = catalog(tmp_path)
    outside = write_json_stream(tmp_path / "outside.json", other_docs())
    (root / "link.json").symlink_to(outside)
    with pytest.raises(CatalogError, match=r"link.json: symbolic link to .* leaves the catalog"):
        load_package(root, PKG)


def test_kept_documents_get_the_limits_of_load_json(tmp_path: Path) -> None:
    docs = cm_docs()
    deep: Any = "x"
    for _ in range(250):  # deeper than yamlio.MAX_DEPTH, far below the json module's own limit
        deep = [deep]
    docs[3]["properties"].append({"type": "x.deep", "value": deep})
    with pytest.raises(CatalogError, match=r"document 4 \(line \d+\): nesting deeper than 200 levels"):
        load_package(catalog(tmp_path, docs), PKG, catalog="cat")
    # another package's documents are only looked at (schema, package, name), never kept
    assert load_package(catalog(tmp_path / "b", docs), "other", catalog="cat").name == "other"
