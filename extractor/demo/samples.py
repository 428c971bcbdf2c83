"""Small sample bundles the project writes itself, for ``make demo`` on a clone without the real
bundles (``../shared/bundles``).

One registry+v1 bundle per entry of the repository's bundles.yaml, shaped like the real operator
closely enough for every post-processor the entry configures: a CSV with the same package and
version, an owned CRD with the kind its ``operator-crs`` post-processor creates (and an
alm-example of it), a Deployment with RBAC, and, for lws, an admission webhook (so the demo shows
the webhook Service and the cert-manager Certificate too). The images are placeholders: the demo
renders charts, it does not run the operators.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extractor import yamlio

__all__ = ["SAMPLES", "SampleBundle", "write_sample_bundles"]


@dataclass(frozen=True)
class SampleBundle:
    """What one sample bundle holds (see the module docstring)."""

    package: str
    csv_name: str
    version: str
    group: str
    kind: str
    plural: str
    cr_name: str
    cr_spec: dict[str, Any]
    deployment: str
    service_account: str
    image: str
    webhook: bool = False

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{self.group}"


SAMPLES: dict[str, SampleBundle] = {
    "cert-manager-operator": SampleBundle(
        package="openshift-cert-manager-operator", csv_name="cert-manager-operator.v1.15.2", version="1.15.2",
        group="operator.openshift.io", kind="CertManager", plural="certmanagers", cr_name="cluster",
        cr_spec={"managementState": "Managed", "logLevel": "Normal", "operatorLogLevel": "Normal"},
        deployment="cert-manager-operator-controller-manager",
        service_account="cert-manager-operator-controller-manager",
        image="registry.redhat.io/cert-manager/cert-manager-operator-rhel9:v1.15.2",
    ),
    "sail-operator": SampleBundle(
        package="servicemeshoperator3", csv_name="servicemeshoperator3.v3.2.1", version="3.2.1",
        group="sailoperator.io", kind="Istio", plural="istios", cr_name="default",
        cr_spec={"namespace": "istio-system", "version": "v1.27.3", "values": {}},
        deployment="servicemesh-operator3", service_account="servicemesh-operator3",
        image="registry.redhat.io/openshift-service-mesh/istio-rhel9-operator:3.2.1",
    ),
    "lws-operator": SampleBundle(
        package="leader-worker-set", csv_name="leader-worker-set.v1.0.0", version="1.0.0",
        group="operator.openshift.io", kind="LeaderWorkerSetOperator", plural="leaderworkersetoperators",
        cr_name="cluster", cr_spec={"managementState": "Managed", "logLevel": "Normal"},
        deployment="openshift-lws-operator", service_account="openshift-lws-operator",
        image="registry.redhat.io/leader-worker-set/lws-rhel9-operator:1.0", webhook=True,
    ),
}


def _crd(sample: SampleBundle) -> dict[str, Any]:
    schema = {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    }}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": sample.crd_name},
        "spec": {
            "group": sample.group,
            "names": {"kind": sample.kind, "listKind": f"{sample.kind}List", "plural": sample.plural,
                      "singular": sample.kind.lower()},
            "scope": "Cluster",
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": schema,
                          "subresources": {"status": {}}}],
        },
    }


def _csv(sample: SampleBundle) -> dict[str, Any]:
    example = {"apiVersion": f"{sample.group}/v1", "kind": sample.kind, "metadata": {"name": sample.cr_name},
               "spec": sample.cr_spec}
    labels = {"app.kubernetes.io/name": sample.deployment}
    deployment = {
        "name": sample.deployment,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": sample.service_account,
                    "containers": [{
                        "name": "operator",
                        "image": sample.image,
                        "args": ["--leader-elect"],
                        "env": [{"name": "OPERATOR_NAMESPACE",
                                 "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}],
                        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}},
                    }],
                },
            },
        },
    }
    spec: dict[str, Any] = {
        "displayName": f"{sample.package} (sample)",
        "description": "A small sample bundle written by bundle-extract for `make demo`.",
        "version": sample.version,
        "minKubeVersion": "1.28.0",
        "installModes": [{"type": t, "supported": t in ("OwnNamespace", "AllNamespaces")}
                         for t in ("OwnNamespace", "SingleNamespace", "MultiNamespace", "AllNamespaces")],
        "customresourcedefinitions": {"owned": [{"name": sample.crd_name, "kind": sample.kind, "version": "v1",
                                                 "displayName": sample.kind}]},
        "install": {"strategy": "deployment", "spec": {
            "deployments": [deployment],
            "permissions": [{"serviceAccountName": sample.service_account, "rules": [
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                 "verbs": ["get", "list", "watch", "create", "update", "patch"]},
            ]}],
            "clusterPermissions": [{"serviceAccountName": sample.service_account, "rules": [
                {"apiGroups": [sample.group], "resources": [sample.plural, f"{sample.plural}/status"],
                 "verbs": ["get", "list", "watch", "update", "patch"]},
            ]}],
        }},
    }
    if sample.webhook:
        spec["webhookdefinitions"] = [{
            "type": "ValidatingAdmissionWebhook", "generateName": f"v{sample.kind.lower()}.kb.io",
            "deploymentName": sample.deployment, "containerPort": 443, "targetPort": 9443,
            "admissionReviewVersions": ["v1"], "sideEffects": "None", "failurePolicy": "Fail",
            "webhookPath": f"/validate-{sample.plural}",
            "rules": [{"apiGroups": [sample.group], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                       "resources": [sample.plural]}],
        }]
    return {
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "ClusterServiceVersion",
        "metadata": {"name": sample.csv_name, "annotations": {
            "alm-examples": json.dumps([example], indent=2),
            "capabilities": "Basic Install",
        }},
        "spec": spec,
    }


def write_sample_bundles(dest: Path, names: list[str] | None = None) -> dict[str, Path]:
    """Write the sample bundle of each entry name in ``names`` (default: all of :data:`SAMPLES`)
    under ``dest/<name>/``; return ``{name: directory}``. Raises ``KeyError`` for an unknown name."""
    written: dict[str, Path] = {}
    for name in names or list(SAMPLES):
        sample = SAMPLES[name]
        root = dest / name
        (root / "manifests").mkdir(parents=True, exist_ok=True)
        (root / "metadata").mkdir(parents=True, exist_ok=True)
        (root / "manifests" / f"{sample.package}.clusterserviceversion.yaml").write_text(yamlio.dump(_csv(sample)))
        (root / "manifests" / f"{sample.crd_name}.yaml").write_text(yamlio.dump(_crd(sample)))
        annotations = {"annotations": {
            "operators.operatorframework.io.bundle.mediatype.v1": "registry+v1",
            "operators.operatorframework.io.bundle.manifests.v1": "manifests/",
            "operators.operatorframework.io.bundle.metadata.v1": "metadata/",
            "operators.operatorframework.io.bundle.package.v1": sample.package,
            "operators.operatorframework.io.bundle.channels.v1": "stable",
        }}
        (root / "metadata" / "annotations.yaml").write_text(yamlio.dump(annotations))
        written[name] = root
    return written
