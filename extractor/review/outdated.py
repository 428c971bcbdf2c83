"""``bundle-extract outdated``: newer bundle versions in the registry, and rebuilt tags.

Per registry entry of bundles.yaml: the tags of its image (:func:`extractor.review.versions.registry_tags`,
mirrors and credentials as for pulls) and the digest its current tag points to now, compared with
what the charts were generated from (:func:`generated_state`). Policy per entry: ``track``
(``patch``: same major.minor, the default; ``minor``: same major; ``major``: anything newer) and
``versionPattern`` (a regex a tag must fullmatch). Floating tags (``latest``, ``v1.15``) are never
proposed, nor pre-releases (a suffix with letters) unless ``versionPattern`` is set. Local entries
(directories, archives) are skipped with a note. Reads only: nothing is written, not even the cache.

Catalog entries (``catalog:``/``package:``) follow their channel instead of tags
(:func:`check_catalog_entry`): the proposal is the channel head, the notes give the upgrade path
from the locked version (which versions each step skips) and say when the locked version left the
channel. Their catalog image is pulled through the blob cache like any pull (the one write).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractor import yamlio
from extractor.acquire import AcquireOptions, BlobCache, default_cache_dir
from extractor.acquire.client import RegistryClient
from extractor.acquire.reference import Reference, apply_mirrors
from extractor.config import BundleEntry, ProjectConfig
from extractor.emit.chart import ANNOTATION_PREFIX, CHARTS_DIR
from extractor.errors import ConfigError, ExtractorError, NotFoundError
from extractor.files import read_bounded
from extractor.review.changes import mapping
from extractor.review.lock import LOCK_NAME, Lock, read_lock
from extractor.review.versions import Version, parse_version, registry_tags, sort_tags, tag_sort_key

if TYPE_CHECKING:
    from extractor.catalog import CatalogResolver

__all__ = [
    "UPDATES_EXIT_CODE",
    "GeneratedState",
    "OutdatedResult",
    "allowed_by_track",
    "check_catalog_entry",
    "check_entry",
    "format_table",
    "generated_state",
    "outdated",
    "to_json",
    "updates_available",
]

#: exit code of ``bundle-extract outdated`` when a newer version or a rebuild is available
UPDATES_EXIT_CODE = 3


@dataclass(frozen=True)
class GeneratedState:
    """What ``charts/<name>/`` was generated from: the bundle ``image`` reference and manifest
    ``digest`` (``None`` for a local bundle directory), the CSV version (``app_version``) and
    the ``chart_version``."""

    image: str | None
    digest: str | None
    app_version: str | None
    chart_version: str | None


def generated_state(entry: BundleEntry, output_dir: Path, lock: Lock | None = None) -> GeneratedState | None:
    """The generated state of ``entry``: from its entry in ``output_dir``'s bundles.lock.yaml when
    there is one, else from the annotations of ``charts/<name>/Chart.yaml`` under
    ``output_dir`` (projects generated before the lock); ``None`` when neither exists. Raises
    :class:`ConfigError` naming the file when the lock or Chart.yaml is malformed. ``lock``: the
    lock already read (else it is read here).
    """
    lock = lock if lock is not None else read_lock(output_dir / LOCK_NAME)
    locked = lock.entries.get(entry.name)
    if locked is not None:
        return GeneratedState(
            image=None if entry.is_local else f"{locked.image}:{locked.version}"
            if not locked.version.startswith("sha256:") else f"{locked.image}@{locked.version}",
            digest=None if locked.digest.startswith("tree:") else locked.digest,
            app_version=locked.csv_version,
            chart_version=locked.chart_version,
        )
    path = output_dir / CHARTS_DIR / entry.name / "Chart.yaml"
    try:
        data = yamlio.load(read_bounded(path))
    except FileNotFoundError:
        return None
    except ConfigError:
        raise
    except Exception as exc:  # yaml errors, decoding errors
        raise ConfigError(f"{path}: not a readable Chart.yaml: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a Chart.yaml mapping")
    annotations = mapping(data.get("annotations"))

    def text(value: Any) -> str | None:
        return None if value is None or value == "" else str(value)

    return GeneratedState(
        image=text(annotations.get(ANNOTATION_PREFIX + "bundle-image")),
        digest=text(annotations.get(ANNOTATION_PREFIX + "bundle-digest")),
        app_version=text(data.get("appVersion")),
        chart_version=text(data.get("version")),
    )


@dataclass(frozen=True)
class OutdatedResult:
    """The verdict for one entry. ``version``: the current tag (from the generated chart, else
    bundles.yaml); ``digest``: the digest the chart was generated from; ``tag_digest``: the digest
    ``version`` points to in the registry now; ``rebuild``: the two differ; ``newer``: newer
    non-floating versions, oldest first (every track); ``proposed``: the newest one ``track`` and
    ``versionPattern`` allow, or ``None``; ``notes``: why something could not be decided."""

    name: str
    image: str
    version: str | None
    digest: str | None
    tag_digest: str | None
    rebuild: bool
    newer: tuple[str, ...]
    proposed: str | None
    track: str
    notes: tuple[str, ...] = field(default=())
    catalog: dict[str, Any] | None = None

    @property
    def updates(self) -> bool:
        """True when a newer allowed version or a rebuild is available."""
        return self.rebuild or self.proposed is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{name, image, version, digest, tagDigest, rebuild, newer, proposed, track, notes}``
        (and ``catalog``: ``{image, digest, package, channel, head, inChannel, upgradePath}`` for a
        catalog entry, whose ``image`` is the catalog and ``version`` the locked bundle version)."""
        data: dict[str, Any] = {
            "name": self.name, "image": self.image, "version": self.version, "digest": self.digest,
            "tagDigest": self.tag_digest, "rebuild": self.rebuild, "newer": list(self.newer),
            "proposed": self.proposed, "track": self.track, "notes": list(self.notes),
        }  # fmt: skip
        if self.catalog is not None:
            data["catalog"] = self.catalog
        return data


