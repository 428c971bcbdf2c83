"""Local images: docker-archive, OCI archive and OCI layout inputs made by skopeo from the real
registry, compared with the registry pull; hostile and ambiguous archives."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from extractor.acquire import AcquireOptions, acquire
from extractor.acquire.archive import LocalImage, parse_local_image
from extractor.demo.push import BuiltImage, build_image, push_index
from extractor.errors import ConfigError, DigestMismatchError, UnsafeLayerError
from tests.conftest import SeededRegistry
from tests.support.registry import TestRegistry, make_tar, tar_file, tar_member
from tests.support.tools import require_tool
from tests.test_cli import assert_one_line_error, cli


def _skopeo(source: str, dest: str, tmp: Path, *extra: str) -> None:
    skopeo = require_tool("skopeo")
    (tmp / "skopeo-tmp").mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(tmp / "skopeo-home"), "TMPDIR": str(tmp / "skopeo-tmp")}
    proc = subprocess.run(
        [str(skopeo), "--insecure-policy", "copy", "--src-tls-verify=false", *extra, f"docker://{source}", dest],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def archives(seeded_registry: SeededRegistry, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Local copies of the seeded cert-manager bundle image: input string -> kind."""
    tmp = tmp_path_factory.mktemp("archives")
    image = seeded_registry.images["cert-manager-operator"]
    _skopeo(image, f"docker-archive:{tmp}/docker.tar:bundles/cert-manager:1", tmp)
    _skopeo(image, f"oci:{tmp}/layout:v1", tmp)
    _skopeo(image, f"oci-archive:{tmp}/oci.tar:v1", tmp)
    (tmp / "docker.tar.gz").write_bytes(gzip.compress((tmp / "docker.tar").read_bytes()))
    return {
        f"docker-archive:{tmp}/docker.tar": "docker-archive",
        f"{tmp}/docker.tar": "docker-archive",
        f"docker-archive:{tmp}/docker.tar:bundles/cert-manager:1": "docker-archive",
        f"{tmp}/docker.tar.gz": "docker-archive",
        f"oci:{tmp}/layout": "oci",
        f"oci:{tmp}/layout:v1": "oci",
        f"{tmp}/layout": "oci",
        f"oci-archive:{tmp}/oci.tar": "oci-archive",
        f"{tmp}/oci.tar": "oci-archive",
    }


def test_local_images_unpack_like_the_registry_pull(
    archives: dict[str, str], seeded_registry: SeededRegistry, tmp_path: Path
) -> None:
    image = seeded_registry.images["cert-manager-operator"]
    pulled = acquire(image, AcquireOptions(cache_dir=tmp_path / "cache", work_dir=tmp_path / "pull"))
    expected = _files(pulled.directory)
    for index, (text, kind) in enumerate(archives.items()):
        local = parse_local_image(text)
        assert local is not None and local.kind == kind, text
        work = tmp_path / "work" / str(index)
        result = acquire(text, AcquireOptions(work_dir=work, cache_dir=tmp_path / "unused-cache"))
        assert _files(result.directory) == expected, text
        assert result.image is None and result.pulled_from is None
        assert result.digest == (None if kind == "docker-archive" else pulled.digest), text
        assert [p.name for p in work.iterdir()] == [result.directory.name]  # the scratch copy is gone
    assert not (tmp_path / "unused-cache").exists()


