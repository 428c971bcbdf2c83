"""The shell the generated hooks run, with a stand-in ``kubectl`` on PATH that fails the way a busy
API server does: transient errors are retried, NotFound is an answer."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from extractor.draft.hookscripts import REQUIRE_APIS

FAKE_KUBECTL = """#!/bin/sh
count=$(cat "$COUNTER" 2>/dev/null || echo 0)
count=$((count + 1))
echo "$count" > "$COUNTER"
if [ "$count" -le "$FAILURES" ]; then
  echo "Unable to connect to the server: $FAILURE" >&2
  exit 1
fi
echo '{"kind":"APIResourceList","resources":[{"kind":"Certificate"},{"kind":"Issuer"}]}'
"""


def run(tmp_path: Path, failures: int, failure: str) -> tuple[subprocess.CompletedProcess[str], int]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "kubectl").write_text(FAKE_KUBECTL)
    (bin_dir / "kubectl").chmod(0o755)
    counter = tmp_path / f"count-{failures}-{len(failure)}"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "COUNTER": str(counter),
           "FAILURES": str(failures), "FAILURE": failure}
    proc = subprocess.run(["bash", "-c", REQUIRE_APIS, "require-apis", "demo", "cert-manager.io/v1",
                           "Certificate Issuer", "cert-manager"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    return proc, int(counter.read_text())


def test_transient_errors_are_retried(tmp_path: Path) -> None:
    proc, calls = run(tmp_path, 2, "connection refused")
    assert proc.returncode == 0, proc.stderr
    assert calls == 3 and "the cluster serves what release demo needs" in proc.stdout


def test_not_found_is_an_answer_not_retried(tmp_path: Path) -> None:
    proc, calls = run(tmp_path, 9, "the server could not find the requested resource (NotFound)")
    assert calls == 1
    assert proc.returncode == 1
    assert "creates Certificate, Issuer (cert-manager.io/v1), which this cluster does not serve" in proc.stderr


def test_a_lasting_error_fails_after_five_tries(tmp_path: Path) -> None:
    proc, calls = run(tmp_path, 9, "connection refused")
    assert calls == 5 and proc.returncode == 1
    assert "cannot ask the cluster for cert-manager.io/v1" in proc.stderr
