"""bundles.yaml ``patches:`` applied to rendered objects (extractor.render.patches)."""

from __future__ import annotations

import pytest

from extractor.errors import RenderError
from extractor.render.patches import apply_patches, parse_patches

SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "ns"},
          "stringData": {"password": "hunter2-live-value"}}
DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "op", "namespace": "ns"},
              "spec": {"replicas": 1}}


def test_ops_apply_in_order_and_other_objects_stay_the_same() -> None:
    ops = [{"op": "test", "path": "/spec/replicas", "value": 1},
           {"op": "replace", "path": "/spec/replicas", "value": 2}]
    patches = parse_patches("b", [{"target": {"kind": "Deployment", "name": "op"}, "patch": ops}])
    out = apply_patches([SECRET, DEPLOYMENT], patches, "x")
    assert out[0] is SECRET and out[1]["spec"] == {"replicas": 2}
    assert DEPLOYMENT["spec"] == {"replicas": 1}  # the input is not changed


def test_a_failed_test_names_the_operation_and_path_and_shows_the_live_value() -> None:
    patches = parse_patches("b", [{"target": {"kind": "Deployment", "name": "op"}, "patch": [
        {"op": "add", "path": "/spec/paused", "value": False}, {"op": "test", "path": "/spec/replicas", "value": 3}]}])
    with pytest.raises(RenderError, match=r"patches\[0\] \(Deployment/op\): patch\[1\] test failed at "
                                          r"'/spec/replicas': 1 .* is not equal to tested value 3"):
        apply_patches([DEPLOYMENT], patches, "x")


def test_a_failed_test_on_a_secret_never_shows_its_value() -> None:
    patches = parse_patches("b", [{"target": {"kind": "Secret", "name": "creds"}, "patch": [
        {"op": "test", "path": "/stringData/password", "value": "expected"}]}])
    with pytest.raises(RenderError) as info:
        apply_patches([SECRET], patches, "x")
    assert "patch[0] test failed at '/stringData/password'" in str(info.value)
    assert "hunter2" not in str(info.value)
