"""``templatize-namespaces`` (default on): make the install namespace follow ``.Release.Namespace``.

Structural, on ``draft.objects`` and every ``Template.obj`` (never text replacement of documents):

* any mapping key ``namespace`` whose value equals the install namespace (``metadata.namespace``,
  RoleBinding/ClusterRoleBinding ``subjects[].namespace``, webhook/APIService/CRD-conversion
  ``service.namespace``, ...) becomes ``{{ .Release.Namespace }}``;
* annotations whose key mentions a namespace and whose value equals the install namespace
  (``olm.operatorNamespace``; ``olm.targetNamespaces`` only when it *is* the install namespace,
  i.e. OwnNamespace), and ``cert-manager.io/inject-ca-from[-secret]: <ns>/<name>``;
* containers' ``env[].value``, ``args`` and ``command``: a value equal to the install namespace
  when the env var is named ``*NAMESPACE*`` or the argument follows a ``--*namespace*`` flag
  (an ``OPERATOR_NAME`` that happens to equal the namespace stays), ``--*namespace*=<ns>[,...]``,
  and the namespace label of ``<svc>.<ns>.svc`` DNS names;
* cert-manager Certificates' ``dnsNames``/``commonName``: ``<svc>.<ns>`` and ``<svc>.<ns>.svc``
  DNS names;
* DNS names of the chart's own Services anywhere else in an object (outside ``metadata`` but for
  annotations): a string that *is* ``<svc>.<ns>``, ``<svc>.<ns>.svc`` or
  ``<svc>.<ns>.svc.cluster.local`` (optionally ``:port``, or the host of a ``scheme://`` URL),
  where ``<svc>`` names a Service of the chart in the install namespace, e.g. a ServiceMonitor's
  ``tlsConfig.serverName``; the string is parsed, never searched: other text is left alone;
* cluster-scoped kinds (:func:`extractor.render.kinds.namespaced` is ``False``) lose a
  ``metadata.namespace`` equal to the install namespace: OLMv1 sets one on
  Validating/MutatingWebhookConfigurations, which the API server ignores; in a chart it would
  only suggest that the object is per release namespace.

Values naming another namespace (``kube-system``, operand namespaces) are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from extractor.bundle import kinds
from extractor.draft import ChartDraft, Template
from extractor.draft.gotemplate import Block, Go, Tpl
from postprocess._common import DNS_LABEL, Options, copy_draft, kind_of, pod_specs

__all__ = ["DOC", "RELEASE_NAMESPACE", "chart_services", "run", "templatize_object"]

DOC = "replace the install namespace with {{ .Release.Namespace }} (structurally)"

RELEASE_NAMESPACE = Go(".Release.Namespace")
_INJECT_CA = ("cert-manager.io/inject-ca-from", "cert-manager.io/inject-ca-from-secret")
_NAMESPACE_FLAG = re.compile(r"^(-{1,2}[A-Za-z0-9_.-]*namespace[A-Za-z0-9_.-]*=)(.*)$", re.IGNORECASE)


def _service_dns(value: str, namespace: str) -> Any:
    """``value`` with the namespace label of every ``<svc>.<ns>.svc`` DNS name templated."""
    pattern = re.compile(r"(?<=[A-Za-z0-9-]\.)" + re.escape(namespace) + r"(?=\.svc(?![A-Za-z0-9-]))")
    pieces = pattern.split(value)
    if len(pieces) == 1:
        return value
    parts: list[str | Go] = []
    for index, piece in enumerate(pieces):
        if index:
            parts.append(RELEASE_NAMESPACE)
        if piece:
            parts.append(piece)
    return Tpl(*parts)


def _string(value: str, namespace: str, *, names_namespace: bool) -> Any:
    """Templatize the install namespace in a container env value / argument.

    ``names_namespace``: the value *is* a namespace by context (env var named ``*NAMESPACE*``,
    argument after ``--namespace``), so exact equality counts; otherwise an equal value may be a
    coincidence (``OPERATOR_NAME`` equal to the namespace name) and is left alone.
    """
    if value == namespace:
        return Tpl(RELEASE_NAMESPACE) if names_namespace else value
    flag = _NAMESPACE_FLAG.match(value)
    if flag and namespace in flag.group(2).split(","):
        parts: list[str | Go] = [flag.group(1)]
        for index, item in enumerate(flag.group(2).split(",")):
            if index:
                parts.append(",")
            parts.append(RELEASE_NAMESPACE if item == namespace else item)
        return Tpl(*[p for p in parts if p != ""])
    return _service_dns(value, namespace)


def _annotations(annotations: dict[Any, Any], namespace: str) -> None:
    for key, value in list(annotations.items()):
        if not isinstance(value, str) or not isinstance(key, str):
            continue
        if value == namespace and "namespace" in key.lower():
            annotations[key] = Tpl(RELEASE_NAMESPACE)
        elif key in _INJECT_CA and value.startswith(namespace + "/"):
            annotations[key] = Tpl(RELEASE_NAMESPACE, value[len(namespace) :])


def _walk(node: Any, namespace: str) -> None:
    if isinstance(node, dict):
        for key, value in list(node.items()):
            if isinstance(key, Block) or isinstance(value, Tpl):
                continue
            if key == "namespace" and value == namespace:
                node[key] = Tpl(RELEASE_NAMESPACE)
            elif key == "metadata" and isinstance(value, dict):
                if isinstance(value.get("annotations"), dict):
                    _annotations(value["annotations"], namespace)
                _walk(value, namespace)
            else:
                _walk(value, namespace)
    elif isinstance(node, list):
        for item in node:
            _walk(item, namespace)


def _containers(obj: dict[str, Any], namespace: str) -> None:
    for spec in pod_specs(obj):
        for field in ("initContainers", "containers", "ephemeralContainers"):
            for container in spec.get(field) or []:
                if not isinstance(container, dict):
                    continue
                for env in container.get("env") or []:
                    if isinstance(env, dict) and isinstance(env.get("value"), str):
                        names_namespace = "NAMESPACE" in str(env.get("name", "")).upper()
                        env["value"] = _string(env["value"], namespace, names_namespace=names_namespace)
                for list_field in ("args", "command"):
                    values = container.get(list_field)
                    if isinstance(values, list):
                        container[list_field] = _arguments(values, namespace)


def _arguments(values: list[Any], namespace: str) -> list[Any]:
    out: list[Any] = []
    previous: Any = None
    for value in values:
        if isinstance(value, str):
            after_flag = isinstance(previous, str) and previous.startswith("-") and "namespace" in previous.lower()
            out.append(_string(value, namespace, names_namespace=after_flag))
        else:
            out.append(value)
        previous = value
    return out


def _service_host(value: str, namespace: str) -> Any:
    """A certificate DNS name: ``<svc>.<ns>`` (OLMv1's commonName) or any ``<svc>.<ns>.svc...``."""
    service, dot, rest = value.partition(".")
    if dot and rest == namespace and DNS_LABEL.match(service):
        return Tpl(service + ".", RELEASE_NAMESPACE)
    return _service_dns(value, namespace)


def _certificate(obj: dict[str, Any], namespace: str) -> None:
    if kind_of(obj) != "Certificate" or not str(obj.get("apiVersion", "")).startswith("cert-manager.io/"):
        return
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if isinstance(spec.get("dnsNames"), list):
        spec["dnsNames"] = [_service_host(v, namespace) if isinstance(v, str) else v for v in spec["dnsNames"]]
    if isinstance(spec.get("commonName"), str):
        spec["commonName"] = _service_host(spec["commonName"], namespace)


_OWN_HOST = re.compile(
    r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)?(?P<service>[a-z0-9]([-a-z0-9]*[a-z0-9])?)\.(?P<namespace>[a-z0-9-]+)"
    r"(?P<suffix>\.svc(\.cluster\.local)?)?(?P<tail>(:[0-9]{1,5})?(/[^\s]*)?)$"
)


