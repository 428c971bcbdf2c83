"""Generate ``helmfile.yaml.gotmpl`` (and each chart's pull-secret values template).

Longer than 400 lines: the one emitter of the helmfile (releases, their hooks and the kube-context
wrapper, environments, user values files) keeps the file's whole layout in one place.

The helmfile is rendered from ``extractor/templates/helmfile.yaml.gotmpl.j2`` with a Jinja
environment using ``[[ ]]``/``[% %]`` delimiters (``{{ }}`` belongs to helmfile's Go templates).
Every scalar coming from a :class:`ReleaseSpec` is JSON-quoted (a valid YAML double-quoted
scalar) and, when it contains ``{{``, wrapped in a Go raw string so that helmfile's first template
pass leaves release-context templates such as ``{{ .Release.Namespace }}`` in place for the hook.

Per release, in this order:

* presync hook ``namespace-guard`` when the chart has CRDs bound to its install namespace
  (conversion webhooks, see :mod:`postprocess.split_crds`): fails unless the release namespace is
  the install namespace;
* the presync checks of :mod:`extractor.emit.checks`: ``require-apis`` (custom resource APIs the
  chart needs that no release it needs provides) and ``crd-stored-versions`` (no CRD update may
  drop a version still stored in the cluster);
* presync hook ``create-namespaces`` (``kubectl create --dry-run=client | kubectl apply``) for
  ``extra_namespaces``;
* per presync CRD group: ``crds-<group>`` (``kubectl apply --server-side --force-conflicts``) and
  ``crds-<group>-established`` (``kubectl wait --for=condition=Established``, retried until
  :data:`CRD_WAIT_SECONDS`, see :mod:`extractor.draft.hookscripts`), inside
  ``{{ if }}`` when the group has a condition;
* the post-processors' hooks.

Every hook runs through the ``kube-context`` wrapper (:data:`KUBE_CONTEXT_SCRIPT`): helmfile runs
hooks with the user's environment, so kubectl would use the kubeconfig's current context, not the
context helm installs into. helmfile 0.166 gives hooks no environment variable for it, only
template data: ``.Release.KubeContext`` (the release's ``kubeContext``, replaced by
``--kube-context``) and ``.Environment.KubeContext`` (the ``-e`` environment's). The wrapper gets
``{{ .Release.KubeContext | default .Environment.KubeContext }}`` (:data:`KUBE_CONTEXT_ARG`, the
order helm's ``--kube-context`` flag is chosen in) and, when it is not empty, puts first in
``KUBECONFIG`` a file holding only that ``current-context``, so every kubectl the hook runs (or
helm) talks to the release's cluster. ``helmDefaults.kubeContext`` of an umbrella is not
visible to hooks (nor used for these releases by helm).

Environments: ``default`` plus those of bundles.yaml (``name -> kubeContext``), each with the same
values: defaults inline, then the optional user files ``helmfile.values.yaml`` and
``helmfile.values.<env>.yaml``: ``pullSecret.authFile`` plus every chart's ``helmfile_values``.
Conditions (``"a.b"`` or ``"!a.b"``) become ``(.Values | get "a.b" false)`` / ``not (...)``.

User values of a release: after the generated entries, ``values/<release>.yaml`` and
``values/<release>.<env>.yaml`` (both optional: ``missingFileHandler: Info``), files generation
never writes, so the user's settings win and survive regeneration.

Credentials: a chart with a pull secret gets ``<chart>/pull-secret.values.yaml.gotmpl`` (see
:func:`render_pull_secret_values`), listed in the release's ``values:``. helmfile renders it at
deploy time; the generated files hold no secret and ``helmfile build`` only prints its path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from extractor import yamlio
from extractor.draft import Hook, ImageUse, ReleaseSpec
from extractor.draft.gotemplate import escape_template_text, go_string
from extractor.draft.hookscripts import wait_established_script
from extractor.emit.checks import check_hooks
from extractor.errors import EmitError
from extractor.model import DNS_LABEL

__all__ = [
    "CRD_WAIT_SECONDS",
    "FIELD_MANAGER",
    "KUBE_CONTEXT_ARG",
    "KUBE_CONTEXT_SCRIPT",
    "PULL_SECRET_VALUES_FILE",
    "USER_VALUES_DIR",
    "USER_VALUES_FILE",
    "condition_expr",
    "go_literal",
    "render_helmfile",
    "render_pull_secret_values",
    "write_helmfile",
]

PULL_SECRET_VALUES_FILE = "pull-secret.values.yaml.gotmpl"
USER_VALUES_FILE = "helmfile.values.yaml"
USER_VALUES_DIR = "values"
"""Directory (beside the helmfile) of the user's per-release values files; never written."""
CRD_WAIT_SECONDS = "300"
"""Seconds the ``crds-<group>-established`` hook waits (retrying) for its CRDs."""
FIELD_MANAGER = "bundle-extract"

