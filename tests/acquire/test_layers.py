"""Layer application: bundle-directory filter, whiteouts, hostile entries, caps, compression."""

from __future__ import annotations

import gzip
import sys
import tarfile
from pathlib import Path

import pytest

from extractor.acquire.layers import Layer, LayerLimits, apply_layers
from extractor.errors import AcquireError, UnsafeLayerError, UnsupportedMediaTypeError
from tests.support.registry import make_tar, tar_file, tar_member


def _layers(tmp_path: Path, *tars: bytes, compress: bool = True) -> list[Layer]:
    layers = []
    for index, tar in enumerate(tars):
        path = tmp_path / f"layer{index}"
        path.write_bytes(gzip.compress(tar, mtime=0) if compress else tar)
        layers.append(Layer(path, f"sha256:{index:064d}"))
    return layers


def _tree(root: Path) -> dict[str, bytes | str]:
    result: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            result[rel] = "-> " + str(path.readlink())
        elif path.is_file():
            result[rel] = path.read_bytes()
        else:
            result[rel] = "dir"
    return result


def test_only_bundle_directories_are_extracted(tmp_path: Path) -> None:
    tar = make_tar(
        tar_member("./", tarfile.DIRTYPE),
        tar_member("./manifests/", tarfile.DIRTYPE),
        tar_file("./manifests/csv.yaml", b"kind: CSV\n"),
        tar_file("/metadata/annotations.yaml", b"annotations: {}\n"),
        tar_file("tests/scorecard/config.yaml", b"x"),
        tar_file("root/buildinfo/Dockerfile", b"FROM scratch"),
        tar_member("etc/alternatives/x", tarfile.SYMTYPE, "/usr/bin/x"),
    )
    dest = tmp_path / "out"
    apply_layers(_layers(tmp_path, tar), dest, image="img")
    assert _tree(dest) == {
        "manifests": "dir",
        "manifests/csv.yaml": b"kind: CSV\n",
        "metadata": "dir",
        "metadata/annotations.yaml": b"annotations: {}\n",
    }


def test_plain_tar_layers(tmp_path: Path) -> None:
    tar = make_tar(tar_file("manifests/a.yaml", b"a"))
    apply_layers(_layers(tmp_path, tar, compress=False), tmp_path / "out", image="img")
    assert (tmp_path / "out/manifests/a.yaml").read_bytes() == b"a"


def test_whiteouts(tmp_path: Path) -> None:
    lower = make_tar(
        tar_file("manifests/keep.yaml", b"keep"),
        tar_file("manifests/gone.yaml", b"gone"),
        tar_file("manifests/sub/old.yaml", b"old"),
        tar_file("metadata/annotations.yaml", b"v1"),
        tar_file("metadata/extra.yaml", b"extra"),
    )
    upper = make_tar(
        tar_file("manifests/.wh.gone.yaml"),
        tar_file("manifests/sub/new.yaml", b"new"),
        tar_file("manifests/sub/.wh..wh..opq"),  # after new.yaml: still only hides lower content
        tar_file("metadata/annotations.yaml", b"v2"),
        tar_file("metadata/.wh.extra.yaml"),
    )
    dest = tmp_path / "out"
    apply_layers(_layers(tmp_path, lower, upper), dest, image="img")
    assert _tree(dest) == {
        "manifests": "dir",
        "manifests/keep.yaml": b"keep",
        "manifests/sub": "dir",
        "manifests/sub/new.yaml": b"new",
        "metadata": "dir",
        "metadata/annotations.yaml": b"v2",
    }


