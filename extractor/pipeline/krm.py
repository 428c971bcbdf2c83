"""``bundle-extract krm``: the Kustomize KRM function (a generator run by ``kustomize build
--enable-alpha-plugins``, as an exec or container function).

In: a ``config.kubernetes.io/v1`` ``ResourceList`` whose ``functionConfig`` is olm-extractor's
``Extractor`` (``olm.lburgazzoli.github.io/v1alpha1``; its fields and defaults as olm-extractor's
``pkg/api/v1alpha1`` defines them)::

    spec:
      source: quay.io/example/operator-bundle:v1.0.0   # bundle image or directory; with catalog:
                                                      # PACKAGE[:VERSION]
      catalog: {source: CATALOG_IMAGE, channel: stable}   # optional: catalog mode
      namespace: operators                            # required
      include: [JQ, ...]                              # optional
      exclude: [JQ, ...]                              # optional
      certManager: {enabled: true, issuerName: "", issuerKind: ""}   # enabled defaults to true
      registry: {insecure: false, username: "", password: ""}
      # bundle-extract's own, where they add something:
      rbacNames: olm | readable                       # run's --rbac-names
      deploymentConfig: {...}                         # an OLM Subscription's spec.config
      watchNamespaces: [ns, ...]                      # run's --watch-namespace

Out: the ``ResourceList`` with the input items followed by the rendered objects (exactly what
``run`` prints, in the same order) as ``items``. A problem — a functionConfig of another kind,
an unknown field, a bundle that cannot be rendered — gives the same ``ResourceList`` with its
input items and one ``results`` entry of severity ``error``, and a non-zero exit code (the error
family's). Unknown fields are refused (olm-extractor ignores them), so a typo does not pass
silently. The output is built in memory and written once: nothing half-written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from extractor import yamlio
from extractor.acquire import AcquireOptions
from extractor.errors import ConfigError, ExtractorError
from extractor.model import DNS_LABEL, RenderOptions

__all__ = ["EXTRACTOR_API_VERSION", "EXTRACTOR_KIND", "MAX_INPUT_BYTES", "ExtractorConfig", "KrmResult",
           "parse_function_config", "run_function"]

RESOURCE_LIST_API_VERSION = "config.kubernetes.io/v1"
EXTRACTOR_API_VERSION = "olm.lburgazzoli.github.io/v1alpha1"
EXTRACTOR_KIND = "Extractor"
MAX_INPUT_BYTES = 64 * 1024 * 1024
"""Largest ResourceList read from stdin (a generator's input is its functionConfig and few items)."""


@dataclass(frozen=True)
class ExtractorConfig:
    """A parsed ``Extractor`` functionConfig (see the module docstring)."""

    source: str
    namespace: str
    catalog: str | None = None
    channel: str | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    cert_manager_enabled: bool = True
    issuer_name: str | None = None
    issuer_kind: str | None = None
    insecure: bool = False
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    rbac_names: str = "olm"
    deployment_config: dict[str, Any] | None = None
    watch_namespaces: tuple[str, ...] | None = None


@dataclass(frozen=True)
class KrmResult:
    """What to write: ``text`` (the ResourceList YAML), and for a failure its one-line ``error``
    and ``exit_code``."""

    text: str
    error: str | None = None
    exit_code: int = 0


def _mapping(value: Any, where: str, known: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping")
    unknown = sorted(set(map(str, value)) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    return value


def _string(data: dict[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None or value == "":
        if required:
            raise ConfigError(f"{where}.{key}: required")
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key}: expected a string")
    return value


def _strings(data: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}.{key}: expected a list of strings")
    return tuple(value)


def _bool(data: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{key}: expected true or false")
    return value


def parse_function_config(config: Any) -> ExtractorConfig:
    """Check and read an ``Extractor`` functionConfig. Raises :class:`ConfigError` naming the
    field for another apiVersion or kind, unknown fields, wrong types and missing ones."""
    if not isinstance(config, dict):
        raise ConfigError("functionConfig: required (an Extractor object)")
    kind, api_version = config.get("kind"), config.get("apiVersion")
    if kind != EXTRACTOR_KIND or api_version != EXTRACTOR_API_VERSION:
        raise ConfigError(f"functionConfig: expected apiVersion {EXTRACTOR_API_VERSION} kind {EXTRACTOR_KIND}, got "
                          f"apiVersion {api_version!r} kind {kind!r}")
    _mapping(config, "functionConfig", {"apiVersion", "kind", "metadata", "spec"})
    spec = _mapping(config.get("spec"), "functionConfig.spec", {
        "source", "catalog", "namespace", "include", "exclude", "certManager", "registry",
        "rbacNames", "deploymentConfig", "watchNamespaces",
    })
    where = "functionConfig.spec"
    catalog = _mapping(spec.get("catalog"), f"{where}.catalog", {"source", "channel"}) if "catalog" in spec else None
    cert = _mapping(spec.get("certManager"), f"{where}.certManager", {"enabled", "issuerName", "issuerKind"})
    registry = _mapping(spec.get("registry"), f"{where}.registry", {"insecure", "username", "password"})
    namespace = _string(spec, "namespace", where, required=True)
    assert namespace is not None
    if not DNS_LABEL.fullmatch(namespace):
        raise ConfigError(f"{where}.namespace: {namespace!r} is not a namespace name (a DNS-1123 label)")
    rbac_names = _string(spec, "rbacNames", where) or "olm"
    if rbac_names not in ("olm", "readable"):
        raise ConfigError(f"{where}.rbacNames: {rbac_names!r} is not one of olm, readable")
    deployment_config = spec.get("deploymentConfig")
    if deployment_config is not None:
        from extractor.render.deployment_config import check_deployment_config

        if not isinstance(deployment_config, dict):
            raise ConfigError(f"{where}.deploymentConfig: expected a mapping (an OLM Subscription's spec.config)")
        try:
            check_deployment_config(deployment_config)
        except ExtractorError as exc:
            raise ConfigError(f"{where}.deploymentConfig: {exc}") from None
    watch = _strings(spec, "watchNamespaces", where) if "watchNamespaces" in spec else None
    return ExtractorConfig(
        source=_string(spec, "source", where, required=True) or "",
        namespace=namespace,
        catalog=None if catalog is None else _string(catalog, "source", f"{where}.catalog", required=True),
        channel=None if catalog is None else _string(catalog, "channel", f"{where}.catalog"),
        include=_strings(spec, "include", where),
        exclude=_strings(spec, "exclude", where),
        cert_manager_enabled=_bool(cert, "enabled", f"{where}.certManager", True),
        issuer_name=_string(cert, "issuerName", f"{where}.certManager"),
        issuer_kind=_string(cert, "issuerKind", f"{where}.certManager"),
        insecure=_bool(registry, "insecure", f"{where}.registry", False),
        username=_string(registry, "username", f"{where}.registry"),
        password=_string(registry, "password", f"{where}.registry"),
        rbac_names=rbac_names,
        deployment_config=deployment_config,
        watch_namespaces=watch,
    )


def _read(data: bytes) -> tuple[dict[str, Any], list[Any]]:
    """The ResourceList and its items. Raises :class:`ConfigError`."""
    if len(data) > MAX_INPUT_BYTES:
        raise ConfigError(f"ResourceList: larger than {MAX_INPUT_BYTES} bytes")
    try:
        document = yamlio.load(data)
    except Exception as exc:  # yaml errors, decoding errors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"ResourceList: not YAML or JSON: {first}") from None
    if not isinstance(document, dict):
        raise ConfigError("ResourceList: expected a mapping on stdin")
    if document.get("apiVersion") != RESOURCE_LIST_API_VERSION or document.get("kind") != "ResourceList":
        raise ConfigError(f"ResourceList: expected apiVersion {RESOURCE_LIST_API_VERSION} kind ResourceList, got "
                          f"apiVersion {document.get('apiVersion')!r} kind {document.get('kind')!r}")
    items = document.get("items")
    items = [] if items is None else items
    if not isinstance(items, list):
        raise ConfigError("ResourceList.items: expected a list")
    return document, items


def _render(config: ExtractorConfig, options: AcquireOptions) -> list[Any]:
    from extractor.pipeline.build import render_plain

    if config.insecure:
        options = dataclasses.replace(options, insecure_hosts=(*options.insecure_hosts, "*"))
    if config.username or config.password:
        if not (config.username and config.password):
            raise ConfigError("functionConfig.spec.registry: username and password must be given together")
        options = dataclasses.replace(options, username=config.username, password=config.password)
    reference = config.source
    if config.catalog is not None:
        from extractor.catalog import resolve_package_ref

        reference = resolve_package_ref(config.catalog, config.source, options, channel=config.channel).image
    render_options = RenderOptions(
        install_namespace=config.namespace,
        watch_namespaces=config.watch_namespaces,
        cert_provider="cert-manager" if config.cert_manager_enabled else "none",
        cert_manager_issuer_name=config.issuer_name,
        cert_manager_issuer_kind=config.issuer_kind,
        rbac_names=config.rbac_names,
        deployment_config=config.deployment_config,
    )
    manifests = render_plain(reference, render_options, options, exclude=config.exclude, include=config.include)
    return list(manifests.objects)


def run_function(data: bytes, options: Callable[[], AcquireOptions]) -> KrmResult:
    """Run the function on the ResourceList ``data`` (see the module docstring). ``options``
    makes the acquisition options (flags and environment of the ``krm`` command); the
    functionConfig's ``registry`` settings override them. Never raises an
    :class:`ExtractorError`: failures come back as a :class:`KrmResult` with ``error`` set."""
    document: dict[str, Any] = {"apiVersion": RESOURCE_LIST_API_VERSION, "kind": "ResourceList", "items": []}
    items: list[Any] = []
    try:
        document, items = _read(data)
        config = parse_function_config(document.get("functionConfig"))
        generated = _render(config, options())
    except ExtractorError as exc:
        message = str(exc).replace("\n", "; ")
        failed = _echo(document)
        failed["items"] = items
        failed["results"] = [{"message": message, "severity": "error"}]
        return KrmResult(yamlio.dump(failed), error=message, exit_code=exc.exit_code)
    output = _echo(document)
    output["items"] = [*items, *generated]
    return KrmResult(yamlio.dump(output))


def _echo(document: dict[str, Any]) -> dict[str, Any]:
    """The input ResourceList as the output starts from: without its ``results``, and without a
    registry password in the echoed functionConfig (a credential never reaches output)."""
    echoed = {key: value for key, value in document.items() if key != "results"}
    config = echoed.get("functionConfig")
    spec = config.get("spec") if isinstance(config, dict) else None
    registry = spec.get("registry") if isinstance(spec, dict) else None
    if isinstance(config, dict) and isinstance(spec, dict) and isinstance(registry, dict) and "password" in registry:
        echoed["functionConfig"] = {**config, "spec": {**spec, "registry": {
            k: v for k, v in registry.items() if k != "password"}}}
    return echoed
