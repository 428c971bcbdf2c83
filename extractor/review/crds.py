"""CustomResourceDefinition changes: versions, served/storage flags, schemas, scope.

Compared per CRD name from the charts' ``presync/`` files. Schema paths read ``spec.issuerRef.name``,
``spec.list[]`` (array items) and ``spec.labels{}`` (map values). Flagged as sensitive: a removed
version that was the storage version (objects stored in it need a storage migration before the
upgrade, and the API server refuses to drop a version still in ``status.storedVersions``), a version
that stops being served, schema properties removed, type changes (but widening to ``any`` or
``int-or-string``), enum values removed, fields that became required under a parent that existed
before (changes under ``status`` are listed, not flagged), a scope change, and a removed CRD (the presync
hook never deletes CRDs: it stays on clusters with its objects; also what a downgrade leaves behind).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from extractor.review.changes import mapping

__all__ = ["CRDChange", "SchemaChange", "crd_changes", "schema_paths"]


@dataclass(frozen=True)
class SchemaChange:
    """One schema finding in ``version``: ``change`` is ``removed``, ``added``, ``type`` (``old`` ->
    ``new`` types), ``required`` (a field that became required) or ``enum`` (``old``: the values
    no longer allowed, ``new``: the values added, comma-separated; an enum that appears has
    ``old`` ``"any value"`` and ``new`` all its values, one that goes has ``new`` ``"any value"``)."""

    version: str
    path: str
    change: str
    old: str | None = None
    new: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{version, path, change, old, new}``."""
        return {"version": self.version, "path": self.path, "change": self.change, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class CRDChange:
    """What changed in one CRD: ``status`` (added/removed/changed), ``versions_added``/``versions_removed``,
    ``flags`` (served/storage/scope changes, as text), ``schema`` findings, ``sensitive`` reasons."""

    name: str
    status: str
    versions_added: tuple[str, ...] = ()
    versions_removed: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    schema: tuple[SchemaChange, ...] = ()
    sensitive: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """``{name, status, versionsAdded, versionsRemoved, flags, schema, sensitive}``."""
        return {
            "name": self.name, "status": self.status, "versionsAdded": list(self.versions_added),
            "versionsRemoved": list(self.versions_removed), "flags": list(self.flags),
            "schema": [s.to_dict() for s in self.schema], "sensitive": list(self.sensitive),
        }  # fmt: skip


def _versions(crd: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    versions = mapping(crd.get("spec")).get("versions") or []
    return {str(v["name"]): v for v in versions if isinstance(v, Mapping) and "name" in v}


def _type(node: Mapping[str, Any]) -> str:
    if node.get("x-kubernetes-int-or-string"):
        return "int-or-string"
    if node.get("x-kubernetes-preserve-unknown-fields") and "type" not in node:
        return "any"
    return str(node.get("type", "any"))


_Node = tuple[str, bool, tuple[str, ...]]
_ANY = "any value"


def _enum(node: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(str(v) for v in node.get("enum") or []))


def _walk(node: Any, path: str) -> Iterator[tuple[str, _Node]]:
    """``(path, (type, required, enum))`` for every property below ``node`` (``path`` is its own)."""
    if not isinstance(node, Mapping):
        return
    required = set(node.get("required") or [])
    for name, child in sorted((node.get("properties") or {}).items()):
        child_path = f"{path}.{name}" if path else str(name)
        if isinstance(child, Mapping):
            yield child_path, (_type(child), name in required, _enum(child))
            yield from _walk(child, child_path)
    for key, suffix in (("items", "[]"), ("additionalProperties", "{}")):
        child = node.get(key)
        if isinstance(child, Mapping):
            yield f"{path}{suffix}", (_type(child), False, _enum(child))
            yield from _walk(child, f"{path}{suffix}")


def schema_paths(version: Mapping[str, Any]) -> dict[str, _Node]:
    """``{path: (type, required, enum values)}`` of a CRD version's ``schema.openAPIV3Schema``."""
    schema = version.get("schema")
    return dict(_walk(schema.get("openAPIV3Schema") if isinstance(schema, Mapping) else None, ""))


def _outermost(paths: set[str]) -> list[str]:
    """``paths`` without those below another one of them."""
    def parents(path: str) -> Iterator[str]:
        for index, char in enumerate(path):
            if char in ".[{" and index:
                yield path[:index]

    return sorted(p for p in paths if not any(parent in paths for parent in parents(p)))


def _schema_changes(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[SchemaChange]:
    before, after = schema_paths(old), schema_paths(new)
    found = [SchemaChange(name, p, "removed", before[p][0]) for p in _outermost(set(before) - set(after))]
    found += [SchemaChange(name, p, "added", None, after[p][0]) for p in _outermost(set(after) - set(before))]
    for path in sorted(set(before) & set(after)):
        if before[path][0] != after[path][0]:
            found.append(SchemaChange(name, path, "type", before[path][0], after[path][0]))
        was, now = before[path][2], after[path][2]
        if was != now:  # an empty enum allows any value
            gone = ", ".join(v for v in was if v not in now) if was and now else (None if was else _ANY)
            added = ", ".join(v for v in now if v not in was) if was and now else (", ".join(now) or _ANY)
            found.append(SchemaChange(name, path, "enum", gone or None, added or None))
    for path in sorted(after):
        # a required field inside a subtree that is new itself binds no existing object
        if after[path][1] and not (path in before and before[path][1]) and _parent(path) in before:
            found.append(SchemaChange(name, path, "required", None, after[path][0]))
    return found


def _parent(path: str) -> str:
    if path.endswith(("[]", "{}")):
        return path[:-2]
    return path[: max(path.rfind("."), 0)]


def _widened(old: str | None, new: str | None) -> bool:
    return new == "any" or (new == "int-or-string" and old in ("integer", "string"))


def _one(name: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> CRDChange | None:
    if new is None:
        return CRDChange(name, "removed", versions_removed=tuple(sorted(_versions(old or {}))),
                         sensitive=(f"CRD {name} removed: the presync hook never deletes CRDs, it stays on clusters",))
    if old is None:
        return CRDChange(name, "added", versions_added=tuple(sorted(_versions(new))))
    before, after = _versions(old), _versions(new)
    flags: list[str] = []
    sensitive: list[str] = []
    for version in sorted(set(before) - set(after)):
        if before[version].get("storage"):
            sensitive.append(f"{name}: version {version} removed while it is the storage version: "
                             "needs a storage migration before upgrading")
        elif before[version].get("served"):
            sensitive.append(f"{name}: served version {version} removed (clients and stored objects of it break)")
    for version in sorted(set(before) & set(after)):
        for key in ("served", "storage"):
            was, now = bool(before[version].get(key)), bool(after[version].get(key))
            if was != now:
                flags.append(f"{version} {key}: {str(was).lower()} -> {str(now).lower()}")
                if key == "served" and was:
                    sensitive.append(f"{name}: version {version} no longer served")
    scope_before, scope_after = mapping(old.get("spec")).get("scope"), mapping(new.get("spec")).get("scope")
    if scope_before != scope_after:
        flags.append(f"scope: {scope_before} -> {scope_after}")
        sensitive.append(f"{name}: scope changed {scope_before} -> {scope_after}")
    schema: list[SchemaChange] = []
    for version in sorted(set(before) & set(after)):
        schema += _schema_changes(version, before[version], after[version])
    for finding in schema:
        if finding.path.split(".", 1)[0].split("[", 1)[0].split("{", 1)[0] == "status":
            continue  # written by the operator, not by users
        if finding.change == "removed":
            sensitive.append(f"{name} {finding.version}: property {finding.path} removed")
        elif finding.change == "type" and not _widened(finding.old, finding.new):
            sensitive.append(f"{name} {finding.version}: {finding.path} type {finding.old} -> {finding.new}")
        elif finding.change == "required":
            sensitive.append(f"{name} {finding.version}: {finding.path} is now required")
        elif finding.change == "enum" and finding.old == _ANY:
            sensitive.append(f"{name} {finding.version}: {finding.path} now restricted to {finding.new}")
        elif finding.change == "enum" and finding.old:
            sensitive.append(f"{name} {finding.version}: {finding.path} no longer allows {finding.old}")
    added, removed = tuple(sorted(set(after) - set(before))), tuple(sorted(set(before) - set(after)))
    change = CRDChange(name, "changed", added, removed, tuple(flags), tuple(schema), tuple(sorted(set(sensitive))))
    if change.versions_added or change.versions_removed or flags or schema:
        return change
    if old != new:
        return dataclasses.replace(change, flags=("other changes only (descriptions, defaults, validation rules)",))
    return None


def crd_changes(old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]]) -> list[CRDChange]:
    """Per CRD name of either side (``{name: CRD}``) that changed, sorted by name."""
    found = (_one(name, old.get(name), new.get(name)) for name in sorted(set(old) | set(new)))
    return [change for change in found if change is not None]
