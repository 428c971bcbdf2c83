"""The companion ``<name>-crds`` chart: a chart's CRDs (and operand namespaces) for plain Helm and GitOps.

The helmfile applies a chart's CRDs in presync hooks (``kubectl apply --server-side``, see
:mod:`extractor.emit.helmfile`). Plain ``helm install``, Argo CD and Flux run no helmfile hooks, so
every generated chart with CRDs gets a second chart next to it, ``charts/<name>-crds/``, built only
from the first one's files (``Chart.yaml``, ``release.yaml``, ``presync/<group>/*.yaml``)::

    Chart.yaml                  name <name>-crds; the same version, appVersion, metadata and bundle annotations
    values.yaml                 createNamespaces, the helmfile values the presync groups' conditions read,
                                and crdDocuments.<group>.<crd>: each presync CRD as compact JSON text,
                                with helm.sh/resource-policy: keep
    templates/crds.yaml         per presync group (inside its condition): every text of crdDocuments.<group>
    templates/namespaces.yaml   the namespaces the helmfile's create-namespaces hook creates
    templates/NOTES.txt         what was installed, how to see the CRDs are Established, the next step
    values.schema.json          the values above, closed (a typo fails helm template/lint/install)
    README.md                   the CRDs (with their groups and conditions), how to install, the values

Why ``templates/`` and not Helm's ``crds/`` directory: Helm installs ``crds/`` once and never
upgrades (nor deletes) it, so a bundle update would silently keep old CRDs; objects rendered from
``templates/`` are upgraded like any other, and ``helm.sh/resource-policy: keep`` stops ``helm
uninstall`` from deleting them (and with them every custom resource). A value's text is output as
it is (never parsed as a template), so CRD text containing ``{{`` comes out of ``helm template``
unchanged.

Why compact JSON text in values.yaml: Helm stores a release gzip-compressed and base64-encoded in
one Secret (1 MiB at most, so about 786 KB compressed), holding the chart (its values as JSON
objects, every other file as base64 inside the JSON, which gzip hardly compresses) *and* the
rendered manifest. The 29 CRDs of the repository's sail-operator entry (19 from the bundle, 10
Gateway API ones from ``extraManifests``) are 1.96 MB as compact JSON: as chart files the release
would be about 1.16 MB and Kubernetes refuses it; as values about 0.79 MB. YAML as the bundle has it
would be larger still. The objects are the same (parsed with :mod:`extractor.yamlio`, dumped with
:func:`json.dumps`, key order kept); only the ``keep`` annotation is added.

Conditions: a presync group with a condition (``!openshift.enabled``) is rendered inside ``{{ if }}``
on the same value path of this chart's values, defaulting to the helmfile's default, so the
CRD chart installs what ``helmfile apply`` would with default settings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from extractor import yamlio
from extractor.errors import EmitError, ExtractorError
from extractor.files import MAX_MANIFEST_FILE_BYTES, read_bounded
from extractor.model import DNS_LABEL

__all__ = [
    "CRDS_CHART_SUFFIX",
    "CRDS_OF_ANNOTATION",
    "KEEP_ANNOTATION",
    "crd_names",
    "crds_chart_name",
    "crds_of",
    "write_crds_chart",
]

CRDS_CHART_SUFFIX = "-crds"
CRDS_OF_ANNOTATION = "bundle-extract.io/crds-of"
"""Chart.yaml annotation of a companion chart: the chart whose CRDs it holds."""
KEEP_ANNOTATION = ("helm.sh/resource-policy", "keep")
_PRESYNC = "presync"
_DOCUMENTS_VALUE = "crdDocuments"
_CONDITION = re.compile(r"^(!?)([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*)$")
_NAMESPACES_VALUE = "createNamespaces"
_OUR_ANNOTATIONS = "bundle-extract.io/"
_COPIED_METADATA = ("kubeVersion", "home", "sources", "keywords", "maintainers", "icon")


def crds_chart_name(chart: str) -> str:
    """``sail-operator`` -> ``sail-operator-crds``."""
    return chart + CRDS_CHART_SUFFIX


def crds_of(chart_dir: Path) -> str | None:
    """The chart whose companion CRD chart ``chart_dir`` is (its ``bundle-extract.io/crds-of``
    annotation), or ``None`` for any other directory (unreadable ones included)."""
    try:
        meta = yamlio.load(read_bounded(chart_dir / "Chart.yaml"))
    except (OSError, yaml.YAMLError, ExtractorError):
        return None
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    value = annotations.get(CRDS_OF_ANNOTATION) if isinstance(annotations, dict) else None
    return value if isinstance(value, str) else None


def _load_crd(path: Path) -> dict[str, Any]:
    try:
        data = yamlio.load(read_bounded(path, MAX_MANIFEST_FILE_BYTES, error=EmitError))
    except (OSError, yaml.YAMLError) as exc:
        raise EmitError(f"{path}: cannot read the CRD ({type(exc).__name__})") from None
    return _checked_crd(path, data)


def _checked_crd(path: Path, data: Any) -> dict[str, Any]:
    """A shallow copy of ``data`` when it is a named CustomResourceDefinition; raises :class:`EmitError`."""
    if not isinstance(data, dict) or data.get("kind") != "CustomResourceDefinition":
        raise EmitError(f"{path}: not a CustomResourceDefinition")
    name = (data.get("metadata") or {}).get("name") if isinstance(data.get("metadata"), dict) else None
    if not isinstance(name, str) or not name:
        raise EmitError(f"{path}: CustomResourceDefinition without metadata.name")
    return dict(data)


def crd_names(chart_dir: Path) -> list[str]:
    """Names of the CRDs in ``chart_dir/presync/*/*.yaml`` (sorted, unique). Raises
    :class:`EmitError` for a file that is not a named CustomResourceDefinition."""
    names = {(_load_crd(p)["metadata"]["name"]) for p in sorted((chart_dir / _PRESYNC).glob("*/*.yaml"))}
    return sorted(names)


