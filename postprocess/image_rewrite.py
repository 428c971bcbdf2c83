"""The image rewrite of ``image-mirrors``, twice: :func:`rewrite_image` in Python (for
``bundle-extract pull-secret`` and the docs) and :func:`helpers`, the ``<chart>.image`` and
``<chart>.imageField`` Go templates every chart gets; the two compute the same reference
(tests/postprocess/test_image_mirrors.py renders the charts and compares).

``imageOverrides``: the reference exactly as the bundle writes it -> the new reference (wins).
``imageRegistryMirrors``: a ``host[/path]`` prefix -> ``host[/path]``; the longest prefix that
matches the reference's name (without tag and digest) on a path-component boundary wins, as in
registries.conf; the tag, the digest and an ``oci://`` transport are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from extractor.acquire.reference import Reference
from extractor.draft.gotemplate import go_string
from extractor.errors import ConfigError

__all__ = [
    "MIRRORS_KEY",
    "OVERRIDES_KEY",
    "PREFIX_PATTERN",
    "SCHEMA_PATTERN",
    "TRANSPORTS",
    "check_mirrors",
    "check_overrides",
    "helpers",
    "image_name",
    "rewrite_image",
    "split_transport",
]

MIRRORS_KEY = "imageRegistryMirrors"
OVERRIDES_KEY = "imageOverrides"

#: ``host[:port][/path]`` as registries.conf prefixes are written (same text in Python and Go RE2)
PREFIX_PATTERN = (
    r"^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*(:[0-9]{1,5})?"
    r"(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$"
)
_PREFIX = re.compile(PREFIX_PATTERN)
#: the same with an optional trailing ``/`` (accepted and ignored), for values.schema.json
SCHEMA_PATTERN = PREFIX_PATTERN[:-1] + "/?$"

#: transports a reference may name (``oci://quay.io/kuadrant/wasm-shim:v0.6.0``); kept by the rewrite
TRANSPORTS = ("oci://", "docker://")


def image_name(reference: str) -> str:
    """``reference`` without its tag and digest (``host/path``), as the Go helper computes it."""
    name = reference.split("@", 1)[0]
    head, sep, last = name.rpartition("/")
    if ":" in last:
        last = last.split(":", 1)[0]
    return f"{head}{sep}{last}"


def check_mirrors(value: Any, where: str = MIRRORS_KEY) -> dict[str, str]:
    """``value`` checked as a mirror map (``host[/path]`` -> ``host[/path]``, trailing ``/``
    allowed). Raises :class:`ConfigError` naming ``where`` and the bad entry."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping of host[/path] to host[/path]")
    out: dict[str, str] = {}
    for source, destination in value.items():
        ok = (isinstance(source, str) and isinstance(destination, str)
              and _PREFIX.match(source.rstrip("/")) and _PREFIX.match(destination.rstrip("/")))
        if not ok:
            raise ConfigError(f"{where}: {source!r} -> {destination!r} is not host[/path] -> host[/path]")
        out[source] = destination
    return out


