"""OLMv1 regression suite: every case under ../shared/olmv1-conformance renders the same objects.

Objects are compared semantically: same (kind, namespace, name) set and same content, ignoring key
order and the zero values Go's typed structs add on serialisation (null fields such as
``creationTimestamp: null``, and the top-level ``status``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from extractor import yamlio
from extractor.bundle.loader import load_bundle
from extractor.bundle.validate import validate_bundle
from extractor.model import BundleSource, RenderOptions
from extractor.render import render
from tests.support.tools import SHARED, require_shared

# case -> (install namespace, watch namespaces); from the suite's SOURCES.md
PARAMETERS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "all-namespaces": ("argocd-system", None),
    "single-namespace": ("argocd-system", ("argocd-watch",)),
    "own-namespace": ("argocd-system", ("argocd-system",)),
    "all-webhook-types": ("webhook-system", None),
}


def _cases() -> list[tuple[str, str]]:
    root = SHARED / "olmv1-conformance" / "expected"
    if not root.is_dir():
        return [("missing", "missing")]
    return [(b.name, c.name) for b in sorted(root.iterdir()) for c in sorted(b.iterdir()) if c.is_dir()]


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def normalise(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop what Go's typed serialisation adds: null fields (``creationTimestamp: null``...) and the
    top-level ``status`` (``status: {}``, ``loadBalancer: {}``, CRD ``acceptedNames``)."""
    out = _drop_nulls({k: v for k, v in obj.items() if k != "status"})
    assert isinstance(out, dict)
    return out


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name")))


@pytest.mark.parametrize(("bundle_name", "case"), _cases())
def test_conformance_case(bundle_name: str, case: str) -> None:
    base = require_shared("olmv1-conformance")
    if case not in PARAMETERS:
        pytest.fail(f"conformance case {bundle_name}/{case} has no known render parameters")
    install_ns, watch = PARAMETERS[case]
    directory = base / "bundles" / bundle_name
    bundle = load_bundle(BundleSource(reference=str(directory), directory=directory))
    options = RenderOptions(install_namespace=install_ns, watch_namespaces=watch, cert_provider="none")
    validate_bundle(bundle, options)
    manifests = render(bundle, options)

    expected = {}
    for path in sorted(Path(base / "expected" / bundle_name / case).glob("*.yaml")):
        obj = yamlio.load(path.read_bytes())
        expected[_key(obj)] = normalise(obj)
    actual = {_key(obj): normalise(obj) for obj in manifests.objects}
    assert len(actual) == len(manifests.objects), "rendered objects must have unique kind/namespace/name"
    assert sorted(actual) == sorted(expected)
    for key, obj in expected.items():
        assert actual[key] == obj, f"{key} differs"


@pytest.mark.parametrize(("bundle_name", "case"), _cases())
def test_conformance_case_through_the_cli(bundle_name: str, case: str) -> None:
    """``bundle-extract run DIR -n NS [--watch-namespace W] --cert-manager-enabled=false``."""
    import subprocess
    import sys

    base = require_shared("olmv1-conformance")
    install_ns, watch = PARAMETERS[case]
    args = [sys.executable, "-m", "extractor", "run", str(base / "bundles" / bundle_name), "-n", install_ns,
            "--cert-manager-enabled=false"]
    if watch:
        args += ["--watch-namespace", ",".join(watch)]
    proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    actual = {_key(obj): normalise(obj) for obj in yamlio.load_all(proc.stdout) if obj}
    expected = {}
    for path in sorted(Path(base / "expected" / bundle_name / case).glob("*.yaml")):
        obj = yamlio.load(path.read_bytes())
        expected[_key(obj)] = normalise(obj)
    assert actual == expected
