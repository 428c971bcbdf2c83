"""Render a loaded registry+v1 bundle into the plain objects OLM would apply.

Entry point :func:`render`, following OLMv1 ``rukpak/render/render.go`` (``BundleRenderer.Render``)
with the generators of ``rukpak/render/registryv1/registryv1.go``; see
:mod:`extractor.render.generators` for each generator.
"""

from __future__ import annotations

from extractor.bundle.csv import owned_apiservices
from extractor.errors import RenderError
from extractor.model import Bundle, Manifests, RenderOptions
from extractor.render.certproviders import check_provider
from extractor.render.deployment_config import check_deployment_config
from extractor.render.generators import GENERATORS, RenderContext
from extractor.render.installmodes import resolve_target_namespaces

__all__ = ["render"]

RBAC_NAME_STYLES = ("olm", "readable")


def render(bundle: Bundle, options: RenderOptions) -> Manifests:
    """Render ``bundle`` with ``options`` into :class:`Manifests`.

    Objects come in OLMv1's generator order: ServiceAccounts, Roles/RoleBindings,
    ClusterRoles/ClusterRoleBindings, CRDs, other bundle objects, Deployments,
    Validating/MutatingWebhookConfigurations, Services, APIServices (+ auth RBAC, OLMv0), cert
    provider objects. ``raw_crds`` maps each CRD name to its bundle file bytes when the rendered
    CRD equals the parsed one. The bundle is never mutated.

    Call :func:`extractor.bundle.validate.validate_bundle` first for OLM's aggregated validation; render
    itself raises :class:`RenderError` for invalid options (target namespaces with OLMv1's wording,
    unknown cert provider or RBAC name style, bad deployment config), owned APIServices without
    ``render_apiservices`` and the generator errors OLMv1 has (unsupported kinds, conversion
    webhook conflicts).
    """
    if not options.install_namespace:
        raise RenderError(f"{bundle.csv_name}: install namespace must not be empty")
    if options.rbac_names not in RBAC_NAME_STYLES:
        raise RenderError(f"unknown RBAC name style {options.rbac_names!r} (expected olm or readable)")
    check_provider(options.cert_provider)
    if options.deployment_config:
        check_deployment_config(options.deployment_config)
    if owned_apiservices(bundle.csv) and not options.render_apiservices:
        raise RenderError(f"{bundle.csv_name}: unsupported bundle: apiServiceDefintions are not supported")
    targets = resolve_target_namespaces(bundle.csv, options.install_namespace, options.watch_namespaces)
    ctx = RenderContext(bundle=bundle, options=options, targets=targets)
    objects = [obj for generator in GENERATORS for obj in generator(ctx)]

    parsed = {doc.name: doc for doc in bundle.crds}
    raw_crds: dict[str, bytes] = {}
    for obj in objects:
        if obj.get("kind") != "CustomResourceDefinition":
            continue
        name = str((obj.get("metadata") or {}).get("name", ""))
        doc = parsed.get(name)
        if doc is not None and doc.raw is not None and obj == doc.obj:
            raw_crds[name] = doc.raw
    return Manifests(objects=objects, raw_crds=raw_crds, target_namespaces=targets)
