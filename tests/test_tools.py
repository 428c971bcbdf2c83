"""The real programs the tests rely on are installed at the expected versions (``make tools``)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from extractor.errors import ToolError
from extractor.tools import find_tool, run_tool
from tests.support.tools import require_tool

NO_UPGRADE_CHECK = {"HELMFILE_UPGRADE_NOTICE_DISABLED": "1"}


def _output(path: Path, *args: str) -> str:
    env = {**os.environ, **NO_UPGRADE_CHECK}
    proc = subprocess.run([str(path), *args], capture_output=True, text=True, timeout=60, check=False, env=env)
    assert proc.returncode == 0, f"{path} {' '.join(args)} exited {proc.returncode}: {proc.stderr}"
    return proc.stdout + proc.stderr


@pytest.mark.parametrize(("name", "version"), [("helm", "v3.17.3"), ("helm4", "v4.1.4")])
def test_helm_versions(name: str, version: str) -> None:
    helm = require_tool(name)
    assert _output(helm, "version", "--template", "{{.Version}}").strip() == version


def test_helmfile_version() -> None:
    helmfile = require_tool("helmfile")
    assert _output(helmfile, "--version").split() == ["helmfile", "version", "0.166.0"]


def test_helmfile_drives_helm3(tmp_path: Path) -> None:
    """helmfile 0.166 templates a local chart through helm 3.17.3 (``--helm-binary``)."""
    helm = require_tool("helm")
    helmfile = require_tool("helmfile")
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: probe\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "templates" / "configmap.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n"
        "data:\n  greeting: {{ .Values.greeting | quote }}\n"
    )
    (tmp_path / "helmfile.yaml").write_text(
        "releases:\n- name: probe\n  namespace: probe-ns\n  chart: ./chart\n  values:\n  - greeting: from-helmfile\n"
    )
    out = _output(
        helmfile,
        "--helm-binary",
        str(helm),
        "--file",
        str(tmp_path / "helmfile.yaml"),
        "template",
        "--skip-deps",
    )
    assert "kind: ConfigMap" in out
    assert "name: probe" in out
    assert 'greeting: "from-helmfile"' in out


def test_docker_registry_version() -> None:
    registry = require_tool("docker-registry")
    # "docker-registry github.com/docker/distribution 2.8.2+unknown"
    assert re.search(r"\s2\.8\.\d+", _output(registry, "--version"))


def test_skopeo_version() -> None:
    skopeo = require_tool("skopeo")
    assert re.match(r"skopeo version \d+\.\d+\.\d+", _output(skopeo, "--version"))


def test_jq_version() -> None:
    jq = require_tool("jq")
    assert re.match(r"jq-1\.\d+", _output(jq, "--version"))


def test_kubectl_client_runs() -> None:
    kubectl = require_tool("kubectl")
    assert "Client Version: v1." in _output(kubectl, "version", "--client")


def test_run_tool_missing_tool_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    name = "bundle-extract-no-such-tool"
    monkeypatch.setenv("BUNDLE_EXTRACT_TOOLS", str(tmp_path))
    monkeypatch.delenv("BUNDLE_EXTRACT_BUNDLE_EXTRACT_NO_SUCH_TOOL", raising=False)
    assert find_tool(name) is None
    with pytest.raises(ToolError, match=rf"^{name}: not found"):
        run_tool(name, ["--version"])


def test_run_tool_nonzero_exit_raises(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "failing-tool"
    script.write_text("#!/bin/sh\necho working >&2\necho 'bad flag: --nope' >&2\nexit 3\n")
    script.chmod(0o755)
    monkeypatch.setenv("BUNDLE_EXTRACT_TOOLS", str(tmp_path))
    assert find_tool("failing-tool") == script
    with pytest.raises(ToolError, match=r"^failing-tool --nope failed: bad flag: --nope$"):
        run_tool("failing-tool", ["--nope"])


def test_run_tool_that_cannot_be_run_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    monkeypatch.setenv("BUNDLE_EXTRACT_NOT_EXECUTABLE", str(script))
    with pytest.raises(ToolError, match=rf"^{script}: cannot run not-executable \(Permission denied\)$"):
        run_tool("not-executable", ["--version"])


def test_run_tool_gives_the_tool_no_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "reads-stdin"
    script.write_text("#!/bin/sh\nreadlink /proc/self/fd/0\n")  # what the tool's stdin is (Linux)
    script.chmod(0o755)
    monkeypatch.setenv("BUNDLE_EXTRACT_READS_STDIN", str(script))
    assert run_tool("reads-stdin", [], timeout=30).stdout == "/dev/null\n"

def test_run_tool_returns_output() -> None:
    jq = require_tool("jq")
    assert find_tool("jq") == jq
    proc = run_tool("jq", ["-n", "-c", "{a: 1}"])
    assert proc.stdout.strip() == '{"a":1}'
