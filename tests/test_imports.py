"""Import budget: a command imports only what it uses (a list check, not a timing).

``bundle-extract run DIR`` on a bundle directory needs no HTTP client, no bundles.yaml parser
(ruamel), no chart or helmfile writer (Jinja2), no post-processors, no jq (no expression given),
no review code; ``--help`` needs click and the CLI module. The modules a process imported are read
from ``sys.modules`` at the end of a real run of the command line (``-X importtime`` would miss
modules loaded with ``importlib.import_module``, as the lazy command table and pipeline exports do).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from extractor.demo.push import push_bundle_image
from tests.conftest import REPO
from tests.support.registry import TestRegistry

FIXTURE = REPO / "tests/fixtures/bundles/webhook-demo"

#: never imported by `run` on a directory
RUN_FORBIDDEN = (
    "httpx", "httpcore", "ssl", "ruamel", "jinja2", "jq", "deepdiff", "docker", "zstandard", "tarfile",
    "postprocess", "extractor.config", "extractor.emit", "extractor.review", "extractor.pipeline.update",
    "extractor.pipeline.drift", "extractor.demo", "extractor.acquire.client", "extractor.acquire.transport",
    "extractor.acquire.archive", "extractor.acquire.http_puller", "extractor.acquire.docker_puller",
    "extractor.draft", "multiprocessing", "ctypes", "extractor.acquire.credentials", "extractor.acquire.urlref",
    "subprocess", "logging", "tempfile", "shutil", "extractor.acquire.reference", "extractor.acquire.puller",
)
#: never imported by `--help`
HELP_FORBIDDEN = (*RUN_FORBIDDEN, "yaml", "extractor.acquire", "extractor.bundle", "extractor.render",
                  "extractor.pipeline", "extractor.yamlio")


_REPORT = """
import sys
at_start = set(sys.modules)  # the interpreter's and site's (a .pth file may import more): not the command's
import json
from extractor.cli import main
try:
    main(sys.argv[1:], prog_name="bundle-extract")
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
sys.stdout.flush()
sys.stderr.write("\\nMODULES " + json.dumps(sorted(set(sys.modules) - at_start)) + "\\n")
"""


def imported(*args: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules a ``bundle-extract ARGS`` process has imported when the command is done, less
    those loaded at interpreter start-up (``env``: extra environment variables)."""
    proc = subprocess.run([sys.executable, "-c", _REPORT, *args], capture_output=True, text=True, timeout=120,
                          check=False, cwd=REPO, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = set(json.loads(proc.stderr.rsplit("\nMODULES ", 1)[1]))
    assert "extractor.cli" in modules  # the report is what we think it is
    return modules


def _offending(modules: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden))


def test_run_on_a_directory_imports_only_what_it_uses() -> None:
    modules = imported("run", str(FIXTURE), "-n", "demo")
    assert {"extractor.render", "extractor.bundle.loader", "yaml"} <= modules
    assert _offending(modules, RUN_FORBIDDEN) == []


def test_run_from_a_registry_pulls_without_httpx(registry: TestRegistry, tmp_path: Path) -> None:
    """A pull speaks HTTP with the standard library (http.client): httpx is a test-only dependency;
    without a credential helper configured, no process-spawning code is loaded either."""
    image = f"{registry.host}/imports/webhook-demo:1"
    push_bundle_image(FIXTURE, image)
    modules = imported("run", image, "-n", "demo", env={"BUNDLE_EXTRACT_CACHE_DIR": str(tmp_path / "cache")})
    assert {"extractor.acquire.client", "http.client"} <= modules  # it did pull
    assert _offending(modules, ("httpx", "httpcore", "h11", "anyio", "subprocess", "multiprocessing", "logging")) == []


def test_help_imports_only_the_cli() -> None:
    assert _offending(imported("--help"), HELP_FORBIDDEN) == []
    assert _offending(imported("run", "--help"), HELP_FORBIDDEN) == []


def test_the_check_can_fail() -> None:
    """An exclude expression is evaluated by jq in a forked child (this process imports
    multiprocessing, with its subprocess, and ctypes for it), and that shows: the report is read
    correctly."""
    modules = imported("run", str(FIXTURE), "-n", "demo", "--exclude", ".metadata.name == \"x\"")
    assert {m.split(".")[0] for m in _offending(modules, RUN_FORBIDDEN)} == {"multiprocessing", "ctypes",
                                                                                 "subprocess"}
