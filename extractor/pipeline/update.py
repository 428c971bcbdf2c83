"""bundles.yaml -> charts/ + helmfile.yaml.gotmpl + bundles.lock.yaml, all or nothing.

Nothing is written to the output until every selected bundle has been acquired, rendered,
post-processed and emitted into a staging directory; then the changed charts, the helmfile, the
lock (and bundles.yaml for a new version) are swapped in together (:func:`extractor.emit.swap.swap_in`).
A failure leaves every one of them as it was.

A no-op run is cheap: each registry entry's tag is resolved to its digest first
(:func:`extractor.acquire.resolve`, one manifest request; tags on registries of other machines
side by side, :func:`_plan_entries`); when the lock's inputs fingerprint and the chart files still
match, nothing is pulled, unpacked or built, and the chart, CRD-chart and build machinery is not
even imported. Only the entries that need a build go to the pool of forked processes (two or more
of them), pulled by the digest they resolved to. The helmfile is rendered only when the lock's
``helmfile:`` record (its inputs and the file's digest) no longer matches.

Longer than 400 lines: generation is one all-or-nothing transaction (staging, per-entry workers,
lock revisions, the swap); its steps share invariants that are easier to check in one module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import os
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractor.acquire import AcquireOptions, Resolved, acquire, is_bundle_directory, make_puller, resolve
from extractor.acquire.reference import Reference, apply_mirrors, is_loopback
from extractor.config import BundleEntry, ProjectConfig, entry_version_text, load_config
from extractor.emit.swap import Staging, swap_in
from extractor.errors import ConfigError, EmitError, EntriesError, ExtractorError
from extractor.model import BundleSource
from extractor.pipeline.catalogs import resolve_catalog_entries, with_catalog_locks
from extractor.pipeline.extras import extra_digest, extra_inputs_digest, read_extra_files
from extractor.review.lock import (
    GENERATOR,
    LOCK_NAME,
    HelmfileLock,
    Lock,
    LockEntry,
    chart_files_digest,
    helmfile_fingerprint,
    inputs_fingerprint,
    next_revision,
    read_lock,
    render_lock,
    tree_digest,
)

if TYPE_CHECKING:  # chart building, the helmfile writer and the pool load only when something is built
    from extractor.acquire.puller import Puller
    from extractor.bundle.extra import ExtraFile
    from extractor.draft import ReleaseSpec

__all__ = ["CHARTS_DIR", "HELMFILE_NAME", "GenerateResult", "generate", "regenerate_helmfile", "update_bundle"]

CHARTS_DIR = "charts"
HELMFILE_NAME = "helmfile.yaml.gotmpl"
_RELEASE_FILE = "release.yaml"
MAX_RESOLVES = 8
"""Most registry tags resolved at once (threads) while planning a run."""


@dataclass(frozen=True)
class GenerateResult:
    """What :func:`generate` wrote: chart directories (by release name), the helmfile and lock
    paths, the bundle digest each chart was generated from (``None`` for directory sources), and
    one-line warnings (e.g. Secrets shipped in a bundle, a dependency no entry provides) and notes
    (where a chart departs from OLMv1, needs added for a dependency) for a person."""

    charts: dict[str, Path]
    helmfile: Path
    digests: dict[str, str | None]
    warnings: tuple[str, ...] = ()
    lock: Path | None = None
    notes: tuple[str, ...] = ()


def read_release_spec(root: Path, entry: BundleEntry) -> ReleaseSpec:
    """The :class:`ReleaseSpec` of an already generated chart, with ``needs`` from bundles.yaml.

    Raises :class:`ConfigError` when the chart has not been generated.
    """
    from extractor.draft import ReleaseSpec

    path = root / CHARTS_DIR / entry.name / _RELEASE_FILE
    if not path.is_file():
        raise ConfigError(
            f"{path}: chart {entry.name!r} has not been generated yet; run 'make update-bundle' for all bundles"
        )
    spec = ReleaseSpec.from_file(path)
    # needs come from bundles.yaml, which may have changed since the chart was generated
    return dataclasses.replace(spec, needs=tuple(entry.needs))


def _crds_dir(chart_dir: Path) -> Path:
    """Where the companion CRD chart of the chart in ``chart_dir`` lives (next to it)."""
    from extractor.emit.crds_chart import crds_chart_name

    return chart_dir.parent / crds_chart_name(chart_dir.name)


def _same_tree(a: Path, b: Path) -> bool:
    """Both absent, or both present with the same files."""
    if not a.is_dir() or not b.is_dir():
        return a.is_dir() == b.is_dir()
    return tree_digest(a) == tree_digest(b)


def _crds_move(staged_chart: Path, final_chart: Path) -> tuple[Path | None, Path]:
    """The swap move of a rebuilt chart's companion: the staged one, or removal when there is none."""
    staged = _crds_dir(staged_chart)
    return (staged if staged.is_dir() else None), _crds_dir(final_chart)


