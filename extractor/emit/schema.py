"""``values.schema.json``: the JSON Schema (draft-07) Helm checks the merged values against on
``helm install``/``upgrade``/``template``/``lint`` (helm 3 and helm 4 alike).

Built from the chart's default values (:attr:`ChartDraft.values`): every key the chart reads, typed
by its default (``true`` -> boolean, ``""`` -> string, ``[]`` -> array, ``null`` -> any), with the
``# --`` comment of :attr:`ChartDraft.value_docs` as its ``description``. Every non-empty mapping
of defaults is closed (``additionalProperties: false``), so a misspelt key (``istoi.create``,
``deploymentConfig.nodeSelectr``) fails with Helm's own message; an empty mapping (``{}``, e.g.
``deploymentConfig.annotations``) stays open. The post-processors' fragments
(:attr:`ChartDraft.value_schemas`, dotted value path -> schema, shallow paths first) then replace
the node at their path, keeping its description (the ``# --`` comment wins over the fragment's); a path below a node the
defaults do not have creates closed objects on the way. Value bindings (chart values the helmfile
passes) are booleans. Top-level ``global`` (what a parent chart passes to subcharts) is accepted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from extractor.draft import ChartDraft
from extractor.draft.jsonschema import DRAFT_07
from extractor.errors import EmitError

__all__ = ["render_values_schema", "values_schema"]

#: JSON Schema type of a default value, first match (bool before int: ``True`` is an int)
_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"), (Mapping, "object"),
)


def _from_default(value: Any, path: str, docs: Mapping[str, str]) -> dict[str, Any]:
    node: dict[str, Any] = {}
    doc = docs.get(path)
    if doc and doc.strip():
        node["description"] = " ".join(line.strip() for line in doc.strip().splitlines())
    kind = next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), None)
    if kind is not None:
        node["type"] = kind
    if isinstance(value, Mapping) and value:
        node["properties"] = {
            str(k): _from_default(v, f"{path}.{k}" if path else str(k), docs) for k, v in value.items()
        }
        node["additionalProperties"] = False
    return node


def _place(root: dict[str, Any], path: str, fragment: Mapping[str, Any]) -> None:
    parts = path.split(".")
    if not path or any(not p for p in parts):
        raise EmitError(f"value schema path {path!r} is not a dotted value path")
    if not isinstance(fragment, Mapping):
        raise EmitError(f"value schema of {path!r} is not a JSON Schema object")
    node = root
    for part in parts[:-1]:
        properties = node.setdefault("properties", {})
        child = properties.get(part)
        if not isinstance(child, dict):
            child = {"type": "object", "properties": {}, "additionalProperties": False}
            properties[part] = child
        node = child
    properties = node.setdefault("properties", {})
    old = properties.get(parts[-1])
    new = dict(fragment)
    if isinstance(old, dict) and "description" in old:
        new.pop("description", None)
        new = {"description": old["description"], **new}
    properties[parts[-1]] = new


def values_schema(draft: ChartDraft) -> dict[str, Any]:
    """The schema for ``draft`` (see the module docstring). Raises :class:`EmitError` for a
    ``value_schemas`` entry whose path is not dotted identifiers or whose schema is not a mapping."""
    root: dict[str, Any] = {
        "$schema": DRAFT_07,
        "title": f"Values of the {draft.name} chart",
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }
    root["properties"] = _from_default(draft.values, "", draft.value_docs).get("properties", {})
    for path in sorted(draft.value_bindings):
        _place(root, path, {"type": "boolean"})
    for path in sorted(draft.value_schemas, key=lambda p: (p.count("."), p)):
        _place(root, path, draft.value_schemas[path])
    root["properties"].setdefault(
        "global", {"description": "Values a parent chart passes to all its subcharts.", "type": "object"}
    )
    return root


def render_values_schema(draft: ChartDraft) -> str:
    """``values.schema.json`` text: :func:`values_schema` as JSON, two-space indent, keys in
    insertion order (deterministic: the defaults' and the CRDs' order), trailing newline."""
    try:
        return json.dumps(values_schema(draft), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise EmitError(f"chart {draft.name}: values.schema.json: {exc}") from None