def _own_service_host(value: str, namespace: str, services: frozenset[str]) -> Any:
    """``value`` with its namespace label templated when it is a DNS name (or ``host:port``, or a
    URL) of one of ``services`` in ``namespace``; else ``value`` unchanged."""
    match = _OWN_HOST.match(value)
    if match is None or match["namespace"] != namespace or match["service"] not in services:
        return value
    if not match["suffix"] and match["tail"]:
        return value  # "<svc>.<ns>:port" / "<svc>.<ns>/path": too loose to be sure it is a host
    head = (match["scheme"] or "") + match["service"] + "."
    rest = (match["suffix"] or "") + match["tail"]
    return Tpl(head, RELEASE_NAMESPACE, rest) if rest else Tpl(head, RELEASE_NAMESPACE)


def _hosts(node: Any, namespace: str, services: frozenset[str]) -> Any:
    if isinstance(node, str):
        return _own_service_host(node, namespace, services)
    if isinstance(node, dict):
        for key, value in list(node.items()):
            if not isinstance(key, Block) and not isinstance(value, Tpl):
                node[key] = _hosts(value, namespace, services)
    elif isinstance(node, list):
        node[:] = [_hosts(item, namespace, services) for item in node]
    return node


def _own_service_hosts(obj: dict[str, Any], namespace: str, services: frozenset[str]) -> None:
    if not services or kind_of(obj) == "CustomResourceDefinition":
        return
    for key, value in list(obj.items()):
        if key == "metadata" and isinstance(value, dict):
            if isinstance(value.get("annotations"), dict):
                _hosts(value["annotations"], namespace, services)
        elif key not in ("apiVersion", "kind") and not isinstance(key, Block) and not isinstance(value, Tpl):
            obj[key] = _hosts(value, namespace, services)


def chart_services(objects: list[Any], namespace: str) -> frozenset[str]:
    """Names of the ``v1`` Services among ``objects`` that live in ``namespace`` (or name none)."""
    names: set[str] = set()
    for obj in objects:
        if not isinstance(obj, dict) or kind_of(obj) != "Service" or obj.get("apiVersion") != "v1":
            continue
        metadata = obj.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("name"), str) and \
                metadata.get("namespace", namespace) == namespace:
            names.add(metadata["name"])
    return frozenset(names)


def templatize_object(obj: dict[str, Any], namespace: str, services: frozenset[str] = frozenset()) -> None:
    """Templatize ``obj`` in place (see module docstring); ``services``: the chart's Services in
    ``namespace`` (see :func:`chart_services`), whose DNS names follow the release namespace."""
    metadata = obj.get("metadata")
    cluster_scoped = kinds.namespaced(kind_of(obj)) is False
    if cluster_scoped and isinstance(metadata, dict) and metadata.get("namespace") == namespace:
        del metadata["namespace"]
    _walk(obj, namespace)
    _containers(obj, namespace)
    _certificate(obj, namespace)
    _own_service_hosts(obj, namespace, services)


def run(draft: ChartDraft, options: Mapping[str, Any]) -> ChartDraft:
    """Post-processor entry point (see module docstring). No options."""
    Options("templatize-namespaces", options).done()
    out = copy_draft(draft)
    services = chart_services(out.objects + [t.obj for t in out.templates], out.install_namespace)
    for obj in out.objects:
        templatize_object(obj, out.install_namespace, services)
    templates: list[Template] = []
    for template in out.templates:
        if isinstance(template.obj, dict):
            templatize_object(template.obj, out.install_namespace, services)
        templates.append(template)
    out.templates = templates
    return out