def _check_companion_names(config: ProjectConfig) -> None:
    """Raise :class:`ConfigError` when an entry's name is another entry's companion chart name."""
    from extractor.emit.crds_chart import crds_chart_name

    names = {e.name for e in config.bundles}
    for entry in config.bundles:
        if crds_chart_name(entry.name) in names:
            raise ConfigError(f"{config.path}: bundle {crds_chart_name(entry.name)!r} has the name of the CRD "
                              f"chart generated for {entry.name!r}; rename it")


def _check_entries(config: ProjectConfig, selected: Sequence[str], checked: Collection[str] = ()) -> None:
    """What can be checked before pulling (render options, jq expressions, post-processor
    settings), for every selected entry but those in ``checked`` (the lock shows this generator
    built them with these options, :func:`_options_locked`). Raises :class:`EntriesError` listing
    every bad entry."""
    errors: list[tuple[str, ExtractorError]] = []
    todo = [entry for entry in config.bundles if entry.name in selected and entry.name not in checked]
    if not todo:
        return
    from extractor.pipeline.build import postprocessor_settings, render_options_for
    from extractor.render.filters import compile_expressions
    from postprocess import normalize_settings

    for entry in todo:
        try:
            render_options_for(entry)
            compile_expressions(entry.excludes, "exclude")
            compile_expressions(entry.include, "include")
            normalize_settings(postprocessor_settings(entry))
        except ExtractorError as exc:
            errors.append((entry.name, exc))
    if errors:
        raise EntriesError(errors)


def _acquire(entry: BundleEntry, options: AcquireOptions, pin: str | None,
             puller: Puller | None = None) -> tuple[BundleSource, str]:
    """The entry's bundle and its digest (``tree:sha256:…`` for a directory). ``pin``: a digest to
    pull instead of resolving the tag (locked, or resolved already; the chart still names the
    tag). ``puller``: the run's puller (its caller closes it), else one per pull."""
    if pin is not None and not entry.is_local:
        source = acquire(f"{entry.image}@{pin}", options, puller=puller)
        source = dataclasses.replace(source, image=str(Reference.parse(entry.reference)))
    else:
        source = acquire(entry.reference, options, puller=puller)
    digest = source.digest or "tree:" + tree_digest(source.directory)
    if pin is not None and digest != pin:
        raise ConfigError(f"bundle {entry.name!r}: content is {digest}, bundles.lock.yaml has {pin}")
    return source, digest


def _acquire_with_extras(entry: BundleEntry, options: AcquireOptions, pin: str | None,
                         puller: Puller | None) -> tuple[BundleSource, str, list[ExtraFile]]:
    """:func:`_acquire` and the entry's ``extraManifests`` files (:func:`read_extra_files`). URLs
    are fetched in a thread while the bundle is pulled: both mostly wait on the network. Raises
    the pull's error when both fail."""
    if not any(item.url is not None for item in entry.extra_manifests):
        source, digest = _acquire(entry, options, pin, puller)
        return source, digest, read_extra_files(entry, options)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as fetcher:  # leaving the block waits for the thread
        extras = fetcher.submit(read_extra_files, entry, options)
        source, digest = _acquire(entry, options, pin, puller)
        return source, digest, extras.result()


