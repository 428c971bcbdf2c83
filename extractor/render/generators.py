"""The registry+v1 resource generators, in OLMv1's order.

Follows OLMv1 ``rukpak/render/registryv1/generators/generators.go`` and
``rukpak/render/registryv1/registryv1.go`` (``ResourceGenerators``). Go iterates sets in a random
order; here those iterations are sorted so that the output is deterministic.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from extractor.bundle import kinds
from extractor.bundle.csv import MUTATING, VALIDATING, deployment_specs, owned_apiservices, webhook_definitions
from extractor.errors import RenderError
from extractor.model import Bundle, KubeObject, RenderOptions
from extractor.render.apiservices import apiservice_objects, apiservice_ports
from extractor.render.certproviders import provisioner_for
from extractor.render.deployment_config import apply_deployment_config
from extractor.render.installmodes import is_all_namespaces
from extractor.render.naming import ReadableNamer, olm_rbac_name
from extractor.render.webhooks import (
    admission_webhook_configurations,
    deployment_services,
    ensure_cert_volumes,
    patch_conversion_crds,
)

RBAC_API = "rbac.authorization.k8s.io"
RBAC_VERSION = f"{RBAC_API}/v1"
NAMESPACES_RULE: dict[str, Any] = {
    "verbs": ["get", "list", "watch"],
    "apiGroups": [""],
    "resources": ["namespaces"],
}


@dataclass
class RenderContext:
    """Everything a generator reads: the bundle (never mutated), options and resolved targets."""

    bundle: Bundle
    options: RenderOptions
    targets: tuple[str, ...]
    csv: KubeObject = field(init=False)
    readable: ReadableNamer = field(init=False)

    def __post_init__(self) -> None:
        self.csv = copy.deepcopy(self.bundle.csv)
        self.readable = ReadableNamer(self.bundle.csv_name)

    @property
    def strategy(self) -> dict[str, Any]:
        spec = ((self.csv.get("spec") or {}).get("install") or {}).get("spec") or {}
        return spec if isinstance(spec, dict) else {}

    def permissions(self, key: str) -> list[dict[str, Any]]:
        return [p for p in self.strategy.get(key) or [] if isinstance(p, dict)]


def _sa(permission: dict[str, Any]) -> str:
    return str(permission.get("serviceAccountName") or "default")


def _rules(permission: dict[str, Any]) -> list[dict[str, Any]] | None:
    rules = permission.get("rules")
    return copy.deepcopy(rules) if isinstance(rules, list) else None


def _binding(
    kind: str, name: str, namespace: str | None, role_kind: str, sa: str, install_ns: str
) -> KubeObject:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "apiVersion": RBAC_VERSION,
        "kind": kind,
        "metadata": metadata,
        "roleRef": {"apiGroup": RBAC_API, "kind": role_kind, "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": install_ns}],
    }


def _role(kind: str, name: str, namespace: str | None, rules: list[dict[str, Any]] | None) -> KubeObject:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    obj: KubeObject = {"apiVersion": RBAC_VERSION, "kind": kind, "metadata": metadata}
    if rules is not None:
        obj["rules"] = rules
    return obj


def service_accounts(ctx: RenderContext) -> list[KubeObject]:
    """OLMv1 ``BundleCSVServiceAccountGenerator``: one ServiceAccount per distinct service account
    of permissions and clusterPermissions (sorted), in the install namespace; ``default`` skipped."""
    names = {_sa(p) for p in ctx.permissions("permissions") + ctx.permissions("clusterPermissions")}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": n, "namespace": ctx.options.install_namespace},
        }
        for n in sorted(names)
        if n != "default"
    ]


def permissions(ctx: RenderContext) -> list[KubeObject]:
    """OLMv1 ``BundleCSVPermissionsGenerator``: a Role and RoleBinding per target namespace and
    permission (none in AllNamespaces mode, where permissions are promoted)."""
    if is_all_namespaces(ctx.targets):
        return []
    named: list[tuple[str, dict[str, Any]]] = []
    for perm in ctx.permissions("permissions"):
        if ctx.options.rbac_names == "readable":
            name = ctx.readable.name("Role", _sa(perm), "role")
        else:
            name = olm_rbac_name(
                ctx.bundle.csv_name, str(perm.get("serviceAccountName") or ""), perm.get("rules")
            )
        named.append((name, perm))
    objs: list[KubeObject] = []
    for namespace in ctx.targets:
        for name, perm in named:
            objs.append(_role("Role", name, namespace, _rules(perm)))
            objs.append(
                _binding("RoleBinding", name, namespace, "Role", _sa(perm), ctx.options.install_namespace)
            )
    return objs


def cluster_permissions(ctx: RenderContext) -> list[KubeObject]:
    """OLMv1 ``BundleCSVClusterPermissionsGenerator``: a ClusterRole and ClusterRoleBinding per
    clusterPermission; in AllNamespaces mode each permission is promoted with the namespaces
    get/list/watch rule appended (and hashed with it)."""
    entries: list[tuple[dict[str, Any], str]] = [
        (p, "clusterrole") for p in ctx.permissions("clusterPermissions")
    ]
    if is_all_namespaces(ctx.targets):
        for perm in ctx.permissions("permissions"):
            promoted = dict(perm)
            promoted["rules"] = [*(perm.get("rules") or []), copy.deepcopy(NAMESPACES_RULE)]
            entries.append((promoted, "role"))
    objs: list[KubeObject] = []
    for perm, suffix in entries:
        if ctx.options.rbac_names == "readable":
            name = ctx.readable.name("ClusterRole", _sa(perm), suffix)
        else:
            name = olm_rbac_name(
                ctx.bundle.csv_name, str(perm.get("serviceAccountName") or ""), perm.get("rules")
            )
        objs.append(_role("ClusterRole", name, None, _rules(perm)))
        objs.append(
            _binding(
                "ClusterRoleBinding", name, None, "ClusterRole", _sa(perm), ctx.options.install_namespace
            )
        )
    return objs


def crds(ctx: RenderContext) -> list[KubeObject]:
    """OLMv1 ``BundleCRDGenerator``: the bundle's CRDs, conversion webhooks patched in."""
    patched = {str(name) for wh in webhook_definitions(ctx.csv) for name in (wh.get("conversionCRDs") or [])}
    # CRDs are large (sail: 0.7 MB each) and nothing downstream mutates them, so they are shared
    # with the Bundle; only those a conversion webhook patches are copied first.
    objs = [copy.deepcopy(doc.obj) if doc.name in patched else doc.obj for doc in ctx.bundle.crds]
    patch_conversion_crds(objs, ctx.csv, ctx.options)
    return objs


