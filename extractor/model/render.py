"""The options of the OLM render and its result (what render gives the chart draft)."""

from __future__ import annotations

from dataclasses import dataclass, field

from extractor.model.source import KubeObject

__all__ = ["Manifests", "RenderOptions"]


@dataclass(frozen=True)
class RenderOptions:
    """Options of the OLM render (OLMv1 render.Options).

    ``install_namespace``: where the operator runs.
    ``watch_namespaces``: ``None`` = OLM's default for the CSV's install modes; otherwise the
    user's target namespaces (``("",)`` or ``()`` is not allowed: use ``None`` for default).
    ``cert_provider``: ``"cert-manager"``, ``"openshift-service-ca"`` or ``"none"``.
    ``cert_manager_issuer_name`` / ``_kind``: use an existing issuer instead of a self-signed one.
    ``rbac_names``: ``"olm"`` (OLMv1 hashed names) or ``"readable"``.
    ``allowed_kinds``: extra kinds allowed among the bundle's other objects.
    ``deployment_config``: OLM Subscription ``spec.config`` applied to every deployment.
    ``render_apiservices``: render owned APIServices (OLMv0 behaviour) instead of refusing them.
    """

    install_namespace: str
    watch_namespaces: tuple[str, ...] | None = None
    cert_provider: str = "cert-manager"
    cert_manager_issuer_name: str | None = None
    cert_manager_issuer_kind: str | None = None
    rbac_names: str = "olm"
    allowed_kinds: tuple[str, ...] = ()
    deployment_config: KubeObject | None = None
    render_apiservices: bool = True


@dataclass
class Manifests:
    """Render result: the plain objects OLM would apply, in a deterministic order.

    ``raw_crds``: CRD name -> exact bundle file bytes, for CRDs whose rendered object is
    unchanged from the bundle (so emitters can copy them byte-for-byte).
    ``target_namespaces``: the resolved target namespaces (``("",)`` = all namespaces).
    ``notes``: one-line notes for a person where the render departs from OLMv1 or drops something
    (the bundle's notes first), e.g. a defaulted OwnNamespace install mode.
    """

    objects: list[KubeObject]
    raw_crds: dict[str, bytes] = field(default_factory=dict)
    target_namespaces: tuple[str, ...] = ("",)
    notes: list[str] = field(default_factory=list)