def _entry_data(entry: BundleEntry) -> dict[str, object]:
    data = dataclasses.asdict(entry)
    data.pop("base_dir")  # where the project lives is not an input (local sources: the bundle digest)
    for key in ("patches", "extra_manifests"):  # absent ones leave older fingerprints as they were
        if not data[key]:
            data.pop(key)
    return data


def _build(
    entry: BundleEntry, source: BundleSource, digest: str, staged: Path, locked: LockEntry | None,
    revision: int | None, warnings: list[str], inputs: str, notes: list[str] | None = None,
    extra_files: Sequence[ExtraFile] = (),
) -> tuple[ReleaseSpec, LockEntry]:
    """Build the chart into ``staged`` with the revision the lock calls for (``revision`` forces one).
    ``inputs``: the entry's :func:`extractor.review.lock.inputs_fingerprint`, recorded in the lock."""
    from extractor.emit.chart import chart_version, set_chart_version
    from extractor.emit.crds_chart import crds_chart_name, write_crds_chart
    from extractor.pipeline.build import build_chart

    crd_objects: dict[str, Any] = {}
    spec, csv_name, csv_version = build_chart(entry, source, staged, revision=1, warnings=warnings, notes=notes,
                                              extra_files=extra_files, crd_objects=crd_objects)
    staged_crds = staged.parent / crds_chart_name(entry.name)
    # the companion <name>-crds chart, when the chart has CRDs (from the CRDs parsed already)
    write_crds_chart(staged, staged_crds, parsed=crd_objects)
    files = chart_files_digest(staged, staged_crds)
    if revision is None:
        revision = next_revision(locked, csv_version, files)
    if revision != 1:
        set_chart_version(staged, csv_version, revision)
        if staged_crds.is_dir():
            set_chart_version(staged_crds, csv_version, revision)
    return spec, LockEntry(
        name=entry.name, image=entry.image, version=entry.version, digest=digest, csv_name=csv_name,
        csv_version=csv_version, chart_version=chart_version(csv_version, revision), revision=revision,
        files=files, generator=GENERATOR, inputs=inputs,
    )


@dataclass(frozen=True)
class _Job:
    """What every entry's work shares (inherited by forked workers, never pickled)."""

    root: Path
    staging: Staging
    acquire_options: AcquireOptions
    lock: Lock
    pins: dict[str, str]
    revisions: dict[str, int]


@dataclass(frozen=True)
class _Plan:
    """An entry to build. ``resolved``: what its tag resolved to (it is pulled by that digest);
    ``None`` when only a full acquire can tell (a local source, ``--puller docker``, a pin from the
    lock: ``verify``). ``puller``: the puller that resolved it, whose registry token for the
    repository the pull reuses (in a forked worker too: the puller comes with the fork, without
    connections)."""

    entry: BundleEntry
    resolved: Resolved | None = None
    puller: Puller | None = None


@dataclass
class _Outcome:
    """One entry's result: its release spec and lock entry (``None`` when unchanged), or its error."""

    name: str
    spec: ReleaseSpec | None = None
    lock_entry: LockEntry | None = None
    digest: str | None = None
    rebuilt: bool = False
    error: ExtractorError | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Pullers:
    """The pullers of a run in this process, one per thread (a puller is not thread-safe; each
    reuses its connections and tokens across that thread's entries), made on first use;
    :meth:`close` at the end. Closing only drops connections: a closed puller still works and
    connects again when used."""

    def __init__(self, options: AcquireOptions) -> None:
        self.options = options
        self._pullers: dict[int, Puller] = {}
        self._lock = threading.Lock()

    def get(self) -> Puller:
        """The calling thread's puller (made now if needed). Raises :class:`ConfigError` for an
        unknown backend."""
        thread = threading.get_ident()
        with self._lock:
            puller = self._pullers.get(thread)
        if puller is None:
            puller = make_puller(self.options)
            with self._lock:
                self._pullers[thread] = puller
        return puller

    def close(self) -> None:
        """Close every puller made so far (their connections); :meth:`get` makes new ones."""
        with self._lock:
            pullers = list(self._pullers.values())
            self._pullers.clear()
        for puller in pullers:
            with contextlib.suppress(Exception):  # closing connections: nothing to report
                puller.close()


