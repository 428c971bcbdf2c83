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


def _deployment() -> dict[str, Any]:
    return {
        "metadata": {"name": "d", "annotations": {"keep": "deployment"}},
        "spec": {
            "template": {
                "metadata": {"annotations": {"keep": "pod"}},
                "spec": {
                    "nodeSelector": {"old": "x"},
                    "tolerations": [{"key": "a", "operator": "Exists"}],
                    "affinity": {"nodeAffinity": {"old": True}, "podAffinity": {"old": True}},
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
            "affinity": {"podAntiAffinity": {"new": True}, "podAffinity": {"new": True}},
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
        "nodeAffinity": {"old": True},
        "podAffinity": {"new": True},
        "podAntiAffinity": {"new": True},
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
