"""Admission webhooks and workloads (Deployment, StatefulSet, DaemonSet): the fields a reviewer
checks before an operator upgrade.

Webhooks, per ``<Kind>/<configuration>: <webhook name>``: added, removed, or changed in
``failurePolicy``, ``rules``, ``namespaceSelector``, ``objectSelector``, ``matchPolicy``,
``sideEffects``, ``timeoutSeconds``, ``admissionReviewVersions``, the service it calls
(``caBundle`` is injected at run time and ignored). A new ``failurePolicy: Fail`` is sensitive: a
webhook that is down then blocks the objects it matches.

Workloads: ``replicas``, the pod ``securityContext``, and per container (``initContainers`` too)
``args``, ``command``, ``env`` (except variables naming images: see :mod:`extractor.review.images`),
``resources`` and ``securityContext``; containers added and removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from extractor.review.changes import Change, ObjectKey, describe_key, leaf_changes, mapping, object_key
from extractor.review.images import is_image_env, pod_template

__all__ = ["WEBHOOK_FIELDS", "WORKLOAD_KINDS", "ItemChanges", "webhook_changes", "workload_changes"]

WEBHOOK_KINDS = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
WEBHOOK_FIELDS = ("failurePolicy", "rules", "namespaceSelector", "objectSelector", "matchPolicy", "sideEffects",
                  "timeoutSeconds", "admissionReviewVersions", "service")  # fmt: skip
#: fields compared as a whole (shown old -> new), not field by field
_WHOLE = ("rules", "namespaceSelector", "objectSelector", "args", "command")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
_CONTAINER_FIELDS = ("args", "command", "env", "resources", "securityContext")


@dataclass(frozen=True)
class ItemChanges:
    """The changes of one webhook or workload: ``item`` names it, ``status`` is added/removed/changed,
    ``changes`` are field changes (for ``changed``), ``sensitive`` reasons."""

    item: str
    status: str
    changes: tuple[Change, ...] = ()
    sensitive: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """``{item, status, changes, sensitive}``."""
        return {"item": self.item, "status": self.status, "changes": [c.to_dict() for c in self.changes],
                "sensitive": list(self.sensitive)}  # fmt: skip


def _compare(old: Mapping[str, Any], new: Mapping[str, Any], fields: Iterable[str]) -> list[Change]:
    """Changes of ``fields`` between ``old`` and ``new``; :data:`_WHOLE` fields as one change each."""
    found: list[Change] = []
    for name in fields:
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if name in _WHOLE or not isinstance(before, Mapping | list) or not isinstance(after, Mapping | list):
            op = "added" if before is None else "removed" if after is None else "changed"
            found.append(Change(name, op, before, after, parts=(name,)))
        else:
            found.extend(leaf_changes(before, after, prefix=(name,)))
    return found


def _webhooks(objects: Iterable[Mapping[str, Any]], namespace: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for obj in objects:
        if obj.get("kind") not in WEBHOOK_KINDS:
            continue
        for hook in obj.get("webhooks") or []:
            if isinstance(hook, Mapping):
                view = {k: hook.get(k) for k in WEBHOOK_FIELDS if k != "service"}
                client = mapping(hook.get("clientConfig"))
                view["service"] = client.get("service") or client.get("url")
                found[f"{describe_key(object_key(obj), namespace)}: {hook.get('name', '?')}"] = view
    return found


def webhook_changes(
    old_objects: Iterable[Mapping[str, Any]], new_objects: Iterable[Mapping[str, Any]], namespace: str = ""
) -> list[ItemChanges]:
    """Webhooks added, removed or changed (see the module docstring), sorted."""
    old, new = _webhooks(old_objects, namespace), _webhooks(new_objects, namespace)
    result = []
    for item in sorted(set(old) | set(new)):
        before, after = old.get(item), new.get(item)
        fails = after is not None and after.get("failurePolicy", "Fail") == "Fail"
        was_failing = before is not None and before.get("failurePolicy", "Fail") == "Fail"
        sensitive: tuple[str, ...] = ()
        if fails and not was_failing:
            sensitive = (f"{item}: failurePolicy Fail (blocks the objects it matches while down)",)
        if before is None:
            result.append(ItemChanges(item, "added", sensitive=sensitive))
        elif after is None:
            result.append(ItemChanges(item, "removed"))
        elif before != after:
            result.append(ItemChanges(item, "changed", tuple(_compare(before, after, WEBHOOK_FIELDS)), sensitive))
    return result


def _containers(template: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    spec = template.get("spec") or {}
    found: dict[str, Mapping[str, Any]] = {}
    for field_name, label in (("initContainers", "initContainer"), ("containers", "container")):
        for container in spec.get(field_name) or []:
            if isinstance(container, Mapping):
                env = [e for e in container.get("env") or []
                       if not (isinstance(e, Mapping) and is_image_env(str(e.get("name", "")), e.get("value")))]
                found[f"{label} {container.get('name', '?')}"] = {**container, "env": env or None}
    return found


def _workloads(objects: Iterable[Mapping[str, Any]]) -> dict[ObjectKey, Mapping[str, Any]]:
    return {object_key(o): o for o in objects if o.get("kind") in WORKLOAD_KINDS and pod_template(o) is not None}


def workload_changes(
    old_objects: Iterable[Mapping[str, Any]], new_objects: Iterable[Mapping[str, Any]], namespace: str = ""
) -> list[ItemChanges]:
    """Per workload present on both sides whose reviewed fields changed (see the module docstring),
    sorted; added and removed workloads are reported with the other objects."""
    old, new = _workloads(old_objects), _workloads(new_objects)
    result = []
    for key in sorted(set(old) & set(new)):
        before, after = old[key], new[key]
        found = _compare(before.get("spec") or {}, after.get("spec") or {}, ("replicas",))
        old_template, new_template = pod_template(before), pod_template(after)
        assert old_template is not None and new_template is not None
        old_pod, new_pod = old_template[1].get("spec") or {}, new_template[1].get("spec") or {}
        found += _compare(old_pod, new_pod, ("securityContext",))
        old_containers, new_containers = _containers(old_template[1]), _containers(new_template[1])
        for name in sorted(set(old_containers) | set(new_containers)):
            if name not in new_containers:
                found.append(Change(name, "removed", old_containers[name].get("image"), None))
            elif name not in old_containers:
                found.append(Change(name, "added", None, new_containers[name].get("image")))
            else:
                for change in _compare(old_containers[name], new_containers[name], _CONTAINER_FIELDS):
                    found.append(Change(f"{name}: {change.path}", change.op, change.old, change.new,
                                        parts=(name, *change.parts)))
        if found:
            result.append(ItemChanges(describe_key(key, namespace), "changed", tuple(found)))
    return result