_CONDITION = re.compile(r"^(!?)([A-Za-z][A-Za-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)*)$")
_REGISTRY = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]+)?$")

_CREATE_NAMESPACES = (
    'set -euo pipefail\nfor ns in "$@"; do\n'
    '  kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f -\ndone'
)

_NAMESPACE_GUARD = (
    'set -euo pipefail\nrelease="$1"; bound="$2"; shift 2\nif [ "$release" != "$bound" ]; then\n'
    '  echo "error: namespace $release: CRDs $* convert through the webhook Service in namespace $bound;'
    ' set namespace: $release in bundles.yaml and regenerate" >&2\n  exit 1\nfi'
)

KUBE_CONTEXT_ARG = "{{ .Release.KubeContext | default .Environment.KubeContext }}"
"""The hook argument (rendered by helmfile when the hook runs) naming the kube context helm uses."""

KUBE_CONTEXT_SCRIPT = (
    'set -euo pipefail\nif [ -n "$1" ]; then\n  config=$(mktemp)\n  trap \'rm -f "$config"\' EXIT\n'
    '  kubectl config set current-context "$1" --kubeconfig "$config" >/dev/null\n'
    '  export KUBECONFIG="$config:${KUBECONFIG:-$HOME/.kube/config}"\nfi\nshift\n"$@"'
)
"""``bash -c`` script (defined once in the helmfile, as ``$kubeContext``):
``kube-context CONTEXT COMMAND [ARG]...`` runs COMMAND with CONTEXT as
kubectl's current context (the first ``KUBECONFIG`` file setting ``current-context`` wins), or
unchanged when CONTEXT is empty."""

_ENV_DOCS = (
    "pullSecret.authFile: container auth file for the charts' pull secrets; default: the first of",
    "  $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/auth.json, $XDG_CONFIG_HOME or",
    "  ~/.config/containers/auth.json, $DOCKER_CONFIG/config.json, ~/.docker/config.json.",
    "  Only the registries a chart pulls from (after imageRegistryMirrors/imageOverrides) get an",
    "  entry; credHelpers and credsStore are asked like for pulls (see docs/bundles.md).",
    "pullSecret.command: the program building the pull Secrets (default: bundle-extract on PATH,",
    "  else python3 -m extractor), a list or a string split at spaces.",
    "imageRegistryMirrors: {host[/path]: host[/path]} passed to every chart (registries.conf-style",
    "  prefix rewrite of every image); imageOverrides: {reference: reference} likewise.",
)


def go_literal(text: str) -> str:
    """``text`` escaped so that a Go template pass outputs it unchanged (``{{`` protected)."""
    if "{{" not in text:
        return text
    if "`" not in text:
        return "{{`" + text + "`}}"
    return "{{ " + json.dumps(text) + " }}"


def _scalar(text: str) -> str:
    """A YAML scalar for ``text`` that survives helmfile's template pass."""
    return go_literal(json.dumps(text, ensure_ascii=False))


