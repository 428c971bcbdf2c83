"""Deterministic bundle images pushed to a real registry, checked with skopeo where available."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from extractor.acquire import AcquireOptions
from extractor.acquire.manifests import DOCKER_MANIFEST, OCI_MANIFEST
from extractor.demo.push import build_image, bundle_labels, bundle_layer, push_bundle_image
from extractor.errors import AuthenticationError, BundleError
from tests.support.registry import (
    CountingTransport,
    TestRegistry,
)
from tests.support.tools import require_shared, require_tool

CERT_MANAGER = ("bundles", "cert-manager-operator-v1.15.2")


def test_layer_is_deterministic_and_normalised(tmp_path: Path) -> None:
    source = require_shared(*CERT_MANAGER)
    layer = bundle_layer(source)
    assert layer == bundle_layer(source)
    with tarfile.open(fileobj=io.BytesIO(layer)) as archive:
        members = archive.getmembers()
    names = [m.name for m in members]
    assert names[:2] == ["manifests", "manifests/acme.cert-manager.io_challenges.yaml"]
    assert "metadata/annotations.yaml" in names
    assert not any(n.startswith("tests") for n in names)
    assert all(m.mtime == 0 and m.uid == 0 and m.gid == 0 and m.uname == "" for m in members)
    assert {m.mode for m in members} == {0o755, 0o644}
    image = build_image([layer], labels=bundle_labels(source))
    again = build_image([bundle_layer(source)], labels=bundle_labels(source))
    assert image.digest == again.digest
    blob = next(b for b in image.blobs.values() if b[:2] == b"\x1f\x8b")
    assert blob[4:8] == b"\0\0\0\0"  # gzip header mtime 0
    assert gzip.decompress(blob) == layer


def test_labels_come_from_annotations() -> None:
    labels = bundle_labels(require_shared(*CERT_MANAGER))
    assert labels["operators.operatorframework.io.bundle.mediatype.v1"] == "registry+v1"
    assert labels["operators.operatorframework.io.bundle.package.v1"] == "cert-manager-operator"


def test_bad_bundle_directories(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no manifests/"):
        bundle_layer(tmp_path)
    (tmp_path / "manifests").mkdir()
    (tmp_path / "metadata").mkdir()
    (tmp_path / "manifests" / "link.yaml").symlink_to("/etc/passwd")
    with pytest.raises(BundleError, match="symlinks"):
        bundle_layer(tmp_path)
    with pytest.raises(BundleError, match=r"annotations\.yaml"):
        bundle_labels(tmp_path)


def test_push_is_deterministic_and_skips_existing_blobs(registry: TestRegistry) -> None:
    source = require_shared(*CERT_MANAGER)
    first = push_bundle_image(source, f"{registry.host}/push/cert-manager:a")
    transport = CountingTransport()
    second = push_bundle_image(source, f"{registry.host}/push/cert-manager:b", AcquireOptions(transport=transport))
    assert first == second
    assert [m for m, _ in transport.requests] == ["HEAD", "HEAD", "PUT"]  # blobs exist: only the manifest
    docker = push_bundle_image(source, f"{registry.host}/push/cert-manager:docker", manifest_format="docker")
    assert docker != first
    with AcquireOptions().client() as client:
        from extractor.acquire.reference import Reference

        oci_manifest = client.get_manifest(Reference.parse(f"{registry.host}/push/cert-manager:a"))
        docker_manifest = client.get_manifest(Reference.parse(f"{registry.host}/push/cert-manager:docker"))
    assert (oci_manifest.media_type, oci_manifest.digest) == (OCI_MANIFEST, first)
    assert (docker_manifest.media_type, docker_manifest.digest) == (DOCKER_MANIFEST, docker)


def test_skopeo_sees_a_bundle_image(registry: TestRegistry) -> None:
    skopeo = require_tool("skopeo")
    source = require_shared(*CERT_MANAGER)
    digest = push_bundle_image(source, f"{registry.host}/push/skopeo:1")
    proc = subprocess.run(
        [str(skopeo), "inspect", "--tls-verify=false", f"docker://{registry.host}/push/skopeo:1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    info = json.loads(proc.stdout)
    assert info["Digest"] == digest
    assert info["Labels"] == bundle_labels(source)
    assert (info["Os"], info["Architecture"]) == ("linux", "amd64")


def test_push_with_basic_auth(auth_registry: TestRegistry) -> None:
    source = require_shared("bundles", "leader-worker-set-v1.0.0-rendered")
    reference = f"{auth_registry.host}/push/lws:1"
    with pytest.raises(AuthenticationError) as info:
        push_bundle_image(source, reference)
    assert str(info.value).startswith(reference)
    options = AcquireOptions(username=auth_registry.username, password=auth_registry.password)
    assert push_bundle_image(source, reference, options).startswith("sha256:")