def _error(exc: Exception, root: Path) -> ExtractorError:
    """An entry's error as reported: the stage error itself, an ``OSError`` as one line."""
    if isinstance(exc, ExtractorError):
        return exc
    assert isinstance(exc, OSError)
    return EmitError(f"{exc.filename or root}: {exc.strerror}")


def _unchanged(job: _Job, entry: BundleEntry, inputs: str) -> bool:
    """True when the lock's inputs fingerprint of ``entry`` is ``inputs`` and its chart files (and
    CRD chart) are still what the lock recorded: nothing to build."""
    locked = job.lock.entries.get(entry.name)
    chart_dir = job.root / CHARTS_DIR / entry.name
    return (not job.pins and locked is not None and locked.inputs == inputs and chart_dir.is_dir()
            and chart_files_digest(chart_dir, _crds_dir(chart_dir)) == locked.files)


def _plan_entry(job: _Job, entry: BundleEntry, pullers: _Pullers) -> _Plan | _Outcome:
    """Resolve ``entry``'s tag to a digest (no pull; extra manifests by their digests, no fetch) and
    compare with the lock: an outcome when nothing changed (or the resolution failed), else the plan
    of its build. Never raises."""
    if job.pins or entry.is_local:
        return _Plan(entry)
    try:
        options = job.acquire_options
        puller = pullers.get() if options.puller == "http" else None
        resolved = resolve(entry.reference, options, puller=puller)
        if resolved is None:
            return _Plan(entry)
        locked = job.lock.entries.get(entry.name)
        if locked is None or not (job.root / CHARTS_DIR / entry.name).is_dir():
            return _Plan(entry, resolved, puller)  # to be built whatever its inputs
        inputs = inputs_fingerprint(_entry_data(entry), resolved.digest, resolved.image, extra_inputs_digest(entry))
        if _unchanged(job, entry, inputs):
            return _Outcome(entry.name, spec=read_release_spec(job.root, entry), digest=resolved.digest)
        return _Plan(entry, resolved, puller)
    except (ExtractorError, OSError) as exc:
        return _Outcome(entry.name, error=_error(exc, job.root))


def _remote(entry: BundleEntry, options: AcquireOptions) -> bool:
    """Whether resolving ``entry``'s tag asks a registry on another machine (after mirroring)."""
    try:
        return not is_loopback(apply_mirrors(Reference.parse(entry.reference), options.mirrors).registry)
    except ConfigError:
        return False  # a malformed reference: _plan_entry reports it


def _plan_entries(job: _Job, entries: list[BundleEntry], pullers: _Pullers) -> list[_Plan | _Outcome]:
    """:func:`_plan_entry` of each entry, in ``entries`` order. When two or more tags are on
    registries of other machines, the tags are resolved side by side (threads, at most
    :data:`MAX_RESOLVES` at once, one puller each): such a resolution mostly waits on round trips
    (a connection, a token, a manifest), so the run waits about as long as for the slowest tag, not
    for all of them. A registry on this machine answers faster than a thread costs: those are
    resolved one after another. The threads have ended when this returns (before any fork)."""
    options = job.acquire_options
    if job.pins or options.puller != "http" or sum(
            not entry.is_local and _remote(entry, options) for entry in entries) < 2:
        return [_plan_entry(job, entry, pullers) for entry in entries]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(MAX_RESOLVES, len(entries)), thread_name_prefix="resolve") as pool:
        return list(pool.map(lambda entry: _plan_entry(job, entry, pullers), entries))