def _condition_expr(condition: str, where: str) -> str:
    from extractor.draft.gotemplate import go_string

    match = _CONDITION.match(condition)
    if not match:
        raise EmitError(f"{where}: condition {condition!r} is not a value path")
    negate, path = match.groups()
    keys = " ".join(go_string(part) for part in path.split("."))
    expr = f"(dig {keys} false .Values.AsMap)"
    return f"not {expr}" if negate else expr


def _set_path(tree: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = tree
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise EmitError(f"value {path!r} collides with another value")
        node = child
    node[leaf] = value


def _lookup(tree: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return tree


def _crd_json(path: Path, parsed: Any = None) -> tuple[str, bytes]:
    """The name and the compact JSON (with the keep annotation) of the CRD of ``path``; ``parsed``:
    the file's CRD already parsed (read-only: copied where the annotation goes), else the file is read."""
    crd = _load_crd(path) if parsed is None else _checked_crd(path, parsed)
    metadata = crd["metadata"] = dict(crd["metadata"])
    annotations = metadata.get("annotations")
    if annotations is None:
        annotations = {}
    if not isinstance(annotations, dict):
        raise EmitError(f"{path}: metadata.annotations is not a mapping")
    annotations = metadata["annotations"] = dict(annotations)
    annotations[KEEP_ANNOTATION[0]] = KEEP_ANNOTATION[1]
    try:
        text = json.dumps(crd, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        raise EmitError(f"{path}: the CRD holds a number JSON cannot carry (NaN or infinity)") from None
    return str(metadata["name"]), text.encode("utf-8") + b"\n"


def _values_text(chart: str, values: dict[str, Any]) -> str:
    header = (
        f"# Default values of the {chart} chart, generated by bundle-extract. Do not edit: override them\n"
        "# at install time. Condition values use the same paths (and defaults) as the helmfile's\n"
        "# environment values; createNamespaces: create the operand namespaces the helmfile's\n"
        f"# create-namespaces hook creates; {_DOCUMENTS_VALUE}: the CRDs (compact JSON, by presync group\n"
        "# and file name), kept here because Helm stores values compactly in its release Secret.\n"
    )
    return header + (yamlio.dump(values) if values else "{}\n")


def write_crds_chart(chart_dir: Path, out_dir: Path, parsed: Mapping[str, Any] | None = None) -> bool:
    """Write the companion chart of the generated chart in ``chart_dir`` into ``out_dir`` (absent
    or empty; see the module docstring). Returns ``False``, writing nothing, when the chart has no
    presync CRDs. ``parsed``: CRDs of ``presync/`` already parsed, by ``"<group>/<file name>"``
    (each equal to ``yamlio.load`` of its file, shared read-only), to spare parsing them again.

    Raises :class:`EmitError` naming the file for a missing or malformed ``Chart.yaml``,
    ``release.yaml`` or CRD, a bad condition, or a filesystem error.
    """
    from extractor.draft import ReleaseSpec  # chart writing only: a no-op update needs crds_of alone
    from extractor.draft.gotemplate import escape_template_text, go_string

    spec = ReleaseSpec.from_file(chart_dir / "release.yaml")
    files: dict[str, bytes] = {}
    blocks: list[str] = []
    values: dict[str, Any] = {}
    documents: dict[str, dict[str, str]] = {}
    listed: list[tuple[str, str, str | None]] = []  # (CRD name, presync group, condition)
    for group, condition in spec.presync_groups:
        sources = sorted((chart_dir / _PRESYNC / group).glob("*.yaml"))
        if not DNS_LABEL.match(group) or not sources:
            continue
        texts = documents[group] = {}
        for source in sorted(sources, key=lambda path: path.stem):  # Go ranges over a map in key order
            known = parsed.get(f"{group}/{source.name}") if parsed else None
            crd_name, text = _crd_json(source, known)
            texts[source.stem] = text.decode("utf-8")
            listed.append((crd_name, group, condition))
        loop = (
            f"{{{{- range $_, $text := index .Values.{_DOCUMENTS_VALUE} {go_string(group)} }}}}\n"
            "---\n{{ $text }}\n{{- end }}\n"
        )
        if condition is not None:
            where = f"{chart_dir / 'release.yaml'}: presync group {group!r}"
            path = condition.lstrip("!")
            _set_path(values, path, _lookup(spec.helmfile_values, path))
            loop = f"{{{{- if {_condition_expr(condition, where)} }}}}\n{loop}{{{{- end }}}}\n"
        blocks.append(f"{{{{- /* presync group {group} */}}}}\n{loop}")
    if not documents:
        return False
    try:
        meta = yamlio.load(read_bounded(chart_dir / "Chart.yaml", error=EmitError))
    except (OSError, yaml.YAMLError) as exc:
        raise EmitError(f"{chart_dir / 'Chart.yaml'}: cannot read ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise EmitError(f"{chart_dir / 'Chart.yaml'}: not a chart's Chart.yaml")
    name = crds_chart_name(meta["name"])
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if str(k).startswith(_OUR_ANNOTATIONS) or k == "artifacthub.io/crds"}
    annotations[CRDS_OF_ANNOTATION] = meta["name"]
    chart_yaml: dict[str, Any] = {
        "apiVersion": "v2",
        "name": name,
        "description": f"The CustomResourceDefinitions of the {meta['name']} chart (kept on uninstall), for plain "
        "Helm, Argo CD and Flux: install it before that chart. Generated by bundle-extract: do not edit.",
        "type": "application",
        "version": meta.get("version"),
        "appVersion": meta.get("appVersion"),
    }
    # the operator chart's descriptive metadata (chart-testing's schema, Artifact Hub), when it has it
    chart_yaml.update({key: meta[key] for key in _COPIED_METADATA if key in meta})
    chart_yaml["annotations"] = dict(sorted(annotations.items()))
    files["Chart.yaml"] = yamlio.dump(chart_yaml).encode("utf-8")
    files["templates/crds.yaml"] = "".join(blocks).encode("utf-8")
    if spec.extra_namespaces:
        values[_NAMESPACES_VALUE] = True
        docs = []
        for namespace in spec.extra_namespaces:
            if not DNS_LABEL.match(namespace):
                raise EmitError(f"{chart_dir / 'release.yaml'}: namespace {namespace!r} is not a DNS-1123 label")
            docs.append("---\n" + yamlio.dump({
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": namespace, "annotations": {KEEP_ANNOTATION[0]: KEEP_ANNOTATION[1]}},
            }))
        files["templates/namespaces.yaml"] = (
            f"{{{{- if .Values.{_NAMESPACES_VALUE} }}}}\n" + escape_template_text("".join(docs)) + "{{- end }}\n"
        ).encode("utf-8")
    if _DOCUMENTS_VALUE in values:
        raise EmitError(f"{chart_dir / 'release.yaml'}: value {_DOCUMENTS_VALUE!r} collides with a condition")
    files["values.schema.json"] = (json.dumps(_schema(values), indent=2) + "\n").encode("utf-8")
    files["README.md"] = _readme(chart_yaml, meta["name"], listed, spec.extra_namespaces, values).encode("utf-8")
    files["templates/NOTES.txt"] = _notes(meta["name"], listed, chart_dir).encode("utf-8")
    values[_DOCUMENTS_VALUE] = documents
    files["values.yaml"] = _values_text(name, values).encode("utf-8")
    from extractor.emit.chart import write_chart_files  # not at import: crds_chart_name/crds_of need no Jinja2

    write_chart_files(out_dir, files)
    return True


def _schema(values: dict[str, Any]) -> dict[str, Any]:
    """values.schema.json: ``values`` (createNamespaces and the condition values, booleans) closed at
    every level, ``global`` (what a parent chart passes) open, ``crdDocuments`` strings by group
    and name."""

    def node(value: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            return {"type": "object", "additionalProperties": False,
                    "properties": {key: node(item) for key, item in value.items()}}
        return {"type": "boolean"} if isinstance(value, bool) else {}

    schema = node(values)
    properties = schema["properties"]
    if _NAMESPACES_VALUE in properties:
        properties[_NAMESPACES_VALUE]["description"] = "Create the operand namespaces (kept on uninstall)."
    properties["global"] = {"type": "object", "description": "Values a parent chart passes (not read)."}
    properties[_DOCUMENTS_VALUE] = {
        "type": "object", "description": "Generated: each CRD as compact JSON text, by presync group and file name.",
        "additionalProperties": {"type": "object", "additionalProperties": {"type": "string"}},
    }
    return {"$schema": "http://json-schema.org/draft-07/schema#", **schema}


def _leaves(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in tree.items():
        out += _leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else [(f"{prefix}{key}", value)]
    return out


def _readme(meta: dict[str, Any], chart: str, crds: list[tuple[str, str, str | None]],
            namespaces: tuple[str, ...], values: dict[str, Any]) -> str:
    """README.md of the companion chart whose Chart.yaml is ``meta`` (CRD names, bundle text, go
    through the chart README's code-span quoting; its version line is the one
    :func:`extractor.emit.chart.set_chart_version` rewrites)."""
    from extractor.emit.readme import md_code, version_line

    name = meta["name"]
    out = [
        f"# {name}", "", version_line(str(meta.get("version")), str(meta.get("appVersion"))), "",
        f"The CustomResourceDefinitions of the `{chart}` chart, for plain Helm, Argo CD and Flux. Generated",
        "by bundle-extract: do not edit; regenerate the charts instead (`make update-bundle`).", "",
        "## What the chart installs", "",
        f"{len(crds)} CustomResourceDefinitions, each annotated `helm.sh/resource-policy: keep`: `helm uninstall`",
        "leaves them, and with them every custom resource, in place.", "",
        "| CRD | Presync group | Installed |", "|-----|---------------|-----------|",
    ]
    out += [f"| {md_code(crd)} | `{group}` | {f'when `{condition}`' if condition else 'always'} |"
            for crd, group, condition in crds]
    if namespaces:
        out += ["", "The operand namespaces " + ", ".join(f"`{n}`" for n in namespaces)
                + " when `createNamespaces` is true (kept on uninstall too)."]
    out += [
        "", "## Installing", "",
        f"Install this chart first and wait until its CRDs are Established, then the `{chart}` chart:", "", "```sh",
        f"helm upgrade --install {name} ./charts/{name} --namespace <namespace> --create-namespace --wait",
        f"helm upgrade --install {chart} ./charts/{chart} --namespace <namespace>", "```", "",
        f"- Argo CD: an Application for `{name}` in an earlier sync wave than the one for `{chart}`, with the sync",
        "  option `ServerSideApply=true` (large CRDs exceed client-side apply's annotation limit).",
        f"- Flux: the HelmRelease of `{chart}` has `dependsOn` this one's.",
        "- The generated helmfile does not use this chart: its presync hooks apply the same CRDs server-side.", "",
        "## Values", "", "| Key | Type | Default | Description |", "|-----|------|---------|-------------|",
    ]
    for path, default in _leaves(values):
        if path == _NAMESPACES_VALUE:
            out.append(f"| `{path}` | bool | `{str(default).lower()}` | Create the operand namespaces. |")
        else:
            out.append(f"| `{path}` | bool | `{str(default).lower()}` | The `{chart}` chart's value of the same path "
                       "(default as in the helmfile): the groups whose condition reads it follow it. |")
    out.append(f"| `{_DOCUMENTS_VALUE}` | object | the CRDs | Generated: each CRD as compact JSON text, "
               "by presync group and file name. Not meant to be set. |")
    return "\n".join(out) + "\n"


def _notes(chart: str, crds: list[tuple[str, str, str | None]], chart_dir: Path) -> str:
    """templates/NOTES.txt: what was installed, a ``kubectl wait`` per presync group (inside its
    condition), the next step. CRD names are bundle text: escaped, so they come out as they are."""
    from extractor.draft.gotemplate import escape_template_text

    out = [
        "{{- /* Generated by bundle-extract. */ -}}",
        f"The CustomResourceDefinitions of the {chart} chart are installed (release {{{{ .Release.Name }}}},",
        "kept on uninstall). See that they are Established:",
        "",
    ]
    groups: dict[tuple[str, str | None], list[str]] = {}
    for crd, group, condition in crds:
        groups.setdefault((group, condition), []).append(crd)
    for (group, condition), names in groups.items():
        wait = escape_template_text(
            "  kubectl wait --for condition=Established --timeout=2m " + " ".join(f"crd/{n}" for n in names))
        if condition is None:
            out.append(wait)
        else:
            where = f"{chart_dir / 'release.yaml'}: presync group {group!r}"
            out += [f"{{{{- if {_condition_expr(condition, where)} }}}}", wait, "{{- end }}"]
    out += ["", f"Next, install the {chart} chart."]
    return "\n".join(out) + "\n"
