"""CRD structural schemas as JSON Schema draft-07 (extractor.draft.jsonschema), checked with the
jsonschema package's Draft7Validator; tests/emit/test_conventions.py checks the same schemas with
helm 3 and helm 4."""

from __future__ import annotations

from typing import Any

import jsonschema

from extractor.draft.jsonschema import openapi_to_json_schema

CRD_SPEC: dict[str, Any] = {
    "description": "Spec of the thing.",
    "type": "object",
    "required": ["namespace", "version"],
    "x-kubernetes-validations": [{"rule": "self.version != ''"}],
    "properties": {
        "namespace": {"type": "string", "description": "dropped below the top"},
        "version": {"type": "string", "enum": ["v1", "v2"]},
        "port": {"x-kubernetes-int-or-string": True},
        "ratio": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True},
        "level": {"type": "string", "nullable": True, "enum": ["Low", "High"]},
        "created": {"type": "string", "format": "date-time"},
        "count": {"type": "integer", "format": "int32", "minimum": 0},
        "values": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                   "properties": {"known": {"type": "string"}}},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "template": {"type": "object", "x-kubernetes-embedded-resource": True,
                     "properties": {"spec": {"type": "object"}}},
        "nested": {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "anyOf": [{"required": ["a"]}, {"properties": {"a": {"type": "string"}}}],
        },
        "list": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                 "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
    },
}


def _valid(instance: Any, schema: dict[str, Any]) -> bool:
    return not list(jsonschema.Draft7Validator(schema).iter_errors(instance))


def test_conversion_keeps_valid_values_and_refuses_typos() -> None:
    schema = openapi_to_json_schema(CRD_SPEC, optional=("namespace",))
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["description"] == "Spec of the thing." and schema["required"] == ["version"]
    assert "description" not in schema["properties"]["namespace"]
    text = repr(schema)
    assert "x-kubernetes" not in text and "'format'" not in text and "nullable" not in text
    good = {
        "version": "v1",
        "port": 8080,
        "ratio": "50%",
        "level": None,
        "created": "not checked here",
        "count": 3,
        "values": {"anything": {"goes": 1}},
        "labels": {"a": "b"},
        "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {}},
        "nested": {"a": "x"},
        "list": [{"name": "x"}],
    }
    assert _valid(good, schema)
    assert _valid({**good, "port": "http"}, schema)
    assert not _valid({**good, "verison": "v1"}, schema)  # typo at the top
    assert not _valid({**good, "list": [{"name": "x", "nmae": "y"}]}, schema)  # typo in a list item
    assert not _valid({**good, "nested": {"a": "x", "b": "y"}}, schema)  # typo in a nested object
    assert not _valid({**good, "version": "v3"}, schema)  # enum
    assert not _valid({**good, "port": 1.5}, schema)  # int-or-string
    assert not _valid({**good, "count": -1}, schema)
    assert not _valid({k: v for k, v in good.items() if k != "version"}, schema)  # still required
    # without the optional names, the CRD's required list is kept whole
    assert openapi_to_json_schema(CRD_SPEC)["required"] == ["namespace", "version"]


def test_input_is_not_modified() -> None:
    before = repr(CRD_SPEC)
    openapi_to_json_schema(CRD_SPEC, optional=("namespace", "version"))
    assert repr(CRD_SPEC) == before
    assert "required" not in openapi_to_json_schema(CRD_SPEC, optional=("namespace", "version"))
