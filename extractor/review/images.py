"""Where a chart names images, and what changed there.

Image locations of rendered objects: containers and initContainers of pod templates (Deployment,
StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod), their env values named ``*IMAGE*``
(``RELATED_IMAGE_*``, ``OPERAND_IMAGE_VERSION``) or holding an image reference, pod-template
annotations whose key mentions an image (sail's ``images.v1_27_3.istiod``, ``containerImage``) or
whose value is an image reference, a ClusterServiceVersion's ``spec.relatedImages``, and the
``image``/``version``/``tag`` fields under ``spec`` of operator custom resources (the Istio CR's
``spec.version``). An image moving to a floating tag (``:latest``, ``:v1.15``) is flagged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from extractor.review.changes import describe_key, mapping, object_key
from extractor.review.versions import is_floating

__all__ = [
    "ImageChange",
    "image_changes",
    "image_locations",
    "is_custom_resource",
    "is_floating_image",
    "is_image_annotation",
    "is_image_env",
    "is_version_field",
    "looks_like_image",
    "pod_template",
]

_IMAGE_REF = re.compile(
    r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(@sha256:[0-9a-f]{64})?"
)


def looks_like_image(value: Any) -> bool:
    """True for a string that reads as a pinned image reference: ``host/path:tag`` or ``…@sha256:…``."""
    if not isinstance(value, str) or "://" in value or ("@sha256:" not in value and ":" not in value):
        return False
    return _IMAGE_REF.fullmatch(value) is not None


def is_image_annotation(key: str, value: Any) -> bool:
    """A pod-template annotation that names an image: key mentions ``image``, or value is one."""
    return "image" in key.lower() or looks_like_image(value)


def is_image_env(name: str, value: Any) -> bool:
    """An env variable that names an image (or an image's version): ``*IMAGE*``, or value is one."""
    return isinstance(value, str) and ("IMAGE" in name.upper() or looks_like_image(value))


def is_version_field(key: str) -> bool:
    """A custom-resource field naming an image or a version: ``image``, ``*Image``, ``version``, ``tag``."""
    lower = key.lower()
    return lower.endswith("image") or lower in ("version", "tag") or lower.endswith("version")


def is_custom_resource(obj: Mapping[str, Any]) -> bool:
    """True for an object of an API group outside Kubernetes' own (``*.k8s.io`` and dotless groups)."""
    group = object_key(obj)[0]
    return "." in group and not group.endswith(".k8s.io")


def pod_template(obj: Mapping[str, Any]) -> tuple[tuple[str, ...], Mapping[str, Any]] | None:
    """``(path, template)`` of the pod template of a workload object (a Pod is its own template)."""
    kind = obj.get("kind")
    spec = mapping(obj.get("spec"))
    if kind == "Pod":
        return (), obj
    if kind == "CronJob":
        template = mapping(mapping(spec.get("jobTemplate")).get("spec")).get("template")
        path: tuple[str, ...] = ("spec", "jobTemplate", "spec", "template")
    else:
        template = spec.get("template")
        path = ("spec", "template")
    if isinstance(template, Mapping) and isinstance(template.get("spec"), Mapping):
        return path, template
    return None


def _scalars(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key in sorted(value, key=str):
            child = f"{path}.{key}"
            item = value[key]
            if is_version_field(str(key)) and isinstance(item, str | int | float) and not isinstance(item, bool):
                yield child, item
            else:
                yield from _scalars(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _scalars(item, f"{path}[{index}]")


def image_locations(objects: list[dict[str, Any]], release_namespace: str = "") -> dict[str, str]:
    """``{location: image or version}`` over ``objects``; locations read
    ``Deployment/x: container manager``, ``Deployment/x: container manager env RELATED_IMAGE_Y``,
    ``Deployment/x: annotation images.v1_27_3.cni``, ``Istio/default: spec.version``."""
    found: dict[str, str] = {}
    for obj in objects:
        what = describe_key(object_key(obj), release_namespace)
        found_template = pod_template(obj)
        if found_template is not None:
            _, template = found_template
            annotations = mapping(mapping(template.get("metadata")).get("annotations"))
            for key, value in annotations.items():
                if is_image_annotation(str(key), value):
                    found[f"{what}: annotation {key}"] = str(value)
            for field_name in ("initContainers", "containers"):
                label = "initContainer" if field_name == "initContainers" else "container"
                for container in template["spec"].get(field_name) or []:
                    if not isinstance(container, Mapping):
                        continue
                    name = container.get("name", "?")
                    if container.get("image") is not None:
                        found[f"{what}: {label} {name}"] = str(container["image"])
                    for env in container.get("env") or []:
                        if isinstance(env, Mapping) and is_image_env(str(env.get("name", "")), env.get("value")):
                            found[f"{what}: {label} {name} env {env['name']}"] = str(env["value"])
        if obj.get("kind") == "ClusterServiceVersion":
            for related in mapping(obj.get("spec")).get("relatedImages") or []:
                if isinstance(related, Mapping) and related.get("image"):
                    found[f"{what}: relatedImage {related.get('name', '?')}"] = str(related["image"])
        elif is_custom_resource(obj) and isinstance(obj.get("spec"), Mapping):
            for path, value in _scalars(obj["spec"], "spec"):
                found[f"{what}: {path}"] = str(value)
    return found


def is_floating_image(value: str | None) -> bool:
    """True for an image reference by a floating tag (``:latest``, ``:v1.15``), not by digest."""
    if value is None or not looks_like_image(value) or "@sha256:" in value:
        return False
    return is_floating(value.rsplit("/", 1)[-1].partition(":")[2])


@dataclass(frozen=True)
class ImageChange:
    """One image location whose value changed: ``old``/``new`` are ``None`` where it is absent;
    ``sensitive``: the reason when the new value floats (``:latest``) and the old one did not."""

    location: str
    old: str | None
    new: str | None
    sensitive: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """``{location, old, new, sensitive}``."""
        return {"location": self.location, "old": self.old, "new": self.new, "sensitive": list(self.sensitive)}


def image_changes(old: Mapping[str, str], new: Mapping[str, str]) -> list[ImageChange]:
    """The locations of ``old`` and ``new`` (from :func:`image_locations`) whose values differ, sorted."""
    found = []
    for location in sorted(set(old) | set(new)):
        before, after = old.get(location), new.get(location)
        if before == after:
            continue
        floats = is_floating_image(after) and not is_floating_image(before)
        reason = (f"{location}: image now by a floating tag ({after})",) if floats else ()
        found.append(ImageChange(location, before, after, reason))
    return found
