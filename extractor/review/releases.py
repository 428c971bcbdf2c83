"""What changes in the helmfile for one release, from the charts' ``release.yaml``.

Reported: the release namespace, ``needs`` added and removed, hooks added and removed, hooks
switched on or off with the default environment values (a hook's ``condition`` evaluated against
every chart's ``helmfileValues``, as the helmfile's ``environments.default.values`` holds them),
a hook's condition, events or command changing, operand namespaces the helmfile creates, and the
helmfile environment defaults this chart brings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from extractor.draft import Hook, ReleaseSpec
from extractor.review.changes import Change, leaf_changes
from extractor.review.snapshot import condition_holds

__all__ = ["release_changes"]


def _on(hook: Hook, values: Mapping[str, Any]) -> str:
    return "on" if condition_holds(hook.condition, values) else "off"


def _set_changes(path: str, old: tuple[str, ...], new: tuple[str, ...]) -> list[Change]:
    found = [Change(path, "added", None, item) for item in sorted(set(new) - set(old))]
    return found + [Change(path, "removed", item, None) for item in sorted(set(old) - set(new))]


def _hook_changes(old: ReleaseSpec, new: ReleaseSpec, old_values: Mapping[str, Any],
                  new_values: Mapping[str, Any]) -> list[Change]:
    before = {h.name: h for h in old.hooks}
    after = {h.name: h for h in new.hooks}
    found: list[Change] = []
    for name in sorted(set(before) | set(after)):
        path = f"hook {name}"
        if name not in after:
            found.append(Change(path, "removed", _on(before[name], old_values), None,
                                note=f"{'/'.join(before[name].events)} hook removed"))
            continue
        hook = after[name]
        if name not in before:
            found.append(Change(path, "added", None, _on(hook, new_values),
                                note=f"new {'/'.join(hook.events)} hook, {_on(hook, new_values)} by default"
                                + (f" (condition {hook.condition})" if hook.condition else "")))
            continue
        was, now = _on(before[name], old_values), _on(hook, new_values)
        if was != now:
            why = f" (condition {hook.condition})" if hook.condition else ""
            found.append(Change(path, "changed", was, now, note=f"switched {now} by default{why}"))
        if before[name].condition != hook.condition:
            found.append(Change(f"{path} condition", "changed", before[name].condition, hook.condition))
        if before[name].events != hook.events:
            found.append(Change(f"{path} events", "changed", list(before[name].events), list(hook.events)))
        if (before[name].command, before[name].args) != (hook.command, hook.args):
            found.append(Change(f"{path} command", "changed", None, None, note="command or arguments changed"))
    return found


def release_changes(
    old: ReleaseSpec | None,
    new: ReleaseSpec | None,
    old_values: Mapping[str, Any],
    new_values: Mapping[str, Any],
) -> list[Change]:
    """The helmfile changes of one release between its two ``release.yaml`` (``None``: the chart is
    absent on that side, then every hook and need counts as added/removed); ``old_values`` and
    ``new_values``: the helmfile environment defaults of each side. Sorted as described in the
    module docstring."""
    empty = ReleaseSpec(name="", namespace="", chart_dir="")
    before, after = old or empty, new or empty
    found: list[Change] = []
    if old is not None and new is not None and before.namespace != after.namespace:
        found.append(Change("namespace", "changed", before.namespace, after.namespace))
    found += _set_changes("needs", before.needs, after.needs)
    found += _hook_changes(before, after, old_values, new_values)
    found += _set_changes("extraNamespaces", before.extra_namespaces, after.extra_namespaces)
    found += leaf_changes(before.helmfile_values, after.helmfile_values, prefix=("helmfileValues",))
    return found
