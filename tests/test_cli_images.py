"""``bundle-extract images`` / ``make images`` on a project generated from the three target
bundles (local directories: nothing is pulled), the unpullable-image warnings of ``update-bundle``
and ``--strict-images`` / ``BUNDLE_EXTRACT_STRICT_IMAGES``, and ``bundle-extract pull-secret``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from extractor import yamlio
from tests.conftest import REPO, TARGET_BUNDLES
from tests.support.project import make, tree
from tests.support.tools import require_shared
from tests.support.urlserver import url_mirror_value

LWS_OPERATOR = ("registry.redhat.io/leader-worker-set/lws-rhel9-operator@sha256:"
                "bb8ec96f1d8fd52c6633a5f0fda18234305b51b859b801db5966cfce53701b88")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI, with bundles.yaml's extraManifests URLs served by the loopback file server."""
    return subprocess.run([sys.executable, "-m", "extractor", *args], capture_output=True, text=True,
                          env={**os.environ, "BUNDLE_EXTRACT_URL_MIRROR": url_mirror_value(), **(env or {})},
                          cwd=REPO, timeout=600, check=False)


def _local_config(root: Path) -> Path:
    """The repository's bundles.yaml with each image replaced by its bundle directory."""
    config = yamlio.load((REPO / "bundles.yaml").read_bytes())
    for entry in config["bundles"]:
        entry["image"] = str(require_shared("bundles", TARGET_BUNDLES[entry["name"]]))
        entry.pop("version", None)
    root.mkdir(parents=True, exist_ok=True)
    (root / "bundles.yaml").write_text(yamlio.dump(config))
    return root / "bundles.yaml"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    config = _local_config(tmp_path_factory.mktemp("images") / "project")
    proc = cli("update-bundle", "-c", str(config))
    assert proc.returncode == 0, proc.stderr
    return config, proc


