"""``run`` and ``krm``: the plain manifests OLM would apply for one bundle (olm-extractor's commands)."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import click

from extractor.cli.common import (
    TEMP_DIR_OPTION,
    JqLines,
    acquire_options,
    fail,
    handle_errors,
    make_acquire_options,
    read_deployment_config,
    temporary_directory,
)
from extractor.errors import ConfigError


@click.command("run")
@click.argument("bundle")
@click.option("-n", "--namespace", required=True, envvar="BUNDLE_EXTRACT_NAMESPACE",
              help="Install namespace of the operator.")
@click.option("--watch-namespace", default=None, envvar="BUNDLE_EXTRACT_WATCH_NAMESPACE",
              help="Target namespace(s), comma-separated; default: OLM's default for the install modes.")
@click.option("--exclude", multiple=True, type=JqLines(), envvar="BUNDLE_EXTRACT_EXCLUDE",
              help="Drop objects for which JQ yields true; repeatable.")
@click.option("--include", multiple=True, type=JqLines(), envvar="BUNDLE_EXTRACT_INCLUDE",
              help="Keep only objects for which a JQ yields true.")
@click.option("--cert-manager-enabled", "cert_manager", type=click.BOOL, default=True, is_flag=False,
              flag_value=True, show_default=True, metavar="[true|false]", envvar="BUNDLE_EXTRACT_CERT_MANAGER_ENABLED",
              help="Webhook certificates by cert-manager (false: none), as olm-extractor's flag.")
@click.option("--cert-provider", type=click.Choice(["cert-manager", "openshift-service-ca", "none"]),
              default=None, envvar="BUNDLE_EXTRACT_CERT_PROVIDER",
              help="Webhook certificate provider (overrides --cert-manager-enabled).")
@click.option("--cert-manager-issuer-name", default=None, envvar="BUNDLE_EXTRACT_CERT_MANAGER_ISSUER_NAME",
              help="Use this existing issuer.")
@click.option("--cert-manager-issuer-kind", default=None, envvar="BUNDLE_EXTRACT_CERT_MANAGER_ISSUER_KIND",
              help="Kind of --cert-manager-issuer-name (Issuer/ClusterIssuer).")
@click.option("--rbac-names", type=click.Choice(["olm", "readable"]), default="olm", show_default=True,
              envvar="BUNDLE_EXTRACT_RBAC_NAMES",
              help="RBAC object names: OLMv1's hashed names or short readable ones.")
@click.option("--allow-kind", "allowed_kinds", multiple=True, envvar="BUNDLE_EXTRACT_ALLOW_KIND",
              help="Allow an extra object kind in manifests/.")
@click.option("--deployment-config", "deployment_config", type=click.Path(path_type=Path), default=None,
              metavar="FILE", envvar="BUNDLE_EXTRACT_DEPLOYMENT_CONFIG",
              help="OLM Subscription spec.config (YAML/JSON; or a whole Subscription) applied "
              "to every Deployment with OLM's merge rules.")
@click.option("--catalog", default=None, metavar="CATALOG", envvar="BUNDLE_EXTRACT_CATALOG",
              help="Catalog mode: BUNDLE is PACKAGE[:VERSION] of this file-based catalog (a catalog image or an "
              "FBC directory): the head of the channel, or that version of it.")
@click.option("--channel", default=None, envvar="BUNDLE_EXTRACT_CHANNEL",
              help="With --catalog: the channel (default: the package's defaultChannel).")
@TEMP_DIR_OPTION
@acquire_options
@handle_errors
def run_command(
    bundle: str,
    namespace: str,
    watch_namespace: str | None,
    exclude: tuple[str, ...],
    include: tuple[str, ...],
    cert_manager: bool,
    cert_provider: str | None,
    cert_manager_issuer_name: str | None,
    cert_manager_issuer_kind: str | None,
    rbac_names: str,
    allowed_kinds: tuple[str, ...],
    deployment_config: Path | None,
    catalog: str | None,
    channel: str | None,
    temp_dir: Path | None,
    **params: Any,
) -> None:
    """Print the plain manifests OLM would apply for BUNDLE (image reference or directory; with
    --catalog, PACKAGE[:VERSION]).

    A drop-in for olm-extractor's `bundle-extract run IMAGE -n NS --exclude JQ` and
    `run --catalog CATALOG [--channel CH] PACKAGE[:VERSION] -n NS`. Every option can be set with
    BUNDLE_EXTRACT_<OPTION> (upper case, dashes to underscores; --include/--exclude: one
    expression per line).
    """
    from extractor import yamlio
    from extractor.model import DNS_LABEL, RenderOptions
    from extractor.pipeline import bundle_warnings, render_plain

    if not DNS_LABEL.match(namespace):
        raise ConfigError(f"-n/--namespace {namespace!r}: not a namespace name (a DNS-1123 label: lower case "
                          "letters, digits and '-', at most 63 characters, starting and ending alphanumeric)")
    watch: tuple[str, ...] | None = None
    if watch_namespace is not None and watch_namespace != "":
        watch = tuple(ns.strip() for ns in watch_namespace.split(","))
    options = RenderOptions(
        install_namespace=namespace,
        watch_namespaces=watch,
        cert_provider=cert_provider or ("cert-manager" if cert_manager else "none"),
        cert_manager_issuer_name=cert_manager_issuer_name,
        cert_manager_issuer_kind=cert_manager_issuer_kind,
        rbac_names=rbac_names,
        allowed_kinds=allowed_kinds,
        deployment_config=read_deployment_config(deployment_config),
    )
    if channel is not None and catalog is None:
        raise ConfigError("--channel needs --catalog")
    from extractor.acquire import is_bundle_directory

    direct = catalog is None and is_bundle_directory(bundle)  # nothing to unpack: no temporary directory
    with contextlib.nullcontext(None) if direct else temporary_directory(temp_dir) as tmp:
        acquire_opts = make_acquire_options(params, None if tmp is None else Path(tmp))
        reference = bundle
        if catalog is not None:
            from extractor.catalog import resolve_package_ref

            reference = resolve_package_ref(catalog, bundle, acquire_opts, channel=channel).image
        manifests = render_plain(reference, options, acquire_opts, exclude=exclude, include=include)
    for warning in bundle_warnings(manifests.objects):
        click.echo(f"warning: {warning}", err=True)
    for note in manifests.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(yamlio.dump_all(manifests.objects), nl=False)


@click.command("krm")
@TEMP_DIR_OPTION
@acquire_options
@handle_errors
def krm_command(temp_dir: Path | None, **params: Any) -> None:
    """Run as a Kustomize KRM function (generator): read a ResourceList on stdin, write it back
    with the rendered objects as items.

    \b
    The functionConfig is olm-extractor's Extractor (olm.lburgazzoli.github.io/v1alpha1):
    spec.source (bundle image or directory; with spec.catalog.source, PACKAGE[:VERSION]),
    spec.catalog.channel, spec.namespace, spec.include/exclude, spec.certManager,
    spec.registry, and bundle-extract's spec.rbacNames, spec.deploymentConfig and
    spec.watchNamespaces. Errors: one results entry of severity error, and a non-zero exit.
    The options below (and their BUNDLE_EXTRACT_* variables) set how images are pulled.
    """
    from extractor.pipeline.krm import MAX_INPUT_BYTES, run_function

    data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)  # more is refused, without reading it all
    with temporary_directory(temp_dir) as tmp:
        result = run_function(data, lambda: make_acquire_options(params, Path(tmp)))
    sys.stdout.write(result.text)
    sys.stdout.flush()
    if result.error is not None:
        fail(result.error, result.exit_code)
