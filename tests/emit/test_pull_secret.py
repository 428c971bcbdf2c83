"""The generated ``pull-secret.values.yaml.gotmpl`` end to end: helmfile 0.166 runs
``bundle-extract pull-secret`` through ``exec`` (the console script found on PATH), the credentials
come from a ``credHelpers`` helper script written by the test, the helmfile environment value
``imageRegistryMirrors`` reaches the chart and the Secret, and a changed auth file rotates the
Secret on the test API server (``helmfile apply`` with helm-diff)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from tests.conftest import REPO
from tests.support.credhelper import write_credential_helper
from tests.support.kube import KubeCluster
from tests.support.project import docs
from tests.support.tools import require_helm_diff, require_tool

NAMESPACE = "bundle-extract-pull-secret"
IMAGE = "example.com/demo:1.0.0"  # the fixture bundle's operator image


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project of the multi-doc fixture bundle (CRDs and the PriorityClass left out, so that it
    installs in its own namespace and leaves nothing cluster-wide of other tests' behind)."""
    root = tmp_path_factory.mktemp("pull-secret")
    shutil.copytree(REPO / "tests/fixtures/bundles/multi-doc", root / "bundle")
    (root / "bundles.yaml").write_text(yamlio.dump({"bundles": [{
        "name": "rotation", "image": "./bundle", "namespace": NAMESPACE,
        "exclude": ['.kind == "CustomResourceDefinition"', '.kind == "PriorityClass"'],
    }]}))
    proc = subprocess.run([sys.executable, "-m", "extractor", "update-bundle", "-c", str(root / "bundles.yaml")],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "BUNDLE_EXTRACT_CACHE_DIR": str(root / "cache")})
    assert proc.returncode == 0, proc.stderr
    return root


def _env(home: Path, bin_dir: Path, **extra: str) -> dict[str, str]:
    """A clean environment: HOME (its auth files), the helpers first on PATH, then the test's PATH
    (the bundle-extract console script of this installation)."""
    console = Path(sys.executable).parent
    return {"PATH": f"{bin_dir}:{console}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(home),
            "HELMFILE_UPGRADE_NOTICE_DISABLED": "1", **extra}


def _helmfile(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(require_tool("helmfile")), "--helm-binary", str(require_tool("helm")),
         "--file", str(root / "helmfile.yaml.gotmpl"), *args],
        capture_output=True, text=True, cwd=root, env=env, timeout=300, check=False,
    )


def _secret_config(rendered: str) -> dict[str, Any]:
    [secret] = [d for d in docs(rendered) if d["kind"] == "Secret"]
    config: dict[str, Any] = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    return config


