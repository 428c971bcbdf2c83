"""``image-pull-secrets`` (default on): pull secrets for every ServiceAccount the chart creates.

* Every ``ServiceAccount`` of the chart gets ``imagePullSecrets`` from the helper
  ``<chart>.imagePullSecrets``: the chart's pull Secret when ``pullSecret.dockerConfigJson`` is
  set, plus the names in ``.Values.imagePullSecrets`` (``[{name: x}]`` or ``[x]``), plus any the
  bundle already listed.
* Option ``operandServiceAccounts: [{namespace: cert-manager, names: [cert-manager, ...]}]``:
  ServiceAccounts the operator's operands run as, created by the chart in that namespace (the
  operator adopts them) so that operand pods can pull; the namespace is added to
  ``extra_namespaces`` (the helmfile creates it in presync). Without ``namespace`` they are
  created in the install namespace and follow the release namespace.
* A ``kubernetes.io/dockerconfigjson`` Secret (name: value ``pullSecret.name``) in the release
  namespace and in every operand namespace, rendered only when ``pullSecret.dockerConfigJson``
  is non-empty (the helmfile fills it at deploy time from the user's auth file).
* ``draft.registries``: the sorted registry hosts the chart pulls from (container and init
  container images, ``RELATED_IMAGE_*`` and image-like env values, image-valued pod-template
  annotations, CSV ``spec.relatedImages``); unexpanded placeholders (``${X}``) are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from extractor.draft import ChartDraft, Template
from extractor.draft.gotemplate import Block, Go, Tpl
from postprocess._common import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    Options,
    copy_draft,
    kind_of,
    name_of,
    namespace_of,
    pod_templates,
    pull_secret_names_helper,
)

__all__ = ["DOC", "collect_registries", "image_registry", "run"]

DOC = "imagePullSecrets on every ServiceAccount, operand ServiceAccounts, pull-secret Secret, registries"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"^(?P<repo>(?:(?P<host>[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    rf"(?::[0-9]+)?)/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


def image_registry(reference: str, *, strict: bool = False) -> str | None:
    """Registry host of image ``reference`` (``docker.io`` for Docker Hub short names), or
    ``None`` if it is not an image reference (placeholders like ``${OPERATOR_IMAGE}`` included).

    ``strict``: only accept references naming a registry host (with a ``.``, a port or
    ``localhost``) and a tag or digest — for values that merely might be images (env, annotations).
    """
    if "$" in reference or not reference:
        return None
    match = _IMAGE.match(reference)
    if not match:
        return None
    repo = match.group("repo")
    first, _, rest = repo.partition("/")
    explicit = bool(rest) and ("." in first or ":" in first or first == "localhost")
    if strict and (not explicit or not (match.group("tag") or match.group("digest"))):
        return None
    if not explicit:
        return "docker.io"
    host = first.lower()
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


def _pod_images(obj: Mapping[str, Any]) -> Iterator[str]:
    for template in pod_templates(dict(obj)):
        meta = template.get("metadata")
        annotations = meta.get("annotations") if isinstance(meta, dict) else None
        for value in (annotations or {}).values():
            if isinstance(value, str):
                host = image_registry(value, strict=True)
                if host:
                    yield host
        spec = template.get("spec")
        if not isinstance(spec, dict):
            continue
        for field in ("initContainers", "containers", "ephemeralContainers"):
            for container in spec.get(field) or []:
                if not isinstance(container, dict):
                    continue
                image = container.get("image")
                if isinstance(image, str):
                    host = image_registry(image)
                    if host:
                        yield host
                for env in container.get("env") or []:
                    if not isinstance(env, dict) or not isinstance(env.get("value"), str):
                        continue
                    related = str(env.get("name", "")).startswith("RELATED_IMAGE_")
                    host = image_registry(env["value"], strict=not related)
                    if host:
                        yield host


def collect_registries(draft: ChartDraft) -> list[str]:
    """Sorted registry hosts ``draft`` pulls from (see module docstring)."""
    hosts: set[str] = set()
    trees = list(draft.objects) + [t.obj for t in draft.templates if isinstance(t.obj, dict)]
    for obj in trees:
        hosts.update(_pod_images(obj))
    for related in (draft.csv.get("spec") or {}).get("relatedImages") or []:
        if isinstance(related, dict) and isinstance(related.get("image"), str):
            host = image_registry(related["image"])
            if host:
                hosts.add(host)
    return sorted(hosts)


def _helpers(chart: str) -> dict[str, str]:
    names_helper, names_body = pull_secret_names_helper(chart)
    return {
        names_helper: names_body,
        f"{chart}.pullSecretName": f'{{{{- .Values.pullSecret.name | default "{chart}-pull-secret" -}}}}',
        f"{chart}.imagePullSecrets": "\n".join(
            [
                '{{- /* ServiceAccount imagePullSecrets; context: dict "context" $ "names" (list ...) */ -}}',
                f'{{{{- $names := concat .names (include "{names_helper}" .context | fromJsonArray) -}}}}',
                "{{- if $names }}",
                "imagePullSecrets:",
                "{{- range $names | uniq }}",
                "  - name: {{ . | quote }}",
                "{{- end }}",
                "{{- end -}}",
            ]
        ),
    }


def _pull_secrets_block(chart: str, existing: list[str]) -> Block:
    names = "".join(f' "{n}"' for n in existing)
    context = f'(dict "context" $ "names" (list{names}))'
    return Block(f'{{{{- include "{chart}.imagePullSecrets" {context} | nindent 0 }}}}')


def _with_pull_secrets(sa: dict[Any, Any], chart: str) -> dict[Any, Any]:
    existing = []
    for ref in sa.pop("imagePullSecrets", None) or []:
        name = ref.get("name") if isinstance(ref, dict) else None
        if isinstance(name, str) and DNS_SUBDOMAIN.match(name):
            existing.append(name)
    sa[_pull_secrets_block(chart, existing)] = None
    return sa


def _secret(chart: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            Block(f'name: {{{{ include "{chart}.pullSecretName" . | quote }}}}'): None,
            "namespace": namespace,
        },
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": Tpl(Go(".Values.pullSecret.dockerConfigJson | b64enc"))},
    }


def run(draft: ChartDraft, options: Mapping[str, Any]) -> ChartDraft:
    """Post-processor entry point (see module docstring). Raises :class:`ConfigError` for bad options."""
    opts = Options("image-pull-secrets", options)
    operand_entries = opts.mapping_list("operandServiceAccounts")
    opts.done()
    operands: list[tuple[str, list[str]]] = []
    for index, raw in enumerate(operand_entries):
        entry = Options("image-pull-secrets", raw, f"operandServiceAccounts[{index}]")
        # no namespace: the operands run in the install namespace (it follows the release namespace)
        namespace = entry.string("namespace") or draft.install_namespace
        names = entry.str_list("names")
        entry.done()
        if not DNS_LABEL.match(namespace):
            raise entry.error(f"namespace {namespace!r} is not a DNS-1123 label")
        if not names:
            raise entry.error("option 'names' must list at least one ServiceAccount")
        for name in names:
            if not DNS_SUBDOMAIN.match(name):
                raise entry.error(f"ServiceAccount name {name!r} is not a DNS-1123 subdomain")
        operands.append((namespace, names))

    out = copy_draft(draft)
    chart = out.name
    existing: set[tuple[str, str]] = set()
    for obj in out.objects:
        if kind_of(obj) == "ServiceAccount":
            existing.add((str(namespace_of(obj) or out.install_namespace), name_of(obj)))
            _with_pull_secrets(obj, chart)
    for template in out.templates:
        if isinstance(template.obj, dict) and kind_of(template.obj) == "ServiceAccount":
            _with_pull_secrets(template.obj, chart)

    secret_namespaces = [out.install_namespace]
    for namespace, names in operands:
        for name in names:
            if (namespace, name) in existing:
                continue
            existing.add((namespace, name))
            sa: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": namespace},
            }
            out.templates.append(Template(obj=_with_pull_secrets(sa, chart)))
        if namespace not in secret_namespaces:
            secret_namespaces.append(namespace)
        if namespace != out.install_namespace and namespace not in out.extra_namespaces:
            out.extra_namespaces.append(namespace)
    for namespace in secret_namespaces:
        filename = (
            "secret-pull-secret.yaml"
            if namespace == out.install_namespace
            else (f"secret-pull-secret-{namespace}.yaml")
        )
        out.templates.append(
            Template(
                obj=_secret(chart, namespace),
                condition=".Values.pullSecret.dockerConfigJson",
                filename=filename,
            )
        )

    out.helpers.update(_helpers(chart))
    out.values.setdefault("imagePullSecrets", [])
    # values.schema.json: a Secret name, or a LocalObjectReference
    out.value_schemas.setdefault("imagePullSecrets", {
        "type": "array",
        "items": {"anyOf": [
            {"type": "string", "minLength": 1},
            {"type": "object", "properties": {"name": {"type": "string", "minLength": 1}}, "required": ["name"],
             "additionalProperties": False},
        ]},
    })  # fmt: skip
    out.values.setdefault("pullSecret", {"name": f"{chart}-pull-secret", "dockerConfigJson": ""})
    out.value_docs.setdefault(
        "imagePullSecrets",
        "Extra image pull secrets (existing Secrets, `[{name: x}]`) for every ServiceAccount of the chart.",
    )
    out.value_docs.setdefault(
        "pullSecret.name", "Name of the pull Secret the chart creates when `dockerConfigJson` is set."
    )
    out.value_docs.setdefault(
        "pullSecret.dockerConfigJson",
        'Docker config JSON (`{"auths": {...}}`); the helmfile fills it at deploy time from the\n'
        "user's container auth file. Empty: no Secret, ServiceAccounts get only `imagePullSecrets`.",
    )
    out.registries = sorted(set(out.registries) | set(collect_registries(out)))
    return out
