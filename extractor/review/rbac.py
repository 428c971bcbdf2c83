"""RBAC rules added and removed per Role/ClusterRole, with escalations flagged.

Rules are compared as sets of single permissions (API group, resource, resource name, verb; or
non-resource URL, verb), so regrouping rules is no change, and a permission a wildcard of the other
side already grants is neither added nor removed. Sensitive additions: wildcards in verbs,
resources or API groups; write verbs on ``secrets``; ``create`` on ``serviceaccounts/token``; the
verbs ``escalate``, ``bind``, ``impersonate``; ``pods/exec``; ``nodes``; and a Role that became a
ClusterRole (its permissions now apply cluster-wide).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from extractor.review.changes import ObjectKey, describe_key, object_key

__all__ = ["Permission", "RoleChange", "format_permissions", "permissions", "rbac_changes", "sensitivity"]

_ROLE_KINDS = ("Role", "ClusterRole")
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection", "*"})
ESCALATING_VERBS = frozenset({"escalate", "bind", "impersonate"})


class Permission(NamedTuple):
    """One permission: ``url`` is set (and group/resource empty) for a non-resource URL rule;
    ``name`` is ``""`` when the rule has no resourceNames (all objects)."""

    group: str
    resource: str
    name: str
    verb: str
    url: str = ""


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def permissions(role: Mapping[str, Any]) -> set[Permission]:
    """The permissions the ``rules`` of ``role`` grant, one per group/resource/name/verb."""
    found: set[Permission] = set()
    for rule in role.get("rules") or []:
        if not isinstance(rule, Mapping):
            continue
        verbs = _strings(rule.get("verbs"))
        for url in _strings(rule.get("nonResourceURLs")):
            found.update(Permission("", "", "", verb, url) for verb in verbs)
        names = _strings(rule.get("resourceNames")) or [""]
        for group in _strings(rule.get("apiGroups")):
            for resource in _strings(rule.get("resources")):
                found.update(Permission(group, resource, name, verb) for name in names for verb in verbs)
    return found


def _grants(wide: Permission, narrow: Permission) -> bool:
    """True when ``wide`` grants ``narrow`` (wildcards, all names, URL ``prefix*``)."""

    def covers(a: str, b: str) -> bool:
        return a in ("*", b)

    if narrow.url or wide.url:
        if not (narrow.url and wide.url and covers(wide.verb, narrow.verb)):
            return False
        return wide.url == narrow.url or (wide.url.endswith("*") and narrow.url.startswith(wide.url[:-1]))
    return (covers(wide.group, narrow.group) and covers(wide.resource, narrow.resource)
            and wide.name in ("", narrow.name) and covers(wide.verb, narrow.verb))  # fmt: skip


def _missing(ours: set[Permission], theirs: set[Permission]) -> set[Permission]:
    """Permissions of ``ours`` that nothing in ``theirs`` grants."""
    return {p for p in ours - theirs if not any(_grants(t, p) for t in theirs)}


def _resource_text(p: Permission) -> str:
    if p.url:
        return p.url
    if p.group == "":
        text = p.resource
    elif p.group == "*":
        text = f"{p.resource} (all groups)"
    else:
        text = f"{p.resource}.{p.group}"
    return f"{text} named {p.name}" if p.name else text


def format_permissions(perms: Iterable[Permission]) -> list[str]:
    """``["create serviceaccounts/token", "get,list,watch certificates.cert-manager.io, issuers.cert-manager.io"]``:
    permissions grouped by resource, resources sharing the same verbs on one line (non-resource URLs
    on lines of their own), sorted."""
    verbs_by_resource: dict[tuple[bool, str], set[str]] = {}
    for p in perms:
        verbs_by_resource.setdefault((bool(p.url), _resource_text(p)), set()).add(p.verb)
    by_verbs: dict[tuple[bool, str], list[str]] = {}  # non-resource URLs never share a line with resources
    for (is_url, resource), verbs in verbs_by_resource.items():
        by_verbs.setdefault((is_url, ",".join(sorted(verbs))), []).append(resource)
    return sorted(f"{verbs} {', '.join(sorted(resources))}" for (_, verbs), resources in by_verbs.items())


def sensitivity(p: Permission) -> str | None:
    """Why adding ``p`` is an escalation worth a reviewer's attention, or ``None``."""
    what = f"{p.verb} {_resource_text(p)}"
    if "*" in (p.verb, p.resource, p.group) and not p.url:
        return f"wildcard: {what}"
    if p.url:
        return f"wildcard: {what}" if p.verb == "*" else None
    core = p.group in ("", "*")
    if core and p.resource == "secrets" and p.verb in WRITE_VERBS:
        return f"writes Secrets: {what}"
    if core and p.resource == "serviceaccounts/token" and p.verb in ("create", "*"):
        return f"mints ServiceAccount tokens: {what}"
    if p.verb in ESCALATING_VERBS:
        return f"{p.verb}: {what}"
    if core and p.resource == "pods/exec":
        return f"exec into pods: {what}"
    if core and (p.resource == "nodes" or p.resource.startswith("nodes/")):
        return f"nodes: {what}"
    return None


@dataclass(frozen=True)
class RoleChange:
    """The permissions of one role that changed: ``role`` (``ClusterRole/x``, or ``Role/x ->
    ClusterRole/x``), ``status`` (added/removed/changed), ``added``/``removed`` as
    :func:`format_permissions` lines, ``sensitive`` reasons (sorted)."""

    role: str
    status: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    sensitive: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{role, status, added, removed, sensitive}``."""
        return {"role": self.role, "status": self.status, "added": list(self.added),
                "removed": list(self.removed), "sensitive": list(self.sensitive)}  # fmt: skip


def _change(role: str, status: str, old: set[Permission], new: set[Permission], flags: list[str]) -> RoleChange:
    added = _missing(new, old)
    removed = _missing(old, new)
    reasons = sorted({r for r in (sensitivity(p) for p in added) if r} | set(flags))
    return RoleChange(role, status, tuple(format_permissions(added)), tuple(format_permissions(removed)),
                      tuple(reasons))


def rbac_changes(
    old_objects: Iterable[Mapping[str, Any]], new_objects: Iterable[Mapping[str, Any]], release_namespace: str = ""
) -> list[RoleChange]:
    """Per Role/ClusterRole of either side whose permissions differ, sorted by role.

    A Role and a ClusterRole of the same name on opposite sides are one role that changed kind.
    """
    old = {object_key(o): o for o in old_objects if o.get("kind") in _ROLE_KINDS}
    new = {object_key(o): o for o in new_objects if o.get("kind") in _ROLE_KINDS}
    result: list[RoleChange] = []
    promoted: set[ObjectKey] = set()
    for key in sorted(set(old) - set(new)):
        group, kind, _, name = key
        twin = (group, "ClusterRole", "", name)
        if kind == "Role" and twin in new and twin not in old:
            promoted.update({key, twin})
            label = f"{describe_key(key, release_namespace)} -> {describe_key(twin)}"
            flag = f"Role became a ClusterRole (its permissions now apply cluster-wide): {name}"
            result.append(_change(label, "changed", permissions(old[key]), permissions(new[twin]), [flag]))
    for key in sorted(set(old) | set(new)):
        if key in promoted:
            continue
        before = permissions(old[key]) if key in old else set()
        after = permissions(new[key]) if key in new else set()
        status = "added" if key not in old else "removed" if key not in new else "changed"
        change = _change(describe_key(key, release_namespace), status, before, after, [])
        if change.added or change.removed or status != "changed":
            result.append(change)
    return sorted(result, key=lambda c: c.role)
