"""Helpers shared by the post-processors: option parsing, object walking, copying.

Options come from a ``bundles.yaml`` entry (``postprocessors: {name: {...}}``). :class:`Options`
reads them with type checks and rejects unknown keys; every problem is a :class:`ConfigError`
naming the post-processor and the key.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import Any

from extractor.draft import ChartDraft
from extractor.errors import ConfigError
from extractor.model import DNS_LABEL, KubeObject

__all__ = [
    "DNS_LABEL",
    "DNS_SUBDOMAIN",
    "VALUES_KEY",
    "Options",
    "copy_draft",
    "deep_merge",
    "kind_of",
    "name_of",
    "namespace_of",
    "pod_specs",
    "pod_templates",
    "pull_secret_names_helper",
]

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
#: a values key usable as ``.Values.<key>`` in a Go template (no ``-``, no ``.``)
VALUES_KEY = re.compile(r"^[a-zA-Z][a-zA-Z0-9]*$")

_MISSING = object()


class Options:
    """Typed, checked access to one post-processor's options mapping.

    ``Options("exclude", {...}).str_list("exclude")`` returns a list of strings or raises
    :class:`ConfigError` ``"post-processor 'exclude': option 'exclude' must be a list of strings"``.
    Call :meth:`done` after reading every key to reject unknown ones.
    """

    def __init__(self, postprocessor: str, raw: Mapping[str, Any], where: str = "") -> None:
        self.postprocessor = postprocessor
        self.raw = raw
        self.where = where
        self._read: set[str] = set()

    def error(self, message: str) -> ConfigError:
        prefix = f"post-processor {self.postprocessor!r}"
        if self.where:
            prefix += f" {self.where}"
        return ConfigError(f"{prefix}: {message}")

    def _get(self, key: str) -> Any:
        self._read.add(key)
        return self.raw.get(key, _MISSING)

    def has(self, key: str) -> bool:
        return key in self.raw

    def string(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self._get(key)
        if value is _MISSING or value is None:
            if required:
                raise self.error(f"option {key!r} is required")
            return default
        if not isinstance(value, str) or not value:
            raise self.error(f"option {key!r} must be a non-empty string")
        return value

    def required_str(self, key: str) -> str:
        value = self.string(key, required=True)
        assert value is not None
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(f"option {key!r} must be true or false")
        return value

    def integer(self, key: str, default: int, *, minimum: int = 1) -> int:
        value = self._get(key)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(f"option {key!r} must be an integer >= {minimum}")
        return value

    def str_list(self, key: str, default: list[str] | None = None) -> list[str]:
        value = self._get(key)
        if value is _MISSING or value is None:
            return list(default or [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.error(f"option {key!r} must be a list of non-empty strings")
        return list(value)

    def mapping(self, key: str) -> dict[str, Any]:
        value = self._get(key)
        if value is _MISSING or value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(f"option {key!r} must be a mapping")
        return dict(value)

    def mapping_list(self, key: str) -> list[dict[str, Any]]:
        value = self._get(key)
        if value is _MISSING or value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(f"option {key!r} must be a list of mappings")
        return [dict(v) for v in value]

    def done(self) -> None:
        """Raise :class:`ConfigError` naming every key that was not read."""
        unknown = sorted(str(k) for k in self.raw if k not in self._read)
        if unknown:
            known = ", ".join(sorted(self._read))
            raise self.error(f"unknown option(s) {', '.join(unknown)} (known: {known})")


def copy_draft(draft: ChartDraft) -> ChartDraft:
    """A deep copy of ``draft``: post-processors mutate the copy, never their input.

    CustomResourceDefinition objects are shared, not copied (in ``objects`` and as ``CRDFile.obj``):
    they are by far the largest objects (the sail CRDs are 0.5-0.7 MB each) and no post-processor
    may modify one in place (a post-processor that needs a changed CRD builds a new object). The
    ``value_schemas`` fragments are shared the same way (``istio.spec`` is the Istio CRD's schema).

    What :func:`copy.deepcopy` gives, objects shared within the draft staying shared in the copy,
    but plain dicts and lists (nearly every node: the rendered objects, the CSV, values) are copied
    by :func:`_copy_tree` at a quarter of ``deepcopy``'s cost; the other values (templates, hooks,
    Go-template nodes) go through ``deepcopy`` with the same memo.
    """
    memo: dict[int, Any] = {
        id(obj): obj for obj in draft.objects if isinstance(obj, dict) and obj.get("kind") == "CustomResourceDefinition"
    }
    memo.update((id(crd.obj), crd.obj) for crd in draft.crds if crd.obj is not None)  # parsed presync CRDs
    memo.update((id(schema), schema) for schema in draft.value_schemas.values())  # e.g. a CRD's spec schema
    out = copy.copy(draft)  # the fields are replaced right below
    for item in dataclasses.fields(draft):
        setattr(out, item.name, _copy_tree(getattr(draft, item.name), memo))
    return out


_ATOMS = frozenset({str, int, float, bool, type(None), bytes})
_UNSEEN = object()


def _copy_tree(value: Any, memo: dict[int, Any]) -> Any:
    """``copy.deepcopy(value, memo)``, with dicts and lists copied here (keys as they are: strings
    and numbers, immutable); the data has no cycles (it is YAML)."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    found = memo.get(id(value), _UNSEEN)
    if found is not _UNSEEN:
        return found
    if kind is dict:
        copied: Any = {key: _copy_tree(item, memo) for key, item in value.items()}
    elif kind is list:
        copied = [_copy_tree(item, memo) for item in value]
    else:
        return copy.deepcopy(value, memo)
    memo[id(value)] = copied
    return copied