def test_whole_directory_whiteout_and_root_opaque(tmp_path: Path) -> None:
    first = make_tar(tar_file("manifests/a.yaml", b"a"), tar_file("metadata/m.yaml", b"m"))
    second = make_tar(tar_file(".wh.manifests"), tar_file("manifests2/x", b"ignored"))
    dest = tmp_path / "out"
    apply_layers(_layers(tmp_path, first, second), dest, image="img")
    assert _tree(dest) == {"metadata": "dir", "metadata/m.yaml": b"m"}
    third = make_tar(tar_file("./.wh..wh..opq"), tar_file("manifests/b.yaml", b"b"))
    dest2 = tmp_path / "out2"
    apply_layers(_layers(tmp_path, first, third), dest2, image="img")
    assert _tree(dest2) == {"manifests": "dir", "manifests/b.yaml": b"b"}


def test_upper_layer_replaces_kinds(tmp_path: Path) -> None:
    lower = make_tar(tar_file("manifests/x/inner.yaml", b"i"), tar_file("manifests/y", b"file"))
    upper = make_tar(tar_file("manifests/x", b"now a file"), tar_file("manifests/y/z.yaml", b"z"))
    dest = tmp_path / "out"
    apply_layers(_layers(tmp_path, lower, upper), dest, image="img")
    assert _tree(dest) == {
        "manifests": "dir",
        "manifests/x": b"now a file",
        "manifests/y": "dir",
        "manifests/y/z.yaml": b"z",
    }


def test_in_tree_links_are_kept(tmp_path: Path) -> None:
    tar = make_tar(
        tar_file("manifests/a.yaml", b"a"),
        tar_member("manifests/b.yaml", tarfile.SYMTYPE, "a.yaml"),
        tar_member("manifests/c.yaml", tarfile.LNKTYPE, "manifests/a.yaml"),
        tar_member("metadata/d.yaml", tarfile.SYMTYPE, "../manifests/a.yaml"),
    )
    dest = tmp_path / "out"
    apply_layers(_layers(tmp_path, tar), dest, image="img")
    assert (dest / "manifests/b.yaml").read_bytes() == b"a"
    assert (dest / "manifests/c.yaml").read_bytes() == b"a"
    assert not (dest / "manifests/c.yaml").is_symlink()
    assert (dest / "metadata/d.yaml").read_bytes() == b"a"