def _process_entry(job: _Job, plan: _Plan, pullers: _Pullers | None = None) -> _Outcome:
    """Acquire ``plan``'s bundle (by its resolved digest when it has one) and, unless the lock says
    nothing changed, build its chart into the staging directory, pulling with the plan's puller
    (the one that resolved its tag), else with ``pullers``' (``None`` in a forked worker: one per
    pull). Errors of the stages come back in the outcome, never raised."""
    entry = plan.entry
    outcome = _Outcome(entry.name)
    locked = job.lock.entries.get(entry.name)
    chart_dir = job.root / CHARTS_DIR / entry.name
    try:
        puller = plan.puller or (pullers.get() if pullers is not None else None)
        # resolved in the parent (and found changed): pull exactly that digest
        pin = plan.resolved.digest if plan.resolved is not None else job.pins.get(entry.name)
        options = job.acquire_options
        if options.work_dir is None and not is_bundle_directory(entry.reference):
            # an image or archive is unpacked in the staging directory, removed with it
            options = dataclasses.replace(options, work_dir=job.staging.path / "unpacked")
        source, digest, extra_files = _acquire_with_extras(entry, options, pin, puller)
        outcome.digest = source.digest
        inputs = inputs_fingerprint(_entry_data(entry), digest, source.image, extra_digest(extra_files))
        if plan.resolved is None and _unchanged(job, entry, inputs):
            outcome.spec = read_release_spec(job.root, entry)  # nothing changed since the lock
            return outcome
        staged = job.staging.path / CHARTS_DIR / entry.name
        outcome.spec, outcome.lock_entry = _build(entry, source, digest, staged, locked,
                                                  job.revisions.get(entry.name), outcome.warnings, inputs,
                                                  outcome.notes, extra_files)
        outcome.rebuilt = not (chart_dir.is_dir() and tree_digest(chart_dir) == tree_digest(staged)
                               and _same_tree(_crds_dir(chart_dir), _crds_dir(staged)))
    except (ExtractorError, OSError) as exc:
        outcome.error = _error(exc, job.root)
    return outcome


_WORKER_JOB: tuple[_Job, list[_Plan]] | None = None


def _worker(index: int) -> _Outcome:
    assert _WORKER_JOB is not None
    job, plans = _WORKER_JOB
    outcome = _process_entry(job, plans[index])
    puller = plans[index].puller
    if puller is not None:
        with contextlib.suppress(Exception):  # closing connections: nothing to report
            puller.close()
    if outcome.error is not None:
        import pickle

        try:
            pickle.dumps(outcome.error)
        except Exception:  # an error that cannot travel back keeps its message and exit code
            outcome.error = ExtractorError(str(outcome.error))
    return outcome


def _jobs(count: int) -> int:
    try:
        wanted = int(os.environ.get("BUNDLE_EXTRACT_JOBS") or 0)
    except ValueError:
        raise ConfigError("BUNDLE_EXTRACT_JOBS must be a whole number") from None
    return min(count, wanted if wanted > 0 else (os.cpu_count() or 1))


