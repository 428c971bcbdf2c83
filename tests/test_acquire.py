"""acquire() against a real loopback registry, with the three real bundles."""

from __future__ import annotations

import tarfile
import time
from pathlib import Path

import pytest

from extractor.acquire import AcquireOptions, BlobCache, acquire
from extractor.errors import ConfigError, NotFoundError, UnsafeLayerError
from extractor.push import build_image, push_bundle_image, push_image
from extractor.reference import Mirror
from tests.support.registry import (
    CountingTransport,
    TestRegistry,
    make_tar,
    tar_file,
    tar_member,
)
from tests.support.tools import require_shared

BUNDLES = {
    "cert-manager-operator-v1.15.2": "cert-manager/cert-manager-operator-bundle:v1.15.2",
    "servicemeshoperator3-v3.2.1": "openshift-service-mesh/istio-sail-operator-bundle:3.2.1",
    "leader-worker-set-v1.0.0-rendered": "leader-worker-set/lws-operator-bundle:1.0",
}


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for top in ("manifests", "metadata")
        for p in sorted((root / top).rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def pushed(registry: TestRegistry) -> dict[str, tuple[Path, str, str]]:
    """bundle dir name -> (source dir, registry.redhat.io reference, pushed digest)."""
    result = {}
    for name, path in BUNDLES.items():
        source = require_shared("bundles", name)
        digest = push_bundle_image(source, f"{registry.host}/{path}")
        result[name] = (source, f"registry.redhat.io/{path}", digest)
    return result


def _options(registry: TestRegistry, tmp_path: Path, **kwargs: object) -> AcquireOptions:
    return AcquireOptions(
        mirrors=(Mirror.parse(f"registry.redhat.io={registry.host}"),),
        cache_dir=tmp_path / "cache",
        work_dir=tmp_path / "work",
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("name", sorted(BUNDLES))
def test_real_bundles_through_a_mirror(
    name: str,
    pushed: dict[str, tuple[Path, str, str]],
    registry: TestRegistry,
    tmp_path: Path,
) -> None:
    source, reference, digest = pushed[name]
    options = _options(registry, tmp_path)
    result = acquire(reference, options)
    assert result.reference == reference
    assert result.image == reference
    assert result.pulled_from == reference.replace("registry.redhat.io", registry.host)
    assert result.digest == digest
    assert result.directory.parent == tmp_path / "work"
    assert _files(result.directory) == _files(source)
    assert sorted(p.name for p in result.directory.iterdir()) == ["manifests", "metadata"]
    by_digest = acquire(f"{reference.rsplit(':', 1)[0]}@{digest}", options)
    assert by_digest.digest == digest
    assert by_digest.directory != result.directory
    assert _files(by_digest.directory) == _files(source)


def test_directory_is_returned_as_is(tmp_path: Path) -> None:
    source = require_shared("bundles", "leader-worker-set-v1.0.0-rendered")
    result = acquire(str(source), AcquireOptions(work_dir=tmp_path))
    assert result.directory == source
    assert (result.image, result.pulled_from, result.digest) == (None, None, None)
    assert list(tmp_path.iterdir()) == []


def test_warm_cache_downloads_no_blob(
    pushed: dict[str, tuple[Path, str, str]],
    registry: TestRegistry,
    tmp_path: Path,
) -> None:
    _source, reference, digest = pushed["servicemeshoperator3-v3.2.1"]
    repo = reference.rsplit(":", 1)[0]

    def run(ref: str) -> tuple[list[tuple[str, str]], float]:
        transport = CountingTransport()
        start = time.perf_counter()
        result = acquire(ref, _options(registry, tmp_path, transport=transport))
        elapsed = time.perf_counter() - start
        assert result.digest == digest
        return transport.requests, elapsed

    cold, cold_time = run(reference)
    assert len([r for r in cold if "/blobs/" in r[1]]) == 1  # the one layer; the config is not needed
    warm, warm_time = run(reference)
    assert warm == [("GET", f"/v2/{repo.split('/', 1)[1]}/manifests/3.2.1")]
    pinned, pinned_time = run(f"{repo}@{digest}")
    assert pinned == []
    print(f"servicemeshoperator3 acquire: cold {cold_time:.3f}s, warm {warm_time:.3f}s, pinned {pinned_time:.3f}s")
    assert cold_time < 2.0 and warm_time < 1.0  # generous: CI machines are slow and shared


def test_corrupt_cache_entry_is_fetched_again(
    pushed: dict[str, tuple[Path, str, str]],
    registry: TestRegistry,
    tmp_path: Path,
) -> None:
    source, reference, _digest = pushed["leader-worker-set-v1.0.0-rendered"]
    acquire(reference, _options(registry, tmp_path))
    cache = BlobCache(tmp_path / "cache")
    blobs = sorted((tmp_path / "cache/blobs/sha256").iterdir(), key=lambda p: p.stat().st_size)
    layer = blobs[-1]
    layer.write_bytes(b"garbage")
    transport = CountingTransport()
    result = acquire(reference, _options(registry, tmp_path, transport=transport))
    assert _files(result.directory) == _files(source)
    assert len(transport.blob_gets()) == 1
    assert cache.get("sha256:" + layer.name) == layer


def test_not_found_names_the_reference(
    pushed: dict[str, tuple[Path, str, str]],
    registry: TestRegistry,
    tmp_path: Path,
) -> None:
    with pytest.raises(NotFoundError) as info:
        acquire(
            "registry.redhat.io/cert-manager/cert-manager-operator-bundle:v9.9.9",
            _options(registry, tmp_path),
        )
    message = str(info.value)
    assert message.startswith("registry.redhat.io/cert-manager/cert-manager-operator-bundle:v9.9.9 (mirror ")
    assert "not found" in message and "\n" not in message
    assert info.value.__cause__ is None
    assert list((tmp_path / "work").iterdir()) == []
    with pytest.raises(NotFoundError):
        acquire("registry.redhat.io/no/such-repo:1", _options(registry, tmp_path))


def test_bad_reference_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        acquire("Not A Reference", AcquireOptions(work_dir=tmp_path))
    with pytest.raises(ConfigError, match="no such bundle directory"):
        acquire(str(tmp_path / "missing-bundle"), AcquireOptions(work_dir=tmp_path))


def test_whiteouts_through_the_registry(registry: TestRegistry, tmp_path: Path) -> None:
    lower = make_tar(
        tar_file("manifests/a.yaml", b"a"),
        tar_file("manifests/b.yaml", b"b"),
        tar_file("metadata/annotations.yaml", b"annotations: {}\n"),
    )
    upper = make_tar(tar_file("manifests/.wh.b.yaml"), tar_file("manifests/c.yaml", b"c"))
    image = build_image([lower, upper])
    push_image(f"{registry.host}/test/whiteouts:1", image)
    result = acquire(f"{registry.host}/test/whiteouts:1", AcquireOptions(cache_dir=tmp_path / "c", work_dir=tmp_path))
    assert _files(result.directory) == {
        "manifests/a.yaml": b"a",
        "manifests/c.yaml": b"c",
        "metadata/annotations.yaml": b"annotations: {}\n",
    }


HOSTILE = {
    "dotdot": tar_file("manifests/../../../escaped-dotdot", b"x"),
    "absolute": tar_file("/tmp/bundle-extract-escaped-absolute", b"x"),
    "symlink": tar_member("manifests/link", tarfile.SYMTYPE, "../../../.."),
    "hardlink": tar_member("manifests/link", tarfile.LNKTYPE, "../../../../etc/passwd"),
    "device": tar_member("manifests/null", tarfile.CHRTYPE),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_layers_from_the_registry(case: str, registry: TestRegistry, tmp_path: Path) -> None:
    tar = make_tar(tar_file("manifests/ok.yaml", b"ok"), HOSTILE[case], tar_file("manifests/after", b"x"))
    reference = f"{registry.host}/hostile/{case}:1"
    push_image(reference, build_image([tar]))
    work = tmp_path / "work"
    with pytest.raises(UnsafeLayerError) as info:
        acquire(reference, AcquireOptions(cache_dir=tmp_path / "cache", work_dir=work))
    assert str(info.value).startswith(f"{reference}: layer sha256:")
    assert HOSTILE[case][0].name in str(info.value)
    assert list(work.iterdir()) == []  # the partial unpack is removed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "work"]
    assert not Path("/tmp/bundle-extract-escaped-absolute").exists()
