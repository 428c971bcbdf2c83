"""Orchestration: bundles.yaml -> charts/ + helmfile.yaml.gotmpl, and bundle -> plain manifests.

Nothing is written to the output until every selected bundle has been acquired, rendered,
post-processed and emitted into a staging directory; then each chart directory is swapped in
(rename) and the helmfile replaced atomically. A failure leaves the previous output untouched.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import postprocess
from extractor import __version__
from extractor.acquire import AcquireOptions, acquire
from extractor.bundle import kinds, load_bundle, validate_bundle
from extractor.config import BundleEntry, ProjectConfig, entry_version_text, load_config
from extractor.draft import ChartDraft, ReleaseSpec
from extractor.emit.chart import write_chart
from extractor.emit.helmfile import write_helmfile
from extractor.emit.swap import swap_in
from extractor.errors import ConfigError, EmitError, EntriesError, ExtractorError, RenderError
from extractor.model import Bundle, BundleSource, KubeObject, Manifests, RenderOptions
from extractor.render import render
from extractor.render.deployment_config import check_deployment_config
from postprocess import normalize_settings, run_postprocessors
from postprocess.exclude import compile_expressions, filter_objects

__all__ = [
    "CHARTS_DIR",
    "HELMFILE_NAME",
    "GenerateResult",
    "bundle_warnings",
    "generate",
    "new_draft",
    "regenerate_helmfile",
    "render_options_for",
    "render_plain",
    "update_bundle",
]

CHARTS_DIR = "charts"
HELMFILE_NAME = "helmfile.yaml.gotmpl"
_RELEASE_FILE = "release.yaml"
#: per chart: fingerprint of the inputs it was generated from + digest of its files
_STAMP_FILE = ".generated.json"


@dataclass(frozen=True)
class GenerateResult:
    """What :func:`generate` wrote: chart directories (by release name) and the helmfile path,
    plus the bundle digest each chart was generated from (``None`` for directory sources)."""

    charts: dict[str, Path]
    helmfile: Path
    digests: dict[str, str | None]
    warnings: tuple[str, ...] = ()


_RENDER_KEYS = {
    "certProvider": "cert_provider",
    "certManagerIssuerName": "cert_manager_issuer_name",
    "certManagerIssuerKind": "cert_manager_issuer_kind",
    "rbacNames": "rbac_names",
    "allowKinds": "allowed_kinds",
    "deploymentConfig": "deployment_config",
    "renderAPIServices": "render_apiservices",
}


def bundle_warnings(objects: Sequence[KubeObject], entry: str | None = None) -> list[str]:
    """Things in a rendered bundle a person should know about, one line each: Secrets that ship in
    the bundle (installed as they are; in a chart they are stored in ``templates/`` and in every
    Helm release). ``entry`` names the bundles.yaml entry in the messages."""
    prefix = f"bundle {entry!r}: " if entry else ""
    return [
        f"{prefix}the bundle ships Secret {obj.get('metadata', {}).get('name', '')!r}: it is installed as it is "
        "(review its content; in a chart it is stored in templates/ and in the Helm release)"
        for obj in objects
        if obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1" and isinstance(obj.get("metadata"), dict)
    ]


def render_options_for(entry: BundleEntry) -> RenderOptions:
    """Build the OLM render options of a bundles.yaml entry (its ``render:`` mapping + namespaces).

    Raises :class:`ConfigError` for an unknown ``render:`` key or a malformed ``deploymentConfig``.
    """
    kwargs: dict[str, Any] = {}
    for key, value in entry.render.items():
        if key not in _RENDER_KEYS:
            known = ", ".join(sorted(_RENDER_KEYS))
            raise ConfigError(f"bundle {entry.name!r}: unknown render option {key!r} (known: {known})")
        if key == "deploymentConfig" and value is not None:
            try:
                check_deployment_config(value)
            except RenderError as exc:
                raise ConfigError(f"bundle {entry.name!r}: render.deploymentConfig: {exc}") from None
        kwargs[_RENDER_KEYS[key]] = tuple(value) if key == "allowKinds" else value
    return RenderOptions(
        install_namespace=entry.namespace,
        watch_namespaces=entry.watch_namespaces or None,
        **kwargs,
    )


def drop_excluded_unsupported(
    bundle: Bundle, options: RenderOptions, exclude: Sequence[str] = (), include: Sequence[str] = ()
) -> Bundle:
    """Remove from ``bundle.others`` the objects of kinds OLM does not support that the user's
    jq ``exclude``/``include`` expressions filter out anyway, so that they do not fail validation
    ("an unsupported kind is an error unless excluded or allowed"). Returns a new Bundle."""
    unsupported = [doc for doc in bundle.others if not kinds.is_supported(doc.kind, options.allowed_kinds)]
    if not unsupported or not (exclude or include):
        return bundle
    kept = {id(obj) for obj in filter_objects([doc.obj for doc in unsupported], exclude, include)}
    dropped = {id(doc.obj) for doc in unsupported} - kept
    return dataclasses.replace(bundle, others=[doc for doc in bundle.others if id(doc.obj) not in dropped])


def render_plain(
    reference: str,
    options: RenderOptions,
    acquire_options: AcquireOptions,
    *,
    exclude: Sequence[str] = (),
    include: Sequence[str] = (),
) -> Manifests:
    """Acquire, load, validate and render one bundle (image reference or directory), then apply
    the jq ``exclude``/``include`` filters.

    Returns the OLM-rendered objects (what olm-extractor's ``run`` prints). Raises the
    :class:`~extractor.errors.ExtractorError` subclasses of each stage.
    """
    _, manifests = _load_and_render(acquire(reference, acquire_options), options, exclude, include)
    return dataclasses.replace(manifests, objects=filter_objects(manifests.objects, exclude, include))


def _load_and_render(
    source: BundleSource, options: RenderOptions, exclude: Sequence[str], include: Sequence[str]
) -> tuple[Bundle, Manifests]:
    """Load, validate and render: the shared middle of ``run`` and chart generation."""
    bundle = drop_excluded_unsupported(load_bundle(source), options, exclude, include)
    validate_bundle(bundle, options)
    return bundle, render(bundle, options)


def new_draft(
    name: str, install_namespace: str, bundle: Bundle, manifests: Manifests, *, needs: Sequence[str] = ()
) -> ChartDraft:
    """The draft of chart ``name`` straight from the render, before any post-processor: the
    rendered objects, the bundle's CRD bytes and CSV, and the image/digest the bundle came from."""
    return ChartDraft(
        name=name,
        install_namespace=install_namespace,
        bundle_image=bundle.source.image,
        bundle_digest=bundle.source.digest,
        csv_name=bundle.csv_name,
        csv_version=bundle.version,
        package=bundle.package,
        objects=manifests.objects,
        raw_crds=dict(manifests.raw_crds),
        csv=bundle.csv,
        needs=list(needs),
    )


def _postprocessor_settings(entry: BundleEntry) -> dict[str, Any]:
    settings: dict[str, Any] = dict(entry.postprocessors)
    exclude = settings.get("exclude")
    if exclude is False:
        return settings
    extra = dict(exclude) if isinstance(exclude, dict) else {}
    settings["exclude"] = {
        "exclude": list(entry.excludes) + list(extra.get("exclude", [])),
        "include": list(entry.include) + list(extra.get("include", [])),
    }
    return settings


def _build_chart(
    entry: BundleEntry, source: BundleSource, chart_dir: Path, warnings: list[str] | None = None
) -> ReleaseSpec:
    bundle, manifests = _load_and_render(source, render_options_for(entry), entry.excludes, entry.include)
    draft = new_draft(entry.name, entry.namespace, bundle, manifests, needs=entry.needs)
    draft = run_postprocessors(draft, _postprocessor_settings(entry))
    if warnings is not None:
        warnings.extend(bundle_warnings(draft.objects, entry.name))
    return write_chart(draft, chart_dir)


@functools.cache
def _tool_fingerprint() -> str:
    """sha256 over this tool's own source (extractor/, postprocess/): any code change regenerates."""
    digest = hashlib.sha256(__version__.encode())
    for package in (Path(__file__).resolve().parent, Path(postprocess.__file__).resolve().parent):
        for path in sorted(package.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(package.parent)).encode() + b"\0")
                digest.update(path.read_bytes())
    return digest.hexdigest()


