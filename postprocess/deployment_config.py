"""``deployment-config`` (default on): OLM's Subscription ``spec.config`` as chart values.

OLM applies a Subscription's ``spec.config`` to every Deployment of the operator. In a chart the
same settings are values: this post-processor adds a ``deploymentConfig:`` block to values.yaml
(every field unset by default) and makes every ``apps/v1`` Deployment apply it when Helm renders
the chart, with the merge rules of :mod:`extractor.render.deployment_config` (OLMv1
``applyCustomConfigToDeployment``, after OLMv0 ``overrides/inject/inject.go``).

Structure of a Deployment template (built from :class:`~extractor.draft.gotemplate.Block` keys around the
unchanged object, never by editing rendered text)::

    {{- define "<chart>.deployment.<name>" -}}
    apiVersion: apps/v1
    kind: Deployment
    ...                                  # the rendered Deployment, as before
    {{- end }}
    {{- include "<chart>.deploymentConfig.apply" (dict "context" $ "template" "<chart>.deployment.<name>") }}

``<chart>.deploymentConfig.apply`` (in ``_helpers.tpl``) prints the defined text unchanged while
``.Values.deploymentConfig`` sets nothing; otherwise it parses it (``fromYaml``), merges the values
in with the named templates ``<chart>.deploymentConfig.mergeByName`` (env, volumes, volumeMounts),
``.appendMissing`` (envFrom, tolerations), ``.affinity`` and ``.annotations``, and prints
``toYaml`` of the result. A malformed value fails the render with a one-line message naming the
value. Values a ``render: {deploymentConfig: ...}`` entry baked into the render are already part
of the Deployment; the chart values are applied on top of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from extractor.draft import ChartDraft
from extractor.draft.gotemplate import Block
from postprocess._common import Options, copy_draft, kind_of, name_of

__all__ = ["DOC", "VALUES_KEY", "apply_helper_name", "helpers", "run"]

DOC = "values.yaml deploymentConfig (OLM Subscription spec.config) applied to every Deployment at render time"
VALUES_KEY = "deploymentConfig"

#: values.yaml defaults: lists and annotations empty, replace-type fields null (= keep the bundle's;
#: ``{}`` means what it means to OLM: clear nodeSelector / resources / affinity)
DEFAULTS: dict[str, Any] = {
    "nodeSelector": None,
    "tolerations": [],
    "resources": None,
    "env": [],
    "envFrom": [],
    "volumes": [],
    "volumeMounts": [],
    "affinity": None,
    "annotations": {},
}

VALUE_DOCS: dict[str, str] = {
    VALUES_KEY: (
        "OLM Subscription `spec.config` applied to every Deployment of this chart with OLM's merge rules\n"
        "(OLMv1 applyCustomConfigToDeployment). Unset fields leave the bundle's Deployment alone."
    ),
    f"{VALUES_KEY}.nodeSelector": "replaces the pods' nodeSelector (`{}` removes it; null keeps the bundle's)",
    f"{VALUES_KEY}.tolerations": "appended to the pods' tolerations unless an equal one is present",
    f"{VALUES_KEY}.resources": "replaces the resources of every container (`{}` clears them; null keeps them)",
    f"{VALUES_KEY}.env": "env of every container: replaces the variable of the same name, else appended",
    f"{VALUES_KEY}.envFrom": "appended to every container's envFrom unless an equal entry is present",
    f"{VALUES_KEY}.volumes": "pod volumes: replaces the volume of the same name, else appended",
    f"{VALUES_KEY}.volumeMounts": "every container's volumeMounts: replaces the mount of the same name, else appended",
    f"{VALUES_KEY}.affinity": (
        "`{}` removes the pods' affinity; a set nodeAffinity/podAffinity/podAntiAffinity replaces the\n"
        "pods' one (an empty one removes it); null keeps the bundle's"
    ),
    f"{VALUES_KEY}.annotations": "added to each Deployment and its pod template; existing annotations win",
}

#: value shapes the defaults (``null``, ``[]``) do not tell, for values.schema.json
VALUE_SCHEMAS: dict[str, dict[str, Any]] = {
    f"{VALUES_KEY}.nodeSelector": {"type": ["object", "null"], "additionalProperties": {"type": "string"}},
    f"{VALUES_KEY}.tolerations": {"type": "array", "items": {"type": "object"}},
    f"{VALUES_KEY}.resources": {"type": ["object", "null"]},
    f"{VALUES_KEY}.env": {"type": "array", "items": {"type": "object", "required": ["name"]}},
    f"{VALUES_KEY}.envFrom": {"type": "array", "items": {"type": "object"}},
    f"{VALUES_KEY}.volumes": {"type": "array", "items": {"type": "object", "required": ["name"]}},
    f"{VALUES_KEY}.volumeMounts": {"type": "array", "items": {"type": "object", "required": ["name"]}},
    f"{VALUES_KEY}.affinity": {"type": ["object", "null"]},
    f"{VALUES_KEY}.annotations": {"type": "object", "additionalProperties": {"type": "string"}},
}


def apply_helper_name(chart: str) -> str:
    return f"{chart}.deploymentConfig.apply"


def _definition_name(chart: str, deployment: str) -> str:
    return f"{chart}.deployment.{deployment}"


def helpers(chart: str) -> dict[str, str]:
    """The ``_helpers.tpl`` definitions (name -> body) implementing the merge rules for ``chart``."""
    c = chart
    apply = "\n".join(
        [
            '{{- $text := include .template .context -}}',
            f"{{{{- $config := .context.Values.{VALUES_KEY} | default dict -}}}}",
            f'{{{{- if not (kindIs "map" $config) }}}}{{{{ fail "{VALUES_KEY} must be a mapping" }}}}{{{{ end -}}}}',
            f'{{{{- include "{c}.deploymentConfig.check" $config -}}}}',
            "{{- $set := false -}}",
            '{{- range $key := list "env" "envFrom" "volumes" "volumeMounts" "tolerations" "annotations" -}}',
            "{{- if index $config $key }}{{ $set = true }}{{ end -}}",
            "{{- end -}}",
            '{{- range $key := list "nodeSelector" "resources" "affinity" -}}',
            '{{- if kindIs "map" (index $config $key) }}{{ $set = true }}{{ end -}}',
            "{{- end -}}",
            "{{- if not $set -}}",
            "{{- $text -}}",
            "{{- else -}}",
            "{{- $deployment := fromYaml $text -}}",
            '{{- if hasKey $deployment "Error" }}'
            '{{ fail (printf "%s: cannot parse the Deployment: %s" .template $deployment.Error) }}{{ end -}}',
            '{{- $metadata := $deployment.metadata -}}',
            '{{- $template := $deployment.spec.template -}}',
            '{{- if not (kindIs "map" $template.metadata) }}{{ $_ := set $template "metadata" dict }}{{ end -}}',
            '{{- if not (kindIs "map" $template.spec) }}{{ $_ := set $template "spec" dict }}{{ end -}}',
            "{{- $pod := $template.spec -}}",
            "{{- range $container := ($pod.containers | default list) -}}",
            "{{- if $config.env -}}",
            f'{{{{- include "{c}.deploymentConfig.mergeByName" '
            '(dict "target" $container "key" "env" "items" $config.env) -}}',
            "{{- end -}}",
            "{{- if $config.envFrom -}}",
            f'{{{{- include "{c}.deploymentConfig.appendMissing" '
            '(dict "target" $container "key" "envFrom" "items" $config.envFrom) -}}',
            "{{- end -}}",
            "{{- end -}}",
            "{{- if $config.volumes -}}",
            f'{{{{- include "{c}.deploymentConfig.mergeByName" '
            '(dict "target" $pod "key" "volumes" "items" $config.volumes) -}}',
            "{{- end -}}",
            "{{- if $config.volumeMounts -}}",
            "{{- range $container := ($pod.containers | default list) -}}",
            f'{{{{- include "{c}.deploymentConfig.mergeByName" '
            '(dict "target" $container "key" "volumeMounts" "items" $config.volumeMounts) -}}',
            "{{- end -}}",
            "{{- end -}}",
            "{{- if $config.tolerations -}}",
            f'{{{{- include "{c}.deploymentConfig.appendMissing" '
            '(dict "target" $pod "key" "tolerations" "items" $config.tolerations) -}}',
            "{{- end -}}",
            '{{- if kindIs "map" $config.resources -}}',
            "{{- range $container := ($pod.containers | default list) -}}",
            '{{- $_ := set $container "resources" (deepCopy $config.resources) -}}',
            "{{- end -}}",
            "{{- end -}}",
            '{{- if kindIs "map" $config.nodeSelector -}}',
            '{{- if $config.nodeSelector }}{{ $_ := set $pod "nodeSelector" (deepCopy $config.nodeSelector) }}'
            '{{ else }}{{ $_ := unset $pod "nodeSelector" }}{{ end -}}',
            "{{- end -}}",
            '{{- if kindIs "map" $config.affinity -}}',
            f'{{{{- include "{c}.deploymentConfig.affinity" (dict "pod" $pod "affinity" $config.affinity) -}}}}',
            "{{- end -}}",
            "{{- if $config.annotations -}}",
            f'{{{{- include "{c}.deploymentConfig.annotations" '
            '(dict "target" $metadata "items" $config.annotations) -}}',
            f'{{{{- include "{c}.deploymentConfig.annotations" '
            '(dict "target" $template.metadata "items" $config.annotations) -}}',
            "{{- end -}}",
            "{{- toYaml $deployment -}}",
            "{{- end -}}",
        ]
    )
    check = "\n".join(
        [
            "{{- $config := . -}}",
            '{{- range $key := list "env" "envFrom" "volumes" "volumeMounts" "tolerations" -}}',
            "{{- $value := index $config $key -}}",
            '{{- if not (kindIs "invalid" $value) -}}',
            f'{{{{- if not (kindIs "slice" $value) }}}}{{{{ fail (printf "{VALUES_KEY}.%s must be a list" $key) }}}}'
            "{{ end -}}",
            "{{- range $i, $item := $value -}}",
            f'{{{{- if not (kindIs "map" $item) }}}}'
            f'{{{{ fail (printf "{VALUES_KEY}.%s[%d] must be a mapping" $key $i) }}}}{{{{ end -}}}}',
            "{{- end -}}",
            "{{- end -}}",
            "{{- end -}}",
            '{{- range $key := list "nodeSelector" "resources" "affinity" "annotations" -}}',
            "{{- $value := index $config $key -}}",
            '{{- if not (or (kindIs "invalid" $value) (kindIs "map" $value)) -}}',
            f'{{{{- fail (printf "{VALUES_KEY}.%s must be a mapping" $key) -}}}}',
            "{{- end -}}",
            "{{- end -}}",
            '{{- if kindIs "map" $config.affinity -}}',
            '{{- range $key := list "nodeAffinity" "podAffinity" "podAntiAffinity" -}}',
            "{{- $value := index $config.affinity $key -}}",
            '{{- if not (or (kindIs "invalid" $value) (kindIs "map" $value)) -}}',
            f'{{{{- fail (printf "{VALUES_KEY}.affinity.%s must be a mapping" $key) -}}}}',
            "{{- end -}}",
            "{{- end -}}",
            "{{- end -}}",
        ]
    )
    merge_by_name = "\n".join(
        [
            "{{- /* OLMv1: replace the (last) existing entry of the same name, else append */ -}}",
            "{{- $current := index .target .key | default list -}}",
            "{{- $positions := dict -}}",
            '{{- range $i, $item := $current }}{{ if kindIs "map" $item }}'
            '{{ $_ := set $positions (toString ($item.name | default "")) $i }}{{ end }}{{ end -}}',
            "{{- $replacements := dict -}}",
            "{{- $appended := list -}}",
            "{{- range $item := .items -}}",
            '{{- $name := toString ($item.name | default "") -}}',
            "{{- if hasKey $positions $name -}}",
            "{{- $_ := set $replacements (toString (index $positions $name)) $item -}}",
            "{{- else -}}",
            "{{- $appended = append $appended (deepCopy $item) -}}",
            "{{- end -}}",
            "{{- end -}}",
            "{{- $merged := list -}}",
            "{{- range $i, $item := $current -}}",
            "{{- if hasKey $replacements (toString $i) -}}",
            "{{- $merged = append $merged (deepCopy (index $replacements (toString $i))) -}}",
            "{{- else -}}",
            "{{- $merged = append $merged $item -}}",
            "{{- end -}}",
            "{{- end -}}",
            "{{- $_ := set .target .key (concat $merged $appended) -}}",
        ]
    )
    append_missing = "\n".join(
        [
            "{{- /* OLMv1: append unless an equal entry is present (compared as JSON) */ -}}",
            "{{- $merged := index .target .key | default list -}}",
            "{{- range $item := .items -}}",
            "{{- $json := toJson $item -}}",
            "{{- $found := false -}}",
            "{{- range $existing := $merged }}"
            "{{ if eq (toJson $existing) $json }}{{ $found = true }}{{ end }}{{ end -}}",
            "{{- if not $found }}{{ $merged = append $merged (deepCopy $item) }}{{ end -}}",
            "{{- end -}}",
            "{{- $_ := set .target .key $merged -}}",
        ]
    )
    affinity = "\n".join(
        [
            "{{- /* OLMv1 applyAffinityConfig */ -}}",
            "{{- $config := .affinity -}}",
            "{{- $keys := list \"nodeAffinity\" \"podAffinity\" \"podAntiAffinity\" -}}",
            "{{- $unset := true -}}",
            "{{- range $key := $keys }}"
            '{{ if not (kindIs "invalid" (index $config $key)) }}{{ $unset = false }}{{ end }}{{ end -}}',
            "{{- if $unset -}}",
            '{{- $_ := unset .pod "affinity" -}}',
            "{{- else -}}",
            '{{- $affinity := dict -}}',
            '{{- if kindIs "map" .pod.affinity }}{{ $affinity = .pod.affinity }}{{ end -}}',
            "{{- range $key := $keys -}}",
            "{{- $value := index $config $key -}}",
            '{{- if not (kindIs "invalid" $value) -}}',
            f'{{{{- if include "{c}.deploymentConfig.affinityTermEmpty" (dict "key" $key "value" $value) -}}}}',
            "{{- $_ := unset $affinity $key -}}",
            "{{- else -}}",
            "{{- $_ := set $affinity $key (deepCopy $value) -}}",
            "{{- end -}}",
            "{{- end -}}",
            "{{- end -}}",
            "{{- $empty := true -}}",
            "{{- range $key := $keys -}}",
            f'{{{{- if not (include "{c}.deploymentConfig.affinityTermEmpty" '
            "(dict \"key\" $key \"value\" (index $affinity $key))) }}{{ $empty = false }}{{ end -}}",
            "{{- end -}}",
            '{{- if $empty }}{{ $_ := unset .pod "affinity" }}{{ else }}{{ $_ := set .pod "affinity" $affinity }}'
            "{{ end -}}",
            "{{- end -}}",
        ]
    )
    term_empty = "\n".join(
        [
            "{{- /* OLMv1 isNodeAffinityEmpty / isPodAffinityEmpty: prints true when there are no terms */ -}}",
            "{{- $value := .value -}}",
            '{{- if not (kindIs "map" $value) -}}',
            '{{- if kindIs "invalid" $value }}true{{ end -}}',
            '{{- else if eq .key "nodeAffinity" -}}',
            "{{- $required := index $value \"requiredDuringSchedulingIgnoredDuringExecution\" -}}",
            '{{- $requiredEmpty := true -}}',
            '{{- if kindIs "map" $required }}'
            '{{ $requiredEmpty = empty (index $required "nodeSelectorTerms") }}{{ end -}}',
            '{{- if and $requiredEmpty (empty (index $value "preferredDuringSchedulingIgnoredDuringExecution")) }}'
            "true{{ end -}}",
            "{{- else -}}",
            '{{- if and (empty (index $value "requiredDuringSchedulingIgnoredDuringExecution")) '
            '(empty (index $value "preferredDuringSchedulingIgnoredDuringExecution")) }}true{{ end -}}',
            "{{- end -}}",
        ]
    )
    annotations = "\n".join(
        [
            "{{- /* OLMv1: add annotations, existing keys win */ -}}",
            '{{- $annotations := .target.annotations -}}',
            '{{- if not (kindIs "map" $annotations) }}{{ $annotations = dict }}{{ end -}}',
            "{{- range $key, $value := .items -}}",
            "{{- if not (hasKey $annotations $key) }}{{ $_ := set $annotations $key $value }}{{ end -}}",
            "{{- end -}}",
            '{{- $_ := set .target "annotations" $annotations -}}',
        ]
    )
    return {
        apply_helper_name(c): apply,
        f"{c}.deploymentConfig.check": check,
        f"{c}.deploymentConfig.mergeByName": merge_by_name,
        f"{c}.deploymentConfig.appendMissing": append_missing,
        f"{c}.deploymentConfig.affinity": affinity,
        f"{c}.deploymentConfig.affinityTermEmpty": term_empty,
        f"{c}.deploymentConfig.annotations": annotations,
    }


def _is_deployment(obj: Mapping[str, Any]) -> bool:
    return kind_of(dict(obj)) == "Deployment" and obj.get("apiVersion") == "apps/v1"


def wrap_deployment(obj: dict[str, Any], chart: str) -> dict[str, Any]:
    """``obj`` between the ``define`` and ``include`` blocks (see module docstring); a new dict."""
    definition = _definition_name(chart, name_of(obj))
    head = Block(f'{{{{- define "{definition}" -}}}}')
    tail = Block(
        "{{- end }}\n"
        f'{{{{- include "{apply_helper_name(chart)}" (dict "context" $ "template" "{definition}") }}}}'
    )
    wrapped: dict[Any, Any] = {head: None}
    wrapped.update(obj)
    wrapped[tail] = None
    return wrapped


def run(draft: ChartDraft, options: Mapping[str, Any]) -> ChartDraft:
    """Post-processor entry point (see module docstring). No options.

    Wraps every ``apps/v1`` Deployment of ``draft.objects``; a chart without Deployments is returned
    unchanged. Adds the ``deploymentConfig`` values (documented) and the helper definitions.
    """
    Options("deployment-config", options).done()
    out = copy_draft(draft)
    if not any(_is_deployment(obj) for obj in out.objects):
        return out
    out.objects = [wrap_deployment(obj, out.name) if _is_deployment(obj) else obj for obj in out.objects]
    out.values = {**out.values, VALUES_KEY: dict(DEFAULTS)}
    out.value_docs = {**out.value_docs, **VALUE_DOCS}
    out.value_schemas = {**out.value_schemas, **VALUE_SCHEMAS}
    out.helpers = {**out.helpers, **helpers(out.name)}
    return out
