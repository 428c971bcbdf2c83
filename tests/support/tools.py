"""Find the real programs tests need; under ``CI=true`` a missing tool fails, never skips."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from extractor.tools import find_tool, tools_dir

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def in_ci() -> bool:
    """True when running under CI (``CI=true``)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str) -> Path:
    """Return the path of ``name``; fail under CI, skip elsewhere, when it is missing."""
    path = find_tool(name)
    if path is None:
        message = f"required tool {name!r} not found; run 'make tools' (hack/install-tools.sh)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


def require_shared(*parts: str) -> Path:
    """Return ``../shared/<parts>``; fail under CI (the data must be there), skip elsewhere."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"shared data {path} not found"
        if in_ci() or SHARED.exists():
            pytest.fail(message)
        pytest.skip(message)
    return path


def require_helm_diff() -> Path:
    """The ``HELM_PLUGINS`` directory holding helm-diff (``$HELM_PLUGINS``, else the tools cache's
    ``helm-plugins``); fail under ``CI=true``, skip elsewhere, when ``helm diff`` does not run."""
    plugins = Path(os.environ.get("HELM_PLUGINS") or tools_dir() / "helm-plugins")
    helm = require_tool("helm")
    proc = subprocess.run([str(helm), "diff", "version"], capture_output=True, text=True, timeout=60,
                          check=False, env={**os.environ, "HELM_PLUGINS": str(plugins)})
    if proc.returncode != 0:
        error = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[0]
        message = (f"helm-diff plugin not usable from HELM_PLUGINS={plugins}: {error}; "
                   "run 'make tools' (hack/build-helm-diff.sh)")
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return plugins