def _can_fork() -> bool:
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _run_entries(job: _Job, entries: list[BundleEntry]) -> list[_Outcome]:
    """Every entry's outcome, in ``entries`` order. First, in this process, each registry entry's
    tag is resolved and compared with the lock (:func:`_plan_entries`); the entries left to build run
    in a pool of forked processes (one per core, ``BUNDLE_EXTRACT_JOBS`` to change it) when there
    are two or more of them, else here. One core or no ``fork`` on this platform: here. The output
    is the same either way."""
    global _WORKER_JOB
    jobs = _jobs(len(entries))
    pullers = _Pullers(job.acquire_options)
    try:
        planned = _plan_entries(job, entries, pullers)
        plans = [p for p in planned if isinstance(p, _Plan)]
        if min(jobs, len(plans)) < 2 or not _can_fork():
            built = [_process_entry(job, plan, None if plan.entry.is_local else pullers) for plan in plans]
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # connections are not shared across processes: each worker connects again with its
            # plans' pullers (and reuses their registry tokens)
            pullers.close()
            _ = job.staging.path  # made before the fork: every worker stages into this one directory
            # loaded once, before the fork: every worker's chart writer (pull-secret values) and this
            # process's helmfile renderer use it (Jinja2), so no worker imports it again
            import extractor.emit.helmfile  # noqa: F401

            _WORKER_JOB = (job, plans)
            # what exists now lives as long as the workers: their collections skip it (and so leave
            # its memory pages shared) instead of scanning it again in each of them; a caller that
            # froze objects itself keeps its freeze (unfreeze would release those too)
            thaw = gc.get_freeze_count() == 0
            gc.freeze()
            try:
                context = multiprocessing.get_context("fork")
                with ProcessPoolExecutor(max_workers=min(jobs, len(plans)), mp_context=context) as pool:
                    built = list(pool.map(_worker, range(len(plans))))
            finally:
                if thaw:
                    gc.unfreeze()
                _WORKER_JOB = None
    finally:
        pullers.close()
    outcomes = iter(built)
    return [next(outcomes) if isinstance(p, _Plan) else p for p in planned]


def _strict_image_failures(specs: Mapping[str, ReleaseSpec]) -> list[tuple[str, ExtractorError]]:
    """One error per chart naming the image references it cannot pull as written."""
    from postprocess.image_mirrors import image_warnings

    failures: list[tuple[str, ExtractorError]] = []
    for name, spec in specs.items():
        problems = image_warnings(name, spec.images)
        if problems:
            listed = "; ".join(sorted({f"{u.reference!r} ({u.object})" for u in spec.images if u.problem}))
            failures.append((name, ConfigError(
                f"--strict-images: {len(problems)} image reference(s) cannot be pulled as written: {listed}")))
    return failures


def _options_locked(entries: Sequence[BundleEntry], lock: Lock) -> set[str]:
    """The names of the entries whose options this generator has built before: the lock's inputs
    fingerprint of the entry, with its locked digest, is what the entry and its extra manifests give
    now (:func:`extractor.pipeline.extras.extra_inputs_digest`: nothing fetched). Their options need
    no check before pulling (:func:`_check_entries`): they were checked then."""
    found: set[str] = set()
    for entry in entries:
        locked = lock.entries.get(entry.name)
        if locked is None or entry.is_catalog:
            continue
        try:
            image = None if entry.is_local else str(Reference.parse(entry.reference))
            extra = extra_inputs_digest(entry)
        except (ExtractorError, OSError):
            continue
        if inputs_fingerprint(_entry_data(entry), locked.digest, image, extra) == locked.inputs:
            found.add(entry.name)
    return found


def _stale(child: Path, names: Sequence[str]) -> bool:
    """True for a directory of ``charts/`` that no entry of ``names`` generates: a chart (it has a
    ``release.yaml``) or the companion CRD chart of a chart not listed (``child`` is not listed)."""
    if (child / _RELEASE_FILE).is_file():
        return True
    from extractor.emit.crds_chart import crds_of

    return crds_of(child) not in (None, *names)


