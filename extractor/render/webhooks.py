"""Webhook objects: conversion patches on CRDs, admission webhook configurations, the per-deployment
webhook/APIService Service, and the certificate volumes of serving deployments.

Follows OLMv1 ``rukpak/render/registryv1/generators/generators.go``
(``BundleCRDGenerator``, ``BundleValidatingWebhookResourceGenerator``,
``BundleMutatingWebhookResourceGenerator``, ``BundleDeploymentServiceResourceGenerator``,
``ensureCorrectDeploymentCertVolumes``, ``getWebhookNamespaceSelector``). One deliberate
difference: an omitted ``containerPort`` is 443 everywhere (the CSV CRD's schema default, which
OLMv0 gets from the API server), where OLMv1 would write ``port: 0`` in client configs.
"""

from __future__ import annotations

import copy
from typing import Any

from extractor.bundle.csv import CONVERSION, MUTATING, VALIDATING, deployment_specs, webhook_definitions
from extractor.errors import RenderError
from extractor.model import KubeObject, RenderOptions
from extractor.render.certproviders import SecretInfo, provisioner_for

DEFAULT_PORT = 443

# (volume name, mount path, file name of the certificate, file name of the key) - OLMv1 certVolumeConfigs
CERT_VOLUMES: tuple[tuple[str, str, str, str], ...] = (
    ("webhook-cert", "/tmp/k8s-webhook-server/serving-certs", "tls.crt", "tls.key"),
    ("apiservice-cert", "/apiserver.local.config/certificates", "apiserver.crt", "apiserver.key"),
)

# Go field order of admissionregistration/v1 webhooks after name and clientConfig
_COMMON_FIELDS = ("rules", "failurePolicy", "matchPolicy")
_TAIL_FIELDS = ("objectSelector", "sideEffects", "timeoutSeconds", "admissionReviewVersions")


def container_port(definition: dict[str, Any]) -> int:
    """``containerPort`` of a webhook/APIService description, 443 when omitted or not positive."""
    port = definition.get("containerPort")
    return port if isinstance(port, int) and not isinstance(port, bool) and port > 0 else DEFAULT_PORT


def webhook_service_port(definition: dict[str, Any]) -> dict[str, Any]:
    """OLMv1 ``getWebhookServicePort``: ``{name: "<port>", port, targetPort: targetPort or port}``."""
    port = container_port(definition)
    target = definition.get("targetPort")
    return {"name": str(port), "port": port, "targetPort": port if target is None else target}


def namespace_selector(targets: tuple[str, ...]) -> dict[str, Any] | None:
    """``kubernetes.io/metadata.name In targets``, or ``None`` when targeting all namespaces."""
    if targets and "" not in targets:
        return {
            "matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": list(targets)}
            ]
        }
    return None


def patch_conversion_crds(crds: list[KubeObject], csv: KubeObject, options: RenderOptions) -> None:
    """Set ``spec.conversion`` of every CRD named by a conversion webhook and inject its CA.

    Raises :class:`RenderError` (OLMv1 wording) when a CRD is named by two conversion webhooks or
    has ``spec.preserveUnknownFields: true``.
    """
    by_crd: dict[str, dict[str, Any]] = {}
    for wh in webhook_definitions(csv):
        if wh.get("type") != CONVERSION:
            continue
        for crd_name in wh.get("conversionCRDs") or []:
            if crd_name in by_crd:
                raise RenderError(
                    f"custom resource definition '{crd_name}' is referenced by multiple conversion "
                    "webhook definitions"
                )
            by_crd[crd_name] = wh
    for crd in crds:
        name = (crd.get("metadata") or {}).get("name")
        conversion = by_crd.get(str(name))
        if conversion is None:
            continue
        spec = crd.setdefault("spec", {})
        if spec.get("preserveUnknownFields") is True:
            raise RenderError(
                f"custom resource definition '{name}' must have .spec.preserveUnknownFields set to false "
                "to let API Server call webhook to do the conversion"
            )
        prov = provisioner_for(str(conversion.get("deploymentName", "")), options)
        path = conversion.get("webhookPath")
        webhook: dict[str, Any] = {
            "clientConfig": {
                "service": {
                    "namespace": options.install_namespace,
                    "name": prov.service_name,
                    "path": "/" if path is None else path,
                    "port": container_port(conversion),
                }
            }
        }
        if "admissionReviewVersions" in conversion:
            webhook["conversionReviewVersions"] = copy.deepcopy(conversion["admissionReviewVersions"])
        spec["conversion"] = {"strategy": "Webhook", "webhook": webhook}
        prov.inject_ca_bundle(crd)


