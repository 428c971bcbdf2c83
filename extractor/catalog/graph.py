"""A channel's upgrade graph: its head, its consistency, and upgrade paths.

Edges, as OLM reads them: an entry *replaces* one bundle, *skips* a list of bundles (by name) and
*skipRange*\\ s the versions its SemVer range covers. An entry with an incoming edge is superseded.

- **Head** (:func:`channel_head`): operator-registry ``model.Channel.Head()`` (the entry that no
  other entry replaces or skips; OLM v0's resolver ``sortChannel`` computes the same) — and when
  that leaves several candidates, those covered by another entry's ``skipRange`` are superseded
  too, so channels whose upgrades are expressed by ``skipRange`` alone (what OLM v1 follows) have a
  head as well. No candidate or several: an error naming them.
- **Consistency** (:func:`check_channel`): operator-registry ``validateReplacesChain`` — no cycle
  of ``replaces`` (any cycle, also one the head does not reach), and every entry reachable from
  the head through ``replaces`` unless something skips it (by name, or by ``skipRange``); the
  last entry of the chain may replace a bundle that is not in the channel.
- **Upgrade path** (:func:`upgrade_path`): from an installed version, the successors OLM offers are
  the entries that replace it, skip it or cover its version with ``skipRange`` (operator-controller's
  legacy successors); the path follows the newest successor each time, up to the head.
"""

from __future__ import annotations

from dataclasses import dataclass

from extractor.catalog.fbc import FbcBundle, FbcChannel, FbcEntry
from extractor.catalog.semver import SemVer, parse_range
from extractor.errors import CatalogError

__all__ = ["Step", "channel_head", "check_channel", "successors", "upgrade_path"]


def _covered(entry: FbcEntry, version: SemVer) -> bool:
    if entry.skip_range is None:
        return False
    parsed = parse_range(entry.skip_range)
    return parsed is not None and version in parsed


def channel_head(channel: FbcChannel, bundles: dict[str, FbcBundle], *, where: str = "") -> FbcEntry:
    """The head of ``channel`` (see the module docstring). Raises :class:`CatalogError`."""
    where = where or channel.where
    incoming = {e.replaces for e in channel.entries if e.replaces} | {s for e in channel.entries for s in e.skips}
    heads = [e for e in channel.entries if e.name not in incoming]
    if len(heads) > 1:
        narrowed = [h for h in heads if not any(
            other.name != h.name and _covered(other, bundles[h.name].semver) for other in channel.entries
        )]
        heads = narrowed or heads
    if not heads:
        raise CatalogError(f"{where}: channel {channel.name!r} has no head: every entry is replaced or skipped "
                           "by another")
    if len(heads) > 1:
        names = ", ".join(sorted(h.name for h in heads))
        raise CatalogError(f"{where}: channel {channel.name!r} has several heads (entries nothing replaces or "
                           f"skips): {names}")
    return heads[0]


def _replaces_cycle(channel: FbcChannel) -> list[str]:
    """One cycle of ``replaces`` among the channel's entries, as a path ``[a, b, a]``, or ``[]``."""
    by_name = {e.name: e for e in channel.entries}
    done: set[str] = set()
    for start in by_name:
        path: list[str] = []
        current: str | None = start
        while current is not None and current in by_name and current not in done:
            if current in path:
                return [*path[path.index(current):], current]
            path.append(current)
            current = by_name[current].replaces
        done.update(path)
    return []


def check_channel(channel: FbcChannel, bundles: dict[str, FbcBundle]) -> FbcEntry:
    """Check ``channel``'s upgrade graph (see the module docstring); return its head.
    Raises :class:`CatalogError` naming the channel and the entries."""
    cycle = _replaces_cycle(channel)
    if cycle:
        raise CatalogError(f"{channel.where}: channel {channel.name!r}: cycle in replaces: {' -> '.join(cycle)}")
    head = channel_head(channel, bundles)
    by_name = {e.name: e for e in channel.entries}
    skipped = {s for e in channel.entries for s in e.skips}
    covered = {e.name for e in channel.entries
               if any(o.name != e.name and _covered(o, bundles[e.name].semver) for o in channel.entries)}
    chain = {head.name}
    current: FbcEntry | None = head
    while current is not None and current.replaces and current.replaces not in skipped:
        chain.add(current.replaces)
        current = by_name.get(current.replaces)
    stranded = sorted(set(by_name) - chain - skipped - covered)
    if stranded:
        raise CatalogError(f"{channel.where}: channel {channel.name!r}: entries not reachable from the head "
                           f"{head.name!r} by replaces and skipped by nothing: {', '.join(stranded)}")
    return head


def successors(channel: FbcChannel, bundles: dict[str, FbcBundle], name: str, version: SemVer) -> list[FbcEntry]:
    """The entries OLM offers as upgrades from bundle ``name`` at ``version``, newest first."""
    found = [e for e in channel.entries if e.name != name and (
        e.replaces == name or name in e.skips or _covered(e, version))]
    return sorted(found, key=lambda e: bundles[e.name].semver, reverse=True)


@dataclass(frozen=True)
class Step:
    """One upgrade: ``source`` -> ``target`` (bundle versions), ``skipped``: channel versions
    between the two that this step jumps over, oldest first."""

    source: str
    target: str
    skipped: tuple[str, ...] = ()

    def __str__(self) -> str:
        skipped = f" (skips {', '.join(self.skipped)})" if self.skipped else ""
        return f"{self.source} -> {self.target}{skipped}"


def upgrade_path(
    channel: FbcChannel, bundles: dict[str, FbcBundle], name: str, version: SemVer, head: FbcEntry
) -> list[Step] | None:
    """The upgrade steps from bundle ``name`` at ``version`` to ``head``, each to the newest
    successor; ``[]`` when ``name`` is the head, ``None`` when no path leads there (no successor,
    or the newest successors go in a circle)."""
    steps: list[Step] = []
    seen = {name}
    current_name, current_version, current_text = name, version, str(version)
    in_channel = sorted(bundles[e.name].semver for e in channel.entries)
    while current_name != head.name:
        options = successors(channel, bundles, current_name, current_version)
        if not options:
            return None
        target = bundles[options[0].name]
        if target.name in seen:
            return None
        seen.add(target.name)
        between = tuple(str(v) for v in in_channel if current_version < v < target.semver)
        steps.append(Step(current_text, target.version, between))
        current_name, current_version, current_text = target.name, target.semver, target.version
    return steps
