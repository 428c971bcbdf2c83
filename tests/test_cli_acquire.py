"""Acquisition through the command line: auth errors against the real htpasswd registry, credential
helpers, list-versions (and its make target), --offline, unpack caps, progress on a terminal only."""

from __future__ import annotations

import base64
import json
import os
import pty
import select
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from extractor.acquire import AcquireOptions
from extractor.demo.push import build_image, push_bundle_image, push_image
from extractor.review.versions import sort_tags
from tests.conftest import REPO, SeededRegistry
from tests.support.faults import FaultServer, answer
from tests.support.registry import TestRegistry, make_tar, tar_file
from tests.support.tools import require_shared
from tests.test_cli import assert_one_line_error, cli

LWS_REPO = "leader-worker-set/lws-operator-bundle"


@pytest.fixture(scope="module")
def private_image(auth_registry: TestRegistry) -> str:
    options = AcquireOptions(username=auth_registry.username, password=auth_registry.password)
    reference = f"{auth_registry.host}/{LWS_REPO}:1.0"
    push_bundle_image(require_shared("bundles", "leader-worker-set-v1.0.0-rendered"), reference, options)
    return reference


@pytest.fixture
def isolated(tmp_path: Path) -> dict[str, str]:
    """Environment with an empty auth file as the only one consulted, and a private cache."""
    authfile = tmp_path / "empty-auth.json"
    authfile.write_text("{}")
    return {"REGISTRY_AUTH_FILE": str(authfile), "BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache")}


def test_401_and_404_through_the_cli(private_image: str, auth_registry: TestRegistry, isolated: dict[str, str]) -> None:
    anonymous = cli("run", private_image, "-n", "lws", env=isolated)
    assert_one_line_error(anonymous, private_image, "requires authentication and no credentials were found")
    assert anonymous.returncode == 3
    wrong = cli("run", private_image, "-n", "lws", "--registry-username", "tester",
                "--registry-password", "wrong-password-77", env=isolated)
    assert_one_line_error(wrong, private_image, "HTTP 401")
    assert "wrong-password-77" not in wrong.stderr
    assert auth_registry.password
    good = ["--registry-username", "tester", "--registry-password", auth_registry.password]
    missing = private_image.replace(":1.0", ":9.9")
    not_found = cli("run", missing, "-n", "lws", *good, env=isolated)
    assert_one_line_error(not_found, missing, "manifest not found (HTTP 404")
    assert auth_registry.password not in not_found.stderr
    ok = cli("run", private_image, "-n", "lws", *good, env=isolated)
    assert ok.returncode == 0, ok.stderr
    by_env = cli("run", private_image, "-n", "lws", env={
        **isolated, "BUNDLE_EXTRACT_REGISTRY_USERNAME": "tester",
        "BUNDLE_EXTRACT_REGISTRY_PASSWORD": auth_registry.password,
    })
    assert by_env.stdout == ok.stdout