HOSTILE = {
    "dotdot": [tar_file("manifests/../../evil", b"x")],
    "dotdot-outside": [tar_file("../evil", b"x")],
    "absolute": [tar_file("/tmp/bundle-extract-evil", b"x")],
    "symlink-absolute": [tar_member("manifests/link", tarfile.SYMTYPE, "/etc")],
    "symlink-escape": [tar_member("manifests/link", tarfile.SYMTYPE, "../../..")],
    "write-through-symlink": [
        tar_member("manifests/link", tarfile.SYMTYPE, "../metadata"),
        tar_file("manifests/link/evil", b"x"),
    ],
    "hardlink-escape": [tar_member("manifests/link", tarfile.LNKTYPE, "../../etc/passwd")],
    "hardlink-absolute": [tar_member("manifests/link", tarfile.LNKTYPE, "/etc/passwd")],
    "hardlink-outside-bundle": [tar_member("manifests/link", tarfile.LNKTYPE, "etc/passwd")],
    "char-device": [tar_member("manifests/null", tarfile.CHRTYPE)],
    "block-device": [tar_member("dev/sda", tarfile.BLKTYPE)],
    "fifo": [tar_member("metadata/pipe", tarfile.FIFOTYPE)],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_entries_are_refused(tmp_path: Path, case: str) -> None:
    tar = make_tar(tar_file("manifests/ok.yaml", b"ok"), *HOSTILE[case])
    dest = tmp_path / "work" / "out"
    with pytest.raises(UnsafeLayerError) as info:
        apply_layers(_layers(tmp_path, tar), dest, image="reg.example/ns/img:1")
    message = str(info.value)
    assert message.startswith("reg.example/ns/img:1: layer sha256:")
    assert HOSTILE[case][-1][0].name in message
    outside = {p for p in tmp_path.rglob("*") if not p.is_relative_to(dest)}
    assert outside == {tmp_path / "layer0", tmp_path / "work"}
    assert not Path("/tmp/bundle-extract-evil").exists()


def test_entry_cap(tmp_path: Path) -> None:
    tar = make_tar(*(tar_file(f"manifests/{i}.yaml", b"x") for i in range(11)))
    with pytest.raises(UnsafeLayerError, match="more than 10 entries"):
        apply_layers(_layers(tmp_path, tar), tmp_path / "out", image="img", limits=LayerLimits(max_files=10))


def test_size_cap_counts_all_layers(tmp_path: Path) -> None:
    one = make_tar(tar_file("manifests/a", b"x" * 600))
    two = make_tar(tar_file("manifests/b", b"x" * 600))
    limits = LayerLimits(max_bytes=1000)
    apply_layers(_layers(tmp_path, one), tmp_path / "ok", image="img", limits=limits)
    with pytest.raises(UnsafeLayerError, match="exceeds 1000 bytes"):
        apply_layers(_layers(tmp_path, one, two), tmp_path / "out", image="img", limits=limits)


def test_zstd_layers(tmp_path: Path) -> None:
    import zstandard

    lower = make_tar(tar_file("manifests/a.yaml", b"a"), tar_file("manifests/b.yaml", b"b"))
    upper = make_tar(tar_file("manifests/.wh.a.yaml"), tar_file("metadata/annotations.yaml", b"z"))
    first = tmp_path / "zstd0"
    first.write_bytes(zstandard.ZstdCompressor().compress(lower))
    second = tmp_path / "zstd1"  # two frames: readers must continue across frames
    half = len(upper) // 2
    compressor = zstandard.ZstdCompressor()
    second.write_bytes(compressor.compress(upper[:half]) + compressor.compress(upper[half:]))
    media = "application/vnd.oci.image.layer.v1.tar+zstd"
    dest = tmp_path / "out"
    layers = [Layer(first, "sha256:" + "1" * 64, media), Layer(second, "sha256:" + "2" * 64, media)]
    apply_layers(layers, dest, image="img")
    assert _tree(dest) == {
        "manifests": "dir",
        "manifests/b.yaml": b"b",
        "metadata": "dir",
        "metadata/annotations.yaml": b"z",
    }
    corrupt = tmp_path / "zstd-corrupt"
    corrupt.write_bytes(first.read_bytes()[:8] + b"\xff" * 64)
    with pytest.raises(AcquireError, match=r"img: layer sha256:3{64}: corrupt layer"):
        apply_layers([Layer(corrupt, "sha256:" + "3" * 64, media)], tmp_path / "out2", image="img")


def test_zstd_without_the_package_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zstd = tmp_path / "zstd"
    zstd.write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 20)
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import zstandard now raises ImportError
    with pytest.raises(UnsupportedMediaTypeError, match=r"img: layer sha256:1{64}: zstd-compressed layer needs"):
        apply_layers([Layer(zstd, "sha256:" + "1" * 64)], tmp_path / "out", image="img")


def test_sparse_entries_are_refused(tmp_path: Path) -> None:
    info = tarfile.TarInfo("manifests/sparse.yaml")
    info.type = tarfile.GNUTYPE_SPARSE
    tar = make_tar((info, None))
    with pytest.raises(UnsafeLayerError, match="sparse files are not allowed"):
        apply_layers(_layers(tmp_path, tar), tmp_path / "out", image="img")


def test_corrupt_layers(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt"
    corrupt.write_bytes(gzip.compress(make_tar(tar_file("manifests/a", b"a" * 5000)))[:-40])
    with pytest.raises(AcquireError, match="corrupt layer"):
        apply_layers([Layer(corrupt, "sha256:" + "2" * 64)], tmp_path / "out", image="img")
    with pytest.raises(UnsupportedMediaTypeError, match="media type"):
        apply_layers(
            [Layer(corrupt, "sha256:" + "2" * 64, "application/vnd.cncf.helm.chart.content.v1")],
            tmp_path / "out",
            image="img",
        )
