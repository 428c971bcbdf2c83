"""Credential lookup (podman order, containers-auth.json key matching, helpers) and Basic auth."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from extractor.acquire import AcquireOptions, acquire
from extractor.acquire.credentials import Credentials, auth_file_candidates, find_credentials
from extractor.acquire.reference import Reference
from extractor.demo.push import push_bundle_image
from extractor.errors import AuthenticationError, ConfigError
from tests.support.registry import TestRegistry
from tests.support.tools import require_shared

LWS = ("bundles", "leader-worker-set-v1.0.0-rendered")
REPO = "leader-worker-set/lws-operator-bundle"


def _auth(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def _write(path: Path, auths: dict[str, object], **extra: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"auths": auths, **extra}))
    return path


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty HOME and no auth-related variables: the real user's files are never read."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "DOCKER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="module")
def lws_image(auth_registry: TestRegistry) -> str:
    options = AcquireOptions(username=auth_registry.username, password=auth_registry.password)
    push_bundle_image(require_shared(*LWS), f"{auth_registry.host}/{REPO}:1.0", options)
    return f"{auth_registry.host}/{REPO}:1.0"


LOCATIONS = [
    "--authfile",
    "REGISTRY_AUTH_FILE",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "~/.config",
    "DOCKER_CONFIG",
    "~/.docker",
    "~/.dockercfg",
]


def _place(location: str, home: Path, monkeypatch: pytest.MonkeyPatch, entries: dict[str, object]) -> Path | None:
    """Write ``entries`` where ``location`` says; return the path to pass as --authfile, if any."""
    tmp = home.parent
    if location == "--authfile":
        return _write(tmp / "explicit.json", entries)
    if location == "REGISTRY_AUTH_FILE":
        monkeypatch.setenv("REGISTRY_AUTH_FILE", str(_write(tmp / "env-auth.json", entries)))
    elif location == "XDG_RUNTIME_DIR":
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp / "run"))
        _write(tmp / "run/containers/auth.json", entries)
    elif location == "XDG_CONFIG_HOME":
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp / "xdg"))
        _write(tmp / "xdg/containers/auth.json", entries)
    elif location == "~/.config":
        _write(home / ".config/containers/auth.json", entries)
    elif location == "DOCKER_CONFIG":
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp / "dockercfg-dir"))
        _write(tmp / "dockercfg-dir/config.json", entries)
    elif location == "~/.docker":
        _write(home / ".docker/config.json", entries)
    elif location == "~/.dockercfg":
        (home / ".dockercfg").write_text(json.dumps(entries))  # legacy: no "auths" wrapper
    return None


@pytest.mark.parametrize("location", LOCATIONS)
def test_each_auth_file_location_against_a_real_registry(
    location: str,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    auth_registry: TestRegistry,
    lws_image: str,
    tmp_path: Path,
) -> None:
    assert auth_registry.username and auth_registry.password
    authfile = _place(
        location,
        home,
        monkeypatch,
        {auth_registry.host: _auth(auth_registry.username, auth_registry.password)},
    )
    def snapshot() -> dict[Path, tuple[bytes, int]]:
        files = [*tmp_path.rglob("*.json"), *home.rglob(".dockercfg")]
        return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}

    before = snapshot()
    assert before
    result = acquire(lws_image, AcquireOptions(authfile=authfile, cache_dir=tmp_path / "c", work_dir=tmp_path / "w"))
    assert (result.directory / "manifests/leader-worker-set.clusterserviceversion.yaml").is_file()
    assert snapshot() == before  # auth files untouched: same bytes, same mtimes, no new files


def test_wrong_password_is_an_authentication_error_without_secrets(
    home: Path,
    auth_registry: TestRegistry,
    lws_image: str,
    tmp_path: Path,
) -> None:
    secret = "wrong-secret-value-123"
    authfile = _write(tmp_path / "auth.json", {auth_registry.host: _auth("tester", secret)})
    options = AcquireOptions(authfile=authfile, cache_dir=tmp_path / "c", work_dir=tmp_path / "w")
    with pytest.raises(AuthenticationError) as info:
        acquire(lws_image, options)
    message = str(info.value)
    assert message.startswith(lws_image + ":")
    assert "401" in message
    assert secret not in message and secret not in repr(info.value)
    assert info.value.__cause__ is None
    explicit = AcquireOptions(username="tester", password=secret, work_dir=tmp_path / "w")
    assert secret not in repr(explicit)
    with pytest.raises(AuthenticationError) as info2:
        acquire(lws_image, explicit)
    assert secret not in str(info2.value)


def test_no_credentials(home: Path, auth_registry: TestRegistry, lws_image: str, tmp_path: Path) -> None:
    with pytest.raises(AuthenticationError, match="requires authentication and no credentials were found"):
        acquire(lws_image, AcquireOptions(work_dir=tmp_path))


def test_earlier_file_wins(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = Reference.parse("quay.io/ns/repo:1")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(home / "run"))
    _write(home / "run/containers/auth.json", {"quay.io": _auth("runtime", "p1")})
    _write(home / ".docker/config.json", {"quay.io": _auth("docker", "p2")})
    assert find_credentials(ref) == Credentials("runtime", "p1", f"{home}/run/containers/auth.json [quay.io]")
    _write(home / "run/containers/auth.json", {"other.io": _auth("runtime", "p1")})
    found = find_credentials(ref)
    assert found is not None and found.username == "docker"
    assert auth_file_candidates() == [
        home / "run/containers/auth.json",
        home / ".config/containers/auth.json",
        home / ".docker/config.json",
        home / ".dockercfg",
    ]


def test_most_specific_key_wins(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "auth.json",
        {
            "registry.redhat.io": _auth("host", "p"),
            "registry.redhat.io/ns": _auth("namespace", "p"),
            "registry.redhat.io/ns/repo": {"username": "repo", "password": "p"},
            "https://index.docker.io/v1/": _auth("hub", "p"),
        },
    )

    def user(text: str) -> str | None:
        found = find_credentials(Reference.parse(text), authfile=path)
        return found.username if found else None

    assert user("registry.redhat.io/ns/repo:1") == "repo"
    assert user("registry.redhat.io/ns/repo2:1") == "namespace"
    assert user("registry.redhat.io/ns/sub/repo:1") == "namespace"
    assert user("registry.redhat.io/other/repo:1") == "host"
    assert user("busybox") == "hub"
    assert user("quay.io/ns/repo:1") is None


def test_explicit_credentials_and_errors(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = Reference.parse("quay.io/ns/repo:1")
    path = _write(tmp_path / "auth.json", {"quay.io": _auth("file", "p")})
    found = find_credentials(ref, authfile=path, username="cli", password="s3cret")
    assert found == Credentials("cli", "s3cret", "command line")
    assert "s3cret" not in repr(found)
    with pytest.raises(ConfigError, match="together"):
        find_credentials(ref, username="cli")
    with pytest.raises(ConfigError, match="auth file not found"):
        find_credentials(ref, authfile=tmp_path / "missing.json")
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "missing-env.json"))
    with pytest.raises(ConfigError, match=r"missing-env\.json: auth file not found"):
        find_credentials(ref)
    monkeypatch.delenv("REGISTRY_AUTH_FILE")
    bad = tmp_path / "bad.json"
    bad.write_text('{"auths": {"quay.io": {"auth": "s3cret-not-json')
    with pytest.raises(ConfigError, match="not valid JSON") as info:
        find_credentials(ref, authfile=bad)
    assert "s3cret" not in str(info.value)
    garbled = _write(tmp_path / "garbled.json", {"quay.io": {"auth": base64.b64encode(b"nocolon").decode()}})
    with pytest.raises(ConfigError, match="base64 of user:password") as info:
        find_credentials(ref, authfile=garbled)
    assert "nocolon" not in str(info.value)
    assert find_credentials(ref) is None


def _helper(bin_dir: Path, name: str, server: str, user: str, secret: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / f"docker-credential-{name}"
    script.write_text(
        "#!/bin/sh\n"
        '[ "$1" = get ] || exit 2\n'
        "read server\n"
        f'if [ "$server" = "{server}" ]; then\n'
        f'  printf \'{{"ServerURL":"%s","Username":"{user}","Secret":"{secret}"}}\' "$server"\n'
        "else\n"
        '  echo "credentials not found in native keychain"; exit 1\n'
        "fi\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_credential_helpers(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    _helper(bin_dir, "fake", "quay.io", "helper-user", "helper-secret")
    _helper(bin_dir, "store", "registry.redhat.io", "store-user", "store-secret")
    _helper(bin_dir, "hub", "https://index.docker.io/v1/", "hub-user", "hub-secret")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    path = _write(
        tmp_path / "config.json",
        {"quay.io": _auth("inline", "p"), "registry.redhat.io": {}, "ghcr.io": _auth("inline", "p")},
        credHelpers={"quay.io": "fake", "docker.io": "hub", "gcr.io": "fake"},
        credsStore="store",
    )

    def lookup(text: str) -> Credentials | None:
        return find_credentials(Reference.parse(text), authfile=path)

    found = lookup("quay.io/ns/repo:1")
    assert found is not None and (found.username, found.password) == ("helper-user", "helper-secret")
    assert "helper-secret" not in repr(found)
    found = lookup("registry.redhat.io/ns/repo:1")  # credsStore for an empty auths entry
    assert found is not None and found.username == "store-user"
    found = lookup("busybox")
    assert found is not None and found.username == "hub-user"
    found = lookup("ghcr.io/ns/repo")  # inline auth beats credsStore
    assert found is not None and found.username == "inline"
    assert lookup("gcr.io/ns/repo") is None  # the helper has no entry and the store neither
    missing = _write(tmp_path / "missing-helper.json", {}, credHelpers={"quay.io": "nope"}, credsStore="gone")
    with pytest.raises(AuthenticationError, match="docker-credential-nope"):
        find_credentials(Reference.parse("quay.io/a/b"), authfile=missing)
    assert find_credentials(Reference.parse("other.io/a/b"), authfile=missing) is None
