"""Generate a project (charts + helmfile) the way users do: ``make update-bundle MIRROR=...``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def make(target: str, *variables: str, cwd: Path = REPO, env: dict[str, str] | None = None,
         check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``make -C REPO TARGET VAR=value...``; raise AssertionError with its output on failure."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(["make", "--no-print-directory", "-C", str(cwd), target, *variables],
                          capture_output=True, text=True, env=full_env, timeout=600, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"make {target} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def new_project(root: Path) -> Path:
    """A project directory holding a copy of the repository's bundles.yaml."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "bundles.yaml", root / "bundles.yaml")
    return root


def update_bundle(project: Path, mirror: str, cache: Path, *variables: str,
                  check: bool = True) -> subprocess.CompletedProcess[str]:
    """``make update-bundle CONFIG=<project>/bundles.yaml MIRROR=<mirror> [VARS]`` with its own cache."""
    return make("update-bundle", f"CONFIG={project / 'bundles.yaml'}", f"MIRROR={mirror}", *variables,
                env={"BUNDLE_EXTRACT_CACHE_DIR": str(cache)}, check=check)


def tree(root: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file under ``root``."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
