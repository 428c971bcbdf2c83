"""Certificate providers for webhook and APIService serving certificates.

Follows OLMv1 ``rukpak/render/certprovider.go`` (``CertProvisionerFor``: one Service and one
certificate per deployment) and ``rukpak/render/certproviders/{certmanager,openshift_serviceca}.go``.
``cert-manager`` can also use an existing issuer (``RenderOptions.cert_manager_issuer_name`` and
``_kind``) instead of generating a self-signed ``Issuer``; that is an extension over OLMv1.
"""

from __future__ import annotations

from dataclasses import dataclass

from extractor.errors import RenderError
from extractor.model import KubeObject, RenderOptions
from extractor.render.naming import cert_name, object_name_for_base_and_suffix, webhook_service_name

CERT_MANAGER = "cert-manager"
OPENSHIFT_SERVICE_CA = "openshift-service-ca"
NONE = "none"
PROVIDERS = (CERT_MANAGER, OPENSHIFT_SERVICE_CA, NONE)

CERT_MANAGER_INJECT_CA = "cert-manager.io/inject-ca-from"
SERVICE_CA_SERVING_CERT = "service.beta.openshift.io/serving-cert-secret-name"
SERVICE_CA_INJECT_CABUNDLE = "service.beta.openshift.io/inject-cabundle"

# OLMv0 parity (OLMv1 certmanager.go): 730 days rotation, renew 24h before expiry, as Go prints them
CERT_DURATION = "17520h0m0s"
CERT_RENEW_BEFORE = "24h0m0s"

# kinds that receive the CA bundle injection annotation
_CA_INJECTED_KINDS = frozenset(
    {
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "CustomResourceDefinition",
        "APIService",
    }
)


@dataclass(frozen=True)
class SecretInfo:
    """Where a provider puts the serving certificate: secret name and its cert/key keys."""

    secret_name: str
    certificate_key: str = "tls.crt"
    private_key_key: str = "tls.key"


@dataclass(frozen=True)
class CertProvisioner:
    """Certificate wiring of one deployment (OLMv1 ``CertificateProvisioner``)."""

    provider: str
    service_name: str
    cert_name: str
    namespace: str
    issuer_name: str | None = None
    issuer_kind: str | None = None

    def inject_ca_bundle(self, obj: KubeObject) -> None:
        """Annotate ``obj`` (webhook configuration, CRD, APIService, Service) for CA injection."""
        kind = obj.get("kind")
        if self.provider == CERT_MANAGER and kind in _CA_INJECTED_KINDS:
            _annotate(obj, CERT_MANAGER_INJECT_CA, f"{self.namespace}/{self.cert_name}")
        elif self.provider == OPENSHIFT_SERVICE_CA:
            if kind in _CA_INJECTED_KINDS:
                _annotate(obj, SERVICE_CA_INJECT_CABUNDLE, "true")
            elif kind == "Service":
                _annotate(obj, SERVICE_CA_SERVING_CERT, self.cert_name)

    def secret_info(self) -> SecretInfo | None:
        """The serving-certificate secret, or ``None`` without a provider."""
        if self.provider == NONE:
            return None
        return SecretInfo(secret_name=self.cert_name)

    def additional_objects(self) -> list[KubeObject]:
        """Objects the provider needs (cert-manager: Issuer + Certificate; others: none)."""
        if self.provider != CERT_MANAGER:
            return []
        objs: list[KubeObject] = []
        issuer_ref: dict[str, str]
        if self.issuer_name:
            issuer_ref = {"name": self.issuer_name}
            if self.issuer_kind:
                issuer_ref["kind"] = self.issuer_kind
        else:
            issuer = object_name_for_base_and_suffix(self.cert_name, "selfsigned-issuer")
            objs.append(
                {
                    "apiVersion": "cert-manager.io/v1",
                    "kind": "Issuer",
                    "metadata": {"name": issuer, "namespace": self.namespace},
                    "spec": {"selfSigned": {}},
                }
            )
            issuer_ref = {"name": issuer}
        host = f"{self.service_name}.{self.namespace}"
        objs.append(
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "Certificate",
                "metadata": {"name": self.cert_name, "namespace": self.namespace},
                "spec": {
                    "commonName": host,
                    "dnsNames": [host, f"{host}.svc", f"{host}.svc.cluster.local"],
                    "duration": CERT_DURATION,
                    "isCA": False,
                    "issuerRef": issuer_ref,
                    "renewBefore": CERT_RENEW_BEFORE,
                    "secretName": self.cert_name,
                    "usages": ["server auth"],
                },
            }
        )
        return objs


def _annotate(obj: KubeObject, key: str, value: str) -> None:
    metadata = obj.setdefault("metadata", {})
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        annotations = metadata["annotations"] = {}
    annotations[key] = value


def check_provider(name: str) -> str:
    """Return ``name`` when it is a known provider, else raise :class:`RenderError`."""
    if name not in PROVIDERS:
        raise RenderError(f"unknown certificate provider {name!r} (expected one of {', '.join(PROVIDERS)})")
    return name


def provisioner_for(deployment_name: str, options: RenderOptions) -> CertProvisioner:
    """OLMv1 ``CertProvisionerFor``: Service ``<dep>-service`` and certificate ``<svc>-cert``."""
    service = webhook_service_name(deployment_name)
    return CertProvisioner(
        provider=check_provider(options.cert_provider),
        service_name=service,
        cert_name=cert_name(service),
        namespace=options.install_namespace,
        issuer_name=options.cert_manager_issuer_name,
        issuer_kind=options.cert_manager_issuer_kind,
    )
