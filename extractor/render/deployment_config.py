"""Apply an OLM Subscription ``spec.config`` to rendered Deployments.

Follows OLMv1 ``generators.go`` ``applyCustomConfigToDeployment`` (itself OLMv0
``pkg/controller/operators/olm/overrides/inject/inject.go``): env (override by name, else append),
envFrom (append unless an equal entry exists), volumes and volumeMounts (append), tolerations
(append unless equal), resources (replace, every container), nodeSelector (replace), affinity
(replace each non-null sub-affinity), annotations (added to the Deployment and its pod template,
existing keys win). Only ``spec.template.spec.containers`` are changed, not init containers.
"""

from __future__ import annotations

import copy
from typing import Any

from extractor.errors import RenderError
from extractor.model import KubeObject

KNOWN_KEYS = frozenset(
    {
        "selector",
        "nodeSelector",
        "tolerations",
        "resources",
        "envFrom",
        "env",
        "volumes",
        "volumeMounts",
        "affinity",
        "annotations",
    }
)

_LIST_KEYS = ("tolerations", "envFrom", "env", "volumes", "volumeMounts")
_MAP_KEYS = ("nodeSelector", "resources", "affinity", "annotations")


def check_deployment_config(config: KubeObject) -> None:
    """Raise :class:`RenderError` when ``config`` has unknown keys or wrongly typed values."""
    unknown = sorted(set(config) - KNOWN_KEYS)
    if unknown:
        raise RenderError(
            f"deployment config: unknown field(s) {', '.join(unknown)} (Subscription spec.config)"
        )
    for key in _LIST_KEYS:
        if config.get(key) is not None and not isinstance(config[key], list):
            raise RenderError(f"deployment config: {key} must be a list")
    for key in _MAP_KEYS:
        if config.get(key) is not None and not isinstance(config[key], dict):
            raise RenderError(f"deployment config: {key} must be a mapping")


def _containers(deployment: KubeObject) -> list[dict[str, Any]]:
    pod = deployment.get("spec", {}).get("template", {}).get("spec", {})
    return [c for c in pod.get("containers") or [] if isinstance(c, dict)]


def _pod_spec(deployment: KubeObject) -> dict[str, Any]:
    pod: dict[str, Any] = deployment.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
    return pod


def apply_deployment_config(deployment: KubeObject, config: KubeObject | None) -> None:
    """Apply ``config`` (Subscription ``spec.config``) to ``deployment`` in place (OLM merge rules)."""
    if not config:
        return
    check_deployment_config(config)
    cfg = copy.deepcopy(config)
    containers = _containers(deployment)
    pod = _pod_spec(deployment)

    for env in cfg.get("env") or []:
        for container in containers:
            current = container.setdefault("env", [])
            for i, existing in enumerate(current):
                if existing.get("name") == env.get("name"):
                    current[i] = copy.deepcopy(env)
                    break
            else:
                current.append(copy.deepcopy(env))
    for env_from in cfg.get("envFrom") or []:
        for container in containers:
            current = container.setdefault("envFrom", [])
            if env_from not in current:
                current.append(copy.deepcopy(env_from))
    if cfg.get("volumes"):
        pod.setdefault("volumes", []).extend(copy.deepcopy(cfg["volumes"]))
    if cfg.get("volumeMounts"):
        for container in containers:
            container.setdefault("volumeMounts", []).extend(copy.deepcopy(cfg["volumeMounts"]))
    for toleration in cfg.get("tolerations") or []:
        current = pod.setdefault("tolerations", [])
        if toleration not in current:
            current.append(copy.deepcopy(toleration))
    if cfg.get("resources") is not None:
        for container in containers:
            container["resources"] = copy.deepcopy(cfg["resources"])
    if cfg.get("nodeSelector") is not None:
        pod["nodeSelector"] = cfg["nodeSelector"]
    if cfg.get("affinity") is not None:
        affinity = pod.get("affinity")
        if not isinstance(affinity, dict):
            affinity = pod["affinity"] = {}
        for key in ("nodeAffinity", "podAffinity", "podAntiAffinity"):
            if cfg["affinity"].get(key) is not None:
                affinity[key] = copy.deepcopy(cfg["affinity"][key])
    if cfg.get("annotations"):
        template_meta = deployment["spec"].setdefault("template", {}).setdefault("metadata", {})
        for meta in (deployment.setdefault("metadata", {}), template_meta):
            annotations = meta.get("annotations")
            if not isinstance(annotations, dict):
                annotations = meta["annotations"] = {}
            for key, value in cfg["annotations"].items():
                annotations.setdefault(key, value)
