"""acquire() against a real loopback registry, with the three real bundles."""

from __future__ import annotations

import hashlib
import json
import tarfile
import time
import zlib
from pathlib import Path

import pytest

from extractor.acquire import AcquireOptions, BlobCache, PullProgress, acquire, describe_progress
from extractor.acquire.layers import Layer, LayerLimits, apply_layers
from extractor.acquire.manifests import OCI_MANIFEST, sha256_digest
from extractor.acquire.reference import Mirror
from extractor.acquire.wire import Request, Response, Send
from extractor.demo.push import BuiltImage, build_image, push_bundle_image, push_image, push_index
from extractor.errors import ConfigError, NotCachedError, NotFoundError, UnsafeLayerError
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


# -- offline --------------------------------------------------------------------------------------
def no_network(request: Request, send: Send) -> Response:
    """Fails the test on any request: offline mode must not use the network."""
    raise AssertionError(f"offline mode sent {request.method} {request.url}")


def test_offline_serves_tags_and_digests_from_the_cache(
    pushed: dict[str, tuple[Path, str, str]],
    registry: TestRegistry,
    tmp_path: Path,
) -> None:
    source, reference, digest = pushed["leader-worker-set-v1.0.0-rendered"]
    repo = reference.rsplit(":", 1)[0]

    def offline(ref: str) -> Path:
        return acquire(ref, _options(registry, tmp_path, offline=True, transport=no_network)).directory

    with pytest.raises(NotCachedError) as info:
        offline(reference)
    assert str(info.value).startswith(f"{reference} (mirror {registry.host}): ")
    assert "tag 1.0 is not in the cache" in str(info.value) and "without --offline" in str(info.value)
    with pytest.raises(NotCachedError, match=f"manifest {digest} is not in the cache"):
        offline(f"{repo}@{digest}")
    acquire(reference, _options(registry, tmp_path))  # online once: records the tag
    pulled = reference.replace("registry.redhat.io", registry.host)
    record = tmp_path / "cache/tags" / registry.host / pulled.split("/", 1)[1].replace(":", "/")
    assert record.read_text() == digest + "\n"
    assert _files(offline(reference)) == _files(source)
    assert _files(offline(f"{repo}@{digest}")) == _files(source)
    # a layer that went missing from the cache is named
    layer = max((tmp_path / "cache/blobs/sha256").iterdir(), key=lambda p: p.stat().st_size)
    layer.unlink()
    with pytest.raises(NotCachedError, match=f"layer sha256:{layer.name} is not in the cache"):
        offline(reference)
    assert len(list((tmp_path / "work").iterdir())) == 3  # the three successful acquires; no partial one


# -- progress -------------------------------------------------------------------------------------
def test_progress_callback(pushed: dict[str, tuple[Path, str, str]], registry: TestRegistry, tmp_path: Path) -> None:
    _source, reference, _digest = pushed["servicemeshoperator3-v3.2.1"]
    events: list[PullProgress] = []
    acquire(reference, _options(registry, tmp_path, progress=events.append))
    kinds = [e.event for e in events]
    assert kinds[0] == "resolved" and kinds[-2:] == ["unpack", "done"]
    downloads = [e for e in events if e.event == "download"]
    assert downloads and downloads[-1].done == downloads[-1].total == events[0].total > 0
    assert [e.done for e in downloads] == sorted(e.done for e in downloads)
    assert all(e.image == reference for e in events)
    assert describe_progress(downloads[-1]).startswith(f"{reference}: layer ")
    events.clear()
    acquire(reference, _options(registry, tmp_path, progress=events.append))  # warm: nothing to download
    assert [e.event for e in events] == ["resolved", "unpack", "done"]
    assert events[0].done == events[0].total


# -- a real decompression bomb ------------------------------------------------------------------------
GIB = 1024**3


