from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from extractor import yamlio
from tests.support.tools import require_tool

#: strings some YAML reader types when they are written plain: go-yaml v2 (Helm) reads y/n as
#: booleans and 1e3 as a float; YAML 1.2 core reads 0o17 as an int and 1.5e3 as a float
_TYPED_ELSEWHERE = ["y", "Y", "n", "N", "0o17", "1e3", "1E3", "+1e-3", "1.5e3", ".5", "7.", "yes", "off", "0x1F",
                    "1_000", "12", "~", "null", "true", "2026-11-30", "=", "<<"]


def test_yaml11_traps_stay_strings() -> None:
    text = "date: 2021-01-01\neq: =\nyes_: yes\nno_: no\non_: on\nsexa: 1:20\nver: 1.10\nnull_: ~\n"
    data = yamlio.load(text)
    assert data["date"] == "2021-01-01"
    assert data["eq"] == "="
    assert data["yes_"] == "yes" and data["no_"] == "no" and data["on_"] == "on"
    assert data["sexa"] == "1:20"
    assert data["ver"] == 1.1  # an unquoted 1.10 is a float in every YAML version
    assert data["null_"] is None


def test_core_schema_types() -> None:
    data = yamlio.load("a: true\nb: False\nc: 12\nd: -3\ne: 0x1f\nf: 0o17\ng: 1.5e3\nh: .inf\ni:\n")
    assert data == {"a": True, "b": False, "c": 12, "d": -3, "e": 31, "f": 15, "g": 1500.0,
                    "h": float("inf"), "i": None}


def test_dump_quotes_what_yaml11_readers_would_mistype() -> None:
    data = {"a": "yes", "b": "2021-01-01", "c": "=", "d": "1:20", "e": "on", "f": "0777", "g": "1.0"}
    text = yamlio.dump(data)
    # read back with PyYAML's YAML 1.1 resolver: every value must still be the same string
    assert yaml.safe_load(text) == data
    assert yamlio.load(text) == data


def test_empty_values_are_kept() -> None:
    data = {"emptyDir": {}, "list": [], "s": "", "nested": {"status": {}}}
    text = yamlio.dump(data)
    assert yamlio.load(text) == data
    assert "emptyDir: {}" in text and "s: ''" in text


def test_dump_all_and_load_all_round_trip() -> None:
    docs = [{"kind": "A"}, {"kind": "B", "x": "multi\nline\n"}]
    text = yamlio.dump_all(docs)
    assert text.startswith("---\n")
    assert list(yamlio.load_all(text)) == docs


def test_dump_is_deterministic_and_keeps_order() -> None:
    data = {"z": 1, "a": {"y": 2, "b": 3}}
    assert yamlio.dump(data) == "z: 1\na:\n  'y': 2\n  b: 3\n"  # y: a boolean to go-yaml
    assert yamlio.dump(data) == yamlio.dump(data)


def test_no_aliases_for_shared_objects() -> None:
    shared = {"k": "v"}
    assert "&" not in yamlio.dump({"a": shared, "b": shared})


def test_bad_yaml_raises_yaml_error() -> None:
    with pytest.raises(yaml.YAMLError):
        yamlio.load("a: [\n")


def test_strings_other_readers_type_are_quoted_and_round_trip() -> None:
    data = {value: value for value in _TYPED_ELSEWHERE}
    text = yamlio.dump(data)
    assert yamlio.load(text) == data
    assert yaml.load(text, Loader=yaml.SafeLoader) == data  # YAML 1.1 reader
    for value in ("y", "n", "0o17", "1e3", "1.5e3"):
        assert f"'{value}': '{value}'" in text


@pytest.mark.parametrize("helm", ["helm", "helm4"])
def test_helm_reads_dumped_strings_as_strings(tmp_path: Path, helm: str) -> None:
    """values.yaml written by yamlio.dump: Helm (go-yaml) sees every string as a string."""
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: strings\nversion: 0.1.0\n")
    values = {"strings": _TYPED_ELSEWHERE, "keys": {value: 1 for value in _TYPED_ELSEWHERE}}
    (chart / "values.yaml").write_text(yamlio.dump(values))
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: strings\ndata:\n"
        "  json: {{ dict \"strings\" .Values.strings \"keys\" .Values.keys | toJson | quote }}\n"
    )
    proc = subprocess.run([str(require_tool(helm)), "template", "x", str(chart)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    rendered = json.loads(yamlio.load(proc.stdout)["data"]["json"])
    assert rendered["strings"] == _TYPED_ELSEWHERE
    assert sorted(rendered["keys"]) == sorted(_TYPED_ELSEWHERE)


def test_load_checked_shows_the_node_graph_and_builds_the_same_data() -> None:
    text = "a: [1, x, {b: null}]\nc: 2021-01-01\n"
    seen: list[yaml.Node | None] = []
    assert yamlio.load_checked(text, seen.append) == yamlio.load(text) == {"a": [1, "x", {"b": None}],
                                                                          "c": "2021-01-01"}
    assert isinstance(seen[0], yaml.MappingNode) and [k.value for k, _ in seen[0].value] == ["a", "c"]

    def refuse(node: yaml.Node | None) -> None:
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        yamlio.load_checked(text, refuse)
    assert yamlio.load_checked("", seen.append) is None and seen[-1] is None
