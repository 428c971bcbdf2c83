"""Render a loaded registry+v1 bundle into the plain objects OLM would apply.

Entry point :func:`render`, following OLMv1 ``rukpak/render/render.go`` (``BundleRenderer.Render``)
with the generators of ``rukpak/render/registryv1/registryv1.go``; see
:mod:`extractor.render.generators` for each generator.
"""

from __future__ import annotations

from collections.abc import Callable

from extractor.bundle.csv import owned_apiservices
from extractor.errors import RenderError
from extractor.model import Bundle, KubeObject, Manifests, RenderOptions
from extractor.render.certproviders import check_provider
from extractor.render.deployment_config import check_deployment_config
from extractor.render.generators import GENERATORS, RenderContext, additional_resources, services
from extractor.render.installmodes import own_namespace_note, resolve_target_namespaces

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

    ``Manifests.notes`` carries the bundle's notes, then the render's: a defaulted OwnNamespace
    (:func:`~extractor.render.installmodes.own_namespace_note`) and bundle Services replaced by
    the webhook Service OLM generates under the same name.
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
    notes = list(bundle.notes)
    own = own_namespace_note(bundle.csv, options.install_namespace, options.watch_namespaces)
    if own is not None:
        notes.append(own)
    ctx = RenderContext(bundle=bundle, options=options, targets=targets)
    generated = [(generator, generator(ctx)) for generator in GENERATORS]
    objects = _replace_bundle_services(generated, bundle, notes)

    parsed = {doc.name: doc for doc in bundle.crds}
    raw_crds: dict[str, bytes] = {}
    for obj in objects:
        if obj.get("kind") != "CustomResourceDefinition":
            continue
        name = str((obj.get("metadata") or {}).get("name", ""))
        doc = parsed.get(name)
        if doc is not None and doc.raw is not None and obj == doc.obj:
            raw_crds[name] = doc.raw
    return Manifests(objects=objects, raw_crds=raw_crds, target_namespaces=targets, notes=notes)


def _service_key(obj: KubeObject) -> tuple[str, str] | None:
    if obj.get("kind") != "Service" or obj.get("apiVersion") != "v1":
        return None
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace", "")), str(metadata.get("name", ""))


def _replace_bundle_services(
    generated: list[tuple[Callable[[RenderContext], list[KubeObject]], list[KubeObject]]], bundle: Bundle,
    notes: list[str],
) -> list[KubeObject]:
    """The generators' objects in order, without the bundle's Services that have the name (and
    namespace) of a webhook/APIService Service OLM generates: OLM applies its own over them (OLMv0
    ``installCertRequirementsForDeployment`` deletes the existing Service and creates its own; OLMv1
    applies the generated object after the bundle's, with the same field manager), so the result is
    the generated Service. Each replaced Service gets a note."""
    ours = {key for generator, objs in generated if generator is services for obj in objs
            if (key := _service_key(obj)) is not None}
    paths = {doc.name: doc.path for doc in bundle.others if doc.kind == "Service"}
    objects: list[KubeObject] = []
    for generator, objs in generated:
        for obj in objs:
            key = _service_key(obj)
            if generator is additional_resources and key in ours:
                notes.append(f"{paths.get(key[1], 'manifests')}: Service {key[1]!r} replaced by the Service OLM "
                             "generates for the webhooks/APIServices of its deployment (same name: OLM applies "
                             "its own over the bundle's)")
                continue
            objects.append(obj)
    return objects
