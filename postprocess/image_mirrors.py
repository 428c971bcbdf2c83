"""``image-mirrors`` (default on): every image of the chart, and their deploy-time rewrite.

* ``draft.images``: every place the chart names an image (:class:`~extractor.draft.ImageUse`):
  container and init container images of workloads, ``RELATED_IMAGE_*`` env values (and other
  env values holding a registry image reference), image annotations of a workload and of its
  pod template (a key mentioning ``image`` holding a reference or placeholder, e.g. sail's
  ``images.v1_27_3.istiod`` and ``containerImage``; or any value that is a registry image
  reference), and CSV ``spec.relatedImages`` (not deployed, listed for mirroring). Each carries
  a ``problem`` when it cannot be pulled as written (:func:`image_problem`); :func:`image_warnings`
  turns them into one warning line per chart, object and reference.
* Every one of those places that ends up in the chart (all but ``relatedImages``) becomes a call
  of the helper ``<chart>.imageField`` with the literal original (a Go string), which prints the
  original YAML scalar unchanged unless chart values ``imageOverrides`` (original reference ->
  new reference) or ``imageRegistryMirrors`` (``host[/path]`` prefix -> ``host[/path]``, the
  longest prefix on a path-component boundary wins, as in registries.conf; tag and digest are
  kept) change it, then the JSON-quoted new reference. ``<chart>.image`` returns the reference
  alone. With neither value set, ``helm template`` prints the same bytes as before.
* Options ``mirrors`` / ``overrides``: defaults for those two values (checked here).

The field is a :class:`~extractor.draft.gotemplate.Block` replacing the mapping key in place (the
literal original and its YAML text go into the action as Go string literals, so bundle text stays
data, and the key keeps its position).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from extractor import yamlio
from extractor.acquire.reference import Reference, names_registry
from extractor.draft import ChartDraft, ImageUse
from extractor.draft.gotemplate import Block, escape_template_text, go_string
from extractor.errors import ConfigError
from postprocess._common import Options, copy_draft, kind_of, name_of
from postprocess.image_rewrite import (
    MIRRORS_KEY,
    OVERRIDES_KEY,
    PREFIX_PATTERN,
    SCHEMA_PATTERN,
    check_mirrors,
    check_overrides,
    helpers,
    image_name,
    rewrite_image,
    split_transport,
)

__all__ = [
    "DOC",
    "MIRRORS_KEY",
    "OVERRIDES_KEY",
    "PREFIX_PATTERN",
    "check_mirrors",
    "check_overrides",
    "collect_images",
    "helpers",
    "image_name",
    "image_problem",
    "image_warnings",
    "rewrite_image",
    "run",
    "split_transport",
]

DOC = "lists every image (release.yaml images); imageRegistryMirrors / imageOverrides rewrite them at deploy time"

#: registries that publish releases; ``:latest`` from any other host without a port is a build placeholder
_KNOWN_REGISTRIES = frozenset({
    "registry.redhat.io", "registry.access.redhat.com", "registry.connect.redhat.com", "quay.io",
    "docker.io", "gcr.io", "ghcr.io", "registry.k8s.io", "k8s.gcr.io", "mcr.microsoft.com",
    "public.ecr.aws", "nvcr.io", "registry.gitlab.com", "icr.io", "cr.l5d.io", "registry.suse.com",
})
_KNOWN_SUFFIXES = (".azurecr.io", ".amazonaws.com", ".pkg.dev", ".gcr.io", ".icr.io", ".quay.io")
_PLACEHOLDER = re.compile(r"\$\{[^}]*\}|\$\([^)]*\)")
_WORKLOADS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"})

MIRRORS_DOC = (
    "Registry mirrors for every image of the chart (containers, init containers, RELATED_IMAGE_* env,\n"
    "operand image annotations): `{registry.redhat.io: mirror.example.com/redhat}`. A key is a\n"
    "host[/path] prefix; the longest one matching on a path boundary wins; tags and digests are kept.\n"
    "Also settable for all releases as helmfile environment value imageRegistryMirrors."
)
OVERRIDES_DOC = (
    "Per-image replacements, `{<reference as in the bundle>: <new reference>}` (placeholders such as\n"
    "`${OPERATOR_IMAGE}` included; `bundle-extract images` lists them). Wins over imageRegistryMirrors."
)


def _known_registry(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if ":" in host and not host.startswith("[") else host
    return host != name or name == "localhost" or name in _KNOWN_REGISTRIES or name.endswith(_KNOWN_SUFFIXES)


def image_problem(reference: str) -> str | None:
    """Why ``reference`` cannot be pulled as written, or ``None``: an unexpanded placeholder
    (``${X}``), not an image reference, or a floating ``:latest`` (or no tag) from a host that is
    not a known registry and has no port (``openshift.io/x:latest``, a build pipeline's placeholder)."""
    if _PLACEHOLDER.search(reference) or "$" in reference:
        return "unexpanded placeholder"
    reference = split_transport(reference)[1]
    try:
        ref = Reference.parse(reference)
    except ConfigError:
        return "not an image reference"
    if names_registry(reference) and ref.digest is None and ref.tag == "latest" and not _known_registry(ref.registry):
        return f"floating tag :latest from {ref.registry}, which is not a registry that publishes releases"
    return None


def _registry_reference(value: str) -> bool:
    """A registry-qualified reference with a tag or digest (for values that merely might be images)."""
    value = split_transport(value)[1]
    if not names_registry(value):
        return False
    try:
        ref = Reference.parse(value)
    except ConfigError:
        return False
    return bool(ref.digest) or value.rsplit("/", 1)[-1].count(":") == 1


def _image_annotation(key: Any, value: Any) -> bool:
    if not isinstance(key, str) or not isinstance(value, str) or not value:
        return False
    if "image" in key.lower() and (_PLACEHOLDER.search(value) is not None or _registry_reference(value)):
        return True
    return _registry_reference(value)


def _image_env(name: Any, value: Any) -> bool:
    if not isinstance(name, str) or not isinstance(value, str) or not value:
        return False
    if name.startswith("RELATED_IMAGE_"):
        return True
    if "IMAGE" in name.upper() and _PLACEHOLDER.search(value):
        return True
    return _registry_reference(value)


# (container mapping or annotations mapping, key, source, field) of every templatable place
_Place = tuple[dict[Any, Any], Any, str, str]


def _template_prefix(obj: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """``(field prefix, pod template)`` of a workload (a Pod is its own template)."""
    if kind_of(obj) == "Pod":
        return "", obj
    prefix = "spec.jobTemplate.spec.template." if kind_of(obj) == "CronJob" else "spec.template."
    node: Any = obj
    for part in prefix.strip(".").split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return prefix, node if isinstance(node, dict) else None


def _places(obj: dict[str, Any]) -> Iterator[_Place]:
    """Every image place of a workload object, in document order."""
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if isinstance(annotations, dict) and kind_of(obj) != "Pod":
        for key, value in annotations.items():
            if _image_annotation(key, value):
                yield annotations, key, "annotation", f"metadata.annotations[{key}]"
    prefix, template = _template_prefix(obj)
    if template is None:
        return
    tmeta = template.get("metadata")
    tannotations = tmeta.get("annotations") if isinstance(tmeta, dict) else None
    if isinstance(tannotations, dict):
        for key, value in tannotations.items():
            if _image_annotation(key, value):
                yield tannotations, key, "annotation", f"{prefix}metadata.annotations[{key}]"
    spec = template.get("spec")
    if not isinstance(spec, dict):
        return
    for list_key, source in (("initContainers", "initContainer"), ("containers", "container")):
        containers = spec.get(list_key)
        for index, container in enumerate(containers if isinstance(containers, list) else []):
            if not isinstance(container, dict):
                continue
            label = container.get("name") if isinstance(container.get("name"), str) else str(index)
            where = f"{prefix}spec.{list_key}[{label}]"
            if isinstance(container.get("image"), str) and container["image"]:
                yield container, "image", source, f"{where}.image"
            env = container.get("env")
            for item in env if isinstance(env, list) else []:
                if isinstance(item, dict) and _image_env(item.get("name"), item.get("value")):
                    yield item, "value", "env", f"{where}.env[{item['name']}]"


def collect_images(draft: ChartDraft) -> list[ImageUse]:
    """Every image place of ``draft`` (see the module docstring), workloads first in object
    order, then the CSV's ``spec.relatedImages``."""
    found: list[ImageUse] = []
    for obj in draft.objects:
        if isinstance(obj, dict) and kind_of(obj) in _WORKLOADS:
            ident = f"{kind_of(obj)}/{name_of(obj)}"
            for mapping, key, source, where in _places(obj):
                reference = mapping[key]
                found.append(ImageUse(reference, source, ident, where, image_problem(reference)))
    spec = draft.csv.get("spec") if isinstance(draft.csv, dict) else None
    related = spec.get("relatedImages") if isinstance(spec, dict) else None
    ident = f"ClusterServiceVersion/{draft.csv_name}"
    for index, item in enumerate(related if isinstance(related, list) else []):
        if isinstance(item, dict) and isinstance(item.get("image"), str) and item["image"]:
            label = item.get("name") if isinstance(item.get("name"), str) else str(index)
            found.append(ImageUse(item["image"], "relatedImages", ident, f"spec.relatedImages[{label}]",
                                  image_problem(item["image"])))
    return found


def image_warnings(chart: str, images: list[ImageUse] | tuple[ImageUse, ...]) -> list[str]:
    """One warning line per object and reference that cannot be pulled as written (see
    :func:`image_problem`), naming the chart, the object, the fields and the reference."""
    grouped: dict[tuple[str, str], list[ImageUse]] = {}
    for use in images:
        if use.problem:
            grouped.setdefault((use.object, use.reference), []).append(use)
    lines = []
    for (obj, reference), uses in grouped.items():
        fields = ", ".join(u.field for u in uses)
        lines.append(
            f"chart {chart!r}: {obj}: image {reference!r} cannot be pulled as written ({uses[0].problem}; "
            f"at {fields}); set chart value {OVERRIDES_KEY}: {{{json.dumps(reference)}: <image>}} or fix the bundle"
        )
    return lines


def _scalar_line(key: Any, value: str) -> tuple[str, str]:
    """``(key text, value text)`` of ``{key: value}`` as the chart writer dumps it (one line);
    JSON-quoted texts (valid YAML) when the dumper would use several lines (a very long key)."""
    line = yamlio.dump({key: value}).rstrip("\n")
    value_text = yamlio.dump({"k": value}).rstrip("\n")[len("k: "):]
    if "\n" in line or "\n" in value_text or not line.endswith(": " + value_text):
        return json.dumps(str(key)), json.dumps(value)
    return line[: -len(value_text) - 2], value_text


def _templatize(mapping: dict[Any, Any], key: Any, chart: str) -> None:
    """Replace ``mapping[key]`` (a reference string) by the helper call, keeping the key order."""
    value = mapping[key]
    key_text, value_text = _scalar_line(key, value)
    block = Block(
        f"{escape_template_text(key_text)}: "
        f'{{{{ include "{chart}.imageField" (list $ {go_string(value)} {go_string(value_text)}) }}}}'
    )
    items = list(mapping.items())
    mapping.clear()
    for k, v in items:
        if k == key:
            mapping[block] = None
        else:
            mapping[k] = v


def run(draft: ChartDraft, options: Mapping[str, Any]) -> ChartDraft:
    """Post-processor entry point (see module docstring). Raises :class:`ConfigError` for bad options."""
    opts = Options("image-mirrors", options)
    mirrors = check_mirrors(opts.mapping("mirrors"), "post-processor 'image-mirrors': option 'mirrors'")
    overrides = check_overrides(opts.mapping("overrides"), "post-processor 'image-mirrors': option 'overrides'")
    opts.done()
    out = copy_draft(draft)
    out.images = collect_images(out)
    chart = out.name
    places = [p for obj in out.objects if isinstance(obj, dict) and kind_of(obj) in _WORKLOADS
              for p in list(_places(obj))]
    for mapping, key, _source, _where in places:
        _templatize(mapping, key, chart)
    if places:
        out.helpers = {**out.helpers, **helpers(chart)}
    out.values = {**out.values, MIRRORS_KEY: dict(mirrors), OVERRIDES_KEY: dict(overrides)}
    out.value_docs = {**out.value_docs, MIRRORS_KEY: MIRRORS_DOC, OVERRIDES_KEY: OVERRIDES_DOC}
    out.value_schemas = {
        **out.value_schemas,
        MIRRORS_KEY: {
            "type": "object",
            "propertyNames": {"pattern": SCHEMA_PATTERN},
            "additionalProperties": {"type": "string", "pattern": SCHEMA_PATTERN},
        },
        OVERRIDES_KEY: {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}},
    }
    return out
