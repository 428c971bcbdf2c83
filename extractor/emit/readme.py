"""Per-chart documentation: ``README.md`` (helm-docs layout) and ``templates/NOTES.txt``.

README.md (plain Markdown, never templated): what the chart installs (operator Deployments, the
presync CRDs with their versions, the operator custom resources, the hooks the helmfile runs),
prerequisites (Kubernetes version, APIs the platform must serve, cert-manager when the chart
creates cert-manager objects, releases installed first), how to install it with helmfile, plain
Helm, Argo CD and Flux (the companion ``<chart>-crds`` chart first), and the values table from the
``# --`` comments. NOTES.txt (rendered by Helm after install/upgrade): what was installed, kubectl
commands to see the operator become ready in the release namespace, and the next step (the
status of the custom resources). Bundle text reaches NOTES.txt only through
:func:`~extractor.draft.gotemplate.escape_template_text`. Both are deterministic.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from extractor.draft import ChartDraft
from extractor.draft.gotemplate import escape_template_text
from extractor.emit.chartmeta import min_kube_version, owned_crds

__all__ = ["md_code", "render_notes", "render_readme", "version_line"]

_CREATE = re.compile(r"^\.Values\.([A-Za-z][A-Za-z0-9]*)\.create$")
_CERT_MANAGER_GROUPS = ("cert-manager.io", "acme.cert-manager.io")
#: values table: defaults longer than this (JSON characters) are shown as "see values.yaml"
_MAX_DEFAULT = 200


@dataclass(frozen=True)
class _CustomResource:
    kind: str
    name: str
    api_version: str
    namespaced: bool
    values_key: str
    resource: str  # plural.group for kubectl, or the kind when the CRD is unknown


def _custom_resources(draft: ChartDraft) -> list[_CustomResource]:
    by_kind = {(c["kind"], c["name"].partition(".")[2]): c["name"] for c in owned_crds(draft)}
    out: list[_CustomResource] = []
    for template in draft.templates:
        obj, match = template.obj, _CREATE.match(template.condition or "")
        if not isinstance(obj, dict) or match is None:
            continue
        meta = obj.get("metadata")
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        name = meta.get("name") if isinstance(meta, dict) else None
        if not (isinstance(kind, str) and isinstance(api_version, str) and isinstance(name, str)):
            continue
        group = api_version.rpartition("/")[0]
        out.append(
            _CustomResource(
                kind=kind,
                name=name,
                api_version=api_version,
                namespaced=isinstance(meta, dict) and "namespace" in meta,
                values_key=match.group(1),
                resource=by_kind.get((kind, group), f"{kind.lower()}.{group}" if group else kind.lower()),
            )
        )
    return out


def _deployments(draft: ChartDraft) -> list[str]:
    names = []
    for obj in draft.objects:
        meta = obj.get("metadata")
        if obj.get("kind") == "Deployment" and isinstance(meta, dict) and isinstance(meta.get("name"), str):
            names.append(meta["name"])
    return sorted(set(names))


def _display_name(draft: ChartDraft) -> str:
    spec = draft.csv.get("spec") if isinstance(draft.csv, Mapping) else None
    name = spec.get("displayName") if isinstance(spec, Mapping) else None
    return name.strip() if isinstance(name, str) and name.strip() else draft.package


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def md_code(text: str) -> str:
    """``text`` as a Markdown code span that fits a table cell (backticks and ``|`` kept as text)."""
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{_cell(text)}{pad}{fence}"


def _type(value: Any) -> str:
    if value is None:
        return "any"
    names = ((bool, "bool"), (int, "int"), (float, "float"), (str, "string"), (list, "list"), (dict, "object"))
    for kind, name in names:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _value_rows(values: Mapping[str, Any], docs: Mapping[str, str], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        nested = isinstance(value, dict) and value and any(d.startswith(path + ".") for d in docs)
        if nested:
            if path in docs:
                rows.append((path, value))
            rows += _value_rows(value, docs, path)
        else:
            rows.append((path, value))
    return rows


def _values_table(draft: ChartDraft) -> list[str]:
    lines = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for path, value in _value_rows(draft.values, draft.value_docs):
        shown = json.dumps(value, ensure_ascii=False, sort_keys=False)
        default = md_code(shown) if len(shown) <= _MAX_DEFAULT else "see `values.yaml`"
        doc = _cell(draft.value_docs.get(path, ""))
        lines.append(f"| {md_code(path)} | {_type(value)} | {default} | {doc} |")
    return lines


def _crd_lines(draft: ChartDraft) -> list[str]:
    lines = []
    for crd in sorted(draft.crds, key=lambda c: (c.group, c.name)):
        versions = ", ".join(crd.versions) if crd.versions else "see the file"
        gate = f" (only when the helmfile value `{crd.condition}` is true)" if crd.condition else ""
        lines.append(f"| {md_code(crd.name)} | {versions} | `presync/{crd.group}/{crd.filename}`{gate} |")
    return lines


def version_line(chart_version: str, app_version: str) -> str:
    """README.md's third line, naming the chart ``version`` (rewritten by
    :func:`extractor.emit.chart.set_chart_version` when the revision changes)."""
    return f"**Version:** {chart_version} · **Type:** application · **AppVersion:** {app_version}"


def render_readme(draft: ChartDraft, chart_version: str) -> str:
    """README.md text for ``draft`` (``chart_version``: the Chart.yaml ``version``)."""
    chart, namespace = draft.name, draft.install_namespace
    crs = _custom_resources(draft)
    deployments = _deployments(draft)
    kube = min_kube_version(draft)
    out = [
        f"# {chart}",
        "",
        version_line(chart_version, draft.csv_version),
        "",
        f"{_cell(_display_name(draft))} ({draft.csv_name}, OLM package `{draft.package}`) for Kubernetes",
        "clusters without OLM, rendered from its OLM bundle by bundle-extract. Generated: do not edit;",
        "regenerate the chart instead (`make update-bundle`).",
        "",
        "## What the chart installs",
        "",
    ]
    if deployments:
        listed = ", ".join(f"`{d}`" for d in deployments)
        out.append(f"- The operator: Deployment(s) {listed}, with its ServiceAccounts and RBAC, in the release "
                   f"namespace (`{namespace}` by default).")  # fmt: skip
    for cr in crs:
        where = " in the release namespace" if cr.namespaced else " (cluster-scoped)"
        out.append(f"- The {cr.kind} custom resource `{cr.name}` ({cr.api_version}){where}, when "
                   f"`{cr.values_key}.create` is true; its spec is `{cr.values_key}.spec`.")  # fmt: skip
    if draft.crds:
        out += [
            "- Its CustomResourceDefinitions are **not** Helm templates: they live in `presync/` (outside",
            "  the chart package and Helm's release Secret) and the helmfile's presync hook applies them",
            "  server-side, then waits until they are Established:",
            "",
            "| CRD | Versions | File |",
            "|-----|----------|------|",
            *_crd_lines(draft),
        ]
    out += [
        "",
        "Hooks the generated helmfile runs around Helm (presync unless said otherwise):",
        "",
    ]
    if draft.namespace_bound_crds:
        out.append(f"- `namespace-guard`: the release must be installed in `{namespace}` "
                   "(CRD conversion webhooks point there);")  # fmt: skip
    if draft.requires:
        out.append("- `require-apis`: the APIs listed under Prerequisites are served (unless a release this one "
                   "needs provides them);")  # fmt: skip
    if any(crd.versions for crd in draft.crds):
        out.append("- `crd-stored-versions`: no CRD update drops a version still stored in the cluster;")
    if draft.extra_namespaces:
        out.append("- `create-namespaces`: " + ", ".join(f"`{n}`" for n in sorted(set(draft.extra_namespaces))) + ";")
    if draft.crds:
        out.append("- `crds-<group>` and `crds-<group>-established`: apply the CRDs above and wait for them;")
    for hook in draft.hooks:
        gate = f" (when `{hook.condition}`)" if hook.condition else ""
        out.append(f"- `{hook.name}` ({', '.join(hook.events)}){gate};")
    if out[-1] == "":
        out.append("- none.")
    out[-1] = out[-1].rstrip(";") + "."

    out += ["", "## Prerequisites", ""]
    out.append(f"- Kubernetes {'>= ' + kube if kube else '(no minimum version in the bundle)'}.")
    requires = sorted(set(draft.requires))
    if any(r.partition("/")[0] in _CERT_MANAGER_GROUPS for r in requires):
        out.append("- cert-manager: the chart creates cert-manager objects (Certificates/Issuers).")
    if requires:
        out.append("- APIs the cluster must serve (or a release this one needs must provide): "
                   + ", ".join(f"`{r}`" for r in requires) + ".")  # fmt: skip
    if draft.needs:
        out.append("- Releases installed first (helmfile `needs`): " + ", ".join(f"`{n}`" for n in draft.needs) + ".")
    out.append("- kubectl on the machine running helmfile (the hooks use it).")

    extra = sorted(set(draft.extra_namespaces))
    out += [
        "",
        "## Installing",
        "",
        "### helmfile (recommended)",
        "",
        "The generated `helmfile.yaml.gotmpl` creates the namespaces, applies the CRDs, checks the",
        "cluster and installs the releases in order:",
        "",
        "```sh",
        f"helmfile apply --selector name={chart}",
        "```",
        "",
        "### Plain Helm",
        "",
    ]
    if draft.crds:
        out += [
            f"Install the companion chart `{chart}-crds` first (generated next to this one: the CRDs of",
            "`presync/`, kept on uninstall" + (", and the operand namespaces" if extra else "") + "), then this one:",
            "",
            "```sh",
            f"helm upgrade --install {chart}-crds ./charts/{chart}-crds",
        ]
    else:
        out += ["```sh"] + [f"kubectl create namespace {n}" for n in extra]
    out += [
        f"helm upgrade --install {chart} ./charts/{chart} --namespace {namespace} --create-namespace",
        "```",
        "",
        "### Argo CD",
        "",
        f"Two Applications: `{chart}-crds` in an earlier sync wave than `{chart}`." if draft.crds
        else "One Application:",
        "",
        "```yaml",
        "apiVersion: argoproj.io/v1alpha1",
        "kind: Application",
        "metadata:",
        f"  name: {chart}",
        "  namespace: argocd",
        "  annotations:",
        '    argocd.argoproj.io/sync-wave: "1"' + ('   # the crds Application: "0"' if draft.crds else ""),
        "spec:",
        "  project: default",
        "  source:",
        "    repoURL: https://git.example.com/platform.git   # the repository holding charts/",
        f"    path: charts/{chart}",
        "    targetRevision: main",
        "  destination:",
        "    server: https://kubernetes.default.svc",
        f"    namespace: {namespace}",
        "  syncPolicy:",
        "    automated: {}",
        "    syncOptions: [CreateNamespace=true, ServerSideApply=true]",
        "```",
        "",
        "### Flux",
        "",
        "```yaml",
        "apiVersion: helm.toolkit.fluxcd.io/v2",
        "kind: HelmRelease",
        "metadata:",
        f"  name: {chart}",
        f"  namespace: {namespace}",
        "spec:",
        "  interval: 10m",
        *([f"  dependsOn: [{{name: {chart}-crds}}]"] if draft.crds else []),
        "  chart:",
        "    spec:",
        f"      chart: ./charts/{chart}",
        "      sourceRef: {kind: GitRepository, name: platform, namespace: flux-system}",
        "  install:",
        "    createNamespace: true",
        "```",
    ]
    if extra:
        out += ["", "Operand namespaces the operator expects (the helmfile and the `-crds` chart create them): "
                + ", ".join(f"`{n}`" for n in extra) + "."]  # fmt: skip
    out += [
        "",
        "## Values",
        "",
        "`values.schema.json` checks every value (a misspelt key fails `helm install`, `helm template`",
        "and `helm lint`); the custom resource specs are checked against their CRD's schema.",
        "",
        *_values_table(draft),
        "",
    ]
    return "\n".join(out)


def render_notes(draft: ChartDraft) -> str:
    """templates/NOTES.txt text for ``draft`` (a Go template; bundle text escaped)."""
    e = escape_template_text
    crs = _custom_resources(draft)
    deployments = _deployments(draft)
    ns = "{{ .Release.Namespace }}"
    out = [
        "{{- /* Generated by bundle-extract. */ -}}",
        f"{e(_display_name(draft))} {e(draft.csv_version)} is installed: release {{{{ .Release.Name }}}} in"
        f" namespace {ns}.",
        "",
    ]
    if deployments:
        out += ["See that the operator is ready:", ""]
        out += [f"  kubectl --namespace {ns} rollout status deployment/{e(d)} --timeout=5m" for d in deployments]
        out += [f"  kubectl --namespace {ns} get deployments,pods", ""]
    if crs:
        gates = [f".Values.{cr.values_key}.create" for cr in crs]
        out += [
            f"{{{{ if {gates[0] if len(gates) == 1 else 'or ' + ' '.join(gates)} -}}}}",
            "Next, follow the status of the custom resources the operator reconciles:",
        ]
        for cr in crs:
            where = f" --namespace {ns}" if cr.namespaced else ""
            out += [
                f"{{{{- if .Values.{cr.values_key}.create }}}}",
                "",
                f"  kubectl{where} get {e(cr.resource)} {e(cr.name)}",
                f"  kubectl{where} describe {e(cr.resource)} {e(cr.name)}",
                "{{- end }}",
            ]
        out += ["", "{{ end -}}"]
    out.append("The chart's README.md lists its values, CRDs and hooks.")
    return "\n".join(out) + "\n"
