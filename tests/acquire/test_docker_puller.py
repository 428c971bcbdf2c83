"""The docker-py backend (``--puller docker``) against a real private dockerd (tests/support/dockerd.py).

Same bytes as the native puller for the three target bundles (``run`` output, unpacked bundle,
digest, generated charts), containers always removed, hostile archives refused by the same checks,
one-line errors for an unreachable daemon, a missing image and refused credentials.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from extractor.acquire import AcquireOptions, PullProgress, acquire, make_puller
from extractor.acquire.reference import Mirror
from extractor.config import load_config
from extractor.demo.push import build_image, bundle_labels, bundle_layer, push_bundle_image, push_image, push_index
from extractor.errors import AuthenticationError, ConfigError, NotFoundError, RegistryError, UnsafeLayerError
from extractor.pipeline import generate
from tests.conftest import REPO, SeededRegistry
from tests.support.dockerd import TestDockerd
from tests.support.project import tree
from tests.support.registry import TestRegistry, make_tar, tar_file, tar_member
from tests.support.urlserver import url_mirrors

NAMESPACES = {"cert-manager-operator": "cert-manager-operator", "sail-operator": "istio-system",
              "lws-operator": "lws"}


@pytest.fixture
def docker_env(dockerd: TestDockerd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point docker-py at the private daemon, with an empty docker client config."""
    config = tmp_path / "docker-config"
    config.mkdir()
    env = {"DOCKER_HOST": dockerd.host, "DOCKER_CONFIG": str(config)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    monkeypatch.delenv("DOCKER_CERT_PATH", raising=False)
    return env


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "extractor", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=REPO, timeout=600, check=False)


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert proc.returncode not in (0, 70), proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def requested(seeded: SeededRegistry, name: str) -> str:
    """The registry.redhat.io reference that the seeded mirror serves for entry ``name``."""
    return "registry.redhat.io/" + seeded.images[name].split("/", 1)[1]