def _bomb_layer(path: Path, entry_size: int, total: int) -> tuple[str, str, int]:
    """Write a gzip'd tar of ``total`` bytes of zeros in ``entry_size`` files under manifests/,
    streaming (never more than 1 MiB in memory). Returns (blob digest, diff_id, blob size)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # gzip container
    blob_hash, tar_hash = hashlib.sha256(), hashlib.sha256()
    size = 0
    zeros = bytes(1024 * 1024)
    with path.open("wb") as out:

        def emit(data: bytes) -> None:
            nonlocal size
            tar_hash.update(data)
            packed = compressor.compress(data)
            blob_hash.update(packed)
            size += len(packed)
            out.write(packed)

        for index in range(total // entry_size):
            info = tarfile.TarInfo(f"manifests/bomb-{index:04d}.yaml")
            info.size = entry_size
            emit(info.tobuf(format=tarfile.GNU_FORMAT))
            for _ in range(entry_size // len(zeros)):
                emit(zeros)
        emit(bytes(1024))  # end-of-archive marker
        tail = compressor.flush()
        blob_hash.update(tail)
        size += len(tail)
        out.write(tail)
    return "sha256:" + blob_hash.hexdigest(), "sha256:" + tar_hash.hexdigest(), size


@pytest.fixture(scope="module")
def bomb(registry: TestRegistry, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A 1 GiB (uncompressed) single-layer image in the real registry: 128 files of 8 MiB zeros."""
    path = tmp_path_factory.mktemp("bomb") / "layer.tar.gz"
    digest, diff_id, size = _bomb_layer(path, 8 * 1024 * 1024, GIB)
    assert size < 4 * 1024 * 1024  # ~1 MiB on the wire
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}},
                        sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": size}],
    }, sort_keys=True).encode()
    image = BuiltImage(blobs={digest: path.read_bytes(), sha256_digest(config): config}, manifest=manifest,
                       media_type=OCI_MANIFEST)
    reference = f"{registry.host}/hostile/bomb:1"
    push_image(reference, image)
    return reference, digest


def test_decompression_bomb_is_refused_by_the_size_cap(bomb: tuple[str, str], tmp_path: Path) -> None:
    reference, layer_digest = bomb
    cap = 20 * 1024 * 1024
    work = tmp_path / "work"
    start = time.monotonic()
    with pytest.raises(UnsafeLayerError) as info:
        acquire(reference, AcquireOptions(cache_dir=tmp_path / "cache", work_dir=work, max_bytes=cap))
    elapsed = time.monotonic() - start
    assert str(info.value) == (
        f"{reference}: layer {layer_digest}: entry 'manifests/bomb-0002.yaml': "
        f"image content exceeds {cap} bytes uncompressed"
    )
    assert elapsed < 10, elapsed
    assert list(work.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "work"]
    # what was written before the refusal stays under the cap
    dest = tmp_path / "partial"
    layer = Layer(BlobCache(tmp_path / "cache").path(layer_digest), layer_digest)
    with pytest.raises(UnsafeLayerError):
        apply_layers([layer], dest, image=reference, limits=LayerLimits(max_bytes=cap))
    written = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    assert 0 < written <= cap


def test_entry_cap_through_the_registry(registry: TestRegistry, tmp_path: Path) -> None:
    tar = make_tar(*(tar_file(f"manifests/{i}.yaml", b"x") for i in range(30)))
    reference = f"{registry.host}/hostile/many-files:1"
    push_image(reference, build_image([tar]))
    with pytest.raises(UnsafeLayerError, match="more than 20 entries"):
        acquire(reference, AcquireOptions(cache_dir=tmp_path / "c", work_dir=tmp_path / "w", max_files=20))
    assert acquire(reference, AcquireOptions(cache_dir=tmp_path / "c", work_dir=tmp_path / "w", max_files=30))


def test_zstd_layers_from_the_registry(registry: TestRegistry, tmp_path: Path) -> None:
    import zstandard

    tar = make_tar(tar_file("manifests/z.yaml", b"zstd"), tar_file("metadata/annotations.yaml", b"{}"))
    blob = zstandard.ZstdCompressor().compress(tar)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": sha256_digest(blob),
                    "size": len(blob)}],
    }).encode()
    reference = f"{registry.host}/test/zstd:1"
    push_image(reference, BuiltImage({sha256_digest(blob): blob, sha256_digest(config): config}, manifest,
                                     OCI_MANIFEST))
    result = acquire(reference, AcquireOptions(cache_dir=tmp_path / "c", work_dir=tmp_path / "w"))
    assert _files(result.directory) == {"manifests/z.yaml": b"zstd", "metadata/annotations.yaml": b"{}"}


