"""Catalog images from the loopback registry: only the directory the configs label names is
unpacked, through the same verified cache (offline, mirrors); images without the label, labels
naming nothing, layers with other content and local catalogs."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from extractor.acquire import AcquireOptions
from extractor.acquire.catalog import CONFIGS_LABEL, acquire_catalog
from extractor.acquire.layers import Layer, LayerLimits, apply_layers
from extractor.acquire.reference import Mirror
from extractor.demo.push import build_image, directory_layer, push_image
from extractor.errors import CatalogError, ConfigError, NotCachedError, UnsafeLayerError
from tests.support.catalogs import CatalogRegistry, catalog_registry  # noqa: F401  (fixture)
from tests.support.dockerd import TestDockerd
from tests.support.registry import TestRegistry


def options(tmp_path: Path, **kwargs: object) -> AcquireOptions:
    return AcquireOptions(cache_dir=tmp_path / "cache", work_dir=tmp_path / "work", **kwargs)  # type: ignore[arg-type]


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_only_the_labelled_directory_is_unpacked(catalog_registry: CatalogRegistry, tmp_path: Path) -> None:  # noqa: F811
    source = acquire_catalog(catalog_registry.catalog, options(tmp_path))
    assert source.digest == catalog_registry.catalog_digest
    assert source.configs == "/configs"
    assert source.root == source.unpacked / "configs"  # type: ignore[operator]
    assert files(source.root) == files(catalog_registry.fbc)
    assert files(source.unpacked) == ["configs/" + f for f in files(catalog_registry.fbc)]  # type: ignore[arg-type]
    # offline, from the cache the first pull filled (the image config with the labels included)
    again = acquire_catalog(catalog_registry.catalog, options(tmp_path, offline=True))
    assert files(again.root) == files(source.root)
    with pytest.raises(NotCachedError):
        acquire_catalog(catalog_registry.catalog, options(tmp_path / "empty", offline=True))


def test_through_a_mirror(catalog_registry: CatalogRegistry, tmp_path: Path) -> None:  # noqa: F811
    upstream = catalog_registry.catalog.replace(catalog_registry.host, "registry.redhat.io")
    mirror = Mirror.parse(f"registry.redhat.io={catalog_registry.host}")
    source = acquire_catalog(upstream, options(tmp_path, mirrors=(mirror,)))
    assert source.image == upstream and source.pulled_from == catalog_registry.catalog


def test_images_that_are_not_catalogs(catalog_registry: CatalogRegistry, tmp_path: Path) -> None:  # noqa: F811
    with pytest.raises(CatalogError, match=f"no-label-index:v1: not a file-based catalog image: it has no label "
                                           f"{CONFIGS_LABEL}"):
        acquire_catalog(catalog_registry.no_label, options(tmp_path))
    with pytest.raises(CatalogError, match=f"{CONFIGS_LABEL}='/catalog', but the image has no /catalog"):
        acquire_catalog(catalog_registry.missing_dir, options(tmp_path))
    assert not any((tmp_path / "work").iterdir())  # nothing left behind
    with pytest.raises(ConfigError, match="unknown puller 'podman'"):
        acquire_catalog(catalog_registry.catalog, options(tmp_path, puller="podman"))


def test_through_the_docker_daemon(
    catalog_registry: CatalogRegistry, dockerd: TestDockerd, tmp_path: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "docker-config").mkdir()
    monkeypatch.setenv("DOCKER_HOST", dockerd.host)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    native = acquire_catalog(catalog_registry.catalog, options(tmp_path / "native"))
    source = acquire_catalog(catalog_registry.catalog, options(tmp_path / "docker", puller="docker"))
    assert source.digest == native.digest == catalog_registry.catalog_digest
    assert files(source.root) == files(native.root)
    assert all((source.root / f).read_bytes() == (native.root / f).read_bytes() for f in files(native.root))
    with pytest.raises(CatalogError, match="not a file-based catalog image"):
        acquire_catalog(catalog_registry.no_label, options(tmp_path / "docker", puller="docker"))
    # a configs directory below the image root: the daemon's archive is applied where it belongs
    nested = f"{catalog_registry.host}/catalog-test/nested-index:v1"
    push_image(nested, build_image([directory_layer([("srv/catalog/configs", catalog_registry.fbc)])],
                                   labels={CONFIGS_LABEL: "/srv/catalog/configs"}))
    deep = acquire_catalog(nested, options(tmp_path / "docker", puller="docker"))
    assert deep.root == deep.unpacked / "srv" / "catalog" / "configs"  # type: ignore[operator]
    assert files(deep.root) == files(native.root)


def test_label_naming_the_root_or_leaving_the_image(registry: TestRegistry, tmp_path: Path) -> None:
    (tmp_path / "fbc").mkdir()
    (tmp_path / "fbc" / "x.json").write_text("{}")
    for index, value in enumerate(["/", "../etc", ""]):
        image = build_image([directory_layer([("configs", tmp_path / "fbc")])], labels={CONFIGS_LABEL: value})
        ref = f"{registry.host}/catalog-test/odd-label-{index}:v1"
        push_image(ref, image)
        with pytest.raises(CatalogError, match="names no directory inside the image"):
            acquire_catalog(ref, options(tmp_path))


def test_local_catalogs(tmp_path: Path) -> None:
    (tmp_path / "fbc").mkdir()
    assert acquire_catalog(str(tmp_path / "fbc"), options(tmp_path)).root == tmp_path / "fbc"
    with pytest.raises(ConfigError, match="no such catalog directory"):
        acquire_catalog(str(tmp_path / "nope"), options(tmp_path))
    with pytest.raises(ConfigError, match="not from an image archive"):
        acquire_catalog(f"oci-archive:{tmp_path}/x.tar", options(tmp_path))


def _tar(entries: dict[str, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_keep_nested_directories_whiteouts_and_opaque(tmp_path: Path) -> None:
    lower = tmp_path / "lower.tar"
    lower.write_bytes(_tar({"bin/opm": b"x", "a/b/configs/p/catalog.json": b"{}", "a/b/configs/q/old.json": b"{}",
                            "a/other.txt": b"y", "manifests/csv.yaml": b"z"}))
    upper = tmp_path / "upper.tar"
    upper.write_bytes(_tar({"a/b/configs/q/.wh.old.json": b"", "a/b/configs/r/new.json": b"{}"}))
    dest = tmp_path / "out"
    apply_layers([Layer(lower, "sha256:l"), Layer(upper, "sha256:u")], dest, image="img", keep=["/a/b/configs/"])
    assert files(dest) == ["a/b/configs/p/catalog.json", "a/b/configs/r/new.json"]
    opaque = tmp_path / "opaque.tar"
    opaque.write_bytes(_tar({"a/.wh..wh..opq": b"", "a/b/configs/s.json": b"{}"}))
    dest2 = tmp_path / "out2"
    apply_layers([Layer(lower, "sha256:l"), Layer(opaque, "sha256:o")], dest2, image="img", keep=["a/b/configs"])
    assert files(dest2) == ["a/b/configs/s.json"]
    whiteout = tmp_path / "wh.tar"  # deleting a directory above the kept one deletes it too
    whiteout.write_bytes(_tar({".wh.a": b""}))
    dest3 = tmp_path / "out3"
    apply_layers([Layer(lower, "sha256:l"), Layer(whiteout, "sha256:w")], dest3, image="img", keep=["a/b/configs"])
    assert files(dest3) == []
    with pytest.raises(ValueError, match="does not name a directory"):
        apply_layers([Layer(lower, "sha256:l")], tmp_path / "x", image="img", keep=["a/../b"])


def test_content_outside_the_configs_directory_has_caps_of_its_own(registry: TestRegistry, tmp_path: Path) -> None:
    # a catalog image carries a base image (thousands of files) beside /configs: --max-unpacked-files
    # counts the configs directory only, the rest has its own, larger caps
    base = _tar({f"usr/lib/file{i}": b"x" * 100 for i in range(300)})
    (tmp_path / "fbc").mkdir()
    (tmp_path / "fbc" / "catalog.json").write_text('{"schema": "olm.package", "name": "p"}')
    image = build_image([base, directory_layer([("configs", tmp_path / "fbc")])],
                        labels={CONFIGS_LABEL: "/configs"})
    ref = f"{registry.host}/catalog-test/big-base:v1"
    push_image(ref, image)
    source = acquire_catalog(ref, options(tmp_path, max_files=50))
    assert files(source.root) == ["catalog.json"]
    layer = tmp_path / "base.tar"
    layer.write_bytes(base)
    with pytest.raises(UnsafeLayerError, match="more than 50 entries in the image"):  # a bundle counts everything
        apply_layers([Layer(layer, "sha256:b")], tmp_path / "bundle", image="img", limits=LayerLimits(max_files=50))
    with pytest.raises(UnsafeLayerError, match=r"more than 20 entries outside configs/"):
        apply_layers([Layer(layer, "sha256:b")], tmp_path / "c1", image="img", keep=["configs"],
                     limits=LayerLimits(skipped_bytes=10**9, skipped_files=20))
    with pytest.raises(UnsafeLayerError, match=r"content outside configs/ exceeds 5000 bytes"):
        apply_layers([Layer(layer, "sha256:b")], tmp_path / "c2", image="img", keep=["configs"],
                     limits=LayerLimits(skipped_bytes=5000, skipped_files=1000))