def allowed_by_track(current: Version, candidate: Version, track: str) -> bool:
    """True when ``candidate`` stays on ``current``'s line: ``patch`` = same major.minor,
    ``minor`` = same major, ``major`` = any."""
    width = {"patch": 2, "minor": 1, "major": 0}[track]
    return candidate.numbers[:width] == current.numbers[:width]


def _candidates(tags: Sequence[str], pattern: str | None) -> list[Version]:
    """Versions ``outdated`` may name: non-floating, matching ``pattern``; pre-releases only with a pattern."""
    found = []
    for tag in tags:
        version = parse_version(tag)
        if version is None or version.is_floating:
            continue
        if pattern is not None:
            if re.fullmatch(pattern, tag) is None:
                continue
        elif version.is_prerelease:
            continue
        found.append(version)
    return sorted(found, key=lambda v: tag_sort_key(v.tag))


def _current_tag(entry: BundleEntry, state: GeneratedState | None) -> tuple[str | None, list[str]]:
    """The tag the charts are at (the generated chart's, else bundles.yaml's) and notes."""
    notes: list[str] = []
    configured = Reference.parse(entry.image)
    if state is None:
        notes.append("chart not generated yet")
    elif state.image:
        generated = Reference.parse(state.image)
        if (generated.registry, generated.repository) == (configured.registry, configured.repository):
            if generated.tag and not generated.digest:
                return generated.tag, notes
            return None, notes
        notes.append(f"chart generated from {generated.name}, bundles.yaml names {configured.name}")
    if entry.version and not entry.version.startswith("sha256:"):
        return entry.version, notes
    return None, notes


def _tag_digest(client: RegistryClient, ref: Reference, options: AcquireOptions) -> str | None:
    """The digest ``ref``'s tag points to now (offline: as recorded in the cache); ``None`` if unknown."""
    if options.offline:
        return BlobCache(options.cache_dir or default_cache_dir()).tag_digest(ref)
    try:
        return client.get_manifest(ref).digest
    except NotFoundError:
        return None


