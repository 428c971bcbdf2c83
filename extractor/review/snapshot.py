"""The two sides of a review: a generated project (``charts/`` + ``helmfile.yaml.gotmpl``) from a
directory or a git ref, loaded as rendered objects.

A side is a directory holding a generated project, or a git ref of the repository the project
directory is in, exported with ``git archive`` into a temporary directory (the user's working tree,
index and refs are never touched). Each chart is rendered with ``helm template`` as the helmfile
would install it with default environment values (release name and namespace from its
``release.yaml``, value bindings evaluated; Secret values redacted, see :func:`redact`); its CRDs
are read from ``presync/**.yaml`` directly (parsed only where the two sides' files differ).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractor import yamlio
from extractor.draft import ReleaseSpec
from extractor.emit.chart import CHARTS_DIR, PRESYNC_DIR, RELEASE_FILE
from extractor.emit.crds_chart import crds_of
from extractor.errors import ConfigError, ExtractorError, ToolError
from extractor.files import MAX_MANIFEST_FILE_BYTES, read_bounded
from extractor.tools import find_tool, run_tool

__all__ = [
    "HELMFILE_NAME",
    "WORKING_TREE",
    "ChartSnapshot",
    "ProjectSnapshot",
    "condition_holds",
    "load_project",
    "open_side",
    "redact",
]

HELMFILE_NAME = "helmfile.yaml.gotmpl"
#: the label of the side that is the project directory as it is on disk
WORKING_TREE = "working tree"


@dataclass(frozen=True)
class ChartSnapshot:
    """One chart of one side: ``chart`` (Chart.yaml), ``release`` (release.yaml; ``None`` when the
    chart has none), ``objects`` (what ``helm template`` renders), ``crd_files`` (path under
    ``presync/`` -> bytes; parsed on demand by :meth:`crds`) and the side's ``label``."""

    name: str
    chart: dict[str, Any]
    release: ReleaseSpec | None
    objects: list[dict[str, Any]]
    crd_files: dict[str, bytes] = field(default_factory=dict)
    label: str = ""

    def crds(self, skip: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
        """``{name: CRD}`` of the ``crd_files`` not in ``skip`` (CRDs are written byte-for-byte, so a
        caller comparing two sides skips the files equal on both). Raises :class:`ConfigError`
        naming the file when it is not YAML."""
        found: dict[str, dict[str, Any]] = {}
        skipped = set(skip)
        for path, data in sorted(self.crd_files.items()):
            if path in skipped:
                continue
            try:
                docs = yamlio.load_all(data)
            except Exception as exc:  # yaml errors, decoding errors
                where = f"{CHARTS_DIR}/{self.name}/{PRESYNC_DIR}/{path}"
                raise ConfigError(f"{self.label}: {where}: not YAML ({type(exc).__name__})") from None
            for doc in docs:
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    found[str((doc.get("metadata") or {}).get("name", path))] = doc
        return found

    @property
    def namespace(self) -> str:
        """The release namespace (``default`` without release.yaml)."""
        return self.release.namespace if self.release is not None else "default"

    @property
    def chart_version(self) -> str:
        """Chart.yaml ``version`` (``""`` when absent)."""
        return str(self.chart.get("version") or "")


@dataclass(frozen=True)
class ProjectSnapshot:
    """One side: ``label`` (the ref or directory as given), ``charts`` by name, and the helmfile
    environment defaults (every chart's ``helmfileValues`` merged, in chart-name order)."""

    label: str
    charts: dict[str, ChartSnapshot]
    helmfile_values: dict[str, Any] = field(default_factory=dict)


def _git(repo: Path, *args: str, binary: bool = False) -> subprocess.CompletedProcess[Any]:
    git = find_tool("git")
    if git is None:
        raise ToolError("git: not found (needed to read git refs; give directories instead)")
    return subprocess.run([str(git), "-C", str(repo), *args], capture_output=True, text=not binary,
                          check=False, timeout=300)


def _last_line(stderr: str | bytes) -> str:
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _check_project(root: Path, label: str) -> None:
    if not (root / CHARTS_DIR).is_dir() or not (root / HELMFILE_NAME).is_file():
        raise ConfigError(f"{label}: not a generated project (no {CHARTS_DIR}/ and {HELMFILE_NAME} in {root})")


def _export_ref(project: Path, ref: str, dest: Path) -> Path:
    """Extract ``charts/`` and the helmfile of ``project`` at git ``ref`` into ``dest``; return the
    project directory inside ``dest``. Raises :class:`ConfigError` for an unknown ref."""
    top = _git(project, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise ConfigError(f"{ref}: no such directory, and {project} is not in a git repository")
    commit = _git(project, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if commit.returncode != 0:
        raise ConfigError(f"{ref}: neither a directory nor a git ref of {top.stdout.strip()}")
    prefix = _git(project, "rev-parse", "--show-prefix").stdout.strip()
    archive = _git(Path(top.stdout.strip()), "archive", "--format=tar", commit.stdout.strip(), "--",
                   f"{prefix}{CHARTS_DIR}", f"{prefix}{HELMFILE_NAME}", binary=True)
    if archive.returncode != 0:
        where = prefix.rstrip("/") or "the repository root"
        raise ConfigError(f"{ref}: not a generated project at {where} ({_last_line(archive.stderr)})")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout), mode="r:") as tar:
        tar.extractall(dest, filter="data")
    return dest / prefix if prefix else dest


@contextlib.contextmanager
def open_side(spec: str | None, project: Path) -> Iterator[tuple[str, Path]]:
    """Yield ``(label, directory)`` of one side: ``spec`` ``None`` = ``project`` as it is on disk;
    an existing directory; else a git ref of the repository ``project`` is in, exported into a
    temporary directory removed on exit. Raises :class:`ConfigError` (one line) for a ref that does
    not exist or a tree that is not a generated project; :class:`ToolError` when git is missing."""
    if spec is None:
        _check_project(project, WORKING_TREE)
        yield WORKING_TREE, project
        return
    if Path(spec).is_dir():
        _check_project(Path(spec), spec)
        yield spec, Path(spec)
        return
    with tempfile.TemporaryDirectory(prefix="bundle-extract-review-") as tmp:
        root = _export_ref(project, spec, Path(tmp))
        _check_project(root, spec)
        yield spec, root


def _lookup(values: Mapping[str, Any], path: str) -> Any:
    current: Any = values
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def condition_holds(condition: str | None, values: Mapping[str, Any]) -> bool:
    """A release.yaml condition (``a.b`` or ``!a.b``, see :class:`ReleaseSpec`) against helmfile
    environment ``values``, as the helmfile evaluates it (missing = false); ``None`` holds."""
    if condition is None:
        return True
    negate = condition.startswith("!")
    return bool(_lookup(values, condition.lstrip("!"))) != negate


def _merge(into: dict[str, Any], values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def _read_yaml(path: Path, label: str) -> Any:
    try:
        return yamlio.load(read_bounded(path, where=f"{label}: {path.name}"))
    except ConfigError:
        raise
    except Exception as exc:  # yaml errors, decoding errors
        raise ConfigError(f"{label}: {path.name}: not YAML ({type(exc).__name__})") from None


def _crd_files(chart_dir: Path) -> dict[str, bytes]:
    presync = chart_dir / PRESYNC_DIR
    paths = sorted(presync.rglob("*.yaml")) if presync.is_dir() else []
    return {path.relative_to(presync).as_posix(): read_bounded(path, MAX_MANIFEST_FILE_BYTES)
            for path in paths if path.is_file()}


def _render(chart_dir: Path, release: ReleaseSpec | None, values: Mapping[str, Any], label: str) -> list[Any]:
    name = release.name if release is not None else chart_dir.name
    namespace = release.namespace if release is not None else "default"
    args = ["template", name, str(chart_dir.resolve()), "--namespace", namespace]
    for path, condition in release.value_bindings if release is not None else ():
        args += ["--set", f"{path}={'true' if condition_holds(condition, values) else 'false'}"]
    try:
        proc = run_tool("helm", args, cwd=chart_dir)
    except ToolError as exc:
        raise ToolError(f"{label}: {CHARTS_DIR}/{chart_dir.name}: {exc}") from None
    return [redact(doc) for doc in yamlio.load_all(proc.stdout) if isinstance(doc, dict)]


def redact(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with the values of a Secret's ``data``/``stringData`` replaced by
    ``<redacted sha256:…>`` (12 hex digits of their digest): changes still show, contents never do."""
    if obj.get("kind") != "Secret":
        return obj
    result = dict(obj)
    for key in ("data", "stringData"):
        values = result.get(key)
        if isinstance(values, dict):
            result[key] = {
                name: f"<redacted sha256:{hashlib.sha256(str(value).encode()).hexdigest()[:12]}>"
                for name, value in values.items()
            }
    return result


def load_project(label: str, root: Path, *, jobs: int = 2) -> ProjectSnapshot:
    """Load the generated project at ``root`` (``label`` names it in errors): every
    ``charts/<name>/`` with a Chart.yaml (but the companion ``<name>-crds`` charts), rendered with
    ``helm template`` (``jobs`` at a time).

    Raises :class:`ToolError` when helm is missing or fails, :class:`ConfigError` for unreadable
    chart files; messages start with ``label``.
    """
    if find_tool("helm") is None:
        raise ToolError("helm: not found (run 'make tools' or set BUNDLE_EXTRACT_HELM)")
    # companion <name>-crds charts hold the presync CRDs again (reviewed with their chart): left out
    dirs = sorted(p for p in (root / CHARTS_DIR).iterdir() if (p / "Chart.yaml").is_file() and crds_of(p) is None)
    charts: dict[str, dict[str, Any]] = {}
    releases: dict[str, ReleaseSpec | None] = {}
    values: dict[str, Any] = {}
    for chart_dir in dirs:
        chart = _read_yaml(chart_dir / "Chart.yaml", label)
        charts[chart_dir.name] = chart if isinstance(chart, dict) else {}
        release_path = chart_dir / RELEASE_FILE
        try:
            releases[chart_dir.name] = ReleaseSpec.from_file(release_path) if release_path.is_file() else None
        except ExtractorError as exc:
            detail = str(exc).replace(f"{release_path}: ", "")
            raise ConfigError(f"{label}: {CHARTS_DIR}/{chart_dir.name}/{RELEASE_FILE}: {detail}") from None
        spec = releases[chart_dir.name]
        if spec is not None:
            _merge(values, spec.helmfile_values)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        rendered = list(pool.map(lambda d: _render(d, releases[d.name], values, label), dirs))
    snapshots = {
        d.name: ChartSnapshot(d.name, charts[d.name], releases[d.name], objects, _crd_files(d), label)
        for d, objects in zip(dirs, rendered, strict=True)
    }
    return ProjectSnapshot(label=label, charts=snapshots, helmfile_values=values)