def _block_or_scalar(text: str, indent: int) -> str:
    """``text`` as a literal block scalar (lines indented by ``indent``) when it is a multi-line
    script that reads well that way and needs no escaping, else as :func:`_scalar`."""
    lines = text.split("\n")
    readable = (
        len(lines) > 1
        and "{{" not in text
        and "\t" not in text
        and "\r" not in text
        and all(line == line.rstrip() for line in lines)
        and lines[0][:1] not in (" ", "")
        and lines[-1] != ""
    )
    if not readable:
        return _scalar(text)
    pad = " " * indent
    return "|-\n" + "\n".join(pad + line if line else "" for line in lines)


def condition_expr(condition: str) -> str:
    """Go template expression for a helmfile value condition (``"a.b"`` / ``"!a.b"``).

    Raises :class:`EmitError` for anything else.
    """
    match = _CONDITION.match(condition)
    if not match:
        raise EmitError(f"condition {condition!r} is not a helmfile value path (optionally prefixed with !)")
    negate, path = match.groups()
    expr = f'(.Values | get "{path}" false)'
    return f"not {expr}" if negate else expr


def _merge(target: dict[str, Any], source: Mapping[str, Any], where: str, path: str = "") -> None:
    for key, value in source.items():
        full = f"{path}.{key}" if path else str(key)
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value, where, full)
        elif key in target and target[key] != value:
            raise EmitError(f"helmfile value {full!r}: {where} wants {value!r}, another release {target[key]!r}")
        else:
            target[key] = json.loads(json.dumps(value))


def _env_defaults(specs: Sequence[ReleaseSpec]) -> dict[str, Any]:
    values: dict[str, Any] = {"pullSecret": {"authFile": ""}}
    for spec in specs:
        _merge(values, spec.helmfile_values, f"release {spec.name!r}")
    result: dict[str, Any] = _sort(values)
    return result


def _sort(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sort(value[k]) for k in sorted(value)}
    return value


def _indent(text: str, spaces: int, first: str = "") -> str:
    lines = text.rstrip("\n").splitlines()
    pad = " " * spaces
    out = []
    for i, line in enumerate(lines):
        prefix = first if i == 0 and first else pad
        out.append(prefix + line if line else "")
    return "\n".join(out)


def _binding_lines(tree: Mapping[str, Any], depth: int) -> list[str]:
    """YAML lines of a value-binding tree; leaves are unquoted Go actions rendering a boolean."""
    lines = []
    for key, value in tree.items():
        if isinstance(value, Mapping):
            lines.append(f"{'  ' * depth}{key}:")
            lines += _binding_lines(value, depth + 1)
        else:
            lines.append(f"{'  ' * depth}{key}: {{{{ {value} }}}}")
    return lines


def _hook(hook: Hook) -> dict[str, Any]:
    if not DNS_LABEL.match(hook.name):
        raise EmitError(f"hook name {hook.name!r} is not a DNS-1123 label")
    return {
        "name": hook.name,
        "condition": condition_expr(hook.condition) if hook.condition else None,
        "events": json.dumps(list(hook.events)),
        "showlogs": "true" if hook.showlogs else "false",
        "command": _scalar(hook.command),
        "args": [_block_or_scalar(arg, 12) for arg in hook.args],
    }


def _crd_hooks(spec: ReleaseSpec) -> list[Hook]:
    hooks = []
    for group, condition in spec.presync_groups:
        directory = f"{spec.chart_dir.rstrip('/')}/presync/{group}/"
        hooks.append(
            Hook(
                name=f"crds-{group}",
                events=("presync",),
                command="kubectl",
                args=(
                    "apply",
                    "--server-side",
                    "--force-conflicts",
                    f"--field-manager={FIELD_MANAGER}",
                    "-f",
                    directory,
                ),
                condition=condition,
            )
        )
        hooks.append(
            Hook(
                name=f"crds-{group}-established",
                events=("presync",),
                command="bash",
                args=("-c", wait_established_script(), f"crds-{group}-established", CRD_WAIT_SECONDS, directory),
                condition=condition,
            )
        )
    return hooks


