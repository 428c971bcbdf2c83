"""helmfile generation, checked with helmfile 0.166 + helm 3.17 (lint, build, template; no mocks)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.draft import Hook, ReleaseSpec
from extractor.emit.chart import write_chart
from extractor.emit.helmfile import (
    KUBE_CONTEXT_ARG,
    KUBE_CONTEXT_SCRIPT,
    condition_expr,
    go_literal,
    render_helmfile,
    render_pull_secret_values,
    write_helmfile,
)
from extractor.errors import EmitError
from tests.support.drafts import TARGETS, processed_draft
from tests.support.tools import require_tool

SECRETS = {
    "registry.redhat.io": "cmVkaGF0LXVzZXI6c3VwZXItc2VjcmV0LXJoLXRva2Vu",
    "quay.io": "cXVheS11c2VyOnF1YXktc2VjcmV0LXRva2Vu",
    "ghcr.io": "Z2g6Z2hjci1zZWNyZXQtdG9rZW4=",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ReleaseSpec]]:
    root = tmp_path_factory.mktemp("project")
    specs = [write_chart(processed_draft(name), root / "charts" / name) for name in TARGETS]
    write_helmfile(specs, root / "helmfile.yaml.gotmpl")
    return root, specs


def _auth_file(path: Path, keys: dict[str, str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = (
        keys
        if keys is not None
        else {
            "registry.redhat.io": SECRETS["registry.redhat.io"],
            "https://quay.io/v1/": SECRETS["quay.io"],
            "ghcr.io": SECRETS["ghcr.io"],
        }
    )
    path.write_text(json.dumps({"auths": {k: {"auth": v} for k, v in entries.items()}, "credsStore": "secretservice"}))
    return path


def _helmfile(
    root: Path, *args: str, home: Path, env: dict[str, str] | None = None, ok: bool = True, logs: bool = False
) -> str:
    """Run helmfile on ``root``'s helmfile; stdout (plus stderr with ``logs``), or stderr when
    ``ok`` is false (the run must then fail)."""
    helmfile = require_tool("helmfile")
    helm = require_tool("helm")
    full_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "HELMFILE_UPGRADE_NOTICE_DISABLED": "1",
        "HELM_CACHE_HOME": str(home / ".cache" / "helm"),
        "HELM_CONFIG_HOME": str(home / ".config" / "helm"),
        "HELM_DATA_HOME": str(home / ".local" / "share" / "helm"),
        **(env or {}),
    }
    proc = subprocess.run(
        [str(helmfile), "--helm-binary", str(helm), "--file", str(root / "helmfile.yaml.gotmpl"), *args],
        cwd=home,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if ok:
        assert proc.returncode == 0, f"helmfile {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout + proc.stderr if logs else proc.stdout
    assert proc.returncode != 0, proc.stdout
    return proc.stderr


def _release(build: str, name: str) -> dict[str, Any]:
    [state] = [d for d in yamlio.load_all(build) if d]
    return next(r for r in state["releases"] if r["name"] == name)


def test_lint(project: tuple[Path, list[ReleaseSpec]], tmp_path: Path) -> None:
    root, _ = project
    out = _helmfile(root, "lint", home=tmp_path)
    assert out.count("0 chart(s) failed") == 3


def _unwrapped(hook: dict[str, Any]) -> dict[str, Any]:
    """``hook`` (from ``helmfile build``) as it is without the kube-context wrapper."""
    assert hook["command"] == "bash", hook
    assert hook["args"][:4] == ["-c", KUBE_CONTEXT_SCRIPT, "kube-context", KUBE_CONTEXT_ARG], hook["args"][:4]
    return {**hook, "command": hook["args"][4], "args": hook["args"][5:]}


def test_build_state(project: tuple[Path, list[ReleaseSpec]], tmp_path: Path) -> None:
    root, _ = project
    build = _helmfile(root, "build", home=tmp_path)
    [state] = [d for d in yamlio.load_all(build) if d]
    assert state["helmDefaults"]["wait"] is True
    assert state["helmDefaults"]["timeout"] == 600
    assert state["helmDefaults"]["createNamespace"] is True
    assert [r["name"] for r in state["releases"]] == list(TARGETS)

    cert_manager = _release(build, "cert-manager-operator")
    assert cert_manager["namespace"] == "cert-manager-operator"
    assert cert_manager["chart"] == "./charts/cert-manager-operator"
    assert cert_manager["disableValidation"] is True
    assert "needs" not in cert_manager
    # every hook runs through the kube-context wrapper (tests/emit/test_environments.py): look inside
    hooks = {h["name"]: _unwrapped(h) for h in cert_manager["hooks"]}
    assert list(hooks) == [
        "crd-stored-versions",
        "create-namespaces",
        "crds-bundle",
        "crds-bundle-established",
        "crds-openshift-infrastructure",
        "crds-openshift-infrastructure-established",
    ]
    assert hooks["create-namespaces"]["args"][-1] == "cert-manager"
    assert hooks["crds-bundle"]["command"] == "kubectl"
    assert hooks["crds-bundle"]["args"] == [
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=bundle-extract",
        "-f",
        "./charts/cert-manager-operator/presync/bundle/",
    ]
    wait = hooks["crds-bundle-established"]
    assert wait["command"] == "bash" and wait["args"][0] == "-c"
    assert "kubectl wait --for=condition=Established" in wait["args"][1]
    # the directory and the deadline are positional arguments, never part of the script
    assert wait["args"][2:] == ["crds-bundle-established", "300", "./charts/cert-manager-operator/presync/bundle/"]
    assert "charts/" not in wait["args"][1]
    assert all(h["events"] == ["presync"] and h["showlogs"] for h in hooks.values())
    assert {"infrastructure": {"create": True}} in cert_manager["values"]
    # the stored-versions check names the bundle's CRDs and their versions as arguments
    stored = hooks["crd-stored-versions"]["args"]
    assert stored[2:5] == ["crd-stored-versions", "cert-manager-operator", "certificaterequests.cert-manager.io"]
    assert "certificaterequests" not in stored[1]

    sail = _release(build, "sail-operator")
    assert sail["needs"] == ["cert-manager-operator/cert-manager-operator"]
    [ignore] = [_unwrapped(h) for h in sail["hooks"] if h["name"] == "sail-webhook-ignore"]
    assert ignore["events"] == ["postsync"]
    # survived helmfile's template pass: rendered at hook time with the release context
    assert ignore["args"][3] == "{{ .Release.Namespace }}"
    assert ignore["args"][4] == "300"
    assert "exit 1" in ignore["args"][1]
    assert _release(build, "lws-operator")["needs"] == ["cert-manager-operator/cert-manager-operator"]


def test_helmfile_values_gate_hooks(project: tuple[Path, list[ReleaseSpec]], tmp_path: Path) -> None:
    root, _ = project
    build = _helmfile(
        root, "build", "--state-values-set", "openshift.enabled=true,sailWebhookIgnore.enabled=false", home=tmp_path
    )
    cert_manager = _release(build, "cert-manager-operator")
    assert [h["name"] for h in cert_manager["hooks"]] == ["crd-stored-versions", "create-namespaces", "crds-bundle",
                                                          "crds-bundle-established"]
    assert {"infrastructure": {"create": False}} in cert_manager["values"]
    assert not [h for h in _release(build, "sail-operator")["hooks"] if h["name"] == "sail-webhook-ignore"]
    # a user-owned helmfile.values.yaml next to the helmfile is read when present
    (root / "helmfile.values.yaml").write_text("openshift:\n  enabled: true\n")
    try:
        build = _helmfile(root, "build", home=tmp_path)
    finally:
        (root / "helmfile.values.yaml").unlink()
    assert {"infrastructure": {"create": False}} in _release(build, "cert-manager-operator")["values"]


def _secrets(rendered: str) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for doc in yamlio.load_all(rendered):
        if doc and doc["kind"] == "Secret":
            config = json.loads(base64.b64decode(doc["data"][".dockerconfigjson"]))
            out[(doc["metadata"]["namespace"], doc["metadata"]["name"])] = config
    return out


def test_template_pull_secret_keeps_only_the_chart_registries(
    project: tuple[Path, list[ReleaseSpec]], tmp_path: Path
) -> None:
    root, specs = project
    assert {s.name: s.registries for s in specs} == {
        "cert-manager-operator": ("openshift.io", "quay.io"),
        "sail-operator": ("registry.redhat.io",),
        "lws-operator": ("registry.redhat.io",),
    }
    _auth_file(tmp_path / ".config" / "containers" / "auth.json")
    rendered = _helmfile(root, "template", home=tmp_path, env={"XDG_RUNTIME_DIR": str(tmp_path / "run")})
    secrets = _secrets(rendered)
    # one entry per registry, keyed by host (the credential lookup of pulls: bundle-extract pull-secret)
    quay = {"auths": {"quay.io": {"auth": SECRETS["quay.io"]}}}
    redhat = {"auths": {"registry.redhat.io": {"auth": SECRETS["registry.redhat.io"]}}}
    assert secrets == {
        ("cert-manager-operator", "cert-manager-operator-pull-secret"): quay,
        ("cert-manager", "cert-manager-operator-pull-secret"): quay,
        ("istio-system", "sail-operator-pull-secret"): redhat,
        ("openshift-lws-operator", "lws-operator-pull-secret"): redhat,
    }
    accounts = [d for d in yamlio.load_all(rendered) if d and d["kind"] == "ServiceAccount"]
    assert len(accounts) == 6 and all(a["imagePullSecrets"] for a in accounts)


def test_auth_file_lookup_order(project: tuple[Path, list[ReleaseSpec]], tmp_path: Path) -> None:
    root, _ = project
    _auth_file(tmp_path / ".docker" / "config.json", {"registry.redhat.io": "ZG9ja2VyOmNvbmZpZw=="})
    _auth_file(tmp_path / "run" / "containers" / "auth.json", {"registry.redhat.io": "eGRnOnJ1bnRpbWU="})
    explicit = _auth_file(tmp_path / "explicit.json", {"registry.redhat.io": "ZXhwbGljaXQ6ZmlsZQ=="})

    def lws_auth(*args: str, env: dict[str, str]) -> str:
        rendered = _helmfile(root, "template", "--selector", "name=lws-operator", *args, home=tmp_path, env=env)
        [config] = _secrets(rendered).values()
        return str(config["auths"]["registry.redhat.io"]["auth"])

    runtime = {"XDG_RUNTIME_DIR": str(tmp_path / "run")}
    assert lws_auth(env=runtime) == "eGRnOnJ1bnRpbWU="
    assert lws_auth(env={"XDG_RUNTIME_DIR": str(tmp_path / "none")}) == "ZG9ja2VyOmNvbmZpZw=="
    assert lws_auth(env={**runtime, "REGISTRY_AUTH_FILE": str(explicit)}) == "ZXhwbGljaXQ6ZmlsZQ=="
    assert lws_auth("--state-values-set", f"pullSecret.authFile={explicit}", env=runtime) == "ZXhwbGljaXQ6ZmlsZQ=="
    error = _helmfile(
        root, "template", "--state-values-set", f"pullSecret.authFile={tmp_path / 'missing.json'}",
        home=tmp_path, env=runtime, ok=False,
    )  # fmt: skip
    assert "missing.json: auth file not found" in error


def test_no_auth_file_no_secret(project: tuple[Path, list[ReleaseSpec]], tmp_path: Path) -> None:
    root, _ = project
    rendered = _helmfile(root, "template", home=tmp_path, env={"XDG_RUNTIME_DIR": str(tmp_path / "run")})
    assert _secrets(rendered) == {}
    accounts = [d for d in yamlio.load_all(rendered) if d and d["kind"] == "ServiceAccount"]
    assert accounts and not [a for a in accounts if "imagePullSecrets" in a]


def test_nothing_secret_in_generated_files_or_build(project: tuple[Path, list[ReleaseSpec]], tmp_path: Path) -> None:
    root, _ = project
    _auth_file(tmp_path / ".config" / "containers" / "auth.json")
    build = _helmfile(root, "build", home=tmp_path, env={"XDG_RUNTIME_DIR": str(tmp_path / "run")})
    texts = [build] + [p.read_text() for p in sorted(root.rglob("*")) if p.is_file()]
    for secret in SECRETS.values():
        assert not [t for t in texts if secret in t]


def test_hook_arguments_render_in_the_release_context(tmp_path: Path) -> None:
    """End to end: an escaped hook argument reaches the hook as the release namespace."""
    chart = tmp_path / "charts" / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    script = 'printf "ns=%s arg=%s\\n" "$1" "$2"'
    hook = Hook(
        name="show", events=("prepare",), command="bash",
        # args are release-context templates: a literal "{{" is written as {{ "{{" }}
        args=("-c", script, "show", "{{ .Release.Namespace }}", 'literal {{ "{{" }} and `ticks`'),
    )  # fmt: skip
    spec = ReleaseSpec(name="demo", namespace="demo-ns", chart_dir="./charts/demo", hooks=(hook,))
    write_helmfile([spec], tmp_path / "helmfile.yaml.gotmpl")
    out = _helmfile(tmp_path, "template", home=tmp_path, logs=True)
    assert "ns=demo-ns arg=literal {{ and `ticks`" in out


def test_render_is_deterministic(project: tuple[Path, list[ReleaseSpec]]) -> None:
    _, specs = project
    assert render_helmfile(specs) == render_helmfile(list(specs))
    again = [ReleaseSpec.from_dict(s.to_dict()) for s in specs]
    assert render_helmfile(again) == render_helmfile(specs)


def test_errors() -> None:
    spec = ReleaseSpec(name="a", namespace="ns", chart_dir="./charts/a", needs=("b",))
    with pytest.raises(EmitError, match="needs 'b'"):
        render_helmfile([spec])
    plain = ReleaseSpec(name="a", namespace="ns", chart_dir="./charts/a")
    with pytest.raises(EmitError, match="twice"):
        render_helmfile([plain, plain])
    one = ReleaseSpec(name="a", namespace="ns", chart_dir="./charts/a", helmfile_values={"x": {"enabled": True}})
    two = ReleaseSpec(name="b", namespace="ns", chart_dir="./charts/b", helmfile_values={"x": {"enabled": False}})
    with pytest.raises(EmitError, match=r"'x\.enabled'"):
        render_helmfile([one, two])
    bad = ReleaseSpec(
        name="a", namespace="ns", chart_dir="./c", hooks=(Hook("h", ("presync",), "x", (), condition="a b"),)
    )
    with pytest.raises(EmitError, match="condition"):
        render_helmfile([bad])
    with pytest.raises(EmitError, match="malformed"):
        render_pull_secret_values(["quay.io", 'evil" }}{{ exec'])


def test_go_literal_and_conditions() -> None:
    assert go_literal("plain") == "plain"
    assert go_literal('"{{ .Release.Name }}"') == '{{`"{{ .Release.Name }}"`}}'
    assert go_literal("{{ `x` }}") == '{{ "{{ `x` }}" }}'
    assert condition_expr("a.b") == '(.Values | get "a.b" false)'
    assert condition_expr("!openshift.enabled") == 'not (.Values | get "openshift.enabled" false)'