def check_overrides(value: Any, where: str = OVERRIDES_KEY) -> dict[str, str]:
    """``value`` checked as ``{original reference: new reference}`` (non-empty strings). Raises
    :class:`ConfigError` naming ``where``; a new reference that is no image reference too."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping of image reference to image reference")
    out: dict[str, str] = {}
    for original, new in value.items():
        if not isinstance(original, str) or not original or not isinstance(new, str) or not new:
            raise ConfigError(f"{where}: {original!r} -> {new!r}: both must be non-empty strings")
        try:
            Reference.parse(new)
        except ConfigError:
            raise ConfigError(
                f"{where}: {original!r} -> {new!r}: the new reference is not an image reference") from None
        out[original] = new
    return out


def split_transport(reference: str) -> tuple[str, str]:
    """``("oci://", "quay.io/x:1")`` for ``oci://quay.io/x:1`` (kuadrant's wasm-shim), ``("", ref)``
    for a plain reference."""
    for transport in TRANSPORTS:
        if reference.startswith(transport):
            return transport, reference[len(transport):]
    return "", reference


def rewrite_image(reference: str, mirrors: Mapping[str, str], overrides: Mapping[str, str]) -> str:
    """The reference a chart uses for ``reference`` (what ``<chart>.image`` computes): the
    override, else the longest matching mirror prefix replaced (tag and digest kept, an ``oci://``
    transport too), else itself. ``mirrors``/``overrides`` must be checked (:func:`check_mirrors`,
    :func:`check_overrides`)."""
    if reference in overrides:
        return overrides[reference]
    transport, reference = split_transport(reference)
    name = image_name(reference)
    best = ""
    target = ""
    for source, destination in sorted(mirrors.items()):
        prefix = source.rstrip("/")
        if (name == prefix or name.startswith(prefix + "/")) and len(prefix) > len(best):
            best, target = prefix, destination.rstrip("/")
    return transport + (target + reference[len(best):] if best else reference)


def helpers(chart: str) -> dict[str, str]:
    """The ``_helpers.tpl`` definitions ``<chart>.image`` and ``<chart>.imageField``."""
    pattern = go_string(PREFIX_PATTERN)
    image = "\n".join([
        "{{- /* the reference to pull for the original (index . 1): imageOverrides, else the longest",
        "       matching imageRegistryMirrors prefix replaced (tag, digest kept); context: list $ original */ -}}",
        "{{- $root := index . 0 -}}",
        "{{- $ref := index . 1 -}}",
        f"{{{{- $overrides := $root.Values.{OVERRIDES_KEY} | default dict -}}}}",
        f"{{{{- $mirrors := $root.Values.{MIRRORS_KEY} | default dict -}}}}",
        f'{{{{- if not (kindIs "map" $overrides) }}}}{{{{ fail "{OVERRIDES_KEY} must be a mapping of image '
        'reference to image reference" }}{{ end -}}',
        f'{{{{- if not (kindIs "map" $mirrors) }}}}{{{{ fail "{MIRRORS_KEY} must be a mapping of host[/path] '
        'to host[/path]" }}{{ end -}}',
        "{{- $best := \"\" -}}",
        "{{- $target := \"\" -}}",
        "{{- $transport := \"\" -}}",
        f"{{{{- range list {' '.join(go_string(t) for t in TRANSPORTS)} }}}}"
        "{{ if hasPrefix . $ref }}{{ $transport = . }}{{ end }}{{ end -}}",
        "{{- $bare := trimPrefix $transport $ref -}}",
        "{{- $name := splitList \"@\" $bare | first -}}",
        "{{- $parts := splitList \"/\" $name -}}",
        "{{- if contains \":\" (last $parts) -}}",
        "{{- $name = append (initial $parts) (splitList \":\" (last $parts) | first) | join \"/\" -}}",
        "{{- end -}}",
        "{{- range $source, $destination := $mirrors -}}",
        f"{{{{- if not (and (kindIs \"string\" $destination) (regexMatch {pattern} (trimSuffix \"/\" $source)) "
        f"(regexMatch {pattern} (trimSuffix \"/\" $destination))) -}}}}",
        f"{{{{- fail (printf \"{MIRRORS_KEY}: %q -> %v is not host[/path] -> host[/path]\" $source $destination) -}}}}",
        "{{- end -}}",
        "{{- $prefix := trimSuffix \"/\" $source -}}",
        "{{- if and (or (eq $name $prefix) (hasPrefix (printf \"%s/\" $prefix) $name)) "
        "(gt (len $prefix) (len $best)) -}}",
        "{{- $best = $prefix -}}",
        "{{- $target = trimSuffix \"/\" $destination -}}",
        "{{- end -}}",
        "{{- end -}}",
        "{{- if hasKey $overrides $ref -}}",
        "{{- $new := index $overrides $ref -}}",
        f"{{{{- if not (and (kindIs \"string\" $new) $new) }}}}{{{{ fail (printf \"{OVERRIDES_KEY}: %q must map to "
        "a non-empty image reference\" $ref) }}{{ end -}}",
        "{{- $new -}}",
        "{{- else if $best -}}",
        "{{- printf \"%s%s%s\" $transport $target (trimPrefix $best $bare) -}}",
        "{{- else -}}",
        "{{- $ref -}}",
        "{{- end -}}",
    ])
    field = "\n".join([
        "{{- /* an image field's YAML value: the original scalar text (index . 2) while the reference",
        "       is unchanged, else the new reference JSON-quoted; context: list $ original yamlText */ -}}",
        f'{{{{- $new := include "{chart}.image" (list (index . 0) (index . 1)) -}}}}',
        "{{- if eq $new (index . 1) }}{{ index . 2 }}{{ else }}{{ $new | toJson }}{{ end -}}",
    ])
    return {f"{chart}.image": image, f"{chart}.imageField": field}
