"""``operator-crs`` (opt-in): the operator custom resources the chart creates (CertManager
``cluster``, Istio ``default``, LeaderWorkerSetOperator ``cluster``...).

Options: a list (or ``{items: [...]}``) of::

    {kind: Istio, apiVersion: sailoperator.io/v1, name: default, namespace: ..., valuesKey: istio,
     fromAlmExample: true, create: true, spec: {...}}

* ``fromAlmExample``: start from the CSV's ``alm-examples`` entry of that kind (and apiVersion /
  name when given), so defaults such as the Istio ``spec.version`` follow the bundle; ``spec``
  is deep-merged over it (``null`` removes a key).
* ``apiVersion`` defaults to the example's, else the CRD's storage version. The CRD must be in
  the bundle; its ``spec.scope`` decides the namespace: cluster-scoped CRs get none (a
  ``namespace`` option is an error), namespaced ones the install namespace unless given.
* ``pullSecretsAt`` (e.g. ``values.global.imagePullSecrets`` for Istio): a dotted spec path that
  receives the list of pull secret names in effect (``<chart>.pullSecretNames``) when there are
  any, so that operands the operator deploys (istiod) can pull; a value set there by the user wins.
* ``value_schemas["<valuesKey>.spec"]``: the ``spec`` schema of the CRD version the CR uses, as
  JSON Schema (:func:`extractor.draft.jsonschema.openapi_to_json_schema`; the fields that follow
  the release namespace are not required), so values.schema.json refuses typos in the spec.
* The template is gated by ``.Values.<valuesKey>.create`` and its spec is
  ``.Values.<valuesKey>.spec`` (values.yaml holds the defaults, so user values merge over them).
  Top-level spec fields whose default is the install namespace (Istio ``spec.namespace``) are not
  in values.yaml: they default to ``.Release.Namespace`` at render time.

The CRs are ordinary templates: their CRDs are applied by the presync hook before Helm runs.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

from extractor import yamlio
from extractor.draft import ChartDraft, Template
from extractor.draft.gotemplate import Block, go_string
from extractor.draft.jsonschema import openapi_to_json_schema
from extractor.errors import PostProcessError
from postprocess._common import (
    DNS_SUBDOMAIN,
    VALUES_KEY,
    Options,
    copy_draft,
    deep_merge,
    kind_of,
    pull_secret_names_helper,
)

__all__ = ["DOC", "alm_examples", "find_crd", "run"]

DOC = "operator custom resources as templates gated by .Values.<key>.create, spec from values"


def alm_examples(csv: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The CSV's ``metadata.annotations['alm-examples']`` parsed (``[]`` when absent).

    Raises :class:`PostProcessError` when it is not a JSON list.
    """
    text = ((csv.get("metadata") or {}).get("annotations") or {}).get("alm-examples")
    if not text:
        return []
    try:
        examples = yamlio.load_json(text)
    except ValueError as exc:
        raise PostProcessError(f"CSV alm-examples is not valid JSON: {exc}") from None
    if not isinstance(examples, list):
        raise PostProcessError("CSV alm-examples is not a JSON list")
    return [e for e in examples if isinstance(e, dict)]


def find_crd(draft: ChartDraft, group: str | None, kind: str) -> dict[str, Any] | None:
    """The CRD of ``group``/``kind`` (``group`` ``None``: the first CRD of that kind in any group)
    among the draft's objects or already split CRD files (their parsed :attr:`CRDFile.obj` when
    set; the files' bytes are parsed only as far as needed)."""
    objects = (obj for obj in draft.objects if kind_of(obj) == "CustomResourceDefinition")
    files = (yamlio.load(f.data) if f.obj is None else f.obj for f in draft.crds)
    for crd in itertools.chain(objects, files):
        if not isinstance(crd, dict):
            continue
        spec = crd.get("spec") or {}
        if group in (None, spec.get("group")) and (spec.get("names") or {}).get("kind") == kind:
            return crd
    return None


def _example(examples: list[dict[str, Any]], kind: str, api_version: str | None, name: str | None) -> dict[str, Any]:
    for example in examples:
        if example.get("kind") != kind:
            continue
        if api_version and example.get("apiVersion") != api_version:
            continue
        if name and (example.get("metadata") or {}).get("name") != name:
            continue
        return example
    wanted = "/".join(p for p in (api_version, kind, name) if p)
    raise PostProcessError(f"the CSV's alm-examples have no {wanted} example")


