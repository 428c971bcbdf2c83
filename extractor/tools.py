"""Locate external programs (helm, helmfile, kubectl, docker-registry) and run them.

Lookup order for a tool ``name``: the environment variable ``BUNDLE_EXTRACT_<NAME>`` (upper case,
``-`` -> ``_``), then ``$BUNDLE_EXTRACT_TOOLS/bin/<name>`` (default ``~/.cache/bundle-extract/tools``,
where ``hack/install-tools.sh`` puts helm 3, helm 4 and helmfile), then ``PATH``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from extractor.errors import ToolError

__all__ = ["find_tool", "run_tool", "tools_dir"]


def tools_dir() -> Path:
    """The tools cache directory (``$BUNDLE_EXTRACT_TOOLS`` or ``~/.cache/bundle-extract/tools``)."""
    env = os.environ.get("BUNDLE_EXTRACT_TOOLS")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bundle-extract" / "tools"


def find_tool(name: str) -> Path | None:
    """Return the path of tool ``name`` (see module docstring), or ``None`` if it is not found."""
    override = os.environ.get("BUNDLE_EXTRACT_" + name.upper().replace("-", "_"))
    if override:
        return Path(override) if Path(override).exists() else None
    candidate = tools_dir() / "bin" / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    return Path(found) if found else None


def run_tool(
    name: str,
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    path: Path | str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run tool ``name`` with ``args``; return the completed process (stdout/stderr as text).
    ``path``: the binary to run (default: :func:`find_tool` of ``name``); ``env`` is added to the
    process environment.

    Raises :class:`ToolError` if the tool is missing, cannot be run, times out (``timeout``
    seconds) or exits non-zero; the message names the command and the last line of its stderr.
    The tool's stdin is ``/dev/null``: it never waits for a prompt.
    """
    if path is None:
        path = find_tool(name)
    if path is None:
        raise ToolError(f"{name}: not found (run 'make tools' or set BUNDLE_EXTRACT_{name.upper()})")
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    try:
        proc = subprocess.run(
            [str(path), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout,
            check=False, stdin=subprocess.DEVNULL,  # never wait for a prompt
        )
    except subprocess.TimeoutExpired:
        raise ToolError(f"{name} {' '.join(args[:2])}: timed out after {timeout:.0f}s") from None
    except OSError as exc:  # not executable, a directory, a bad interpreter line
        raise ToolError(f"{path}: cannot run {name} ({exc.strerror})") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit code {proc.returncode}"
        raise ToolError(f"{name} {' '.join(args[:2])} failed: {last}")
    return proc