def check_entry(
    entry: BundleEntry, output_dir: Path, options: AcquireOptions, client: RegistryClient, lock: Lock | None = None
) -> OutdatedResult:
    """The :class:`OutdatedResult` of one entry (registry entries only; see :func:`outdated`).

    Raises the :class:`RegistryError` family with a message starting with the entry name.
    """
    state = generated_state(entry, output_dir, lock)
    tag, notes = _current_tag(entry, state)
    try:
        tags = registry_tags(client, entry.image, options)
        tag_digest = None
        if tag is not None:
            tag_ref = apply_mirrors(Reference.parse(entry.image).with_tag(tag), options.mirrors)
            tag_digest = _tag_digest(client, tag_ref, options)
    except ExtractorError as exc:
        raise type(exc)(f"bundle {entry.name!r}: {exc}") from None
    if tag is not None and tag_digest is None:
        notes.append(f"tag {tag} is not in the registry (any more)")
    baseline = parse_version(tag) if tag is not None else None
    if baseline is None and state is not None and state.app_version:
        baseline = parse_version(state.app_version)
    newer: list[Version] = []
    if baseline is None:
        notes.append("the current version does not read as a version; nothing to compare")
    else:
        newer = [v for v in _candidates(tags, entry.version_pattern) if v.precedence() > baseline.precedence()]
    allowed = [v for v in newer if baseline is not None and allowed_by_track(baseline, v, entry.track)]
    digest = state.digest if state is not None else None
    rebuild = digest is not None and tag_digest is not None and digest != tag_digest
    return OutdatedResult(
        name=entry.name, image=entry.image, version=tag, digest=digest, tag_digest=tag_digest, rebuild=rebuild,
        newer=tuple(v.tag for v in newer), proposed=allowed[-1].tag if allowed else None, track=entry.track,
        notes=tuple(notes),
    )  # fmt: skip


def _bundle_digest(client: RegistryClient, image: str, options: AcquireOptions) -> str | None:
    """The digest a catalog's bundle image reference stands for now (by digest: that one)."""
    ref = Reference.parse(image)
    if ref.digest:
        return ref.digest
    return _tag_digest(client, apply_mirrors(ref, options.mirrors), options)


def check_catalog_entry(
    entry: BundleEntry, output_dir: Path, options: AcquireOptions, client: RegistryClient, resolver: CatalogResolver,
    lock: Lock | None = None,
) -> OutdatedResult:
    """The :class:`OutdatedResult` of a catalog entry: ``version`` the locked bundle version (else
    bundles.yaml's), ``newer`` the channel's newer versions, ``proposed`` the channel head when it
    is not the locked version, ``rebuild`` when the catalog now gives the locked version another
    image digest; the notes hold the upgrade path (:func:`extractor.catalog.upgrade_path`) and
    whether the locked version is still in the channel.

    Raises the stage errors with a message starting with the entry name.
    """
    from extractor.catalog import check_channel, upgrade_path
    from extractor.catalog.semver import parse_semver

    locked = (lock if lock is not None else read_lock(output_dir / LOCK_NAME)).entries.get(entry.name)
    resolved = locked.catalog if locked is not None else None
    try:
        index = resolver.index(entry.catalog_reference, str(entry.package))
        channel = index.channel(entry.channel)
        head_entry = check_channel(channel, index.bundles)
        head = index.bundles[head_entry.name]
        source = resolver.source(entry.catalog_reference)
    except ExtractorError as exc:
        raise type(exc)(f"bundle {entry.name!r}: {exc}") from None
    notes: list[str] = [] if resolved is not None else ["chart not generated yet"]
    version = resolved.version if resolved is not None else (entry.version or None)
    members = [index.bundles[e.name] for e in channel.entries]
    current = next((b for b in members if version is not None and b.version == version), None)
    semver = parse_semver(version) if version is not None else None
    if version is not None and current is None:
        notes.append(f"locked version {version} is no longer in channel {channel.name!r}")
    newer = sorted((b for b in members if semver is not None and b.semver > semver), key=lambda b: b.semver)
    proposed = head.version if version is None or (semver is not None and head.semver > semver) else None
    path: list[str] = []
    if semver is not None and version != head.version:
        name = current.name if current is not None else resolved.bundle if resolved is not None else ""
        steps = upgrade_path(channel, index.bundles, name, semver, head_entry)
        if steps is None:
            notes.append(f"no upgrade path from {version} to the head {head.version} in channel {channel.name!r}")
        else:
            path = [str(step) for step in steps]
            notes.append("upgrade path: " + "; ".join(path))
    tag_digest = None
    if current is not None:
        try:
            tag_digest = _bundle_digest(client, current.image, options)
        except ExtractorError as exc:
            raise type(exc)(f"bundle {entry.name!r}: {exc}") from None
    digest = locked.digest if locked is not None else None
    return OutdatedResult(
        name=entry.name, image=entry.catalog_reference, version=version, digest=digest, tag_digest=tag_digest,
        rebuild=digest is not None and tag_digest is not None and digest != tag_digest,
        newer=tuple(b.version for b in newer), proposed=proposed, track=f"channel {channel.name}",
        notes=tuple(notes),
        catalog={"image": source.image or source.reference, "digest": source.digest, "package": index.name,
                 "channel": channel.name, "head": head.version, "inChannel": current is not None,
                 "upgradePath": path},
    )


