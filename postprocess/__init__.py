"""Post-processors: small, pure, named transformations of a :class:`~extractor.draft.ChartDraft`.

:data:`REGISTRY` maps each name to a :class:`PostProcessor`, in the order they run (the order of
``bundles.yaml`` is irrelevant). :func:`run_postprocessors` applies the default-enabled ones plus
the ones a ``bundles.yaml`` entry enables::

    postprocessors:
      operator-crs: [{kind: CertManager, name: cluster, valuesKey: certManager, fromAlmExample: true}]
      image-pull-secrets: {operandServiceAccounts: [{namespace: cert-manager, names: [cert-manager]}]}
      split-crds: false                       # disable a default-on post-processor

A setting is an options mapping, ``True``/``None`` (enable with defaults), ``False`` (disable) or a
list (shorthand for ``{items: [...]}``, used by ``operator-crs``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from extractor.draft import ChartDraft
from extractor.errors import ConfigError, PostProcessError
from postprocess import (
    api_requirements,
    crd_stubs,
    deployment_config,
    exclude,
    image_mirrors,
    image_pull_secrets,
    kube_system_auth_reader,
    openshift_infrastructure_stub,
    operator_crs,
    sail_webhook_ignore,
    split_crds,
    templatize_namespaces,
)

__all__ = ["REGISTRY", "PostProcessor", "normalize_settings", "run_postprocessors"]

PostProcessorFunc = Callable[[ChartDraft, Mapping[str, Any]], ChartDraft]


@dataclass(frozen=True)
class PostProcessor:
    """One named step. ``func(draft, options)`` returns a new draft and never mutates its input;
    it raises :class:`ConfigError` for bad options and :class:`PostProcessError` when the draft
    cannot be processed. ``doc`` is a one-line description (shown by the CLI)."""

    name: str
    func: PostProcessorFunc
    default_enabled: bool
    doc: str


def _entry(name: str, func: PostProcessorFunc, default_enabled: bool, doc: str) -> tuple[str, PostProcessor]:
    return name, PostProcessor(name=name, func=func, default_enabled=default_enabled, doc=doc)


#: Every post-processor, in execution order.
REGISTRY: dict[str, PostProcessor] = dict(
    [
        _entry("exclude", exclude.run, True, exclude.DOC),
        _entry("operator-crs", operator_crs.run, False, operator_crs.DOC),
        _entry(
            "openshift-infrastructure-stub",
            openshift_infrastructure_stub.run,
            False,
            openshift_infrastructure_stub.DOC,
        ),
        _entry("kube-system-auth-reader", kube_system_auth_reader.run, False, kube_system_auth_reader.DOC),
        _entry("crd-stubs", crd_stubs.run, False, crd_stubs.DOC),
        _entry("api-requirements", api_requirements.run, True, api_requirements.DOC),
        _entry("split-crds", split_crds.run, True, split_crds.DOC),
        _entry("image-pull-secrets", image_pull_secrets.run, True, image_pull_secrets.DOC),
        _entry("templatize-namespaces", templatize_namespaces.run, True, templatize_namespaces.DOC),
        _entry("image-mirrors", image_mirrors.run, True, image_mirrors.DOC),
        _entry("deployment-config", deployment_config.run, True, deployment_config.DOC),
        _entry("sail-webhook-ignore", sail_webhook_ignore.run, False, sail_webhook_ignore.DOC),
    ]
)


def normalize_settings(settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Resolve ``bundles.yaml`` settings to ``{name: options}`` for every post-processor to run,
    in :data:`REGISTRY` order.

    Raises :class:`ConfigError` for an unknown name (listing the known ones) or a setting that is
    not a mapping, list, boolean or null.
    """
    unknown = sorted(str(name) for name in settings if name not in REGISTRY)
    if unknown:
        raise ConfigError(
            f"unknown post-processor(s) {', '.join(repr(u) for u in unknown)} (known: {', '.join(REGISTRY)})"
        )
    enabled: dict[str, dict[str, Any]] = {}
    for name, processor in REGISTRY.items():
        setting = settings.get(name, processor.default_enabled)
        if setting is None:
            setting = True
        if setting is False:
            continue
        if setting is True:
            enabled[name] = {}
        elif isinstance(setting, Mapping):
            enabled[name] = dict(setting)
        elif isinstance(setting, list):
            enabled[name] = {"items": list(setting)}
        else:
            raise ConfigError(
                f"post-processor {name!r}: setting must be a mapping of options, a list, true or false "
                f"(got {type(setting).__name__})"
            )
    return enabled


def run_postprocessors(draft: ChartDraft, settings: Mapping[str, Any]) -> ChartDraft:
    """Apply the enabled post-processors to ``draft`` in :data:`REGISTRY` order; return the result.

    ``settings``: a ``bundles.yaml`` entry's ``postprocessors:`` mapping (see module docstring).
    Raises :class:`ConfigError` (unknown name, bad options) or :class:`PostProcessError`; errors
    that do not already name the post-processor are prefixed with it and the chart name.
    """
    for name, options in normalize_settings(settings).items():
        try:
            draft = REGISTRY[name].func(draft, options)
        except (ConfigError, PostProcessError) as exc:
            if f"post-processor {name!r}" in str(exc):
                raise
            raise type(exc)(f"chart {draft.name!r}: post-processor {name!r}: {exc}") from exc
        except (KeyError, TypeError, ValueError) as exc:  # a malformed object in the draft
            raise PostProcessError(
                f"chart {draft.name!r}: post-processor {name!r} failed: {type(exc).__name__}: {exc}"
            ) from exc
    return draft
