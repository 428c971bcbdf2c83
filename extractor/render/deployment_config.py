"""Apply an OLM Subscription ``spec.config`` to rendered Deployments.

Follows OLMv1 ``rukpak/render/registryv1/generators/generators.go``
``applyCustomConfigToDeployment`` (after OLMv0
``pkg/controller/operators/olm/overrides/inject/inject.go``), in its order:

* ``env``: an entry replaces the container's entry of the same name, else it is appended;
* ``envFrom``: appended unless an equal entry is present;
* ``volumes`` (pod) and ``volumeMounts`` (every container): replaced by name, else appended;
* ``tolerations``: appended unless an equal toleration is present;
* ``resources``: replace every container's (``{}`` clears them);
* ``nodeSelector``: replaces the pod's (``{}`` removes it);
* ``affinity``: ``{}`` removes the pod's affinity; each set sub-affinity (``nodeAffinity``,
  ``podAffinity``, ``podAntiAffinity``) replaces the pod's, an empty one (no required/preferred
  terms) removes it; an affinity left without terms is removed;
* ``annotations``: added to the Deployment and its pod template; existing keys win.

Only ``spec.template.spec.containers`` are changed, not init containers. ``null`` (or absent)
leaves a field alone; empty lists and mappings of the list/annotation fields do nothing either.
The same rules are implemented as Helm named templates by :mod:`postprocess.deployment_config`.
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


_AFFINITY_KEYS = ("nodeAffinity", "podAffinity", "podAntiAffinity")
_REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
_PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def check_deployment_config(config: KubeObject) -> None:
    """Raise :class:`RenderError` when ``config`` has unknown keys or wrongly typed values
    (lists of mappings, mappings; ``affinity``'s three sub-affinities mappings)."""
    if not isinstance(config, dict):
        raise RenderError("deployment config must be a mapping (Subscription spec.config)")
    unknown = sorted(set(config) - KNOWN_KEYS)
    if unknown:
        raise RenderError(
            f"deployment config: unknown field(s) {', '.join(unknown)} (Subscription spec.config)"
        )
    for key in _LIST_KEYS:
        if config.get(key) is not None:
            if not isinstance(config[key], list):
                raise RenderError(f"deployment config: {key} must be a list")
            for index, item in enumerate(config[key]):
                if not isinstance(item, dict):
                    raise RenderError(f"deployment config: {key}[{index}] must be a mapping")
    for key in _MAP_KEYS:
        if config.get(key) is not None and not isinstance(config[key], dict):
            raise RenderError(f"deployment config: {key} must be a mapping")
    for key in _AFFINITY_KEYS:
        sub = (config.get("affinity") or {}).get(key)
        if sub is not None and not isinstance(sub, dict):
            raise RenderError(f"deployment config: affinity.{key} must be a mapping")


def _containers(deployment: KubeObject) -> list[dict[str, Any]]:
    pod = deployment.get("spec", {}).get("template", {}).get("spec", {})
    return [c for c in pod.get("containers") or [] if isinstance(c, dict)]


def _pod_spec(deployment: KubeObject) -> dict[str, Any]:
    pod: dict[str, Any] = deployment.setdefault("spec", {}).setdefault("template", {}).setdefault("spec", {})
    return pod


def _merge_by_name(current: list[Any] | None, additions: list[dict[str, Any]]) -> list[Any]:
    """OLMv1 env/volume/volumeMount merge: an entry whose name an existing entry has replaces it
    (the last existing one of that name), any other is appended; names are indexed before merging."""
    merged = list(current or [])
    index = {str(item.get("name", "")): i for i, item in enumerate(merged) if isinstance(item, dict)}
    for item in additions:
        position = index.get(str(item.get("name", "")))
        if position is None:
            merged.append(copy.deepcopy(item))
        else:
            merged[position] = copy.deepcopy(item)
    return merged


def _append_missing(current: list[Any] | None, additions: list[dict[str, Any]]) -> list[Any]:
    """OLMv1 envFrom/toleration merge: append each entry unless an equal one is already there."""
    merged = list(current or [])
    for item in additions:
        if item not in merged:
            merged.append(copy.deepcopy(item))
    return merged


def affinity_term_empty(key: str, value: Any) -> bool:
    """OLMv1 ``isNodeAffinityEmpty`` / ``isPodAffinityEmpty``: no required and no preferred terms."""
    if not isinstance(value, dict):
        return value is None
    if key == "nodeAffinity":
        required = value.get(_REQUIRED)
        required_empty = not isinstance(required, dict) or not required.get("nodeSelectorTerms")
        return required_empty and not value.get(_PREFERRED)
    return not value.get(_REQUIRED) and not value.get(_PREFERRED)


def _apply_affinity(pod: dict[str, Any], config: dict[str, Any]) -> None:
    """OLMv1 ``applyAffinityConfig``: ``{}`` erases the affinity; a set sub-affinity replaces the
    pod's (an empty one erases it); an affinity left without terms is removed."""
    if all(config.get(key) is None for key in _AFFINITY_KEYS):
        pod.pop("affinity", None)
        return
    affinity = pod.get("affinity")
    affinity = dict(affinity) if isinstance(affinity, dict) else {}
    for key in _AFFINITY_KEYS:
        value = config.get(key)
        if value is None:
            continue
        if affinity_term_empty(key, value):
            affinity.pop(key, None)
        else:
            affinity[key] = copy.deepcopy(value)
    if all(affinity_term_empty(key, affinity.get(key)) for key in _AFFINITY_KEYS):
        pod.pop("affinity", None)
    else:
        pod["affinity"] = affinity


def apply_deployment_config(deployment: KubeObject, config: KubeObject | None) -> None:
    """Apply ``config`` (Subscription ``spec.config``) to ``deployment`` in place, with OLM's merge
    rules (see the module docstring). Raises :class:`RenderError` for a malformed ``config``."""
    if not config:
        return
    check_deployment_config(config)
    containers = _containers(deployment)
    pod = _pod_spec(deployment)
    for container in containers:
        for key in ("env", "volumeMounts"):
            if config.get(key):
                container[key] = _merge_by_name(container.get(key), config[key])
        if config.get("envFrom"):
            container["envFrom"] = _append_missing(container.get("envFrom"), config["envFrom"])
    if config.get("volumes"):
        pod["volumes"] = _merge_by_name(pod.get("volumes"), config["volumes"])
    if config.get("tolerations"):
        pod["tolerations"] = _append_missing(pod.get("tolerations"), config["tolerations"])
    if config.get("resources") is not None:
        for container in containers:
            container["resources"] = copy.deepcopy(config["resources"])
    if config.get("nodeSelector") is not None:
        # Go's map is replaced; an empty one is omitted when the Deployment is serialised
        if config["nodeSelector"]:
            pod["nodeSelector"] = copy.deepcopy(config["nodeSelector"])
        else:
            pod.pop("nodeSelector", None)
    if config.get("affinity") is not None:
        _apply_affinity(pod, config["affinity"])
    if config.get("annotations"):
        template_meta = deployment["spec"].setdefault("template", {}).setdefault("metadata", {})
        for meta in (deployment.setdefault("metadata", {}), template_meta):
            annotations = meta.get("annotations")
            if not isinstance(annotations, dict):
                annotations = meta["annotations"] = {}
            for key, value in config["annotations"].items():
                annotations.setdefault(key, value)