def outdated(
    config: ProjectConfig, output_dir: Path, options: AcquireOptions, *, only: Sequence[str] | None = None
) -> list[OutdatedResult]:
    """One :class:`OutdatedResult` per entry of ``config`` (or the entries named in ``only``), in
    bundles.yaml order; local entries get a result with a note and nothing else.

    ``output_dir``: the directory holding ``charts/``. Raises :class:`ConfigError` for an unknown
    name, the :class:`RegistryError` family (naming the entry) when a registry cannot be asked.
    """
    from extractor.catalog import CatalogResolver

    entries = list(config.bundles) if only is None else [config.entry(name) for name in only]
    results: list[OutdatedResult] = []
    lock = read_lock(output_dir / LOCK_NAME)  # read once, not once per entry
    with options.client() as client, CatalogResolver(options) as resolver:
        for entry in entries:
            if entry.is_catalog:
                results.append(check_catalog_entry(entry, output_dir, options, client, resolver, lock))
                continue
            if entry.is_local:
                results.append(OutdatedResult(
                    name=entry.name, image=entry.image, version=entry.version or None, digest=None,
                    tag_digest=None, rebuild=False, newer=(), proposed=None, track=entry.track,
                    notes=("skipped: local bundle (directory or archive), no registry to ask",),
                ))  # fmt: skip
                continue
            results.append(check_entry(entry, output_dir, options, client, lock))
    return results


def updates_available(results: Sequence[OutdatedResult]) -> bool:
    """True when any result proposes a newer version or reports a rebuild."""
    return any(result.updates for result in results)


def to_json(results: Sequence[OutdatedResult]) -> str:
    """The results as a JSON list (see :meth:`OutdatedResult.to_dict`), with a final newline."""
    return json.dumps([r.to_dict() for r in results], indent=2, sort_keys=True) + "\n"


def _short(digest: str | None) -> str:
    return "-" if digest is None else digest.removeprefix("sha256:")[:12]


def format_table(results: Sequence[OutdatedResult], *, max_newer: int = 4) -> str:
    """A table for people: one row per entry (name, current version, proposed version, rebuild,
    the newest ``max_newer`` newer versions) and the notes below it; ends with a newline."""
    header = ("BUNDLE", "CURRENT", "PROPOSED", "REBUILT", "NEWER")
    rows = [header]
    for r in results:
        newer = ", ".join(sort_tags(list(r.newer))[-max_newer:]) or "-"
        if len(r.newer) > max_newer:
            newer = f"(+{len(r.newer) - max_newer}) " + newer
        rebuilt = f"yes ({_short(r.digest)} -> {_short(r.tag_digest)})" if r.rebuild else "no"
        if r.tag_digest is None and not r.rebuild:
            rebuilt = "-"
        rows.append((r.name, r.version or "-", r.proposed or "-", rebuilt, newer))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)), row[-1]]).rstrip()
             for row in rows]
    for r in results:
        lines.extend(f"{r.name}: {note}" for note in r.notes)
    if not updates_available(results):
        lines.append("nothing to do")
    return "\n".join(lines) + "\n"
