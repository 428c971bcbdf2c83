"""``exclude``: jq expression filtering."""

from __future__ import annotations

import pytest

from extractor.config import DEFAULT_EXCLUDES
from extractor.errors import ConfigError, PostProcessError
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
