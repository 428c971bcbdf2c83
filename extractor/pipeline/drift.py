"""``bundle-extract verify``: is the committed output exactly what the lock regenerates?

Regenerates every entry from the digests in bundles.lock.yaml (no tag is resolved) with the locked
chart revisions, into a temporary directory, and compares with ``charts/``, the helmfile and the
lock. Nothing under the project is written. This is the drift check CI runs: it fails on hand
edits, on output that is stale, and on a generator whose output changed.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from extractor.acquire import AcquireOptions
from extractor.config import load_config
from extractor.emit.crds_chart import crds_chart_name
from extractor.errors import ConfigError
from extractor.pipeline.update import CHARTS_DIR, HELMFILE_NAME, generate
from extractor.review.lock import LOCK_NAME, read_lock

__all__ = ["verify"]


def _files(root: Path, names: list[str]) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for chart_name in [n for name in names for n in (name, crds_chart_name(name))]:  # charts and CRD charts
        chart = root / CHARTS_DIR / chart_name
        if chart.is_dir():
            for path in sorted(chart.rglob("*")):
                if path.is_file():
                    found[path.relative_to(root).as_posix()] = path.read_bytes()
    for rel in (HELMFILE_NAME, LOCK_NAME):
        if (root / rel).is_file():
            found[rel] = (root / rel).read_bytes()
    return found


def verify(config_path: Path, root: Path, acquire_options: AcquireOptions) -> list[str]:
    """Compare the project with what its lock regenerates; return the differences, one line each
    (``changed: charts/x/values.yaml``, ``missing: …``, ``unexpected: …``), empty when identical.

    ``root``: where ``charts/``, the helmfile and ``bundles.lock.yaml`` are. Raises
    :class:`ConfigError` when there is no lock or an entry has no lock entry, and the stage
    errors when a locked bundle cannot be regenerated.
    """
    config = load_config(config_path)
    locked = root / LOCK_NAME
    lock = read_lock(locked)
    if not lock.entries:
        raise ConfigError(f"{locked}: no lock yet; run 'make update-bundle' and commit {LOCK_NAME}")
    missing = [e.name for e in config.bundles if e.name not in lock.entries]
    if missing:
        raise ConfigError(f"{locked}: no entry for {', '.join(repr(m) for m in missing)}; run 'make update-bundle'")
    names = [e.name for e in config.bundles]
    with tempfile.TemporaryDirectory(prefix="bundle-extract-verify-") as tmp:
        scratch = Path(tmp)
        lock_copy = scratch / LOCK_NAME
        shutil.copyfile(locked, lock_copy)
        generate(
            config, scratch, acquire_options, lock_file=lock_copy,
            pins={n: lock.entries[n].digest for n in names},
            revisions={n: lock.entries[n].revision for n in names},
        )
        expected = _files(scratch, names)
    actual = _files(root, names)  # the lock included: it is root / LOCK_NAME
    problems = [f"changed: {rel}" for rel in sorted(expected) if rel in actual and actual[rel] != expected[rel]]
    problems += [f"missing: {rel}" for rel in sorted(expected) if rel not in actual]
    problems += [f"unexpected: {rel}" for rel in sorted(actual) if rel not in expected]
    return problems