def test_docker_manifest_list_with_uncompressed_layers(registry: TestRegistry, tmp_path: Path) -> None:
    def image(content: bytes) -> BuiltImage:
        tar = make_tar(tar_file("manifests/x.yaml", content), tar_file("metadata/annotations.yaml", b"{}"))
        return build_image([tar], manifest_format="docker", compress=False)

    reference = f"{registry.host}/test/docker-list:1"
    push_index(reference, [(image(b"arm"), "linux/arm64"), (image(b"amd"), "linux/amd64")], manifest_format="docker")
    result = acquire(reference, AcquireOptions(cache_dir=tmp_path / "c", work_dir=tmp_path / "w"))
    assert (result.directory / "manifests/x.yaml").read_bytes() == b"amd"


# -- resolve: what a reference points to, without pulling ----------------------------------------
def test_resolve_names_the_digest_acquire_pulls_with_one_manifest_request(
    pushed: dict[str, tuple[Path, str, str]], registry: TestRegistry, tmp_path: Path,
) -> None:
    from extractor.acquire import HttpPuller, resolve

    _source, reference, digest = pushed["leader-worker-set-v1.0.0-rendered"]
    repo = reference.rsplit(":", 1)[0]
    transport = CountingTransport()
    options = _options(registry, tmp_path, transport=transport)
    resolved = resolve(reference, options)
    assert resolved is not None and resolved.digest == digest
    assert (resolved.image, resolved.pulled_from) == (reference, reference.replace("registry.redhat.io",
                                                                                   registry.host))
    assert transport.requests == [("GET", f"/v2/{repo.split('/', 1)[1]}/manifests/1.0")]
    assert not (tmp_path / "work").exists()  # nothing unpacked
    # pulling the resolved digest afterwards fetches the layers only (the manifest is cached)
    transport.requests.clear()
    assert acquire(f"{repo}@{digest}", options).digest == digest
    assert transport.requests and all("/blobs/" in path for _, path in transport.requests)
    # a digest reference needs no request; one puller lent for several resolutions stays open
    transport.requests.clear()
    puller = HttpPuller(options)
    try:
        assert resolve(f"{repo}@{digest}", options, puller=puller) == resolved.__class__(
            f"{repo}@{digest}", f"{registry.host}/{repo.split('/', 1)[1]}@{digest}", digest)
        assert resolve(reference, options, puller=puller) == resolved
        assert resolve(reference, options, puller=puller) == resolved
    finally:
        puller.close()
    assert len(transport.requests) == 2
    # offline: the tag record of the cache, no request
    transport.requests.clear()
    assert resolve(reference, _options(registry, tmp_path, transport=transport, offline=True)) == resolved
    assert transport.requests == []
    with pytest.raises(NotCachedError, match=r"tag 9\.9 is not in the cache"):
        resolve(f"{repo}:9.9", _options(registry, tmp_path, offline=True))


def test_resolve_leaves_local_sources_and_the_docker_puller_to_acquire(
    pushed: dict[str, tuple[Path, str, str]], registry: TestRegistry, tmp_path: Path,
) -> None:
    from extractor.acquire import resolve

    source, reference, _digest = pushed["leader-worker-set-v1.0.0-rendered"]
    options = _options(registry, tmp_path)
    assert resolve(str(source), options) is None
    assert resolve(f"oci-archive:{tmp_path / 'x.tar'}", options) is None
    assert resolve(str(tmp_path / "missing-dir") + "/", options) is None  # acquire names the missing directory
    assert resolve(reference, _options(registry, tmp_path, puller="docker")) is None
    with pytest.raises(NotFoundError) as info:  # errors name the requested reference and its mirror
        resolve("registry.redhat.io/cert-manager/cert-manager-operator-bundle:v9.9.9", options)
    assert str(info.value).startswith(
        f"registry.redhat.io/cert-manager/cert-manager-operator-bundle:v9.9.9 (mirror {registry.host}): ")
    with pytest.raises(ConfigError):
        resolve("Not A Reference", options)
