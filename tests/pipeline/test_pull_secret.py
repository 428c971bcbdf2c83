"""``extractor.pipeline.pull_secret``: the deploy-time pull Secret from every credential source
(auths, credHelpers, credsStore with real ``docker-credential-*`` scripts on PATH), filtered to the
registries a chart pulls from once mirrors and overrides are applied."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from extractor import yamlio
from extractor.errors import AuthenticationError, ConfigError
from extractor.pipeline.pull_secret import parse_request, pull_secret_values, secret_registries
from tests.support.credhelper import write_credential_helper

LWS = "registry.redhat.io/leader-worker-set/lws-rhel9-operator@sha256:" + "b" * 64
WEBHOOK = "quay.io/jetstack/cert-manager-webhook:v1.15.5"


def config_json(values: str) -> dict[str, dict[str, dict[str, str]]]:
    data = yamlio.load(values)["pullSecret"]["dockerConfigJson"]
    parsed: dict[str, dict[str, dict[str, str]]] = json.loads(data)
    return parsed


def decoded(config: dict[str, dict[str, dict[str, str]]], key: str) -> str:
    return base64.b64decode(config["auths"][key]["auth"]).decode()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    write_credential_helper(bin_dir, "rh", {"registry.redhat.io": "rh-token", "mirror.example.com": "mirror-token"})
    write_credential_helper(bin_dir, "store", {"quay.io": "store-token"})
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return {"HOME": str(tmp_path)}


def test_cred_helpers_cover_the_chart_registries(tmp_path: Path, env: dict[str, str]) -> None:
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"credHelpers": {"registry.redhat.io": "rh"}, "credsStore": "store"}))
    secret = pull_secret_values([LWS, WEBHOOK, "${OPERATOR_IMAGE}"], [], {}, {}, authfile=auth, env=env)
    config = config_json(secret.values)
    assert sorted(config["auths"]) == ["quay.io", "registry.redhat.io"]
    assert decoded(config, "registry.redhat.io") == "u-registry.redhat.io:rh-token"
    assert decoded(config, "quay.io") == "u-quay.io:store-token"  # credsStore answers the rest
    assert secret.missing == ()
    assert "rh-token" not in repr(secret)


def test_mirror_targets_replace_the_original_registries(tmp_path: Path, env: dict[str, str]) -> None:
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"credHelpers": {"registry.redhat.io": "rh", "mirror.example.com": "rh"}}))
    mirrors = {"registry.redhat.io": "mirror.example.com/redhat"}
    assert sorted(secret_registries([LWS, WEBHOOK], [], mirrors, {})) == ["mirror.example.com", "quay.io"]
    secret = pull_secret_values([LWS, WEBHOOK], [], mirrors, {}, authfile=auth, env=env)
    assert sorted(config_json(secret.values)["auths"]) == ["mirror.example.com"]
    assert decoded(config_json(secret.values), "mirror.example.com") == "u-mirror.example.com:mirror-token"
    assert secret.missing == ("quay.io",)  # named, not an empty Secret entry
    # an override of a placeholder brings its registry in
    overridden = secret_registries(["${OPERATOR_IMAGE}"], [], {}, {"${OPERATOR_IMAGE}": "ghcr.io/o/op:1"})
    assert list(overridden) == ["ghcr.io"]


def test_no_credential_at_all_gives_an_empty_value_and_names_the_registries(
    tmp_path: Path, env: dict[str, str]
) -> None:
    secret = pull_secret_values([WEBHOOK], ["registry.redhat.io"], {}, {}, env=env)
    assert yamlio.load(secret.values) == {"pullSecret": {"dockerConfigJson": ""}}
    assert secret.missing == ("quay.io", "registry.redhat.io")


def test_path_scoped_auths_give_per_repository_entries(tmp_path: Path, env: dict[str, str]) -> None:
    auth = tmp_path / "auth.json"
    token = base64.b64encode(b"scoped:pw").decode()
    auth.write_text(json.dumps({"auths": {"quay.io/jetstack": {"auth": token}}}))
    secret = pull_secret_values([WEBHOOK, "quay.io/other/x:1"], [], {}, {}, authfile=auth, env=env)
    config = config_json(secret.values)
    assert list(config["auths"]) == ["quay.io/jetstack/cert-manager-webhook"]
    assert secret.missing == ("quay.io/other/x",)


def test_a_failing_or_missing_helper_is_one_clear_error(tmp_path: Path, env: dict[str, str]) -> None:
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"credHelpers": {"registry.redhat.io": "absent"}}))
    with pytest.raises(AuthenticationError, match="docker-credential-absent \\(credHelpers\\) not found in PATH"):
        pull_secret_values([LWS], [], {}, {}, authfile=auth, env=env)
    broken = tmp_path / "bin" / "docker-credential-broken"
    broken.write_text("#!/bin/sh\necho 'boom secret-ish' >&2\nexit 7\n")
    broken.chmod(0o755)
    auth.write_text(json.dumps({"credHelpers": {"registry.redhat.io": "broken"}}))
    with pytest.raises(AuthenticationError, match="exited with code 7") as info:
        pull_secret_values([LWS], [], {}, {}, authfile=auth, env=env)
    assert "boom" not in str(info.value) and "\n" not in str(info.value)


def test_request_parsing_names_the_bad_value() -> None:
    request = parse_request(json.dumps({"release": "lws", "images": [LWS], "registries": [],
                                        "imageRegistryMirrors": {"registry.redhat.io": "m.example"},
                                        "imageOverrides": {}}))
    assert request.release == "lws" and request.images == [LWS]
    with pytest.raises(ConfigError, match=r"^release 'lws': imageRegistryMirrors: 'quay.io' -> 'http://m' is not"):
        parse_request(json.dumps({"release": "lws", "imageRegistryMirrors": {"quay.io": "http://m"}}))
    for bad, message in (("[1]", "must be a JSON object"), ("{", "not valid JSON"),
                         ('{"images": "x"}', "images must be a list"), ('{"other": 1}', "unknown field")):
        with pytest.raises(ConfigError, match=message):
            parse_request(bad)


def test_each_credential_helper_runs_once_per_registry(tmp_path: Path, env: dict[str, str]) -> None:
    # sail-operator names ~25 references on registry.redhat.io: one helper run, not one per image
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    counting = bin_dir / "docker-credential-counting"
    counting.write_text(f'#!/bin/sh\necho "$$" >> {calls}\nread -r server\n'
                        'printf \'{"Username":"robot","Secret":"t-%s"}\' "$server"\n')
    counting.chmod(0o755)
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"credHelpers": {"registry.redhat.io": "counting"}, "credsStore": "counting"}))
    images = [f"registry.redhat.io/ns/image-{n}:v1" for n in range(5)] + [WEBHOOK, "quay.io/other/x:v2"]
    secret = pull_secret_values(images, [], {}, {}, authfile=auth, env=env)
    config = config_json(secret.values)
    assert decoded(config, "registry.redhat.io") == "robot:t-registry.redhat.io"
    assert decoded(config, "quay.io") == "robot:t-quay.io"
    assert len(calls.read_text().splitlines()) == 2  # one per registry
