"""``sail-webhook-ignore``: version gate and the hook script (run with a fake kubectl)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from extractor.errors import ConfigError
from postprocess import sail_webhook_ignore
from tests.support.drafts import rendered_draft


def test_enabled_below_fixed_version() -> None:
    draft = rendered_draft("sail-operator")
    assert draft.csv_version == "3.2.1"
    out = sail_webhook_ignore.run(draft, {"fixedIn": "3.2.3"})
    assert out.helmfile_values == {"sailWebhookIgnore": {"enabled": True}}
    [hook] = out.hooks
    assert hook.name == "sail-webhook-ignore"
    assert hook.events == ("postsync",)
    assert hook.condition == "sailWebhookIgnore.enabled"
    assert hook.command == "bash"
    assert hook.args == ("-c", sail_webhook_ignore.SCRIPT, "sail-webhook-ignore", "{{ .Release.Namespace }}", "300")


def test_disabled_from_fixed_version_on() -> None:
    draft = rendered_draft("sail-operator")
    assert sail_webhook_ignore.run(draft, {"fixedIn": "3.2.1"}).helmfile_values["sailWebhookIgnore"]["enabled"] is False
    draft.csv_version = "3.3.0"
    out = sail_webhook_ignore.run(draft, {"timeout": 60})
    assert out.helmfile_values["sailWebhookIgnore"]["enabled"] is False
    assert out.hooks[0].args[-1] == "60"


def test_version_order() -> None:
    vt = sail_webhook_ignore.version_tuple
    assert vt("3.2.2") < vt("3.2.3-rc.1") < vt("3.2.3") < vt("v3.10")
    with pytest.raises(ValueError):
        vt("latest")


def test_bad_options() -> None:
    draft = rendered_draft("sail-operator")
    with pytest.raises(ConfigError, match="timeout"):
        sail_webhook_ignore.run(draft, {"timeout": 0})
    with pytest.raises(ConfigError, match="fixedIn"):
        sail_webhook_ignore.run(draft, {"fixedIn": "soon"})


def _fake_tools(tmp_path: Path, *, objects_exist: bool) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "kubectl.log"
    (bin_dir / "kubectl").write_text(
        f'#!/bin/bash\necho "$@" >> {log}\nif [ "$1" = get ]; then exit {0 if objects_exist else 1}; fi\nexit 0\n'
    )
    (bin_dir / "sleep").write_text("#!/bin/bash\nexec /bin/sleep 0.05\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_script_annotates_both_webhooks(tmp_path: Path) -> None:
    env = _fake_tools(tmp_path, objects_exist=True)
    args = ["bash", "-c", sail_webhook_ignore.SCRIPT, "sail-webhook-ignore", "mesh", "30"]
    subprocess.run(args, env=env, check=True, timeout=30)
    log = (tmp_path / "kubectl.log").read_text().splitlines()
    assert "annotate --overwrite mutatingwebhookconfiguration/istio-sidecar-injector sailoperator.io/ignore=true" in log
    assert "annotate --overwrite validatingwebhookconfiguration/istio-validator-mesh sailoperator.io/ignore=true" in log


def test_script_fails_loudly_on_timeout(tmp_path: Path) -> None:
    env = _fake_tools(tmp_path, objects_exist=False)
    args = ["bash", "-c", sail_webhook_ignore.SCRIPT, "sail-webhook-ignore", "mesh", "1"]
    started = time.monotonic()
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode != 0
    assert "did not appear within 1s" in proc.stderr
    assert time.monotonic() - started < 15
    assert "annotate" not in (tmp_path / "kubectl.log").read_text()


def test_namespace_is_data_not_code(tmp_path: Path) -> None:
    env = _fake_tools(tmp_path, objects_exist=True)
    hostile = '$(touch pwned); "x'
    args = ["bash", "-c", sail_webhook_ignore.SCRIPT, "sail-webhook-ignore", hostile, "30"]
    subprocess.run(args, env=env, check=True, timeout=30, cwd=tmp_path)
    assert not (tmp_path / "pwned").exists()