def _one(
    draft: ChartDraft, raw: dict[str, Any], index: int
) -> tuple[Template, str, dict[str, Any], list[str], dict[str, Any] | None]:
    opts = Options("operator-crs", raw, f"items[{index}]")
    kind = opts.required_str("kind")
    api_version = opts.string("apiVersion")
    name = opts.string("name")
    namespace = opts.string("namespace")
    key = opts.required_str("valuesKey")
    from_example = opts.boolean("fromAlmExample", False)
    create = opts.boolean("create", True)
    overrides = opts.mapping("spec")
    pull_secrets_at = opts.string("pullSecretsAt")
    opts.done()
    if pull_secrets_at is not None and not re.match(
        r"^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$", pull_secrets_at
    ):
        raise opts.error(f"pullSecretsAt {pull_secrets_at!r} must be a dotted path of identifiers")
    if not VALUES_KEY.match(key):
        raise opts.error(f"valuesKey {key!r} must be a camelCase identifier (usable as .Values.{key})")

    spec: dict[str, Any] = {}
    if from_example:
        example = _example(alm_examples(draft.csv), kind, api_version, name)
        api_version = api_version or str(example.get("apiVersion", ""))
        name = name or str((example.get("metadata") or {}).get("name", ""))
        example_spec = example.get("spec")
        spec = dict(example_spec) if isinstance(example_spec, dict) else {}
    if not name or not DNS_SUBDOMAIN.match(name):
        raise opts.error(f"name {name!r} is missing or not a DNS-1123 subdomain")
    spec = deep_merge(spec, overrides)

    group = api_version.partition("/")[0] if api_version and "/" in api_version else None
    crd = find_crd(draft, group, kind)
    if crd is None:
        raise PostProcessError(f"no CustomResourceDefinition for {api_version or kind} in the bundle")
    crd_spec = crd.get("spec") or {}
    versions = [v for v in crd_spec.get("versions") or [] if isinstance(v, dict)]
    if api_version is None:
        storage = [v.get("name") for v in versions if v.get("storage")]
        api_version = f"{crd_spec.get('group')}/{storage[0] if storage else versions[0].get('name')}"
    version = api_version.partition("/")[2]
    if not any(v.get("name") == version and v.get("served", True) for v in versions):
        raise PostProcessError(f"CRD {crd_spec.get('group')}/{kind} does not serve version {version!r}")

    metadata: dict[str, Any] = {"name": name}
    if crd_spec.get("scope") == "Cluster":
        if namespace:
            raise opts.error(f"{kind} is cluster-scoped: remove the namespace option")
    else:
        metadata["namespace"] = namespace or draft.install_namespace

    follow = sorted(k for k, v in spec.items() if v == draft.install_namespace)
    defaults = {k: v for k, v in spec.items() if k not in follow}
    source = f"deepCopy .Values.{key}.spec"
    if follow:
        pairs = " ".join(f"{go_string(k)} .Release.Namespace" for k in follow)
        source = f"merge ({source}) (dict {pairs})"
    lines = [f"{{{{- $spec := {source} }}}}"]
    if pull_secrets_at:
        nested = "$pullSecrets"
        for part in reversed(pull_secrets_at.split(".")):
            nested = f'(dict "{part}" {nested})'
        names_helper = pull_secret_names_helper(draft.name)[0]
        lines += [
            f'{{{{- $pullSecrets := include "{names_helper}" . | fromJsonArray }}}}',
            "{{- if $pullSecrets }}",
            f"{{{{- $spec = merge $spec {nested} }}}}",
            "{{- end }}",
        ]
    lines += ["spec:", "  {{- toYaml $spec | nindent 2 }}"]
    obj: dict[Any, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": metadata,
        Block("\n".join(lines)): None,
    }
    served = next(v for v in versions if v.get("name") == version)
    spec_schema = ((served.get("schema") or {}).get("openAPIV3Schema") or {}).get("properties", {}).get("spec")
    schema = openapi_to_json_schema(spec_schema, optional=tuple(follow)) if isinstance(spec_schema, dict) else None
    return (
        Template(obj=obj, condition=f".Values.{key}.create"),
        key,
        {"create": create, "spec": defaults},
        follow,
        schema,
    )


def run(draft: ChartDraft, options: Mapping[str, Any]) -> ChartDraft:
    """Post-processor entry point (see module docstring).

    Raises :class:`ConfigError` for bad options and :class:`PostProcessError` when the example
    or the CRD is missing or the version is not served.
    """
    opts = Options("operator-crs", options)
    items = opts.mapping_list("items")
    opts.done()
    if not items:
        raise opts.error("list at least one custom resource")
    out = copy_draft(draft)
    keys: set[str] = set()
    for index, raw in enumerate(items):
        template, key, values, follow, schema = _one(out, raw, index)
        if any(isinstance(k, Block) and "pullSecretNames" in k.text for k in template.obj):
            name, body = pull_secret_names_helper(out.name)
            out.helpers[name] = body
        if key in keys or key in out.values:
            raise opts.error(f"valuesKey {key!r} is used twice")
        keys.add(key)
        obj = template.obj
        kind, name = obj["kind"], obj["metadata"]["name"]
        out.templates.append(template)
        out.values[key] = values
        out.value_docs[f"{key}.create"] = f"Create the {kind} `{name}` custom resource."
        doc = f"Spec of the {kind} `{name}` (defaults from the bundle); user values merge over it."
        if follow:
            doc += "\n" + ", ".join(f"`{f}`" for f in follow) + " default(s) to the release namespace."
        out.value_docs[f"{key}.spec"] = doc
        if schema is not None:
            out.value_schemas[f"{key}.spec"] = schema
    return out
