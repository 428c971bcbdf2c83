"""``exclude``: jq expression filtering."""

from __future__ import annotations

import pytest

from extractor.config import DEFAULT_EXCLUDES
from extractor.errors import ConfigError, PostProcessError
from extractor.render import filters
from postprocess import exclude
from tests.support.drafts import rendered_draft

OBJECTS = [
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "a"}},
    {"apiVersion": "route.openshift.io/v1", "kind": "Route", "metadata": {"name": "r"}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "labels": {"keep": "yes"}}},
]


def test_exclude_drops_matches_and_keeps_order() -> None:
    kept = exclude.filter_objects(OBJECTS, ['.kind == "Route"'])
    assert [o["metadata"]["name"] for o in kept] == ["a", "b"]


def test_include_keeps_only_matches_and_exclude_wins() -> None:
    kept = exclude.filter_objects(OBJECTS, ['.metadata.name == "b"'], ['.kind == "ConfigMap" or .kind == "Route"'])
    assert [o["metadata"]["name"] for o in kept] == ["r"]


def test_only_boolean_true_matches() -> None:
    # a non-boolean output (a string, null) is not a match
    assert len(exclude.filter_objects(OBJECTS, [".metadata.name", ".missing"])) == 3


def test_compile_error_names_the_expression() -> None:
    with pytest.raises(ConfigError, match=r"exclude expression '\.kind ==' does not compile"):
        exclude.filter_objects(OBJECTS, [".kind =="])


def test_runtime_error_names_the_expression_and_object() -> None:
    with pytest.raises(PostProcessError, match=r"'\.metadata\.name\.x'.*ServiceAccount/a"):
        exclude.filter_objects(OBJECTS, [".metadata.name.x"])


def test_defaults_drop_the_consoleclidownload_of_the_sail_bundle() -> None:
    draft = rendered_draft("sail-operator")
    assert any(o["kind"] == "ConsoleCLIDownload" for o in draft.objects)
    out = exclude.run(draft, {})
    assert not any(o["kind"] == "ConsoleCLIDownload" for o in out.objects)
    assert len(out.objects) == len(draft.objects) - 1
    explicit = exclude.run(draft, {"exclude": list(DEFAULT_EXCLUDES)})
    assert explicit.objects == out.objects


def test_bad_options() -> None:
    draft = rendered_draft("lws-operator")
    with pytest.raises(ConfigError, match="'exclude' must be a list"):
        exclude.run(draft, {"exclude": '.kind == "Route"'})
    with pytest.raises(ConfigError, match="unknown option"):
        exclude.run(draft, {"excludes": []})


def test_kind_shortcut_agrees_with_jq() -> None:
    from postprocess.exclude import filter_objects

    objects = [{"kind": "Route"}, {"kind": "Deployment"}, {"kind": "route"}, {"metadata": {}}]
    # the first expression takes the shortcut, the second (same meaning) goes through jq
    fast = filter_objects(objects, ['.kind == "Route"'])
    slow = filter_objects(objects, ['(.kind) == "Route"'])
    assert fast == slow == [{"kind": "Deployment"}, {"kind": "route"}, {"metadata": {}}]
    assert filter_objects(objects, [], ['.kind == "Deployment"']) == [{"kind": "Deployment"}]


# -- expressions from configuration see only the objects ------------------------------------------
SECRET = "s3cr3t-marker-7f3a"


@pytest.mark.parametrize("expression", [
    "$ENV.BUNDLE_EXTRACT_TEST_SECRET == \"x\"",
    "env.BUNDLE_EXTRACT_TEST_SECRET | length > 0",
    "error(env.BUNDLE_EXTRACT_TEST_SECRET)",
    "error($ENV | tostring)",
    'import "creds" as c {search: "/"}; true',
    'include "x"; true',
    "input | true",
    "[inputs] | length > 0",
    "input_filename == null",
    "$__loc__.file == \"x\"",
    "$__prog_args | length > 0",
    '"\\(env.HOME)" | length > 0',      # code inside a string interpolation is code
    "get_search_list | length > 0",
    "halt_error",
    "debug | false",
    ".x | stderr | false",
])
def test_forbidden_builtins_are_refused(expression: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUNDLE_EXTRACT_TEST_SECRET", SECRET)
    with pytest.raises(ConfigError) as info:
        exclude.filter_objects(OBJECTS, [expression])
    message = str(info.value)
    assert "may only read the objects" in message and SECRET not in message
    with pytest.raises(ConfigError):
        exclude.filter_objects(OBJECTS, [], [expression])


@pytest.mark.parametrize("expression", [
    '.env == "x"',                      # a field called env
    '.metadata.labels.input == "x"',
    '.metadata.name == "env"',          # inside a string literal
    '.metadata.name | test("\\\\$ENV")',
    '.metadata.name == "a # env"',
    '.kind == "ConfigMap" # env and $ENV in a comment',
    '(.metadata.labels // {}) | has("inputs")',
])
def test_field_names_and_strings_are_not_builtins(expression: str) -> None:
    exclude.filter_objects(OBJECTS, [expression])  # no ConfigError


def test_the_child_has_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a builtin that slipped through would find no environment: the filter runs in a child
    whose environment is empty (checked from inside jq with a helper defined on purpose)."""
    monkeypatch.setenv("BUNDLE_EXTRACT_TEST_SECRET", SECRET)
    import jq

    def probe(objects: list[dict[str, object]], stream: str) -> list[bool]:
        expression = "$ENV | length == 0"
        return filters._match_matrix([(expression, jq.compile(expression))], objects, stream)

    stream = "\n".join('{"x":1}' for _ in OBJECTS)
    assert filters._bounded(probe, (OBJECTS, stream), "probe") == [True] * 3
    assert jq.compile("$ENV | length > 0").input_value(None).first() is True  # while this process has one


def test_runaway_expression_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUNDLE_EXTRACT_JQ_TIMEOUT", "1")
    with pytest.raises(PostProcessError, match=r"did not finish within 1s \(stopped\)"):
        exclude.filter_objects(OBJECTS, ["last(range(1e15)) > 0"])
    monkeypatch.setenv("BUNDLE_EXTRACT_JQ_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="BUNDLE_EXTRACT_JQ_TIMEOUT"):
        exclude.filter_objects(OBJECTS, [".metadata.name == \"a\""])