def admission_webhook_configurations(
    csv: KubeObject, options: RenderOptions, targets: tuple[str, ...], webhook_type: str
) -> list[KubeObject]:
    """One Validating/MutatingWebhookConfiguration per webhook description of ``webhook_type``.

    Name = ``generateName`` without a trailing ``-``; ``metadata.namespace`` is set like OLMv1
    does (ignored by the API server for this cluster-scoped kind).
    """
    kind = "ValidatingWebhookConfiguration" if webhook_type == VALIDATING else "MutatingWebhookConfiguration"
    objs: list[KubeObject] = []
    for wh in webhook_definitions(csv):
        if wh.get("type") != webhook_type:
            continue
        prov = provisioner_for(str(wh.get("deploymentName", "")), options)
        name = str(wh.get("generateName", "")).removesuffix("-")
        service: dict[str, Any] = {"namespace": options.install_namespace, "name": prov.service_name}
        if wh.get("webhookPath") is not None:
            service["path"] = wh["webhookPath"]
        service["port"] = container_port(wh)
        entry: dict[str, Any] = {"name": name, "clientConfig": {"service": service}}
        for field in _COMMON_FIELDS:
            if field in wh:
                entry[field] = copy.deepcopy(wh[field])
        selector = namespace_selector(targets)
        if selector is not None:
            entry["namespaceSelector"] = selector
        for field in _TAIL_FIELDS:
            if field in wh:
                entry[field] = copy.deepcopy(wh[field])
        if webhook_type == MUTATING and "reinvocationPolicy" in wh:
            entry["reinvocationPolicy"] = wh["reinvocationPolicy"]
        obj: KubeObject = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": name, "namespace": options.install_namespace},
            "webhooks": [entry],
        }
        prov.inject_ca_bundle(obj)
        objs.append(obj)
    return objs


def _target_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value))
    except ValueError:
        return 0


def deployment_services(
    csv: KubeObject, options: RenderOptions, extra_ports: dict[str, list[dict[str, Any]]] | None = None
) -> list[KubeObject]:
    """One Service per deployment serving webhooks (or, with ``extra_ports``, APIServices).

    Ports are deduplicated and sorted by (port, targetPort); the selector is the deployment's
    ``spec.selector.matchLabels``. Services are in CSV deployment order.
    """
    ports_by_dep: dict[str, list[dict[str, Any]]] = {}
    for wh in webhook_definitions(csv):
        ports_by_dep.setdefault(str(wh.get("deploymentName", "")), []).append(webhook_service_port(wh))
    for dep, ports in (extra_ports or {}).items():
        ports_by_dep.setdefault(dep, []).extend(ports)
    objs: list[KubeObject] = []
    for dep_spec in deployment_specs(csv):
        dep_name = str(dep_spec.get("name", ""))
        if dep_name not in ports_by_dep:
            continue
        unique: list[dict[str, Any]] = []
        for port in ports_by_dep[dep_name]:
            if port not in unique:
                unique.append(port)
        unique.sort(key=lambda p: (p["port"], _target_int(p["targetPort"]), str(p["targetPort"])))
        spec: dict[str, Any] = {"ports": unique}
        selector = ((dep_spec.get("spec") or {}).get("selector") or {}).get("matchLabels")
        if selector is not None:
            spec["selector"] = copy.deepcopy(selector)
        prov = provisioner_for(dep_name, options)
        obj: KubeObject = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": prov.service_name, "namespace": options.install_namespace},
            "spec": spec,
        }
        prov.inject_ca_bundle(obj)
        objs.append(obj)
    return objs


def ensure_cert_volumes(deployment: KubeObject, secret: SecretInfo) -> None:
    """OLMv1 ``ensureCorrectDeploymentCertVolumes``: drop the protected cert volumes (by name or by
    mount path) and add ``webhook-cert``/``apiservice-cert`` from ``secret`` to the pod and every
    container."""
    pod = deployment["spec"].setdefault("template", {}).setdefault("spec", {})
    remove = {name for name, _, _, _ in CERT_VOLUMES}
    protected_paths = {path for _, path, _, _ in CERT_VOLUMES}
    containers = [c for c in pod.get("containers") or [] if isinstance(c, dict)]
    for container in containers:
        for mount in container.get("volumeMounts") or []:
            if mount.get("mountPath") in protected_paths:
                remove.add(mount.get("name"))
    volumes = [v for v in pod.get("volumes") or [] if v.get("name") not in remove]
    for name, _, cert_file, key_file in CERT_VOLUMES:
        volumes.append(
            {
                "name": name,
                "secret": {
                    "secretName": secret.secret_name,
                    "items": [
                        {"key": secret.certificate_key, "path": cert_file},
                        {"key": secret.private_key_key, "path": key_file},
                    ],
                },
            }
        )
    pod["volumes"] = volumes
    for container in containers:
        mounts = [m for m in container.get("volumeMounts") or [] if m.get("name") not in remove]
        mounts.extend({"name": name, "mountPath": path} for name, path, _, _ in CERT_VOLUMES)
        container["volumeMounts"] = mounts
