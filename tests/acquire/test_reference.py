"""Image reference parsing, mirrors and the HTTP/HTTPS choice."""

from __future__ import annotations

import pytest

from extractor.acquire.reference import Mirror, Reference, apply_mirrors, is_insecure, is_loopback, names_registry
from extractor.errors import ConfigError

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest", "canonical"),
    [
        (
            "registry.redhat.io/cert-manager/cert-manager-operator-bundle:v1.15.2",
            "registry.redhat.io",
            "cert-manager/cert-manager-operator-bundle",
            "v1.15.2",
            None,
            None,
        ),
        (f"quay.io/ns/repo@{DIGEST}", "quay.io", "ns/repo", None, DIGEST, None),
        (f"quay.io/ns/repo:1.0@{DIGEST}", "quay.io", "ns/repo", "1.0", DIGEST, None),
        ("127.0.0.1:5000/a/b/c", "127.0.0.1:5000", "a/b/c", "latest", None, "127.0.0.1:5000/a/b/c:latest"),
        ("localhost/repo:tag", "localhost", "repo", "tag", None, None),
        ("[::1]:5000/repo:tag", "[::1]:5000", "repo", "tag", None, None),
        ("ubuntu", "docker.io", "library/ubuntu", "latest", None, "docker.io/library/ubuntu:latest"),
        ("user/repo:1", "docker.io", "user/repo", "1", None, "docker.io/user/repo:1"),
        (
            "index.docker.io/nginx",
            "docker.io",
            "library/nginx",
            "latest",
            None,
            "docker.io/library/nginx:latest",
        ),
        (
            "REGISTRY.Example.COM:443/ns/repo_x-y.z:Tag_1.0",
            "registry.example.com:443",
            "ns/repo_x-y.z",
            "Tag_1.0",
            None,
            "registry.example.com:443/ns/repo_x-y.z:Tag_1.0",
        ),
    ],
)
def test_parse(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None, canonical: str | None
) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    assert str(ref) == (canonical or text)
    assert Reference.parse(str(ref)) == ref


def test_properties() -> None:
    hub = Reference.parse("busybox:1")
    assert hub.api_host == "registry-1.docker.io"
    assert hub.name == "docker.io/library/busybox"
    assert hub.selector == "1"
    pinned = hub.with_digest(DIGEST)
    assert str(pinned) == f"docker.io/library/busybox@{DIGEST}"
    assert pinned.selector == DIGEST
    assert str(pinned.with_tag("2")) == "docker.io/library/busybox:2"
    assert Reference.parse(f"quay.io/a/b:t@{DIGEST}").selector == DIGEST
    assert Reference.parse("quay.io:8443/a").api_host == "quay.io:8443"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "quay.io/Upper/repo",
        "quay.io/ns/repo@sha256:abc",
        "docker://quay.io/a",
        "a b",
        "quay.io/ns/repo:",
        "quay.io/ns/repo:bad/tag",
        "quay.io//repo",
        "quay.io/",
        "quay.io/ns/-repo",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="invalid"):
        Reference.parse(text)


def test_mirror_parse_and_apply() -> None:
    mirror = Mirror.parse("registry.redhat.io=127.0.0.1:5000")
    ref = Reference.parse(f"registry.redhat.io/cert-manager/bundle:v1@{DIGEST}")
    assert str(mirror.apply(ref)) == f"127.0.0.1:5000/cert-manager/bundle:v1@{DIGEST}"
    prefix = Mirror.parse("registry.redhat.io/openshift-service-mesh=mirror.local:5000/other/")
    assert str(prefix) == "registry.redhat.io/openshift-service-mesh=mirror.local:5000/other"
    sm = Reference.parse("registry.redhat.io/openshift-service-mesh/bundle:3")
    assert str(prefix.apply(sm)) == "mirror.local:5000/other/bundle:3"


def test_longest_prefix_wins_on_component_boundaries() -> None:
    mirrors = (
        Mirror.parse("registry.redhat.io=host-a:5000"),
        Mirror.parse("registry.redhat.io/ns=host-b:5000/b"),
        Mirror.parse("registry.redhat.io/ns/deep=host-c:5000"),
    )

    def pulled(text: str) -> str:
        return str(apply_mirrors(Reference.parse(text), mirrors))

    assert pulled("registry.redhat.io/ns/repo:1") == "host-b:5000/b/repo:1"
    assert pulled("registry.redhat.io/ns/deep/x:1") == "host-c:5000/x:1"
    with pytest.raises(ConfigError, match="invalid image reference"):
        pulled("registry.redhat.io/ns/deep:1")  # the whole repository onto a bare host: no name left
    assert pulled("registry.redhat.io/nsx/repo:1") == "host-a:5000/nsx/repo:1"
    assert pulled("quay.io/ns/repo:1") == "quay.io/ns/repo:1"
    # docker.io aliases normalise on both sides
    hub = Mirror.parse("index.docker.io=127.0.0.1:5000")
    assert str(hub.apply(Reference.parse("busybox"))) == "127.0.0.1:5000/library/busybox:latest"


def test_mirror_onto_its_whole_repository() -> None:
    mirror = Mirror.parse("registry.redhat.io/ns/repo=127.0.0.1:5000/flat")
    assert (
        str(apply_mirrors(Reference.parse("registry.redhat.io/ns/repo:1"), [mirror]))
        == "127.0.0.1:5000/flat:1"
    )


@pytest.mark.parametrize(
    "text", ["registry.redhat.io", "=x:5000", "x:5000=", "reg.io=/path", "reg.io=h:5/UP"]
)
def test_mirror_rejects(text: str) -> None:
    with pytest.raises(ConfigError, match="invalid mirror"):
        Mirror.parse(text)


def test_loopback_and_insecure() -> None:
    for host in ("127.0.0.1:5000", "127.1.2.3", "localhost:5000", "LOCALHOST", "[::1]:5000", "[::1]"):
        assert is_loopback(host), host
        assert is_insecure(host)
    for host in ("registry.redhat.io", "10.0.0.1:5000", "[fe80::1]:5000", "localhost.example.com"):
        assert not is_loopback(host), host
        assert not is_insecure(host), host
    assert is_insecure("mirror.lan:5000", ["mirror.lan"])
    assert is_insecure("mirror.lan:5000", ["mirror.lan:5000"])
    assert not is_insecure("mirror.lan:5000", ["mirror.lan:5001"])
    assert is_insecure("anything.example", ["*"])


@pytest.mark.parametrize(("text", "explicit"), [
    ("quay.io/x:1", True), ("localhost/x", True), ("127.0.0.1:5000/x", True), ("[::1]:5000/x", True),
    ("mirror:5000/x", True), ("library/x:1", False), ("x", False), ("quay.io", False),
])
def test_names_registry_agrees_with_parse(text: str, explicit: bool) -> None:
    assert names_registry(text) is explicit
    # parse puts a reference without an explicit host on Docker Hub
    assert (Reference.parse(text).registry != "docker.io") is explicit