def additional_resources(ctx: RenderContext) -> list[KubeObject]:
    """OLMv1 ``BundleAdditionalResourcesGenerator``: other bundle objects, namespaced kinds put in
    the install namespace. Raises :class:`RenderError` for a kind OLM does not support."""
    objs: list[KubeObject] = []
    for doc in ctx.bundle.others:
        if not kinds.is_supported(doc.kind, ctx.options.allowed_kinds):
            raise RenderError(f"bundle contains unsupported resource: Name: {doc.name}, Kind: {doc.kind}")
        obj = copy.deepcopy(doc.obj)
        if kinds.namespaced(doc.kind):
            obj.setdefault("metadata", {})["namespace"] = ctx.options.install_namespace
        objs.append(obj)
    return objs


def _serving_deployments(ctx: RenderContext) -> set[str]:
    names = {str(wh.get("deploymentName", "")) for wh in webhook_definitions(ctx.csv)}
    if ctx.options.render_apiservices:
        names |= {str(a.get("deploymentName", "")) for a in owned_apiservices(ctx.csv)}
    return names


def deployments(ctx: RenderContext) -> list[KubeObject]:
    """OLMv1 ``BundleCSVDeploymentGenerator``: pod-template annotations = CSV annotations merged
    with the template's (template wins), then ``olm.targetNamespaces`` and
    ``olm.operatorNamespace``; ``revisionHistoryLimit: 1``; labels from the deployment spec's
    ``label``; cert volumes rewritten for webhook/APIService deployments; Subscription config."""
    csv_annotations = (ctx.csv.get("metadata") or {}).get("annotations") or {}
    serving = _serving_deployments(ctx)
    objs: list[KubeObject] = []
    for dep_spec in deployment_specs(ctx.csv):
        name = str(dep_spec.get("name", ""))
        spec = copy.deepcopy(dep_spec.get("spec") or {})
        template = spec.get("template")
        if not isinstance(template, dict):
            template = spec["template"] = {}
        meta = template.get("metadata")
        if not isinstance(meta, dict):
            meta = template["metadata"] = {}
        annotations = dict(copy.deepcopy(csv_annotations))
        annotations.update(meta.get("annotations") or {})
        annotations["olm.targetNamespaces"] = ",".join(ctx.targets)
        annotations["olm.operatorNamespace"] = ctx.options.install_namespace
        meta["annotations"] = annotations
        spec["revisionHistoryLimit"] = 1
        metadata: dict[str, Any] = {"name": name, "namespace": ctx.options.install_namespace}
        if dep_spec.get("label") is not None:
            metadata["labels"] = copy.deepcopy(dep_spec["label"])
        obj: KubeObject = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}
        secret = provisioner_for(name, ctx.options).secret_info()
        if name in serving and secret is not None:
            ensure_cert_volumes(obj, secret)
        apply_deployment_config(obj, ctx.options.deployment_config)
        objs.append(obj)
    return objs


def validating_webhooks(ctx: RenderContext) -> list[KubeObject]:
    """OLMv1 ``BundleValidatingWebhookResourceGenerator``."""
    return admission_webhook_configurations(ctx.csv, ctx.options, ctx.targets, VALIDATING)


def mutating_webhooks(ctx: RenderContext) -> list[KubeObject]:
    """OLMv1 ``BundleMutatingWebhookResourceGenerator``."""
    return admission_webhook_configurations(ctx.csv, ctx.options, ctx.targets, MUTATING)


def services(ctx: RenderContext) -> list[KubeObject]:
    """OLMv1 ``BundleDeploymentServiceResourceGenerator`` (plus APIService ports, OLMv0)."""
    extra = apiservice_ports(ctx.csv) if ctx.options.render_apiservices else None
    return deployment_services(ctx.csv, ctx.options, extra)


def apiservices(ctx: RenderContext) -> list[KubeObject]:
    """OLMv0 APIServices and their auth RBAC (only with ``render_apiservices``)."""
    if not ctx.options.render_apiservices:
        return []
    return apiservice_objects(ctx.csv, ctx.options)


def cert_provider_objects(ctx: RenderContext) -> list[KubeObject]:
    """OLMv1 ``CertProviderResourceGenerator``: provider objects per serving deployment (sorted)."""
    objs: list[KubeObject] = []
    for dep in sorted(_serving_deployments(ctx)):
        objs.extend(provisioner_for(dep, ctx.options).additional_objects())
    return objs


GENERATORS: tuple[Callable[[RenderContext], list[KubeObject]], ...] = (
    service_accounts,
    permissions,
    cluster_permissions,
    crds,
    additional_resources,
    deployments,
    validating_webhooks,
    mutating_webhooks,
    services,
    apiservices,
    cert_provider_objects,
)
