"""Owned APIServices, rendered the way OLMv0 installs them (OLMv1 refuses such bundles).

Follows OLMv0 ``pkg/controller/install/apiservice.go`` and ``certresources.go``: one APIService
``<version>.<group>`` per owned definition (groupPriorityMinimum 2000, versionPriority 15) pointing
at the deployment's ``<dep>-service``, a ClusterRoleBinding ``<svc>-system:auth-delegator`` and a
RoleBinding ``<svc>-auth-reader`` in ``kube-system`` (extension-apiserver-authentication-reader)
for the deployment's service account, and a Role and RoleBinding ``<svc>-cert`` in the install
namespace granting that account ``get`` on its certificate Secret (``<svc>-cert``; OLMv0
``installCertRequirementsForDeployment``; operators that read their serving certificate through the
API rely on it; not rendered without a certificate provider, where there is no such Secret). The
Service itself and the serving certificate are shared with the webhook code path (one per deployment).
"""

from __future__ import annotations

from typing import Any

from extractor.bundle.csv import deployment_specs, owned_apiservices
from extractor.model import KubeObject, RenderOptions
from extractor.render.certproviders import provisioner_for
from extractor.render.webhooks import container_port


def apiservice_ports(csv: KubeObject) -> dict[str, list[dict[str, Any]]]:
    """Service ports per deployment for owned APIServices (port = targetPort = containerPort)."""
    ports: dict[str, list[dict[str, Any]]] = {}
    for desc in owned_apiservices(csv):
        port = container_port(desc)
        ports.setdefault(str(desc.get("deploymentName", "")), []).append(
            {"name": str(port), "port": port, "targetPort": port}
        )
    return ports


def _service_account(csv: KubeObject, deployment_name: str) -> str:
    for dep in deployment_specs(csv):
        if dep.get("name") == deployment_name:
            pod = ((dep.get("spec") or {}).get("template") or {}).get("spec") or {}
            return str(pod.get("serviceAccountName") or pod.get("serviceAccount") or "default")
    return "default"


def _cert_secret_rbac(secret: str, namespace: str, subject: dict[str, str]) -> list[KubeObject]:
    """OLMv0's Role and RoleBinding named after the certificate Secret: ``get`` on that Secret."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": secret, "namespace": namespace},
            "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": secret, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": secret},
            "subjects": [dict(subject)],
        },
    ]


def apiservice_objects(csv: KubeObject, options: RenderOptions) -> list[KubeObject]:
    """APIServices, then per serving deployment the auth-delegator ClusterRoleBinding, the
    ``<svc>-cert`` Role and RoleBinding (with a certificate provider) and the auth-reader
    RoleBinding."""
    apiservices: list[KubeObject] = []
    rbac: list[KubeObject] = []
    seen_deployments: list[str] = []
    for desc in owned_apiservices(csv):
        dep = str(desc.get("deploymentName", ""))
        prov = provisioner_for(dep, options)
        obj: KubeObject = {
            "apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService",
            "metadata": {"name": f"{desc.get('version', '')}.{desc.get('group', '')}"},
            "spec": {
                "group": desc.get("group", ""),
                "version": desc.get("version", ""),
                "groupPriorityMinimum": 2000,
                "versionPriority": 15,
                "service": {
                    "namespace": options.install_namespace,
                    "name": prov.service_name,
                    "port": container_port(desc),
                },
            },
        }
        prov.inject_ca_bundle(obj)
        apiservices.append(obj)
        if dep in seen_deployments:
            continue
        seen_deployments.append(dep)
        subject = {
            "kind": "ServiceAccount",
            "name": _service_account(csv, dep),
            "namespace": options.install_namespace,
        }
        rbac.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": f"{prov.service_name}-system:auth-delegator"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "system:auth-delegator",
                },
                "subjects": [dict(subject)],
            }
        )
        secret = prov.secret_info()
        if secret is not None:
            rbac += _cert_secret_rbac(secret.secret_name, options.install_namespace, subject)
        rbac.append(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": f"{prov.service_name}-auth-reader", "namespace": "kube-system"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "extension-apiserver-authentication-reader",
                },
                "subjects": [dict(subject)],
            }
        )
    return apiservices + rbac
