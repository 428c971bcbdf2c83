"""Building one chart (and ``run``'s plain manifests): acquire -> load/validate -> render ->
post-process -> emit, for one bundles.yaml entry or one bundle reference."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extractor.acquire import AcquireOptions, acquire
from extractor.bundle import kinds, load_bundle, validate_bundle
from extractor.errors import ConfigError, RenderError
from extractor.model import Bundle, BundleSource, KubeObject, Manifests, RenderOptions
from extractor.render import render
from extractor.render.deployment_config import check_deployment_config
from extractor.render.filters import filter_objects

if TYPE_CHECKING:  # bundles.yaml parsing (ruamel), drafts and chart writing (Jinja) are not run's business
    from extractor.bundle.extra import ExtraFile
    from extractor.config import BundleEntry
    from extractor.draft import ChartDraft, ReleaseSpec

__all__ = [
    "build_chart",
    "bundle_warnings",
    "drop_excluded_unsupported",
    "load_and_render",
    "new_draft",
    "postprocessor_settings",
    "render_options_for",
    "render_plain",
]

_RENDER_KEYS = {
    "certProvider": "cert_provider",
    "certManagerIssuerName": "cert_manager_issuer_name",
    "certManagerIssuerKind": "cert_manager_issuer_kind",
    "rbacNames": "rbac_names",
    "allowKinds": "allowed_kinds",
    "deploymentConfig": "deployment_config",
    "renderAPIServices": "render_apiservices",
}


def bundle_warnings(objects: Sequence[KubeObject], entry: str | None = None) -> list[str]:
    """Things in a rendered bundle a person should know about, one line each: Secrets that ship in
    the bundle (installed as they are; in a chart they are stored in ``templates/`` and in every
    Helm release). ``entry`` names the bundles.yaml entry in the messages."""
    prefix = f"bundle {entry!r}: " if entry else ""
    return [
        f"{prefix}the bundle ships Secret {obj.get('metadata', {}).get('name', '')!r}: it is installed as it is "
        "(review its content; in a chart it is stored in templates/ and in the Helm release)"
        for obj in objects
        if obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1" and isinstance(obj.get("metadata"), dict)
    ]


def render_options_for(entry: BundleEntry) -> RenderOptions:
    """Build the OLM render options of a bundles.yaml entry (its ``render:`` mapping + namespaces).

    Raises :class:`ConfigError` for an unknown ``render:`` key or a malformed ``deploymentConfig``.
    """
    kwargs: dict[str, Any] = {}
    for key, value in entry.render.items():
        if key not in _RENDER_KEYS:
            known = ", ".join(sorted(_RENDER_KEYS))
            raise ConfigError(f"bundle {entry.name!r}: unknown render option {key!r} (known: {known})")
        if key == "deploymentConfig" and value is not None:
            try:
                check_deployment_config(value)
            except RenderError as exc:
                raise ConfigError(f"bundle {entry.name!r}: render.deploymentConfig: {exc}") from None
        kwargs[_RENDER_KEYS[key]] = tuple(value) if key == "allowKinds" else value
    return RenderOptions(
        install_namespace=entry.namespace,
        watch_namespaces=entry.watch_namespaces or None,
        **kwargs,
    )


def drop_excluded_unsupported(
    bundle: Bundle, options: RenderOptions, exclude: Sequence[str] = (), include: Sequence[str] = ()
) -> Bundle:
    """Remove from ``bundle.others`` the objects of kinds OLM does not support that the user's
    jq ``exclude``/``include`` expressions filter out anyway, so that they do not fail validation
    ("an unsupported kind is an error unless excluded or allowed"). Returns a new Bundle."""
    unsupported = [doc for doc in bundle.others if not kinds.is_supported(doc.kind, options.allowed_kinds)]
    if not unsupported or not (exclude or include):
        return bundle
    kept = {id(obj) for obj in filter_objects([doc.obj for doc in unsupported], exclude, include)}
    dropped = {id(doc.obj) for doc in unsupported} - kept
    return dataclasses.replace(bundle, others=[doc for doc in bundle.others if id(doc.obj) not in dropped])


def render_plain(
    reference: str,
    options: RenderOptions,
    acquire_options: AcquireOptions,
    *,
    exclude: Sequence[str] = (),
    include: Sequence[str] = (),
) -> Manifests:
    """Acquire, load, validate and render one bundle (image reference or directory), then apply
    the jq ``exclude``/``include`` filters.

    Returns the OLM-rendered objects (what olm-extractor's ``run`` prints). Raises the
    :class:`~extractor.errors.ExtractorError` subclasses of each stage.
    """
    _, manifests = load_and_render(acquire(reference, acquire_options), options, exclude, include)
    return dataclasses.replace(manifests, objects=filter_objects(manifests.objects, exclude, include))


def load_and_render(
    source: BundleSource, options: RenderOptions, exclude: Sequence[str], include: Sequence[str]
) -> tuple[Bundle, Manifests]:
    """Load, validate and render: the shared middle of ``run`` and chart generation."""
    bundle = drop_excluded_unsupported(load_bundle(source), options, exclude, include)
    validate_bundle(bundle, options)
    return bundle, render(bundle, options)


def new_draft(
    name: str, install_namespace: str, bundle: Bundle, manifests: Manifests, *, needs: Sequence[str] = ()
) -> ChartDraft:
    """The draft of chart ``name`` straight from the render, before any post-processor: the
    rendered objects, the bundle's CRD bytes and CSV, and the image/digest the bundle came from."""
    from extractor.draft import ChartDraft

    return ChartDraft(
        name=name,
        install_namespace=install_namespace,
        bundle_image=bundle.source.image,
        bundle_digest=bundle.source.digest,
        csv_name=bundle.csv_name,
        csv_version=bundle.version,
        package=bundle.package,
        objects=manifests.objects,
        raw_crds=dict(manifests.raw_crds),
        csv=bundle.csv,
        needs=list(needs),
        dependencies=[dict(d) for d in bundle.dependencies],
    )


def postprocessor_settings(entry: BundleEntry) -> dict[str, Any]:
    settings: dict[str, Any] = dict(entry.postprocessors)
    exclude = settings.get("exclude")
    if exclude is False:
        return settings
    extra = dict(exclude) if isinstance(exclude, dict) else {}
    settings["exclude"] = {
        "exclude": list(entry.excludes) + list(extra.get("exclude", [])),
        "include": list(entry.include) + list(extra.get("include", [])),
    }
    return settings


def build_chart(
    entry: BundleEntry, source: BundleSource, chart_dir: Path, *, revision: int | None = None,
    warnings: list[str] | None = None, notes: list[str] | None = None, extra_files: Sequence[ExtraFile] = (),
    crd_objects: dict[str, Any] | None = None,
) -> tuple[ReleaseSpec, str, str]:
    """Load, validate, render, add ``extra_files`` (the entry's ``extraManifests``, see
    :func:`extractor.pipeline.extras.read_extra_files`), apply the entry's ``patches`` and
    post-process ``source`` for ``entry`` and write the chart into
    ``chart_dir`` with chart ``revision``. Returns the release spec, the CSV name and the CSV
    version; appends :func:`bundle_warnings` to ``warnings`` and the load and render notes
    (:attr:`extractor.model.Manifests.notes`, naming the entry) to ``notes``; fills ``crd_objects``
    with the parsed presync CRDs it has, by ``"<group>/<file name>"`` under ``presync/`` (for
    :func:`extractor.emit.crds_chart.write_crds_chart`, read-only). Raises the stage errors."""
    from extractor.emit.chart import write_chart
    from extractor.pipeline.extras import apply_entry_changes
    from postprocess import run_postprocessors
    from postprocess.image_mirrors import image_warnings

    options = render_options_for(entry)
    bundle, manifests = load_and_render(source, options, entry.excludes, entry.include)
    manifests = apply_entry_changes(manifests, entry, extra_files, options.allowed_kinds)
    draft = new_draft(entry.name, entry.namespace, bundle, manifests, needs=entry.needs)
    draft = run_postprocessors(draft, postprocessor_settings(entry))
    if warnings is not None:
        warnings.extend(bundle_warnings(draft.objects, entry.name))
        warnings.extend(image_warnings(entry.name, draft.images))  # placeholders, unpullable references
    if notes is not None:
        notes.extend(f"bundle {entry.name!r}: {note}" for note in manifests.notes)
    if crd_objects is not None:
        crd_objects.update((f"{crd.group}/{crd.filename}", crd.obj) for crd in draft.crds if crd.obj is not None)
    return write_chart(draft, chart_dir, revision=revision), bundle.csv_name, bundle.version
