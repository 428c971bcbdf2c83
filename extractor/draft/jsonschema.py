"""Kubernetes structural schemas (a CRD's ``openAPIV3Schema``) as JSON Schema draft-07 fragments
that both Helm 3 (gojsonschema) and Helm 4 (santhosh-tekuri/jsonschema) check the same way.

The conversion (:func:`openapi_to_json_schema`):

* ``x-kubernetes-int-or-string: true`` -> ``anyOf: [{type: integer}, {type: string}]`` (kept as is
  when the node already lists its ``anyOf`` alternatives);
* ``nullable: true`` -> ``null`` added to ``type`` (and to ``enum``);
* ``x-kubernetes-preserve-unknown-fields: true`` and ``x-kubernetes-embedded-resource: true`` keep
  the object open; every other object with
  ``properties`` gets ``additionalProperties: false`` (the API server prunes or, with strict field
  validation, refuses unknown fields: in chart values they are typos), except inside
  ``anyOf``/``oneOf``/``allOf``/``not``, whose branches only restate constraints;
* ``format`` is dropped (Kubernetes formats such as ``int32``, ``byte``, ``date-time`` are checked by
  the API server; the two Helm validators disagree about which ones they assert), and so are the
  other ``x-kubernetes-*`` keywords and ``description`` (the CRD documents its fields; the chart
  would otherwise carry the whole CRD text twice) below the top level;
* the rest (``type``, ``properties``, ``items``, ``additionalProperties``, ``required``, ``enum``,
  ``pattern``, ``minimum``..., ``default``) is kept; the API server compiles every CRD ``pattern``
  with Go's regexp, the same engine both Helm versions use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DRAFT_07", "openapi_to_json_schema"]

DRAFT_07 = "http://json-schema.org/draft-07/schema#"

_JUNCTORS = ("anyOf", "oneOf", "allOf")
_DROPPED = {"format", "description", "nullable", "example", "externalDocs", "$schema", "id", "$id"}


def _convert(node: Any, *, closed: bool) -> Any:
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if not isinstance(key, str) or key in _DROPPED or key.startswith("x-kubernetes-"):
            continue
        if key == "properties" and isinstance(value, Mapping):
            out[key] = {str(k): _convert(v, closed=closed) for k, v in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            out[key] = _convert(value, closed=closed)
        elif key in _JUNCTORS and isinstance(value, list):
            out[key] = [_convert(v, closed=False) for v in value]
        elif key == "not" and isinstance(value, Mapping):
            out[key] = _convert(value, closed=False)
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string") is True and "anyOf" not in out:
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        if "anyOf" in out and "type" not in out:
            out["anyOf"] = [*out["anyOf"], {"type": "null"}]
    # an embedded resource also takes apiVersion, kind and metadata it may not list
    open_keys = ("x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource")
    preserve = any(node.get(k) is True for k in open_keys)
    if closed and not preserve and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def openapi_to_json_schema(schema: Mapping[str, Any], *, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """``schema`` (one node of a CRD's ``openAPIV3Schema``, e.g. its ``spec`` property) converted as
    described in the module docstring; the top-level ``description`` is kept. ``optional``: names
    removed from the top-level ``required`` list (fields the chart fills in at render time). The
    input is not modified."""
    out = _convert(schema, closed=True)
    if not isinstance(out, dict):
        return {}
    description = schema.get("description")
    if isinstance(description, str) and description.strip():
        out = {"description": description.strip(), **out}
    required = out.get("required")
    if isinstance(required, list) and optional:
        kept = [r for r in required if r not in optional]
        if kept:
            out["required"] = kept
        else:
            del out["required"]
    return out
