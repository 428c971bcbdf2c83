"""bundles.yaml ``patches:``: RFC 6902 JSON patches applied to rendered objects, before post-processing.

Each patch names exactly one target object and a list of operations (the ``jsonpatch`` package)::

    patches:
      - target: {kind: Deployment, name: servicemesh-operator3}   # namespace?, apiVersion? narrow it
        patch:
          - {op: test, path: /spec/replicas, value: 1}             # guards: fail when the bundle changes
          - {op: replace, path: /spec/replicas, value: 2}

A target that matches no object or several, an operation that is malformed or unknown, a path that
does not exist, or a ``test`` that fails stops generation with one line naming the entry, the
patch (index and target) and the reason: a bundle change that breaks a patch is seen in review
instead of shipping silently. Patches run in order, each on the result of the ones before.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from extractor.errors import ConfigError, RenderError
from extractor.model import KubeObject

__all__ = ["OPS", "ObjectPatch", "PatchTarget", "apply_patches", "parse_patches"]

OPS = ("add", "remove", "replace", "move", "copy", "test")
_NEEDS_VALUE = ("add", "replace", "test")
_NEEDS_FROM = ("move", "copy")


@dataclass(frozen=True)
class PatchTarget:
    """Which object a patch applies to: ``kind`` and ``name``, optionally ``namespace`` (as
    rendered: the install namespace for namespaced objects) and ``apiVersion``."""

    kind: str
    name: str
    namespace: str | None = None
    api_version: str | None = None

    def matches(self, obj: KubeObject) -> bool:
        """True when ``obj`` has this kind and name (and namespace/apiVersion when given)."""
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        assert isinstance(meta, dict)
        return (obj.get("kind") == self.kind and meta.get("name") == self.name
                and (self.namespace is None or meta.get("namespace") == self.namespace)
                and (self.api_version is None or obj.get("apiVersion") == self.api_version))

    def __str__(self) -> str:
        text = f"{self.kind}/{self.name}"
        if self.namespace is not None:
            text = f"{text} in {self.namespace}"
        return f"{text} ({self.api_version})" if self.api_version is not None else text


@dataclass(frozen=True)
class ObjectPatch:
    """One ``patches:`` item: its ``target`` and the RFC 6902 ``operations`` (plain dicts)."""

    target: PatchTarget
    operations: tuple[dict[str, Any], ...]


def _pointer_ok(value: Any) -> bool:
    return isinstance(value, str) and (value == "" or value.startswith("/"))


def _operation(where: str, index: int, raw: Any) -> dict[str, Any]:
    at = f"{where}: patch[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{at}: expected a mapping {{op, path, ...}}")
    op = raw.get("op")
    if op not in OPS:
        raise ConfigError(f"{at}: unknown op {str(op)[:40]!r} (known: {', '.join(OPS)})")
    allowed = {"op", "path"} | ({"value"} if op in _NEEDS_VALUE else set()) | ({"from"} if op in _NEEDS_FROM else set())
    unknown = sorted(set(map(str, raw)) - allowed)
    if unknown:
        raise ConfigError(f"{at}: unknown key(s) {', '.join(unknown)} for op {op!r}")
    if not _pointer_ok(raw.get("path")):
        raise ConfigError(f"{at}: path must be a JSON pointer string starting with '/'")
    if op in _NEEDS_VALUE and "value" not in raw:
        raise ConfigError(f"{at}: op {op!r} needs a value")
    if op in _NEEDS_FROM and not _pointer_ok(raw.get("from")):
        raise ConfigError(f"{at}: op {op!r} needs 'from', a JSON pointer string starting with '/'")
    return dict(raw)


def _target(where: str, raw: Any) -> PatchTarget:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: target must be a mapping {{kind, name, namespace?, apiVersion?}}")
    unknown = sorted(set(map(str, raw)) - {"kind", "name", "namespace", "apiVersion"})
    if unknown:
        raise ConfigError(f"{where}: target: unknown key(s) {', '.join(unknown)}")
    for key in ("kind", "name"):
        if not isinstance(raw.get(key), str) or not raw.get(key):
            raise ConfigError(f"{where}: target.{key} must be a non-empty string")
    for key in ("namespace", "apiVersion"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key]):
            raise ConfigError(f"{where}: target.{key} must be a non-empty string")
    return PatchTarget(kind=raw["kind"], name=raw["name"], namespace=raw.get("namespace"),
                       api_version=raw.get("apiVersion"))


def parse_patches(where: str, raw: Any) -> tuple[ObjectPatch, ...]:
    """Parse a ``patches:`` list (plain data). ``where`` prefixes messages (file and entry).

    Raises :class:`ConfigError` naming ``patches[i]`` and the field for anything malformed: not a
    list, unknown keys, a target without kind/name, an unknown op, a missing path/value/from.
    """
    import jsonpatch
    import jsonpointer

    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: patches must be a list of {{target, patch}}")
    patches: list[ObjectPatch] = []
    for index, item in enumerate(raw):
        at = f"{where}: patches[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{at}: expected a mapping {{target, patch}}")
        unknown = sorted(set(map(str, item)) - {"target", "patch"})
        if unknown:
            raise ConfigError(f"{at}: unknown key(s) {', '.join(unknown)}")
        target = _target(at, item.get("target"))
        at = f"{at} ({target})"
        ops = item.get("patch")
        if not isinstance(ops, list) or not ops:
            raise ConfigError(f"{at}: patch must be a non-empty list of RFC 6902 operations")
        operations = tuple(_operation(at, i, op) for i, op in enumerate(ops))
        try:
            jsonpatch.JsonPatch([dict(op) for op in operations])
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise ConfigError(f"{at}: {_reason(exc)}") from None
        patches.append(ObjectPatch(target=target, operations=operations))
    return tuple(patches)


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def apply_patches(objects: Sequence[KubeObject], patches: Sequence[ObjectPatch], entry: str) -> list[KubeObject]:
    """``objects`` with each patch applied to its one target, in order. Patched objects are new
    dicts; the others are the same objects. ``entry`` names the bundles.yaml entry in errors.

    Raises :class:`RenderError` (``bundle 'x': patches[i] (Kind/name): reason``) when a target
    matches no object or several, or an operation fails (missing path, failed ``test``).
    """
    import jsonpatch
    import jsonpointer

    result = list(objects)
    for index, patch in enumerate(patches):
        at = f"bundle {entry!r}: patches[{index}] ({patch.target})"
        found = [i for i, obj in enumerate(result) if patch.target.matches(obj)]
        if not found:
            raise RenderError(f"{at}: no rendered object matches the target")
        if len(found) > 1:
            raise RenderError(f"{at}: the target matches {len(found)} objects; add namespace or apiVersion")
        position = found[0]
        patched = copy.deepcopy(result[position])
        for number, op in enumerate(patch.operations):
            try:
                patched = jsonpatch.JsonPatch([copy.deepcopy(op)]).apply(patched)
            except jsonpatch.JsonPatchTestFailed as exc:
                # the live value is shown, except from a Secret (it may hold a credential)
                shown = "" if patch.target.kind == "Secret" else f": {_reason(exc)}"
                raise RenderError(f"{at}: patch[{number}] test failed at {op.get('path')!r}{shown}") from None
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
                raise RenderError(f"{at}: patch[{number}]: {_reason(exc)}") from None
        if not isinstance(patched, dict) or not isinstance(patched.get("kind"), str):
            raise RenderError(f"{at}: the patched object is no longer a Kubernetes object")
        result[position] = patched
    return result