def snapshot(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Relative path -> (type, permission bits, content) of everything under ``root``."""
    result: dict[str, tuple[str, int, bytes]] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        rel = path.relative_to(root).as_posix()
        if stat.S_ISLNK(info.st_mode):
            result[rel] = ("link", 0, os.readlink(path).encode())
        elif stat.S_ISDIR(info.st_mode):
            result[rel] = ("dir", stat.S_IMODE(info.st_mode), b"")
        else:
            result[rel] = ("file", stat.S_IMODE(info.st_mode), path.read_bytes())
    return result


def options(tmp_path: Path, puller: str, *mirrors: str, **extra: object) -> AcquireOptions:
    return AcquireOptions(
        mirrors=tuple(Mirror.parse(m) for m in mirrors), cache_dir=tmp_path / "cache",
        work_dir=tmp_path / f"work-{puller}", puller=puller, url_mirrors=url_mirrors(),
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("name", sorted(NAMESPACES))
def test_run_output_is_byte_identical_to_the_native_puller(
    name: str, seeded_registry: SeededRegistry, dockerd: TestDockerd, docker_env: dict[str, str], tmp_path: Path
) -> None:
    image = requested(seeded_registry, name)
    env = {**docker_env, "BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache")}
    common = ("run", image, "-n", NAMESPACES[name], "--mirror", seeded_registry.mirror)
    native = cli(*common, env=env)
    assert native.returncode == 0, native.stderr
    docker = cli(*common, "--puller", "docker", env=env)
    assert docker.returncode == 0, docker.stderr
    assert docker.stdout == native.stdout
    assert "kind: ClusterServiceVersion" not in docker.stdout and "kind: Deployment" in docker.stdout
    assert dockerd.containers() == []


@pytest.mark.parametrize("name", [*sorted(NAMESPACES), "sail-operator:3.2.1-rebuild"])
def test_unpacked_bundle_and_digest_match_the_native_puller(
    name: str, seeded_registry: SeededRegistry, dockerd: TestDockerd, docker_env: dict[str, str], tmp_path: Path
) -> None:
    if name.endswith("-rebuild"):  # the Docker-schema-2 manifest of sail
        image = requested(seeded_registry, "sail-operator").rsplit(":", 1)[0] + ":3.2.1-rebuild"
        pushed = seeded_registry.host + "/" + image.split("/", 1)[1]
        directory = seeded_registry.bundle_dirs["sail-operator"]
    else:
        image, pushed = requested(seeded_registry, name), seeded_registry.images[name]
        directory = seeded_registry.bundle_dirs[name]
    native = acquire(image, options(tmp_path, "http", seeded_registry.mirror))
    docker = acquire(image, options(tmp_path, "docker", seeded_registry.mirror))
    assert snapshot(docker.directory) == snapshot(native.directory)
    assert sorted(p.name for p in docker.directory.iterdir()) == ["manifests", "metadata"]
    for top in ("manifests", "metadata"):
        assert tree(docker.directory / top) == tree(directory / top)
    assert docker.digest == native.digest == seeded_registry.digests[pushed]
    assert (docker.image, docker.pulled_from) == (native.image, native.pulled_from) == (image, pushed)
    # a second pull finds the image in the daemon ("Image is up to date") and gives the same result
    again = acquire(image.rsplit(":", 1)[0] + "@" + str(docker.digest), options(tmp_path, "docker",
                                                                                  seeded_registry.mirror))
    assert snapshot(again.directory) == snapshot(native.directory)
    assert again.digest == docker.digest
    assert dockerd.containers() == []


def test_multi_platform_index_selects_the_platform_and_reports_the_index_digest(
    seeded_registry: SeededRegistry, registry: TestRegistry, dockerd: TestDockerd, docker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    cert = seeded_registry.bundle_dirs["cert-manager-operator"]
    lws = seeded_registry.bundle_dirs["lws-operator"]
    amd64 = build_image([bundle_layer(cert)], labels=bundle_labels(cert))
    arm64 = build_image([bundle_layer(lws)], labels=bundle_labels(lws), platform="linux/arm64")
    ref = f"{registry.host}/multi/bundle:v1"
    index = push_index(ref, [(amd64, "linux/amd64"), (arm64, "linux/arm64")])
    events: list[PullProgress] = []
    for platform, directory in (("linux/arm64", lws), ("linux/amd64", cert)):
        native = acquire(ref, options(tmp_path / platform, "http", platform=platform))
        docker = acquire(ref, options(tmp_path / platform, "docker", platform=platform, progress=events.append))
        assert snapshot(docker.directory) == snapshot(native.directory), platform
        assert (docker.directory / "metadata" / "annotations.yaml").read_bytes() == (
            directory / "metadata" / "annotations.yaml"
        ).read_bytes()
        assert docker.digest == native.digest == index
    assert [e.event for e in events] == ["unpack", "done"] * 2  # the layers were in the daemon already
    assert {e.image for e in events} == {ref}
    # pinned by digest: the daemon keeps one image per repository digest (the first platform pulled,
    # arm64); the other platform is refused rather than answered with the wrong bundle
    pinned = f"{registry.host}/multi/bundle@{index}"
    source = acquire(pinned, options(tmp_path / "pinned", "docker", platform="linux/arm64"))
    assert tree(source.directory) == tree(lws)
    with pytest.raises(RegistryError, match=r"holds .*@sha256:[a-f0-9]{64} for .*, not linux/amd64 .*docker rmi"):
        acquire(pinned, options(tmp_path / "pinned", "docker", platform="linux/amd64"))
    assert dockerd.containers() == []


def test_generate_with_the_docker_puller_gives_the_same_chart_tree(
    seeded_registry: SeededRegistry, dockerd: TestDockerd, docker_env: dict[str, str], tmp_path: Path
) -> None:
    config = load_config(REPO / "bundles.yaml")
    native = generate(config, tmp_path / "native", options(tmp_path, "http", seeded_registry.mirror))
    docker = generate(config, tmp_path / "docker", options(tmp_path, "docker", seeded_registry.mirror))
    assert docker.digests == native.digests
    assert set(docker.charts) == {"cert-manager-operator", "sail-operator", "lws-operator"}
    docker_tree = tree(tmp_path / "docker")
    assert docker_tree == tree(tmp_path / "native")
    assert any(path.endswith("Chart.yaml") for path in docker_tree)
    assert dockerd.containers() == []


# -- hostile images: the same checks as native layers ----------------------------------------------
HOSTILE = {
    "symlink-escape": [tar_member("manifests", tarfile.DIRTYPE),
                       tar_member("manifests/evil", tarfile.SYMTYPE, "../../etc/passwd")],
    "absolute-symlink-dir": [tar_member("manifests", tarfile.SYMTYPE, "/etc")],
    "device": [tar_member("manifests", tarfile.DIRTYPE), tar_member("manifests/null", tarfile.CHRTYPE)],
    "fifo": [tar_member("metadata", tarfile.DIRTYPE), tar_member("metadata/pipe", tarfile.FIFOTYPE)],
    "deep-symlink-escape": [tar_member("metadata", tarfile.DIRTYPE), tar_member("metadata/a", tarfile.DIRTYPE),
                            tar_member("metadata/a/up", tarfile.SYMTYPE, "../../../..")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_images_are_refused_like_the_native_puller(
    case: str, registry: TestRegistry, dockerd: TestDockerd, docker_env: dict[str, str], tmp_path: Path
) -> None:
    ref = f"{registry.host}/hostile/{case}:v1"
    push_image(ref, build_image([make_tar(*HOSTILE[case])]))
    with pytest.raises(UnsafeLayerError) as native:
        acquire(ref, options(tmp_path, "http"))
    with pytest.raises(UnsafeLayerError) as docker:
        acquire(ref, options(tmp_path, "docker"))
    # same entry and reason; only the layer label differs (a layer digest vs the archived path)
    native_reason = str(native.value).split(": entry ", 1)[1]
    assert str(docker.value).startswith(f"{ref}: layer docker archive /")
    assert str(docker.value).split(": entry ", 1)[1] == native_reason
    assert "\n" not in str(docker.value)
    assert list((tmp_path / "work-docker").iterdir()) == []  # the partial bundle is removed
    assert dockerd.containers() == []  # removed although extraction failed


def test_dotdot_entries_are_resolved_by_the_daemon_inside_the_image(
    registry: TestRegistry, dockerd: TestDockerd, docker_env: dict[str, str], tmp_path: Path
) -> None:
    """The daemon applies layers itself: ``..`` never leaves the image root and never reaches the bundle.

    The native puller refuses such a layer outright; through the daemon the entry lands at the image
    root (outside manifests/ and metadata/), so the bundle directories are extracted without it.
    """
    ref = f"{registry.host}/hostile/dotdot:v1"
    layer = make_tar(tar_member("manifests", tarfile.DIRTYPE), tar_file("manifests/a.yaml", b"a: 1\n"),
                     tar_file("manifests/../../escape", b"x"), tar_member("metadata", tarfile.DIRTYPE))
    push_image(ref, build_image([layer]))
    with pytest.raises(UnsafeLayerError, match=r"entry 'manifests/\.\./\.\./escape': path contains '\.\.'"):
        acquire(ref, options(tmp_path, "http"))
    events: list[PullProgress] = []
    source = acquire(ref, options(tmp_path, "docker", progress=events.append))
    assert [e.event for e in events][-2:] == ["unpack", "done"]
    # a fresh layer: the daemon may coalesce its "Downloading" reports away, never its "Pull complete"
    downloads = [e for e in events if e.event == "download"]
    assert downloads and downloads[-1].done == downloads[-1].total
    assert snapshot(source.directory) == {
        "manifests": ("dir", 0o755, b""), "manifests/a.yaml": ("file", 0o644, b"a: 1\n"),
        "metadata": ("dir", 0o755, b""),
    }
    assert not list(tmp_path.rglob("escape"))
    assert dockerd.containers() == []


def test_image_without_metadata_fails_like_the_native_puller_and_leaves_no_container(
    seeded_registry: SeededRegistry, registry: TestRegistry, dockerd: TestDockerd, docker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    bundle = seeded_registry.bundle_dirs["lws-operator"]
    layer = make_tar(*[tar_member("manifests", tarfile.DIRTYPE)] + [
        tar_file(f"manifests/{p.name}", p.read_bytes()) for p in sorted((bundle / "manifests").iterdir())
    ])
    ref = f"{registry.host}/broken/no-metadata:v1"
    push_image(ref, build_image([layer]))
    env = {**docker_env, "BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache")}
    native = cli("run", ref, "-n", "lws", env=env)
    docker = cli("run", ref, "-n", "lws", "--puller", "docker", env=env)
    line = assert_one_line_error(docker, "metadata/annotations.yaml")
    assert (docker.returncode, line) == (native.returncode, assert_one_line_error(native))
    assert dockerd.containers() == []


def test_archive_size_cap_applies(
    seeded_registry: SeededRegistry, dockerd: TestDockerd, docker_env: dict[str, str], tmp_path: Path
) -> None:
    image = requested(seeded_registry, "lws-operator")
    with pytest.raises(UnsafeLayerError, match="exceeds 1000 bytes"):
        acquire(image, options(tmp_path, "docker", seeded_registry.mirror, max_bytes=1000, max_files=5))
    assert list((tmp_path / "work-docker").iterdir()) == []
    assert dockerd.containers() == []


# -- errors ----------------------------------------------------------------------------------------
def test_unreachable_daemon_is_a_one_line_error(seeded_registry: SeededRegistry, tmp_path: Path) -> None:
    image = requested(seeded_registry, "lws-operator")
    proc = cli("run", image, "-n", "lws", "--mirror", seeded_registry.mirror,
               env={"DOCKER_HOST": "unix:///nonexistent", "BUNDLE_EXTRACT_PULLER": "docker",
                    "DOCKER_CONFIG": str(tmp_path)})
    line = assert_one_line_error(proc, image, "cannot connect to the Docker daemon at unix:///nonexistent")
    assert proc.returncode == 3, line


def test_missing_image_names_the_reference(
    seeded_registry: SeededRegistry, dockerd: TestDockerd, docker_env: dict[str, str], tmp_path: Path
) -> None:
    proc = cli("run", "registry.redhat.io/nope/missing-bundle:1.0", "-n", "x", "--mirror", seeded_registry.mirror,
               "--puller", "docker", env=docker_env)
    assert_one_line_error(proc, "registry.redhat.io/nope/missing-bundle:1.0", "not found")
    assert proc.returncode == 3
    with pytest.raises(NotFoundError, match=r"^registry\.redhat\.io/nope/missing-bundle:1\.0"):
        acquire("registry.redhat.io/nope/missing-bundle:1.0", options(tmp_path, "docker", seeded_registry.mirror))
    assert dockerd.containers() == []


def test_explicit_credentials_reach_the_daemon_and_never_the_messages(
    seeded_registry: SeededRegistry, auth_registry: TestRegistry, dockerd: TestDockerd,
    docker_env: dict[str, str], tmp_path: Path,
) -> None:
    assert auth_registry.username and auth_registry.password
    creds = AcquireOptions(username=auth_registry.username, password=auth_registry.password)
    ref = f"{auth_registry.host}/private/lws-bundle:v1"
    digest = push_bundle_image(seeded_registry.bundle_dirs["lws-operator"], ref, creds)
    with pytest.raises(AuthenticationError) as denied:
        acquire(ref, options(tmp_path, "docker"))
    assert str(denied.value).startswith(ref)
    with pytest.raises(AuthenticationError) as wrong:
        acquire(ref, options(tmp_path, "docker", username=auth_registry.username, password="wrong-secret-123"))
    assert "wrong-secret-123" not in str(wrong.value)
    source = acquire(ref, options(tmp_path, "docker", username=auth_registry.username,
                                  password=auth_registry.password))
    assert source.digest == digest
    assert auth_registry.password not in str(source)
    assert dockerd.containers() == []


def test_missing_docker_package_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "docker", None)  # import docker -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'bundle-extract\[docker\]'"):
        make_puller(AcquireOptions(puller="docker"))


def test_offline_is_a_config_error_with_the_docker_puller() -> None:
    with pytest.raises(ConfigError, match=r"--offline .* --puller http"):
        make_puller(AcquireOptions(puller="docker", offline=True))


def test_unknown_puller_is_a_config_error_and_leaves_no_work_dir(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown puller 'podman'"):
        acquire("quay.io/x/y:1", AcquireOptions(puller="podman", work_dir=tmp_path / "work"))
    assert not (tmp_path / "work").exists() or list((tmp_path / "work").iterdir()) == []
