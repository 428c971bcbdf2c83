"""Which bundle object kinds OLM accepts, and whether OLM namespaces them.

Follows operator-registry ``pkg/lib/bundle/supported_resources.go`` (v1.73, the version OLMv1
vendors): the allow-list is by Kind only, and the namespaced flag is operator-registry's (so
``VerticalPodAutoscaler`` counts as cluster-scoped, exactly as OLM treats it).
"""

from __future__ import annotations

#: API groups Kubernetes serves itself (no CRD needed); any other group is a custom resource
BUILTIN_API_GROUPS = frozenset(
    {
        "", "apps", "batch", "autoscaling", "policy", "rbac.authorization.k8s.io", "networking.k8s.io",
        "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
        "coordination.k8s.io", "scheduling.k8s.io", "storage.k8s.io", "certificates.k8s.io",
        "discovery.k8s.io", "node.k8s.io", "flowcontrol.apiserver.k8s.io", "events.k8s.io",
        "resource.k8s.io",
    }
)  # fmt: skip

# kind -> namespaced (operator-registry supportedResources, CSV and CRD handled elsewhere)
SUPPORTED_KINDS: dict[str, bool] = {
    "ClusterServiceVersion": True,
    "CustomResourceDefinition": False,
    "Secret": True,
    "ClusterRole": False,
    "ClusterRoleBinding": False,
    "ConfigMap": True,
    "ServiceAccount": True,
    "Service": True,
    "Role": True,
    "RoleBinding": True,
    "PrometheusRule": True,
    "ServiceMonitor": True,
    "PodMonitor": True,
    "PodDisruptionBudget": True,
    "PriorityClass": False,
    "VerticalPodAutoscaler": False,
    "ConsoleYAMLSample": False,
    "ConsoleQuickStart": False,
    "ConsoleCLIDownload": False,
    "ConsoleLink": False,
    "ConsolePlugin": False,
    "NetworkPolicy": True,
}

# Scope of well-known kinds a user may allow through ``RenderOptions.allowed_kinds``.
_KNOWN_SCOPES: dict[str, bool] = {
    "Deployment": True,
    "StatefulSet": True,
    "DaemonSet": True,
    "Job": True,
    "CronJob": True,
    "Pod": True,
    "Ingress": True,
    "HorizontalPodAutoscaler": True,
    "LimitRange": True,
    "ResourceQuota": True,
    "PersistentVolumeClaim": True,
    "Route": True,
    "Issuer": True,
    "Certificate": True,
    "Namespace": False,
    "APIService": False,
    "ValidatingWebhookConfiguration": False,
    "MutatingWebhookConfiguration": False,
    "ValidatingAdmissionPolicy": False,
    "ValidatingAdmissionPolicyBinding": False,
    "StorageClass": False,
    "PersistentVolume": False,
    "IngressClass": False,
    "RuntimeClass": False,
    "ClusterIssuer": False,
    "SecurityContextConstraints": False,
    "ConsoleNotification": False,
    "ConsoleExternalLogLink": False,
}


def is_supported(kind: str, allowed_kinds: tuple[str, ...] = ()) -> bool:
    """True when OLM (or the user, through ``allowed_kinds``) accepts ``kind`` among bundle objects."""
    return kind in SUPPORTED_KINDS or kind in allowed_kinds


def namespaced(kind: str) -> bool | None:
    """``True``/``False`` when the kind's scope is known (operator-registry first), else ``None``."""
    if kind in SUPPORTED_KINDS:
        return SUPPORTED_KINDS[kind]
    return _KNOWN_SCOPES.get(kind)