def kind_of(obj: KubeObject) -> str:
    return str(obj.get("kind", ""))


def name_of(obj: KubeObject) -> str:
    meta = obj.get("metadata")
    return str(meta.get("name", "")) if isinstance(meta, dict) else ""


def namespace_of(obj: KubeObject) -> Any:
    meta = obj.get("metadata")
    return meta.get("namespace") if isinstance(meta, dict) else None


def pod_templates(obj: KubeObject) -> Iterator[dict[str, Any]]:
    """Yield the pod templates of a workload object (``spec.template`` and
    ``spec.jobTemplate.spec.template``), and the object itself when it is a Pod."""
    if kind_of(obj) == "Pod":
        yield obj
        return
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    template = spec.get("template")
    if isinstance(template, dict):
        yield template
    job = spec.get("jobTemplate")
    if isinstance(job, dict) and isinstance(job.get("spec"), dict):
        template = job["spec"].get("template")
        if isinstance(template, dict):
            yield template


def pod_specs(obj: KubeObject) -> Iterator[dict[str, Any]]:
    """Yield the pod specs of a workload object (see :func:`pod_templates`)."""
    for template in pod_templates(obj):
        spec = template.get("spec")
        if isinstance(spec, dict):
            yield spec


def deep_merge(base: Any, override: Any) -> Any:
    """Recursively merge mapping ``override`` into a copy of ``base`` (override wins; lists and
    scalars are replaced, ``None`` in ``override`` removes the key, like Helm values)."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return copy.deepcopy(override)
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif key in out:
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def pull_secret_names_helper(chart: str) -> tuple[str, str]:
    """``(name, body)`` of the ``_helpers.tpl`` definition ``<chart>.pullSecretNames``: a JSON list
    of the pull secret names in effect (the chart's Secret when ``pullSecret.dockerConfigJson`` is
    set, then ``.Values.imagePullSecrets`` entries, ``{name: x}`` or ``x``). Missing values are
    tolerated, so charts without ``image-pull-secrets`` render ``[]``."""
    body = "\n".join(
        [
            "{{- $names := list -}}",
            "{{- $pullSecret := .Values.pullSecret | default dict -}}",
            "{{- if $pullSecret.dockerConfigJson -}}",
            f'{{{{- $names = append $names ($pullSecret.name | default "{chart}-pull-secret") -}}}}',
            "{{- end -}}",
            "{{- range (.Values.imagePullSecrets | default list) -}}",
            '{{- if kindIs "string" . -}}',
            "{{- $names = append $names . -}}",
            "{{- else -}}",
            "{{- $names = append $names .name -}}",
            "{{- end -}}",
            "{{- end -}}",
            "{{- $names | uniq | toJson -}}",
        ]
    )
    return f"{chart}.pullSecretNames", body