def test_cred_helper_fills_the_pull_secret(project: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    write_credential_helper(bin_dir, "corp", {"example.com": "helper-token-1"}, username="helper")
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker/config.json").write_text(json.dumps({"credHelpers": {"example.com": "corp"}}))
    proc = _helmfile(project, _env(tmp_path, bin_dir), "template", "--skip-deps")
    assert proc.returncode == 0, proc.stderr
    config = _secret_config(proc.stdout)
    assert config == {"auths": {"example.com": {"auth": base64.b64encode(b"helper:helper-token-1").decode()}}}
    accounts = [d for d in docs(proc.stdout) if d["kind"] == "ServiceAccount"]
    assert accounts and all(a["imagePullSecrets"] == [{"name": "rotation-pull-secret"}] for a in accounts)
    # no credential on disk in the project
    assert not [p for p in project.rglob("*") if p.is_file() and b"helper-token-1" in p.read_bytes()]


def test_environment_mirror_reaches_the_chart_and_the_secret(project: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    write_credential_helper(bin_dir, "corp", {"example.com": "original-token", "mirror.test": "mirror-token"},
                            username="helper")
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker/config.json").write_text(
        json.dumps({"credHelpers": {"example.com": "corp", "mirror.test": "corp"}}))
    values = tmp_path / "env-values.yaml"
    values.write_text(yamlio.dump({"imageRegistryMirrors": {"example.com": "mirror.test/corp"}}))
    proc = _helmfile(project, _env(tmp_path, bin_dir), "--state-values-file", str(values), "template", "--skip-deps")
    assert proc.returncode == 0, proc.stderr
    [deployment] = [d for d in docs(proc.stdout) if d["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "mirror.test/corp/demo:1.0.0"
    assert IMAGE not in proc.stdout
    assert list(_secret_config(proc.stdout)["auths"]) == ["mirror.test"]  # the registry pulled from

    # a registry the chart pulls from that no credential covers: a warning naming it, no Secret entry
    values.write_text(yamlio.dump({"imageRegistryMirrors": {"example.com": "nocreds.test/corp"}}))
    proc = _helmfile(project, _env(tmp_path, bin_dir), "--state-values-file", str(values), "template", "--skip-deps")
    assert proc.returncode == 0, proc.stderr
    assert "warning: pull-secret: release rotation: no credential for nocreds.test" in proc.stderr
    assert not [d for d in docs(proc.stdout) if d["kind"] == "Secret"]

    # a release's own values file (values/<release>.yaml, read after the generated values) wins for
    # the chart, and the Secret follows it
    (project / "values").mkdir()
    try:
        (project / "values/rotation.yaml").write_text(
            yamlio.dump({"imageRegistryMirrors": {"example.com": "mirror.test/per-release"}}))
        proc = _helmfile(project, _env(tmp_path, bin_dir), "--state-values-file", str(values), "template",
                         "--skip-deps")
    finally:
        shutil.rmtree(project / "values")
    assert proc.returncode == 0, proc.stderr
    [deployment] = [d for d in docs(proc.stdout) if d["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "mirror.test/per-release/demo:1.0.0"
    assert list(_secret_config(proc.stdout)["auths"]) == ["mirror.test"]
    assert "nocreds.test" not in proc.stderr


def test_a_chart_without_pull_secret_still_follows_the_environment_mirror(tmp_path: Path) -> None:
    """``image-pull-secrets: false``: no Secret and no credential lookup, but the deploy-wide
    ``imageRegistryMirrors`` of helmfile.values.yaml still reaches the chart."""
    root = tmp_path / "project"
    shutil.copytree(REPO / "tests/fixtures/bundles/multi-doc", root / "bundle")
    (root / "bundles.yaml").write_text(yamlio.dump({"bundles": [{
        "name": "nosecret", "image": "./bundle", "namespace": NAMESPACE,
        "exclude": ['.kind == "CustomResourceDefinition"', '.kind == "PriorityClass"'],
        "postprocessors": {"image-pull-secrets": False},
    }]}))
    proc = subprocess.run([sys.executable, "-m", "extractor", "update-bundle", "-c", str(root / "bundles.yaml")],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "BUNDLE_EXTRACT_CACHE_DIR": str(root / "cache")})
    assert proc.returncode == 0, proc.stderr
    gotmpl = (root / "charts/nosecret/pull-secret.values.yaml.gotmpl").read_text()
    assert "exec" not in gotmpl.split("*/ -}}", 1)[1]  # no credential lookup for a chart without Secret
    (root / "helmfile.values.yaml").write_text(yamlio.dump({"imageRegistryMirrors": {"example.com": "mirror.test/m"}}))
    # an empty PATH but for helm's: nothing is run at deploy time but helm
    proc = _helmfile(root, {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HELMFILE_UPGRADE_NOTICE_DISABLED": "1"},
                     "template", "--skip-deps")
    assert proc.returncode == 0, proc.stderr
    [deployment] = [d for d in docs(proc.stdout) if d["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "mirror.test/m/demo:1.0.0"
    assert IMAGE not in proc.stdout
    assert not [d for d in docs(proc.stdout) if d["kind"] == "Secret"]


def test_bad_mirror_value_and_failing_helper_fail_the_deploy(project: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker/config.json").write_text(json.dumps({"credHelpers": {"example.com": "gone"}}))
    proc = _helmfile(project, _env(tmp_path, bin_dir), "template", "--skip-deps")
    assert proc.returncode != 0
    assert "error: example.com/demo:1.0.0: credential helper docker-credential-gone (credHelpers) not found in PATH" \
        in proc.stderr
    values = tmp_path / "env-values.yaml"
    values.write_text(yamlio.dump({"imageRegistryMirrors": {"example.com": "https://mirror.test"}}))
    proc = _helmfile(project, _env(tmp_path, bin_dir), "--state-values-file", str(values), "template", "--skip-deps")
    assert proc.returncode != 0
    assert "error: release 'rotation': imageRegistryMirrors: 'example.com' -> 'https://mirror.test' is not" \
        in proc.stderr
    # the tool itself missing: one line naming it and the helmfile value to set
    proc = _helmfile(project, {**_env(tmp_path, bin_dir), "PATH": f"{bin_dir}:/usr/bin:/bin"},
                     "--state-values-set", "pullSecret.command=no-such-bundle-extract", "template", "--skip-deps")
    assert proc.returncode != 0
    assert "pull secret: no-such-bundle-extract not found in PATH" in proc.stderr


def test_changed_auth_file_rotates_the_secret(project: Path, kube_cluster: KubeCluster, tmp_path: Path) -> None:
    plugins = require_helm_diff()
    kubectl = require_tool("kubectl")
    bin_dir = tmp_path / "bin"
    write_credential_helper(bin_dir, "corp", {"example.com": "token-before"}, username="helper")
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"credHelpers": {"example.com": "corp"}}))
    env = _env(tmp_path, Path(f"{bin_dir}:{kubectl.parent}"), KUBECONFIG=str(kube_cluster.kubeconfig),
               KUBECACHEDIR=str(kube_cluster.root / "kube-cache"), HELM_PLUGINS=str(plugins),
               REGISTRY_AUTH_FILE=str(auth))

    def apply() -> subprocess.CompletedProcess[str]:
        proc = _helmfile(project, env, "apply", "--skip-deps", "--sync-args", "--wait=false")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def cluster_auth() -> str:
        out = kube_cluster.kubectl("get", "secret", "rotation-pull-secret", "-n", NAMESPACE, "-o", "json").stdout
        config = json.loads(base64.b64decode(json.loads(out)["data"][".dockerconfigjson"]))
        return base64.b64decode(config["auths"]["example.com"]["auth"]).decode()

    try:
        apply()
        assert cluster_auth() == "helper:token-before"
        # rotation: the auth file now holds another credential (auths instead of the helper)
        rotated = base64.b64encode(b"robot:token-after").decode()
        auth.write_text(json.dumps({"auths": {"example.com": {"auth": rotated}}}))
        proc = apply()
        assert cluster_auth() == "robot:token-after"
        assert "token-after" not in proc.stdout + proc.stderr  # helm-diff masks Secret data
        assert base64.b64encode(b"robot:token-after").decode() not in proc.stdout + proc.stderr
    finally:
        _helmfile(project, env, "destroy", "--skip-deps")
        kube_cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false", check=False)