def _with_kube_context(rendered: dict[str, Any]) -> dict[str, Any]:
    """A rendered hook (:func:`_hook`) run through :data:`KUBE_CONTEXT_SCRIPT` (the template's
    ``$kubeContext``) with :data:`KUBE_CONTEXT_ARG`: ``bash -c SCRIPT kube-context CONTEXT COMMAND ARG...``."""
    wrapper = [_scalar("-c"), "{{ $kubeContext | toJson }}", _scalar("kube-context"), _scalar(KUBE_CONTEXT_ARG)]
    return {**rendered, "command": _scalar("bash"), "args": [*wrapper, rendered["command"], *rendered["args"]]}


def _release(spec: ReleaseSpec, by_name: Mapping[str, ReleaseSpec]) -> dict[str, Any]:
    if not DNS_LABEL.match(spec.name) or not DNS_LABEL.match(spec.namespace):
        raise EmitError(f"release {spec.name!r}: name and namespace must be DNS-1123 labels")
    needs = []
    for need in spec.needs:
        if need not in by_name:
            raise EmitError(f"release {spec.name!r} needs {need!r}, which is not in this helmfile")
        needs.append(f"{by_name[need].namespace}/{need}")
    values = []
    if spec.pull_secret_values:
        values.append(_indent(_scalar(f"{spec.chart_dir.rstrip('/')}/{spec.pull_secret_values}"), 6, "      - "))
    if spec.value_bindings:
        tree: dict[str, Any] = {}
        for path, condition in spec.value_bindings:
            if not _CONDITION.match(path) or path.startswith("!"):
                raise EmitError(f"release {spec.name!r}: value binding {path!r} is not a value path")
            node = tree
            *parents, leaf = path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = condition_expr(condition)
        values.append(_indent("\n".join(_binding_lines(_sort(tree), 0)), 8, "      - "))
    # the user's own files, last so that they win; generation never writes them
    values.append("      - " + _scalar(f"{USER_VALUES_DIR}/{spec.name}.yaml"))
    # spec.name is a DNS-1123 label (checked above): nothing in it needs quoting or escaping
    values.append(f'      - "{USER_VALUES_DIR}/{spec.name}.{{{{ .Environment.Name }}}}.yaml"')
    hooks: list[Hook] = []
    if spec.namespace_bound_crds:
        # conversion-webhook CRDs name the install namespace: refuse any other before applying them
        hooks.append(
            Hook(
                name="namespace-guard",
                events=("presync",),
                command="bash",
                args=("-c", _NAMESPACE_GUARD, "namespace-guard", "{{ .Release.Namespace }}", spec.namespace,
                      *spec.namespace_bound_crds),
            )
        )
    # the checks, before anything is applied: cluster APIs, CRD stored versions
    hooks += check_hooks(spec, by_name)
    if spec.extra_namespaces:
        for namespace in spec.extra_namespaces:
            if not DNS_LABEL.match(namespace):
                raise EmitError(f"release {spec.name!r}: extra namespace {namespace!r} is not a DNS-1123 label")
        hooks.append(
            Hook(
                name="create-namespaces",
                events=("presync",),
                command="bash",
                args=("-c", _CREATE_NAMESPACES, "create-namespaces", *spec.extra_namespaces),
            )
        )
    hooks += _crd_hooks(spec)
    hooks += list(spec.hooks)
    names = [h.name for h in hooks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise EmitError(f"release {spec.name!r}: duplicate hook name(s) {', '.join(duplicates)}")
    groups: list[dict[str, Any]] = []
    for hook in hooks:
        rendered = _with_kube_context(_hook(hook))
        if groups and groups[-1]["condition"] == rendered["condition"]:
            groups[-1]["hooks"].append(rendered)
        else:
            groups.append({"condition": rendered["condition"], "hooks": [rendered]})
    return {
        "name": spec.name,
        "namespace": spec.namespace,
        "chart": _scalar(spec.chart_dir),
        "disable_validation": spec.custom_resources,
        "needs": needs,
        "value_entries": values,
        "hook_groups": groups,
    }


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("extractor.emit", "templates"),
        variable_start_string="[[",
        variable_end_string="]]",
        block_start_string="[%",
        block_end_string="%]",
        comment_start_string="[#",
        comment_end_string="#]",
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _environments(environments: Mapping[str, str | None] | None) -> list[dict[str, Any]]:
    """Template data of the environments: ``default`` first (always), then the others in order."""
    wanted = dict(environments or {})
    names = ["default", *(name for name in wanted if name != "default")]
    result = []
    for name in names:
        if not DNS_LABEL.match(name):
            raise EmitError(f"environment {name!r}: the name must be a DNS-1123 label")
        context = wanted.get(name)
        if context is not None and not context:
            raise EmitError(f"environment {name!r}: kubeContext must not be empty")
        result.append({
            "name": name,
            "kube_context": None if context is None else _scalar(context),
            "user_file": f"helmfile.values.{name}.yaml",
        })
    return result


def render_helmfile(specs: Sequence[ReleaseSpec], environments: Mapping[str, str | None] | None = None) -> str:
    """The text of ``helmfile.yaml.gotmpl`` for ``specs`` (in the given order).

    ``environments``: helmfile environment name (a DNS-1123 label) -> its ``kubeContext`` or
    ``None``; ``default`` is always declared, first.
    Raises :class:`EmitError` for duplicate release names, unknown ``needs``, conflicting
    helmfile value defaults, bad names or conditions, an empty kube context.
    """
    by_name: dict[str, ReleaseSpec] = {}
    for spec in specs:
        if spec.name in by_name:
            raise EmitError(f"release {spec.name!r} appears twice")
        by_name[spec.name] = spec
    env_text = escape_template_text(yamlio.dump(_env_defaults(specs)))
    template = _environment().get_template("helmfile.yaml.gotmpl.j2")
    if "`" in KUBE_CONTEXT_SCRIPT or "{{" in KUBE_CONTEXT_SCRIPT:  # a Go raw string, kept by both passes
        raise EmitError("kube-context script cannot be a Go raw string")
    return template.render(
        kube_context_script=KUBE_CONTEXT_SCRIPT,
        env_docs=_ENV_DOCS,
        env_defaults=_indent(env_text, 8, "      - "),
        environments=_environments(environments),
        user_values_file=USER_VALUES_FILE,
        user_values_dir=USER_VALUES_DIR,
        releases=[_release(spec, by_name) for spec in specs],
    )


def write_helmfile(specs: Sequence[ReleaseSpec], path: Path,
                   environments: Mapping[str, str | None] | None = None) -> None:
    """Write :func:`render_helmfile` (``specs``, ``environments``) to ``path``. Raises :class:`EmitError`."""
    text = render_helmfile(specs, environments)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise EmitError(f"{path}: cannot write helmfile: {exc.strerror or exc}") from None


def render_pull_secret_values(registries: Sequence[str], images: Sequence[ImageUse] = (), *,
                              pull_secret: bool = True) -> str:
    """The ``pull-secret.values.yaml.gotmpl`` of a chart pulling from ``registries`` (hosts,
    ``docker.io`` for Docker Hub) and naming ``images`` (:class:`~extractor.draft.ImageUse`; each
    reference once, as Go string literals). At deploy time it runs ``bundle-extract pull-secret
    --request -`` (see :func:`extractor.pipeline.pull_secret.pull_secret_values`) and passes the
    helmfile values ``imageRegistryMirrors``/``imageOverrides`` to the chart; with ``pull_secret``
    false (a chart without pull Secret) it only passes those values. Raises :class:`EmitError` for
    a malformed host."""
    for registry in registries:
        if not _REGISTRY.match(registry):
            raise EmitError(f"registry host {registry!r} is malformed")
    from postprocess.image_pull_secrets import image_registry

    named = {image_registry(i.reference) for i in images}
    # registries only reached otherwise (image-like env values): the images name the others
    listed = " ".join(json.dumps(r) for r in sorted(set(registries) - named))
    references = " ".join(go_string(r) for r in sorted({i.reference for i in images}))
    return _environment().get_template(PULL_SECRET_VALUES_FILE + ".j2").render(
        registries=listed, images=references, pull_secret=pull_secret)
