"""Find the real programs tests need; under ``CI=true`` a missing tool fails, never skips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from extractor.tools import find_tool

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
