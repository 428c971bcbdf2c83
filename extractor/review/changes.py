"""Field-level changes between two Kubernetes objects, computed semantically with ``deepdiff``.

Before comparing, lists of mappings that each carry a distinct string ``name`` (containers, env,
ports, volumes, webhooks...) become mappings keyed by ``[name]``: reordering them is no change, and
a change reads ``spec.template.spec.containers[manager].env[FOO].value`` instead of an index.
Other lists (``args``, ``rules``) keep their order. A string holding a JSON object or array on
both sides (``alm-examples``) is compared as the data it holds (:func:`expand_json`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from deepdiff import DeepDiff
from deepdiff.helper import NotPresent

from extractor import yamlio

__all__ = ["Change", "ObjectKey", "describe_key", "format_path", "leaf_changes", "normalize", "object_key"]

#: (API group, kind, namespace, name): an object's identity across versions of its apiVersion
ObjectKey = tuple[str, str, str, str]

_ADDED = ("dictionary_item_added", "iterable_item_added")
_REMOVED = ("dictionary_item_removed", "iterable_item_removed")
_CHANGED = ("values_changed", "type_changes")


@dataclass(frozen=True)
class Change:
    """One change: ``path`` (see :func:`format_path`), ``op`` (``added``/``removed``/``changed``),
    the ``old`` and ``new`` values (``None`` on the missing side) and an optional ``note``.
    ``parts``: the raw path components (not serialised)."""

    path: str
    op: str
    old: Any = None
    new: Any = None
    note: str | None = None
    parts: tuple[Any, ...] = field(default=(), compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """``{path, op, old, new[, note]}``."""
        data = {"path": self.path, "op": self.op, "old": self.old, "new": self.new}
        if self.note:
            data["note"] = self.note
        return data


def mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else ``{}`` (for optional fields of parsed YAML)."""
    return value if isinstance(value, Mapping) else {}


def object_key(obj: Mapping[str, Any]) -> ObjectKey:
    """The identity of ``obj``: API group (not version), kind, namespace and name."""
    api_version = str(obj.get("apiVersion") or "")
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    meta = mapping(obj.get("metadata"))
    return (group, str(obj.get("kind") or ""), str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def describe_key(key: ObjectKey, release_namespace: str = "") -> str:
    """``Kind/name``, or ``Kind/namespace/name`` when the namespace is not ``release_namespace``."""
    _, kind, namespace, name = key
    if namespace and namespace != release_namespace:
        return f"{kind}/{namespace}/{name}"
    return f"{kind}/{name}"


def _named(items: list[Any]) -> bool:
    names = [item.get("name") if isinstance(item, Mapping) else None for item in items]
    return bool(items) and all(isinstance(n, str) for n in names) and len(set(names)) == len(names)


def normalize(value: Any) -> Any:
    """``value`` with every list of distinctly named mappings turned into ``{"[name]": item}``."""
    if isinstance(value, Mapping):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        if _named(value):
            return {f"[{item['name']}]": normalize(item) for item in value}
        return [normalize(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """Undo :func:`normalize` for display: named mappings back into lists."""
    if isinstance(value, Mapping):
        keys = list(value)
        if keys and all(isinstance(k, str) and k.startswith("[") and k.endswith("]") for k in keys):
            return [_plain(value[k]) for k in keys]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def format_path(parts: Iterable[Any]) -> str:
    """``spec.template.spec.containers[manager].args[2]``; keys holding ``.`` or ``/`` are bracketed
    (``metadata.annotations[images.v1_27_3.cni]``)."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.startswith("[") and part.endswith("]"):
            text += part
        elif "." in part or "/" in part or not part:
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def leaf_changes(old: Any, new: Any, *, prefix: tuple[Any, ...] = ()) -> list[Change]:
    """Every change between ``old`` and ``new`` (both :func:`normalize`\\ d here), sorted by path.

    Added and removed subtrees are one change each; values are given back un-normalised.
    """
    diff = DeepDiff(normalize(old), normalize(new), view="tree", verbose_level=2)
    found: list[Change] = []
    for report, levels in diff.items():
        if report in _ADDED:
            op = "added"
        elif report in _REMOVED:
            op = "removed"
        elif report in _CHANGED:
            op = "changed"
        else:  # set/attribute reports: not produced for YAML data
            continue
        for level in levels:
            parts = (*prefix, *level.path(output_format="list"))
            before = None if isinstance(level.t1, NotPresent) else _plain(level.t1)
            after = None if isinstance(level.t2, NotPresent) else _plain(level.t2)
            found.append(Change(format_path(parts), op, before, after, parts=parts))
    return sorted(found, key=lambda c: (c.path, c.op))


def _json_container(text: Any) -> Any:
    if not isinstance(text, str) or not text.lstrip().startswith(("{", "[")):
        return None
    try:
        value = yamlio.load_json(text)
    except ValueError:
        return None
    return value if isinstance(value, dict | list) else None


def expand_json(changes: Iterable[Change]) -> list[Change]:
    """``changes`` with every change of a string holding JSON on both sides replaced by the changes
    of the data (paths continue inside it: ``…annotations.alm-examples[0].spec.version``), sorted."""
    found: list[Change] = []
    for change in changes:
        old, new = _json_container(change.old), _json_container(change.new)
        if change.op == "changed" and old is not None and new is not None:
            found.extend(leaf_changes(old, new, prefix=change.parts))
        else:
            found.append(change)
    return sorted(found, key=lambda c: (c.path, c.op))