def test_run_output_is_byte_identical(
    archives: dict[str, str], seeded_registry: SeededRegistry, tmp_path: Path
) -> None:
    image = seeded_registry.images["cert-manager-operator"]
    env = {"BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache")}
    reference = cli("run", image, "-n", "cert-manager-operator", env=env)
    assert reference.returncode == 0, reference.stderr
    prefixed = [t for t in archives if not t.startswith("/")]
    for text in [*prefixed, next(t for t in archives if t.startswith("/"))]:
        proc = cli("run", text, "-n", "cert-manager-operator", env=env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == reference.stdout, text
        assert proc.stderr == ""


def test_selectors(archives: dict[str, str], registry: TestRegistry, tmp_path: Path) -> None:
    docker_tar = next(t for t in archives if t.startswith("/") and t.endswith("docker.tar"))
    with pytest.raises(ConfigError, match="no image tagged 'other/image:2'"):
        acquire(f"docker-archive:{docker_tar}:other/image:2", AcquireOptions(work_dir=tmp_path))
    layout = next(t for t in archives if t.startswith("/") and t.endswith("layout"))
    with pytest.raises(ConfigError, match=r"no index\.json entry is named 'v2'"):
        acquire(f"oci:{layout}:v2", AcquireOptions(work_dir=tmp_path))
    with pytest.raises(ConfigError, match="does not exist"):
        acquire(f"oci:{tmp_path}/missing", AcquireOptions(work_dir=tmp_path))
    not_archive = tmp_path / "notes.txt"
    not_archive.write_text("hello")
    with pytest.raises(ConfigError, match="not a tar archive"):
        acquire(str(not_archive), AcquireOptions(work_dir=tmp_path))
    # a multi-platform index copied with --all: the platform is chosen from the layout
    def image(content: bytes) -> BuiltImage:
        return build_image([make_tar(tar_file("manifests/x.yaml", content), tar_file("metadata/a.yaml", b"{}"))])

    push_index(f"{registry.host}/archive/multi:1", [(image(b"arm"), "linux/arm64"), (image(b"amd"), "linux/amd64")])
    _skopeo(f"{registry.host}/archive/multi:1", f"oci:{tmp_path}/multi:1", tmp_path, "--all")
    for platform, content in (("linux/amd64", b"amd"), ("linux/arm64", b"arm")):
        result = acquire(f"oci:{tmp_path}/multi", AcquireOptions(work_dir=tmp_path / "w", platform=platform))
        assert (result.directory / "manifests/x.yaml").read_bytes() == content


def _docker_archive(
    path: Path, layer: bytes, *, diff_id: str | None = None, extra: tuple[tarfile.TarInfo, ...] = ()
) -> None:
    """A minimal docker-archive: manifest.json, a config named by its digest, one layer tar."""
    import hashlib

    digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [diff_id or digest]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["x/y:1"], "Layers": ["layer.tar"]}]).encode()
    with tarfile.open(path, "w") as archive:
        for name, data in (("manifest.json", manifest), (config_name, config), ("layer.tar", layer)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in extra:
            archive.addfile(info)


def test_hostile_and_tampered_archives(tmp_path: Path) -> None:
    good = make_tar(tar_file("manifests/a.yaml", b"a"), tar_file("metadata/annotations.yaml", b"{}"))
    work = tmp_path / "work"
    ok = tmp_path / "ok.tar"
    _docker_archive(ok, good)
    assert (acquire(str(ok), AcquireOptions(work_dir=work)).directory / "manifests/a.yaml").read_bytes() == b"a"
    tampered = tmp_path / "tampered.tar"
    _docker_archive(tampered, good, diff_id="sha256:" + "0" * 64)
    with pytest.raises(DigestMismatchError, match=r"layer layer\.tar: content has digest sha256:"):
        acquire(str(tampered), AcquireOptions(work_dir=work))
    escape = tarfile.TarInfo("../outside")
    link = tarfile.TarInfo("sneaky")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    device = tarfile.TarInfo("dev")
    device.type = tarfile.CHRTYPE
    for name, info in (("escape", escape), ("link", link), ("device", device)):
        path = tmp_path / f"{name}.tar"
        _docker_archive(path, good, extra=(info,))
        with pytest.raises(UnsafeLayerError, match=info.name.replace(".", r"\.")):
            acquire(f"docker-archive:{path}", AcquireOptions(work_dir=work))
    hostile_layer = make_tar(tar_file("manifests/a.yaml", b"a"), tar_member("manifests/l", tarfile.SYMTYPE, "/etc"))
    hostile = tmp_path / "hostile-layer.tar"
    _docker_archive(hostile, hostile_layer)
    with pytest.raises(UnsafeLayerError, match=r"entry 'manifests/l': symlink to absolute path"):
        acquire(str(hostile), AcquireOptions(work_dir=work))
    assert len(list(work.iterdir())) == 1  # only the good acquire; no scratch or partial directories
    assert not Path("/outside").exists() and not (tmp_path.parent / "outside").exists()


def test_cli_errors_for_local_images(tmp_path: Path) -> None:
    assert_one_line_error(cli("run", f"oci:{tmp_path}/nothing", "-n", "x"), f"oci:{tmp_path}/nothing", "does not exist")
    two = tmp_path / "two.tar"
    layer = make_tar(tar_file("manifests/a.yaml", b"a"))
    _docker_archive(two, layer)
    with tarfile.open(two) as archive:
        members = {m.name: archive.extractfile(m).read() for m in archive if m.isfile()}  # type: ignore[union-attr]
    entries = json.loads(members["manifest.json"])
    entries.append({**entries[0], "RepoTags": ["x/z:2"]})
    members["manifest.json"] = json.dumps(entries).encode()
    with tarfile.open(two, "w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    assert_one_line_error(cli("run", str(two), "-n", "x"), "holds 2 images", "x/y:1, x/z:2")
    assert isinstance(parse_local_image(f"docker-archive:{two}:x/z:2"), LocalImage)
