"""Subscription spec.config applied with OLM's merge rules (OLMv1 applyCustomConfigToDeployment)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from extractor.errors import RenderError
from extractor.model import RenderOptions
from extractor.render import render
from extractor.render.deployment_config import apply_deployment_config
from tests.render import find, load, make_csv, write_bundle


def _node_affinity(key: str) -> dict[str, Any]:
    term = {"matchExpressions": [{"key": key, "operator": "Exists"}]}
    return {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}


def _pod_affinity(key: str) -> dict[str, Any]:
    term = {"labelSelector": {"matchLabels": {key: "x"}}, "topologyKey": "kubernetes.io/hostname"}
    return {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": term}]}


def _deployment() -> dict[str, Any]:
    return {
        "metadata": {"name": "d", "annotations": {"keep": "deployment"}},
        "spec": {
            "template": {
                "metadata": {"annotations": {"keep": "pod"}},
                "spec": {
                    "nodeSelector": {"old": "x"},
                    "tolerations": [{"key": "a", "operator": "Exists"}],
                    "affinity": {"nodeAffinity": _node_affinity("old"), "podAffinity": _pod_affinity("old")},
                    "volumes": [{"name": "v0", "emptyDir": {}}],
                    "containers": [
                        {
                            "name": "c1",
                            "env": [{"name": "A", "value": "1"}],
                            "envFrom": [{"configMapRef": {"name": "x"}}],
                        },
                        {"name": "c2", "resources": {"limits": {"cpu": "1"}}},
                    ],
                    "initContainers": [{"name": "init"}],
                },
            }
        },
    }


def test_merge_rules() -> None:
    dep = _deployment()
    apply_deployment_config(
        dep,
        {
            "env": [{"name": "A", "value": "override"}, {"name": "B", "value": ""}],
            "envFrom": [{"configMapRef": {"name": "x"}}, {"secretRef": {"name": "s"}}],
            "volumes": [{"name": "v1", "emptyDir": {}}],
            "volumeMounts": [{"name": "v1", "mountPath": "/v1"}],
            "tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}],
            "resources": {},
            "nodeSelector": {"new": ""},
            "affinity": {"podAntiAffinity": _pod_affinity("new"), "podAffinity": _pod_affinity("new")},
            "annotations": {"keep": "config", "added": "yes"},
        },
    )
    pod = dep["spec"]["template"]["spec"]
    c1, c2 = pod["containers"]
    assert c1["env"] == [{"name": "A", "value": "override"}, {"name": "B", "value": ""}]
    assert c2["env"] == [{"name": "A", "value": "override"}, {"name": "B", "value": ""}]
    assert c1["envFrom"] == [{"configMapRef": {"name": "x"}}, {"secretRef": {"name": "s"}}]
    assert c2["volumeMounts"] == [{"name": "v1", "mountPath": "/v1"}]
    assert c1["resources"] == {} and c2["resources"] == {}
    assert pod["initContainers"] == [{"name": "init"}]
    assert pod["volumes"] == [{"name": "v0", "emptyDir": {}}, {"name": "v1", "emptyDir": {}}]
    assert pod["tolerations"] == [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]
    assert pod["nodeSelector"] == {"new": ""}
    assert pod["affinity"] == {
        "nodeAffinity": _node_affinity("old"),
        "podAffinity": _pod_affinity("new"),
        "podAntiAffinity": _pod_affinity("new"),
    }
    assert dep["metadata"]["annotations"] == {"keep": "deployment", "added": "yes"}
    assert dep["spec"]["template"]["metadata"]["annotations"] == {"keep": "pod", "added": "yes"}


def test_render_applies_config_and_rejects_unknown(tmp_path: Path) -> None:
    bundle = load(write_bundle(tmp_path, make_csv()))
    config = {"nodeSelector": {"node-role.kubernetes.io/infra": ""}}
    objs = render(bundle, RenderOptions(install_namespace="op", deployment_config=config)).objects
    (dep,) = find(objs, "Deployment")
    assert dep["spec"]["template"]["spec"]["nodeSelector"] == {"node-role.kubernetes.io/infra": ""}
    with pytest.raises(RenderError, match="unknown field"):
        render(bundle, RenderOptions(install_namespace="op", deployment_config={"replicas": 3}))
    with pytest.raises(RenderError, match="env must be a list"):
        render(bundle, RenderOptions(install_namespace="op", deployment_config={"env": {"A": "1"}}))


def test_volumes_and_mounts_replace_by_name_then_append() -> None:
    # OLMv1 applyVolumeConfig / applyVolumeMountConfig (OLMv0 inject.go mergeVolumes): same name replaces
    dep = _deployment()
    dep["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [{"name": "v0", "mountPath": "/a"}]
    apply_deployment_config(
        dep,
        {
            "volumes": [{"name": "v0", "configMap": {"name": "c"}}, {"name": "v2", "emptyDir": {}}],
            "volumeMounts": [{"name": "v0", "mountPath": "/b"}, {"name": "v2", "mountPath": "/c"}],
        },
    )
    pod = dep["spec"]["template"]["spec"]
    mounts = [{"name": "v0", "mountPath": "/b"}, {"name": "v2", "mountPath": "/c"}]
    assert pod["volumes"] == [{"name": "v0", "configMap": {"name": "c"}}, {"name": "v2", "emptyDir": {}}]
    assert pod["containers"][0]["volumeMounts"] == mounts
    assert pod["containers"][1]["volumeMounts"] == mounts


def test_env_names_are_indexed_before_merging() -> None:
    # OLMv1 applyEnvironmentConfig: only names present before the merge are replaced in place
    dep = _deployment()
    apply_deployment_config(dep, {"env": [{"name": "N", "value": "1"}, {"name": "N", "value": "2"}]})
    env = dep["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "A", "value": "1"}, {"name": "N", "value": "1"}, {"name": "N", "value": "2"}]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, None),  # affinity: {} erases the pod's affinity
        ({"nodeAffinity": {}}, {"podAffinity": _pod_affinity("old")}),  # an empty sub-affinity erases it
        ({"nodeAffinity": {}, "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}, None),
        (
            {"podAntiAffinity": _pod_affinity("n")},
            {"nodeAffinity": _node_affinity("old"), "podAffinity": _pod_affinity("old"),
             "podAntiAffinity": _pod_affinity("n")},
        ),
        (
            {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}},
            {"podAffinity": _pod_affinity("old")},
        ),
    ],
)
def test_affinity_rules(config: dict[str, Any], expected: dict[str, Any] | None) -> None:
    # OLMv1 applyAffinityConfig / isAffinityEmpty
    dep = _deployment()
    apply_deployment_config(dep, {"affinity": config})
    assert dep["spec"]["template"]["spec"].get("affinity") == expected


def test_null_keeps_and_empty_node_selector_removes() -> None:
    dep = _deployment()
    apply_deployment_config(dep, {"nodeSelector": None, "resources": None, "affinity": None, "env": []})
    assert dep == _deployment()
    apply_deployment_config(dep, {"nodeSelector": {}})
    assert "nodeSelector" not in dep["spec"]["template"]["spec"]  # Go's empty map is omitted


def test_malformed_items_are_rejected() -> None:
    with pytest.raises(RenderError, match=r"tolerations\[1\] must be a mapping"):
        apply_deployment_config(_deployment(), {"tolerations": [{"key": "a"}, "b"]})
    with pytest.raises(RenderError, match=r"affinity\.nodeAffinity must be a mapping"):
        apply_deployment_config(_deployment(), {"affinity": {"nodeAffinity": []}})