def _helmfile(specs: Sequence[ReleaseSpec], environments: Mapping[str, str | None], current: Path,
              locked: HelmfileLock | None) -> tuple[str | None, HelmfileLock]:
    """The helmfile text to write (``None``: ``current`` is what ``specs`` and ``environments`` render,
    as the lock's ``helmfile:`` record shows, and stays as it is) and the record for the lock."""
    inputs = helmfile_fingerprint({"environments": list(environments.items()),
                                   "releases": list(specs)})
    if (locked is not None and locked.inputs == inputs and current.is_file()
            and "sha256:" + hashlib.sha256(current.read_bytes()).hexdigest() == locked.file):
        return None, locked
    from extractor.emit.helmfile import render_helmfile

    text = render_helmfile(specs, environments)
    return text, HelmfileLock(inputs, "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest())


def generate(
    config: ProjectConfig,
    root: Path,
    acquire_options: AcquireOptions,
    *,
    only: Sequence[str] | None = None,
    versions: dict[str, str] | None = None,
    keep_going: bool = False,
    extra_files: Sequence[tuple[Path, str]] = (),
    lock_file: Path | None = None,
    pins: Mapping[str, str] | None = None,
    revisions: Mapping[str, int] | None = None,
    strict_images: bool = False,
) -> GenerateResult:
    """Regenerate charts for the selected entries (all when ``only`` is ``None``), the helmfile and
    the lock.

    ``root``: directory receiving ``charts/<name>/``, ``helmfile.yaml.gotmpl`` and, unless
    ``lock_file`` names another place, ``bundles.lock.yaml`` (the lock describes the charts it sits
    beside; by default ``root`` is bundles.yaml's directory).
    ``acquire_options.work_dir`` ``None``: pulled bundles are unpacked inside the staging directory
    (under ``root``, removed at the end; a run that pulls nothing creates no directory).
    ``versions``: per-entry version overrides (``make update-bundle VERSION=...``). ``pins``: per
    entry, a locked digest to pull instead of resolving its tag; ``revisions``: chart revisions to
    use as they are (both for ``verify``). ``extra_files``: ``(path, text)`` pairs written in the
    same all-or-nothing step (bundles.yaml with a new version). ``strict_images``: an image
    reference a selected chart cannot pull as written (a placeholder, ``openshift.io/x:latest``,
    see :func:`postprocess.image_mirrors.image_problem`) fails its entry and nothing is written.

    An entry whose inputs (generator release, entry options, bundle digest) and chart files are
    unchanged since the lock was written is not rebuilt. A rebuilt chart whose content is
    unchanged keeps its chart version; otherwise it gets the next revision
    (:func:`extractor.review.lock.next_revision`). When all entries are regenerated, stale charts
    (a ``release.yaml`` but no entry) are removed and the lock keeps only current entries.

    Every selected entry is tried; failures are raised together as one :class:`EntriesError`.
    Without ``keep_going`` nothing under ``root``, the lock or ``extra_files`` has changed then;
    with it, the entries that succeeded are written (a failed entry keeps its chart and lock
    entry) before the error is raised.
    """
    selected = [e.name for e in config.bundles] if only is None else list(only)
    for name in selected:
        config.entry(name)  # raises ConfigError for unknown names
    versions, pins, revisions = versions or {}, pins or {}, revisions or {}
    lock_file = lock_file or root / LOCK_NAME
    lock = read_lock(lock_file)
    todo = [dataclasses.replace(entry, version=versions[entry.name]) if entry.name in versions else entry
            for entry in config.bundles if entry.name in selected]
    _check_entries(config, selected, set() if pins else _options_locked(todo, lock))
    _check_companion_names(config)
    charts_root = root / CHARTS_DIR
    with Staging(root) as staging:  # made only when something is built or written
        specs: dict[str, ReleaseSpec] = {}
        digests: dict[str, str | None] = {}
        rebuilt: list[str] = []
        failed: list[tuple[str, ExtractorError]] = []
        warnings: list[str] = []
        notes: list[str] = []
        job = _Job(root=root, staging=staging, acquire_options=acquire_options, lock=lock, pins=dict(pins),
                   revisions=dict(revisions))
        resolved = resolve_catalog_entries(todo, acquire_options, lock, pins)  # catalog entries -> their bundle
        failed.extend(resolved.failed)
        for outcome in _run_entries(job, resolved.entries):
            warnings.extend(outcome.warnings)
            notes.extend(outcome.notes)
            if outcome.error is not None:
                failed.append((outcome.name, outcome.error))
                continue
            digests[outcome.name] = outcome.digest
            assert outcome.spec is not None
            specs[outcome.name] = outcome.spec
            if outcome.lock_entry is not None:
                lock = lock.replace(outcome.lock_entry)
            if outcome.rebuilt:
                rebuilt.append(outcome.name)
        lock = with_catalog_locks(lock, job.lock, resolved.locks)
        if strict_images:
            failed += _strict_image_failures(specs)
            if failed:
                raise EntriesError(failed)  # --strict-images: nothing written, --keep-going or not
        if failed and not keep_going:
            raise EntriesError(failed)
        failed_names = {name for name, _ in failed}
        ordered: list[ReleaseSpec] = []
        for entry in config.bundles:
            if entry.name in specs:
                ordered.append(specs[entry.name])
            elif entry.name not in failed_names or (charts_root / entry.name / _RELEASE_FILE).is_file():
                ordered.append(read_release_spec(root, entry))
        from extractor.pipeline.dependencies import resolve_needs

        resolution = resolve_needs(ordered)  # needs for what a chart requires or depends on
        notes += resolution.notes
        warnings += resolution.warnings
        helmfile_text, helmfile_lock = _helmfile(resolution.specs, config.environments, root / HELMFILE_NAME,
                                                 job.lock.helmfile)
        if not pins or job.lock.helmfile is not None:  # verify: an older lock stays as it was
            lock = lock.with_helmfile(helmfile_lock)
        moves: list[tuple[Path | None, Path]] = [(staging.path / CHARTS_DIR / n, charts_root / n) for n in rebuilt]
        moves += [_crds_move(staging.path / CHARTS_DIR / n, charts_root / n) for n in rebuilt]
        names = [e.name for e in config.bundles]
        if only is None:
            lock = lock.only(names)
            if charts_root.is_dir():
                for child in sorted(charts_root.iterdir()):
                    if child.is_dir() and child.name not in names and _stale(child, names):
                        moves.append((None, child))
        outputs = [] if helmfile_text is None else [(root / HELMFILE_NAME, helmfile_text)]
        outputs.append((lock_file, render_lock(lock, names)))
        if not failed:
            outputs += list(extra_files)
        for index, (path, text) in enumerate(outputs):
            if path.is_file() and path.read_text(encoding="utf-8") == text:
                continue  # unchanged: not rewritten
            staged_file = staging.path / f"output-{index}"
            staged_file.write_text(text, encoding="utf-8")
            moves.append((staged_file, path))
        # everything is rendered: swap it all into place at once
        if moves:
            swap_in(moves, staging.path / "previous")
        if failed:
            raise EntriesError(failed)
    return GenerateResult(
        charts={name: charts_root / name for name in selected},
        helmfile=root / HELMFILE_NAME,
        digests=digests,
        warnings=tuple(warnings),
        lock=lock_file,
        notes=tuple(notes),
    )


def regenerate_helmfile(config: ProjectConfig, root: Path) -> Path:
    """Rewrite ``helmfile.yaml.gotmpl`` from the charts' ``release.yaml`` files (no pulling)."""
    from extractor.emit.helmfile import write_helmfile
    from extractor.pipeline.dependencies import resolve_needs

    specs = resolve_needs([read_release_spec(root, entry) for entry in config.bundles]).specs
    with Staging(root) as staging:
        staged = staging.path / HELMFILE_NAME
        write_helmfile(specs, staged, config.environments)
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
    strict_images: bool = False,
) -> GenerateResult:
    """``make update-bundle``: regenerate everything, or one bundle at a new version.

    With ``bundle`` and ``version``, that version is generated first and written into
    ``bundles.yaml`` (ruamel round-trip: comments and order kept) in the same all-or-nothing step
    as the charts, the helmfile and the lock. ``keep_going``, ``strict_images``: see :func:`generate`.
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
                    extra_files=extra, strict_images=strict_images)