def _tree_digest(root: Path, *, skip: str = "") -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != skip:
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _inputs_fingerprint(entry: BundleEntry, source: BundleSource) -> str:
    """What a chart is a function of: the tool, the bundles.yaml entry and the bundle content
    (the image digest, or the files of a bundle directory)."""
    content = source.digest or _tree_digest(source.directory)
    entry_data = dataclasses.asdict(entry)
    entry_data.pop("base_dir")  # where the project lives is not an input (local sources: `bundle`)
    payload = {"tool": _tool_fingerprint(), "entry": entry_data, "bundle": content,
               "image": source.image}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _up_to_date(chart_dir: Path, fingerprint: str) -> bool:
    """True if ``chart_dir`` was generated from the same inputs and has not been edited since."""
    stamp_path = chart_dir / _STAMP_FILE
    try:
        stamp = json.loads(stamp_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(stamp, dict) or stamp.get("inputs") != fingerprint:
        return False
    return bool(stamp.get("files") == _tree_digest(chart_dir, skip=_STAMP_FILE))


def _write_stamp(chart_dir: Path, fingerprint: str) -> None:
    stamp = {"inputs": fingerprint, "files": _tree_digest(chart_dir, skip=_STAMP_FILE)}
    (chart_dir / _STAMP_FILE).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _read_release_spec(root: Path, entry: BundleEntry) -> ReleaseSpec:
    path = root / CHARTS_DIR / entry.name / _RELEASE_FILE
    if not path.is_file():
        raise ConfigError(
            f"{path}: chart {entry.name!r} has not been generated yet; run 'make update-bundle' for all bundles"
        )
    spec = ReleaseSpec.from_file(path)
    # needs come from bundles.yaml, which may have changed since the chart was generated
    return dataclasses.replace(spec, needs=tuple(entry.needs))


def _check_entries(config: ProjectConfig, selected: Sequence[str]) -> None:
    """Everything about the entries that can be checked before pulling: render options, jq
    expressions, post-processor settings, ``needs`` (known, no self-reference, no cycle).

    Raises :class:`EntriesError` listing every bad entry.
    """
    errors: list[tuple[str, ExtractorError]] = []
    names = {e.name for e in config.bundles}
    for entry in config.bundles:
        try:
            if entry.name in selected:
                render_options_for(entry)
                compile_expressions(entry.excludes, "exclude")
                compile_expressions(entry.include, "include")
                normalize_settings(_postprocessor_settings(entry))
            for need in entry.needs:
                if need == entry.name:
                    raise ConfigError(f"bundle {entry.name!r}: needs itself")
                if need not in names:
                    raise ConfigError(f"bundle {entry.name!r}: needs {need!r}, which is not a bundle of {config.path}")
        except ExtractorError as exc:
            errors.append((entry.name, exc))
    if errors:
        raise EntriesError(errors)
    cycle = _needs_cycle({e.name: list(e.needs) for e in config.bundles})
    if cycle:
        raise ConfigError(f"{config.path}: needs form a cycle: {' -> '.join(cycle)}")


def _needs_cycle(needs: dict[str, list[str]]) -> list[str]:
    """One cycle of the ``needs`` graph as a path ``[a, b, ..., a]``, or ``[]``."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        path.append(name)
        for need in needs.get(name, []):
            if state.get(need) == 1:
                return [*path[path.index(need):], need]
            if need not in state and (found := visit(need)):
                return found
        path.pop()
        state[name] = 2
        return []

    for name in sorted(needs):
        if name not in state and (found := visit(name)):
            return found
    return []


def generate(
    config: ProjectConfig,
    root: Path,
    acquire_options: AcquireOptions,
    *,
    only: Sequence[str] | None = None,
    versions: dict[str, str] | None = None,
    keep_going: bool = False,
    extra_files: Sequence[tuple[Path, str]] = (),
) -> GenerateResult:
    """Regenerate charts for the selected entries (all when ``only`` is ``None``) and the helmfile.

    ``root``: directory receiving ``charts/<name>/`` and ``helmfile.yaml.gotmpl``.
    ``versions``: per-entry version overrides (``make update-bundle VERSION=...``).
    ``extra_files``: ``(path, text)`` pairs written in the same all-or-nothing step (bundles.yaml
    with a new version).
    Charts of unselected entries are read from their ``release.yaml``. A selected chart whose
    inputs (tool source, entry, bundle digest) and files are unchanged since it was generated
    (``charts/<name>/.generated.json``) is kept as it is. When all entries are regenerated, stale
    generated charts (a ``release.yaml`` but no entry) are removed.

    Every selected entry is tried; failures are collected and raised together as one
    :class:`EntriesError` (one line per entry). Without ``keep_going`` nothing under ``root`` (nor
    any ``extra_files`` path) has changed then; with it, the entries that succeeded are written
    (a failed entry keeps its previous chart, if any) before the error is raised.
    """
    selected = [e.name for e in config.bundles] if only is None else list(only)
    for name in selected:
        config.entry(name)  # raises ConfigError for unknown names
    _check_entries(config, selected)
    versions = versions or {}
    charts_root = root / CHARTS_DIR
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging_dir = tempfile.TemporaryDirectory(prefix=".bundle-extract-", dir=root)
    except OSError as exc:
        raise EmitError(f"{root}: cannot write the output here: {exc.strerror}") from None
    with staging_dir as tmp:
        staging = Path(tmp)
        specs: dict[str, ReleaseSpec] = {}
        digests: dict[str, str | None] = {}
        rebuilt: list[str] = []
        failed: list[tuple[str, ExtractorError]] = []
        warnings: list[str] = []
        for entry in config.bundles:
            if entry.name not in selected:
                continue
            if entry.name in versions:
                entry = dataclasses.replace(entry, version=versions[entry.name])
            try:
                source = acquire(entry.reference, acquire_options)
                digests[entry.name] = source.digest
                fingerprint = _inputs_fingerprint(entry, source)
                if _up_to_date(charts_root / entry.name, fingerprint):
                    # nothing changed since the last run: keep the chart as it is
                    specs[entry.name] = _read_release_spec(root, entry)
                    continue
                staged_chart = staging / CHARTS_DIR / entry.name
                specs[entry.name] = _build_chart(entry, source, staged_chart, warnings)
                _write_stamp(staged_chart, fingerprint)
                rebuilt.append(entry.name)
            except ExtractorError as exc:
                failed.append((entry.name, exc))
            except OSError as exc:
                failed.append((entry.name, EmitError(f"{exc.filename or root}: {exc.strerror}")))
        if failed and not keep_going:
            raise EntriesError(failed)
        failed_names = {name for name, _ in failed}
        ordered: list[ReleaseSpec] = []
        for entry in config.bundles:
            if entry.name in specs:
                ordered.append(specs[entry.name])
            elif entry.name not in failed_names or (charts_root / entry.name / _RELEASE_FILE).is_file():
                ordered.append(_read_release_spec(root, entry))
        staged_helmfile = staging / HELMFILE_NAME
        write_helmfile(ordered, staged_helmfile)
        moves: list[tuple[Path | None, Path]] = [(staging / CHARTS_DIR / n, charts_root / n) for n in rebuilt]
        if only is None and charts_root.is_dir():
            known = {e.name for e in config.bundles}
            for child in sorted(charts_root.iterdir()):
                if child.is_dir() and child.name not in known and (child / _RELEASE_FILE).is_file():
                    moves.append((None, child))
        final_helmfile = root / HELMFILE_NAME
        if not final_helmfile.is_file() or final_helmfile.read_bytes() != staged_helmfile.read_bytes():
            moves.append((staged_helmfile, final_helmfile))
        if not failed:
            for index, (path, text) in enumerate(extra_files):
                staged_file = staging / f"extra-{index}"
                staged_file.write_text(text, encoding="utf-8")
                moves.append((staged_file, path))
        # everything is rendered: swap it all into place at once
        swap_in(moves, staging / "previous")
        if failed:
            raise EntriesError(failed)
    return GenerateResult(
        charts={name: charts_root / name for name in selected},
        helmfile=root / HELMFILE_NAME,
        digests=digests,
        warnings=tuple(warnings),
    )


def regenerate_helmfile(config: ProjectConfig, root: Path) -> Path:
    """Rewrite ``helmfile.yaml.gotmpl`` from the charts' ``release.yaml`` files (no pulling)."""
    specs = [_read_release_spec(root, entry) for entry in config.bundles]
    with tempfile.TemporaryDirectory(prefix=".bundle-extract-", dir=root) as tmp:
        staged = Path(tmp) / HELMFILE_NAME
        write_helmfile(specs, staged)
        staged.replace(root / HELMFILE_NAME)
    return root / HELMFILE_NAME


def update_bundle(
    config_path: Path,
    root: Path,
    acquire_options: AcquireOptions,
    *,
    bundle: str | None = None,
    version: str | None = None,
    keep_going: bool = False,
) -> GenerateResult:
    """``make update-bundle``: regenerate everything, or one bundle at a new version.

    With ``bundle`` and ``version``, that version is generated first and written into
    ``bundles.yaml`` (ruamel round-trip: comments and order kept) in the same all-or-nothing step
    as the charts and the helmfile. ``keep_going``: see :func:`generate`.
    ``version`` without ``bundle`` is an error unless bundles.yaml has exactly one entry.
    """
    config = load_config(config_path)
    if version is not None and bundle is None:
        if len(config.bundles) != 1:
            raise ConfigError(f"{config_path}: VERSION needs BUNDLE=<name> (several bundles are listed)")
        bundle = config.bundles[0].name
    if version is not None and not version.strip():
        raise ConfigError("VERSION must not be empty")
    if bundle is not None and version is not None and config.entry(bundle).is_local:
        raise ConfigError(f"{config_path}: bundle {bundle!r} is a local source: change its image, not VERSION")
    only = [bundle] if bundle is not None else None
    versions = {bundle: version} if bundle is not None and version is not None else None
    extra: list[tuple[Path, str]] = []
    if bundle is not None and version is not None:
        text = entry_version_text(config_path, bundle, version)
        if text is not None:
            extra.append((config_path, text))
    return generate(config, root, acquire_options, only=only, versions=versions, keep_going=keep_going,
                    extra_files=extra)

