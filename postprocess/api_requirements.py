"""``api-requirements`` (default on): what the chart needs from the cluster besides itself.

Records on the draft, for the helmfile (:class:`~extractor.draft.ReleaseSpec`):

* ``provides``: ``group/version/Kind`` of every API the chart's CRDs serve (the bundle's CRDs and
  CRDs other post-processors added, e.g. the OpenShift Infrastructure stub);
* ``requires``: the custom resource APIs the chart creates objects of (cert-manager
  ``Certificate``/``Issuer`` of webhooks and APIServices, a ``VerticalPodAutoscaler`` of the
  bundle, ...) that its own CRDs do not provide. The pipeline adds a release of bundles.yaml that
  provides them to ``needs``; what no release provides is checked by the presync hook
  ``require-apis``, which names the missing kind (see :mod:`extractor.emit.helmfile`).

Optional monitoring objects of the bundle (``monitoring.coreos.com`` ``ServiceMonitor``,
``PodMonitor``, ``PrometheusRule``, ``Probe``: the Prometheus Operator's kinds; an operator runs
without them) are not required: each becomes a template created only when the chart value
``monitoring.create`` says so: ``auto`` (default) = when the cluster serves that kind
(``.Capabilities.APIVersions.Has``), ``true`` = always, ``false`` = never. This guard is a departure
from OLM (which refuses the install when the API is missing); ``guardMonitoring: false`` turns it
off, and the monitoring kinds are then required like the others.

Options: ``guardMonitoring`` (boolean, default ``true``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from extractor import yamlio
from extractor.bundle.kinds import BUILTIN_API_GROUPS
from extractor.draft import ChartDraft, Template
from extractor.draft.gotemplate import go_string
from extractor.errors import PostProcessError
from postprocess._common import Options, copy_draft, kind_of

__all__ = ["DOC", "MONITORING_GROUP", "OPTIONAL_KINDS", "api_of", "crd_apis", "monitoring_condition", "run"]

DOC = "record the APIs the chart provides and requires; create optional monitoring objects only where served"
MONITORING_GROUP = "monitoring.coreos.com"
#: the optional kinds (Prometheus Operator) of :data:`MONITORING_GROUP`
OPTIONAL_KINDS = ("PodMonitor", "Probe", "PrometheusRule", "ServiceMonitor")
_VALUE_DOC = (
    "Optional monitoring objects of the bundle (ServiceMonitor, PodMonitor, PrometheusRule, Probe):\n"
    "auto = created only where the cluster serves their API (.Capabilities.APIVersions.Has; helm-diff\n"
    "renders without the cluster's APIs, so set true on clusters that have them), true = always, false = never"
)


def api_of(obj: Any) -> str | None:
    """``group/version/Kind`` of a custom resource object (``None`` for built-in kinds and for
    objects whose apiVersion or kind is not a literal string)."""
    if not isinstance(obj, dict):
        return None
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or "/" not in api_version:
        return None
    if api_version.rpartition("/")[0] in BUILTIN_API_GROUPS:
        return None
    return f"{api_version}/{kind}"


def crd_apis(crd: Mapping[str, Any]) -> list[str]:
    """``group/version/Kind`` of every version a CRD object declares."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return []
    group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
    if not isinstance(group, str) or not isinstance(kind, str):
        return []
    return [f"{group}/{v['name']}/{kind}" for v in spec.get("versions") or []
            if isinstance(v, dict) and isinstance(v.get("name"), str)]


def monitoring_condition(api: str) -> str:
    """The template condition of an optional monitoring object of ``api`` (``group/version/Kind``)."""
    create = "(toString .Values.monitoring.create)"
    return f'or (eq {create} "true") (and (eq {create} "auto") (.Capabilities.APIVersions.Has {go_string(api)}))'


def _optional(api: str) -> bool:
    group, _, rest = api.partition("/")
    return group == MONITORING_GROUP and rest.rpartition("/")[2] in OPTIONAL_KINDS


def _provided(draft: ChartDraft) -> set[str]:
    provided: set[str] = set()
    for obj in draft.objects:
        if kind_of(obj) == "CustomResourceDefinition":
            provided.update(crd_apis(obj))
    for crd in draft.crds:  # added by post-processors (stubs): small, parsed here
        parsed = yamlio.load(crd.data)
        if isinstance(parsed, dict):
            provided.update(crd_apis(parsed))
    return provided


def _objects(draft: ChartDraft) -> Iterable[Any]:
    yield from draft.objects
    for template in draft.templates:
        yield template.obj


def run(draft: ChartDraft, options: Mapping[str, Any]) -> ChartDraft:
    """Post-processor entry point (see module docstring)."""
    opts = Options("api-requirements", options)
    guard = opts.boolean("guardMonitoring", True)
    opts.done()
    out = copy_draft(draft)
    provided = _provided(out)
    required: set[str] = set()
    kept: list[Any] = []
    guarded: list[Template] = []
    for obj in out.objects:
        api = api_of(obj)
        if api is None or api in provided:
            kept.append(obj)
        elif guard and _optional(api):
            guarded.append(Template(obj=obj, condition=monitoring_condition(api)))
        else:
            required.add(api)
            kept.append(obj)
    for template in out.templates:
        api = api_of(template.obj)
        if api is not None and api not in provided:
            required.add(api)
    out.objects = kept
    out.templates = [*out.templates, *guarded]
    if guarded:
        if out.values.get("monitoring", {"create": "auto"}) != {"create": "auto"}:
            raise PostProcessError("chart value 'monitoring' is taken (by another post-processor's valuesKey); "
                                   "the monitoring guard needs monitoring.create")
        out.values["monitoring"] = {"create": "auto"}
        out.value_docs["monitoring.create"] = _VALUE_DOC
        out.value_schemas["monitoring.create"] = {"enum": ["auto", True, False]}
    out.provides = sorted(provided | set(out.provides))
    out.requires = sorted(required | set(out.requires))
    return out