def test_update_bundle_warns_once_per_object_and_reference(
    generated: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    _, proc = generated
    lines = [line for line in proc.stderr.splitlines() if "cannot be pulled as written" in line]
    cert = [line for line in lines if "openshift.io/cert-manager-operator:latest" in line]
    assert len(cert) == 1
    assert cert[0].startswith("warning: chart 'cert-manager-operator': Deployment/cert-manager-operator-controller-"
                              "manager: image 'openshift.io/cert-manager-operator:latest'")
    sail_prefix = "warning: chart 'sail-operator': Deployment/servicemesh-operator3"
    sail = [line for line in lines if line.startswith(sail_prefix)]
    assert any("'${OSSM_OPERATOR_3_2}'" in line for line in sail)
    assert len(sail) == len({line.split("image ", 1)[1].split(" ", 1)[0] for line in sail})  # one per reference
    assert not [line for line in lines if "lws-operator" in line]


def test_images_plain_json_and_skopeo_files(generated: tuple[Path, subprocess.CompletedProcess[str]],
                                             tmp_path: Path) -> None:
    config, _ = generated
    proc = cli("images", "-c", str(config))
    assert proc.returncode == 0, proc.stderr
    plain = proc.stdout.splitlines()
    assert plain == sorted(set(plain)) and LWS_OPERATOR in plain
    assert "quay.io/jetstack/cert-manager-webhook:v1.15.5" in plain
    assert not [ref for ref in plain if "$" in ref or ref.startswith("openshift.io/")]
    assert "warning: not pullable: chart 'sail-operator'" in proc.stderr
    assert "'${OSSM_OPERATOR_3_2}'" in proc.stderr

    proc = cli("images", "-c", str(config), "--json", "--bundle", "sail-operator", "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["images"]
    assert {r["chart"] for r in rows} == {"sail-operator"}
    operator = [r for r in rows if r["source"] == "container"]
    assert operator == [{"chart": "sail-operator", "image": "${OSSM_OPERATOR_3_2}", "source": "container",
                         "object": "Deployment/servicemesh-operator3",
                         "field": "spec.template.spec.containers[sail-operator].image", "pullable": False,
                         "problem": "unexpanded placeholder"}]
    istiod = [r for r in rows if r["field"].endswith("[images.v1_26_4.istiod]")]
    assert istiod and istiod[0]["pullable"] and istiod[0]["source"] == "annotation"
    assert (tmp_path / "out/images.json").read_text() == proc.stdout
    sync = yamlio.load((tmp_path / "out/skopeo-sync.yaml").read_bytes())
    assert list(sync) == ["registry.redhat.io"]
    pilot = sync["registry.redhat.io"]["images"]["openshift-service-mesh/istio-pilot-rhel9"]
    assert pilot and all(tag.startswith("sha256:") for tag in pilot)  # copied by digest
    listed = (tmp_path / "out/images.txt").read_text().splitlines()
    assert len(listed) == sum(len(v) for repos in sync.values() for v in repos["images"].values())

    # the same list, byte for byte, from a copy of the generated project (nothing re-pulled)
    copy = tmp_path / "copy"
    shutil.copytree(config.parent, copy, ignore=shutil.ignore_patterns(".bundle-extract-*"))
    again = cli("images", "-c", str(copy / "bundles.yaml"), "--json", "--bundle", "sail-operator")
    assert again.stdout == proc.stdout


def test_images_errors_are_one_line(generated: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    config, _ = generated
    proc = cli("images", "-c", str(config), "--bundle", "nope")
    assert proc.returncode != 0 and proc.stderr.startswith("error: unknown bundle 'nope'")
    assert len(proc.stderr.strip().splitlines()) == 1
    empty = _local_config(tmp_path / "empty")
    proc = cli("images", "-c", str(empty))
    assert proc.returncode != 0 and "release.yaml: not found: generate the chart first" in proc.stderr
    # a chart generated before images were recorded: said so, not an empty list without a word
    old = tmp_path / "old"
    shutil.copytree(config.parent, old, ignore=shutil.ignore_patterns(".bundle-extract-*"))
    release = old / "charts/lws-operator/release.yaml"
    release.write_text(yamlio.dump({**yamlio.load(release.read_bytes()), "images": []}))
    proc = cli("images", "-c", str(old / "bundles.yaml"), "--bundle", "lws-operator")
    assert proc.returncode == 0 and proc.stdout == ""
    assert "warning: chart 'lws-operator' lists no images" in proc.stderr


def test_make_images(generated: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    config, _ = generated
    proc = make("images", f"CONFIG={config}")
    assert LWS_OPERATOR in proc.stdout.splitlines()


def test_strict_images_fails_and_writes_nothing(tmp_path: Path) -> None:
    config = _local_config(tmp_path / "project")
    before = tree(config.parent)
    for args, env in ((("--strict-images",), {}), ((), {"BUNDLE_EXTRACT_STRICT_IMAGES": "1"})):
        proc = cli("update-bundle", "-c", str(config), *args, env=env)
        assert proc.returncode != 0
        errors = [line for line in proc.stderr.splitlines() if line.startswith(("error:", "bundle "))]
        assert any("'cert-manager-operator'" in line and "--strict-images" in line
                   and "openshift.io/cert-manager-operator:latest" in line for line in errors), proc.stderr
        assert any("'sail-operator'" in line and "${OSSM_OPERATOR_3_2}" in line for line in errors)
        assert not [line for line in errors if "lws-operator" in line]
        assert tree(config.parent) == before  # nothing written


def test_pull_secret_command_prints_values_and_names_what_is_missing(tmp_path: Path) -> None:
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auths": {"registry.redhat.io": {"auth": "dTpw"}}}))  # u:p
    proc = cli("pull-secret", "--image", LWS_OPERATOR, "--registry", "quay.io", "--authfile", str(auth),
               env={"HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    values = yamlio.load(proc.stdout)
    assert json.loads(values["pullSecret"]["dockerConfigJson"]) == {"auths": {"registry.redhat.io": {"auth": "dTpw"}}}
    assert proc.stderr.strip() == ("warning: pull-secret: no credential for quay.io (auth files, credHelpers, "
                                   "credsStore): the pull Secret does not cover it")
    proc = cli("pull-secret", "--image", LWS_OPERATOR, "--authfile", str(tmp_path / "missing.json"))
    assert proc.returncode != 0 and proc.stderr.strip().endswith("missing.json: auth file not found")
    proc = cli("pull-secret")
    assert proc.returncode != 0 and "name at least one --registry" in proc.stderr
