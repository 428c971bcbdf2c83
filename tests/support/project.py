"""Generate a project (charts + helmfile) the way users do: ``make update-bundle MIRROR=...``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from extractor import yamlio
from tests.support.tools import require_tool

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
    """``make update-bundle CONFIG=<project>/bundles.yaml MIRROR=<mirror> URL_MIRROR=<loopback
    server of ../shared/extra-crds> [VARS]`` with its own cache (a later ``URL_MIRROR=`` in
    ``variables`` wins)."""
    from tests.support.urlserver import url_mirror_value

    return make("update-bundle", f"CONFIG={project / 'bundles.yaml'}", f"MIRROR={mirror}",
                f"URL_MIRROR={url_mirror_value()}", *variables,
                env={"BUNDLE_EXTRACT_CACHE_DIR": str(cache)}, check=check)


def tree(root: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file under ``root``."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def helm(binary: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run helm (``helm`` = 3.17.3, ``helm4`` = 4.1.4); assert it succeeded."""
    proc = subprocess.run([str(require_tool(binary)), *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, check=False)
    assert proc.returncode == 0, f"{binary} {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def helmfile(project: Path, *args: str, env: dict[str, str] | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run helmfile 0.166 (with helm 3.17.3) on ``project``'s helmfile, with a clean environment
    (``HOME`` = the project, so no user auth file is read unless ``env`` names one)."""
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(project),
                "HELMFILE_UPGRADE_NOTICE_DISABLED": "1"}
    full_env.update(env or {})
    proc = subprocess.run(
        [str(require_tool("helmfile")), "--helm-binary", str(require_tool("helm")),
         "--file", str(project / "helmfile.yaml.gotmpl"), *args],
        capture_output=True, text=True, cwd=project, timeout=300, check=False, env=full_env,
    )
    if check:
        assert proc.returncode == 0, f"helmfile {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def docs(text: str) -> list[dict[str, Any]]:
    """The non-empty documents of a YAML stream."""
    return [d for d in yamlio.load_all(text) if d]