def test_403_through_the_cli(tmp_path: Path) -> None:
    # distribution answers 401 for missing or bad credentials; a 403 needs the fault server
    server = FaultServer()
    try:
        server.routes["/v2/ns/secret/manifests/1"] = [answer(403, b'{"errors":[{"code":"DENIED"}]}')]
        reference = f"{server.host}/ns/secret:1"
        proc = cli("run", reference, "-n", "x", env={"BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path)})
        assert_one_line_error(proc, reference, "access to manifest denied (HTTP 403 (DENIED))")
        assert proc.returncode == 3
    finally:
        server.close()


def _helper(bin_dir: Path, server: str, user: str, secret: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "docker-credential-testhelper"
    script.write_text(
        "#!/bin/sh\n"
        '[ "$1" = get ] || exit 2\n'
        "read server\n"
        f'[ "$server" = "{server}" ] || {{ echo "credentials not found in native keychain"; exit 1; }}\n'
        f"printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{secret}\"}}' \"$server\"\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize("kind", ["credHelpers", "credsStore", "auths"])
def test_credentials_from_auth_files_through_the_cli(
    kind: str, private_image: str, auth_registry: TestRegistry, tmp_path: Path
) -> None:
    assert auth_registry.username and auth_registry.password
    bin_dir = tmp_path / "bin"
    _helper(bin_dir, auth_registry.host, auth_registry.username, auth_registry.password)
    config: dict[str, object]
    if kind == "credHelpers":
        config = {"credHelpers": {auth_registry.host: "testhelper"}}
    elif kind == "credsStore":
        config = {"auths": {auth_registry.host: {}}, "credsStore": "testhelper"}
    else:
        token = base64.b64encode(f"{auth_registry.username}:{auth_registry.password}".encode()).decode()
        config = {"auths": {f"{auth_registry.host}/leader-worker-set": {"auth": token}}}  # namespace key
    docker_dir = tmp_path / "home/.docker"
    docker_dir.mkdir(parents=True)
    authfile = docker_dir / "config.json"
    authfile.write_text(json.dumps(config))
    os.utime(authfile, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = (authfile.read_bytes(), authfile.stat().st_mtime_ns, sorted(os.listdir(docker_dir)))
    env = {
        "HOME": str(tmp_path / "home"), "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"), "DOCKER_CONFIG": str(docker_dir), "REGISTRY_AUTH_FILE": "",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache"),
    }
    proc = cli("run", private_image, "-n", "lws", env=env)
    assert proc.returncode == 0, proc.stderr
    assert (authfile.read_bytes(), authfile.stat().st_mtime_ns, sorted(os.listdir(docker_dir))) == before
    assert not (tmp_path / "run").exists() and not (tmp_path / "config").exists()
    assert auth_registry.password not in proc.stderr


# -- list-versions ------------------------------------------------------------------------------------
def test_make_list_versions(seeded_registry: SeededRegistry, tmp_path: Path) -> None:
    proc = subprocess.run(
        ["make", "--no-print-directory", "list-versions", "BUNDLE=sail-operator", f"MIRROR={seeded_registry.mirror}",
         f"PYTHON={sys.executable}"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines == sort_tags(lines)
    assert lines.index("3.2.1-rebuild") < lines.index("3.2.1")  # SemVer: a pre-release sorts first
    missing = subprocess.run(["make", "--no-print-directory", "list-versions"], cwd=REPO, capture_output=True,
                             text=True, timeout=60, check=False)
    assert missing.returncode != 0 and "needs BUNDLE=" in missing.stderr


# -- offline, caps ----------------------------------------------------------------------------------
def test_offline_through_the_cli(seeded_registry: SeededRegistry, tmp_path: Path) -> None:
    image = "registry.redhat.io/leader-worker-set/lws-operator-bundle:1.0"
    env = {"BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache")}
    cold = cli("run", image, "-n", "lws", "--offline", "--mirror", seeded_registry.mirror, env=env)
    assert_one_line_error(cold, image, "not in the cache", "without --offline")
    online = cli("run", image, "-n", "lws", "--mirror", seeded_registry.mirror, env=env)
    assert online.returncode == 0, online.stderr
    # the mirror now points nowhere: offline mode must not notice
    dead = "registry.redhat.io=127.0.0.1:1"
    with_dead_mirror = cli("run", image, "-n", "lws", "--mirror", dead, "--registry-retries", "0", env=env)
    assert_one_line_error(with_dead_mirror, image, "cannot connect")
    offline_env = {**env, "BUNDLE_EXTRACT_OFFLINE": "1"}
    offline = cli("run", image, "-n", "lws", "--mirror", seeded_registry.mirror, env=offline_env)
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout == online.stdout


def test_unpack_caps_through_the_cli(registry: TestRegistry, tmp_path: Path) -> None:
    tar = make_tar(tar_file("manifests/big.yaml", b"x" * (2 * 1024 * 1024)), tar_file("metadata/a.yaml", b"{}"))
    reference = f"{registry.host}/hostile/big:1"
    push_image(reference, build_image([tar]))
    env = {"BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache"), "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    too_big = cli("run", reference, "-n", "x", "--max-unpacked-bytes", "1Mi", env=env)
    assert_one_line_error(too_big, reference, "manifests/big.yaml", "exceeds 1048576 bytes uncompressed")
    too_many = cli("run", reference, "-n", "x", "--max-unpacked-files", "1", env=env)
    assert_one_line_error(too_many, reference, "more than 1 entries")
    bad = cli("run", reference, "-n", "x", "--max-unpacked-bytes", "lots", env=env)
    assert bad.returncode == 2 and "is not a size" in bad.stderr
    assert list((tmp_path / "tmp").iterdir()) == []  # the work directory is gone


# -- progress ---------------------------------------------------------------------------------------
def test_progress_only_on_a_terminal(seeded_registry: SeededRegistry, tmp_path: Path) -> None:
    image = seeded_registry.images["sail-operator"]
    quiet = cli("run", image, "-n", "istio-system", env={"BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "quiet")})
    assert quiet.returncode == 0 and quiet.stderr == ""
    master, slave = pty.openpty()
    env = {**os.environ, "BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "tty")}
    out = (tmp_path / "stdout").open("wb")  # a file, not a pipe nobody reads while the child writes
    proc = subprocess.Popen([sys.executable, "-m", "extractor", "run", image, "-n", "istio-system"], cwd=REPO,
                            stdout=out, stderr=slave, env=env)
    os.close(slave)
    out.close()
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=120) == 0
    stdout = (tmp_path / "stdout").read_bytes()
    os.close(master)
    shown = b"".join(chunks).decode()
    assert f"{image}: " in shown and "MiB" in shown and shown.rstrip().endswith(f"{image}: done")
    assert "\r" in shown
    assert stdout.decode() == quiet.stdout
