"""The ``bundle-extract`` command line (click). Parses options, calls the library, maps errors.

Every :class:`~extractor.errors.ExtractorError` becomes one line on stderr (``error: ...``) and
the error family's exit code; the library itself never prints or exits.

Longer than 400 lines: one thin click command per subcommand, with its options and help text (the
user documentation of the command line); they stay together so that shared options and error
mapping read in one place.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from extractor import __version__
from extractor.errors import ConfigError, ExtractorError

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("extractor")


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _handle_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ExtractorError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as exc:  # a bug: keep it to one line unless debugging
            if log.isEnabledFor(logging.DEBUG):
                raise
            _fail(f"internal error: {type(exc).__name__}: {exc} (run with -v -v for a traceback)", 70)
        return None

    return wrapper  # type: ignore[return-value]


_SIZE = re.compile(r"(\d+)\s*([KMGT]i?)?B?", re.IGNORECASE)
_UNITS = {"": 1, "k": 1000, "ki": 1024, "m": 1000**2, "mi": 1024**2, "g": 1000**3, "gi": 1024**3,
          "t": 1000**4, "ti": 1024**4}


def parse_size(ctx: click.Context | None, param: click.Parameter | None, value: Any) -> int:
    """A click callback: ``536870912``, ``512Mi``, ``1G`` -> bytes (K/M/G/T decimal, Ki/Mi/Gi/Ti binary)."""
    if isinstance(value, int):
        return value
    match = _SIZE.fullmatch(str(value).strip())
    if not match:
        raise click.BadParameter(f"{value!r} is not a size (e.g. 512Mi, 1G, 1048576)", ctx, param)
    return int(match.group(1)) * _UNITS[(match.group(2) or "").lower()]


class TerminalProgress:
    """Renders :class:`~extractor.acquire.PullProgress` reports as one rewritten stderr line.

    Only used when stderr is a terminal; redraws at most ``interval`` seconds apart (always for
    the final ``done``), and ends the line when an image is done.
    """

    def __init__(self, stream: Any = None, interval: float = 0.1) -> None:
        self.stream = stream or sys.stderr
        self.interval = interval
        self._last = 0.0
        self._width = 0

    def __call__(self, event: Any) -> None:
        from extractor.acquire import describe_progress

        now = time.monotonic()
        final = event.event == "done"
        if not final and now - self._last < self.interval:
            return
        self._last = now
        line = describe_progress(event)
        self.stream.write("\r" + line.ljust(self._width) + ("\n" if final else ""))
        self.stream.flush()
        self._width = 0 if final else len(line)


def acquire_options(func: F) -> F:
    """Registry/acquisition options shared by every command that pulls bundles."""
    options = [
        click.option(
            "--mirror", "mirrors", multiple=True, metavar="SRC=DST", envvar="BUNDLE_EXTRACT_MIRROR",
            help="Rewrite registry hosts (or host/path prefixes) like registries.conf mirrors; repeatable. "
            "Env: BUNDLE_EXTRACT_MIRROR (space-separated).",
        ),
        click.option(
            "--url-mirror", "url_mirrors", multiple=True, metavar="SRC=DST", envvar="BUNDLE_EXTRACT_URL_MIRROR",
            help="Fetch URLs of bundles.yaml extraManifests under the URL prefix SRC from DST instead "
            "(e.g. https://raw.githubusercontent.com=http://127.0.0.1:8080); sha256 still verified; "
            "repeatable. Env: BUNDLE_EXTRACT_URL_MIRROR (space-separated).",
        ),
        click.option(
            "--registry-insecure", "insecure_hosts", multiple=True, is_flag=False, flag_value="*",
            metavar="[HOST]", envvar="BUNDLE_EXTRACT_REGISTRY_INSECURE",
            help="Allow plain HTTP / unverified TLS for HOST (all hosts without a value). "
            "Loopback registries always use plain HTTP. Env: BUNDLE_EXTRACT_REGISTRY_INSECURE (true: all hosts).",
        ),
        click.option("--authfile", type=click.Path(dir_okay=False, path_type=Path), envvar="BUNDLE_EXTRACT_AUTHFILE",
                     help="Registry credentials file (containers-auth.json / docker config.json)."),
        click.option("--registry-username", envvar="BUNDLE_EXTRACT_REGISTRY_USERNAME",
                     help="Registry user name (with --registry-password)."),
        click.option("--registry-password", envvar="BUNDLE_EXTRACT_REGISTRY_PASSWORD",
                     help="Registry password or token (with --registry-username)."),
        click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
                     envvar="BUNDLE_EXTRACT_CACHE_DIR", help="Blob cache (default: XDG cache dir)."),
        click.option("--platform", default="linux/amd64", show_default=True, envvar="BUNDLE_EXTRACT_PLATFORM",
                     help="Platform to select from multi-platform images (os/arch)."),
        click.option("--registry-ca-file", "ca_file", type=click.Path(dir_okay=False, path_type=Path),
                     envvar="BUNDLE_EXTRACT_REGISTRY_CA_FILE",
                     help="PEM file of extra CA certificates trusted for HTTPS registries. "
                     "Env: BUNDLE_EXTRACT_REGISTRY_CA_FILE."),
        click.option("--registry-timeout", "timeout", type=click.FloatRange(min=0.1), default=60.0,
                     envvar="BUNDLE_EXTRACT_REGISTRY_TIMEOUT",
                     show_default=True, metavar="SECONDS", help="Network read/write timeout."),
        click.option("--registry-retries", "retries", type=click.IntRange(min=0), default=3, show_default=True,
                     envvar="BUNDLE_EXTRACT_REGISTRY_RETRIES",
                     help="Retries (with exponential backoff) after connection errors, HTTP 429 and 5xx."),
        click.option("--offline", is_flag=True, envvar="BUNDLE_EXTRACT_OFFLINE",
                     help="Use only the cache (tags need one earlier online pull). Env: BUNDLE_EXTRACT_OFFLINE."),
        click.option("--max-unpacked-bytes", "max_bytes", callback=parse_size, default="512Mi", show_default=True,
                     metavar="SIZE", envvar="BUNDLE_EXTRACT_MAX_UNPACKED_BYTES",
                     help="Refuse images whose layers unpack to more than this (e.g. 64Mi, 1G)."),
        click.option("--max-unpacked-files", "max_files", type=click.IntRange(min=1), default=10_000,
                     envvar="BUNDLE_EXTRACT_MAX_UNPACKED_FILES",
                     show_default=True, help="Refuse images whose layers hold more entries than this."),
        click.option("--puller", type=click.Choice(["http", "docker"]), default="http", show_default=True,
                     envvar="BUNDLE_EXTRACT_PULLER",
                     help="How images are pulled: natively over the registry API (http) or through the "
                     "local Docker daemon, with its credentials, proxies and mirrors (docker; needs "
                     "bundle-extract[docker]). Env: BUNDLE_EXTRACT_PULLER."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _make_acquire_options(params: dict[str, Any], work_dir: Path) -> Any:
    from extractor.acquire import AcquireOptions
    from extractor.acquire.reference import Mirror
    from extractor.acquire.retry import RetryPolicy

    mirrors: list[Mirror] = []
    for item in params.pop("mirrors", ()):  # env var values may hold several, space-separated
        for part in str(item).split():
            mirrors.append(Mirror.parse(part))
    from extractor.acquire.urlref import UrlMirror

    url_mirrors = tuple(UrlMirror.parse(part) for item in params.pop("url_mirrors", ()) for part in str(item).split())
    username = params.pop("registry_username", None)
    password = params.pop("registry_password", None)
    if bool(username) != bool(password):
        raise ConfigError("--registry-username and --registry-password must be given together")
    return AcquireOptions(
        mirrors=tuple(mirrors),
        insecure_hosts=_insecure_hosts(params.pop("insecure_hosts", ())),
        authfile=params.pop("authfile", None),
        username=username,
        password=password,
        cache_dir=params.pop("cache_dir", None),
        work_dir=work_dir,
        platform=params.pop("platform", "linux/amd64"),
        ca_file=params.pop("ca_file", None),
        timeout=params.pop("timeout", 60.0),
        retry=RetryPolicy(attempts=params.pop("retries", 3) + 1),
        offline=params.pop("offline", False),
        max_bytes=params.pop("max_bytes", 512 * 1024 * 1024),
        max_files=params.pop("max_files", 10_000),
        progress=TerminalProgress() if sys.stderr.isatty() else None,
        puller=params.pop("puller", "http"),
        url_mirrors=url_mirrors,
    )


def _insecure_hosts(values: tuple[str, ...]) -> tuple[str, ...]:
    """``--registry-insecure`` values; ``true``/``false`` (olm-extractor's boolean flag, e.g. from
    BUNDLE_EXTRACT_REGISTRY_INSECURE) mean all hosts / none."""
    hosts: list[str] = []
    for value in values:
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            hosts.append("*")
        elif lowered not in ("false", "0", "no", "off", ""):
            hosts.append(value)
    return tuple(hosts)


class _JqLines(click.ParamType[str]):
    """A jq expression; from an environment variable, one expression per line (expressions hold
    spaces, so the usual whitespace split would cut them)."""

    name = "JQ"
    envvar_list_splitter = "\n"

    def split_envvar_value(self, rv: str) -> list[str]:
        return [line for line in rv.split("\n") if line.strip()]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return str(value)


def _temp_dir(path: Path | None) -> Any:
    """A temporary directory for one command (unpacked images), inside ``path`` when given
    (``--temp-dir``, created if missing)."""
    import tempfile

    if path is not None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--temp-dir {path}: cannot create it ({exc.strerror})") from None
    return tempfile.TemporaryDirectory(prefix="bundle-extract-", dir=path)


_TEMP_DIR_OPTION = click.option(
    "--temp-dir", type=click.Path(file_okay=False, path_type=Path), default=None, envvar="BUNDLE_EXTRACT_TEMP_DIR",
    help="Directory for temporary files (unpacked images and catalogs), created if missing; default: the "
    "system's. The blob cache stays in --cache-dir.",
)


class _OneLineErrors(click.Group):
    """A click group whose usage errors (unknown option, missing argument, a value click itself
    refuses) are one ``error:`` line like every other error, with click's exit code (2)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.ClickException as exc:
            hint = ""
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                hint = f" (see '{exc.ctx.command_path} --help')"
            _fail(exc.format_message().replace("\n", " ") + hint, exc.exit_code)
        except click.Abort:
            _fail("aborted", 1)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="bundle-extract")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Render OLM registry+v1 bundles into Helm charts and a helmfile for clusters without OLM."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _deployment_config(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    from extractor.config import load_deployment_config  # bundles.yaml machinery only when asked

    return load_deployment_config(path)


@main.command("run")
@click.argument("bundle")
@click.option("-n", "--namespace", required=True, envvar="BUNDLE_EXTRACT_NAMESPACE",
              help="Install namespace of the operator.")
@click.option("--watch-namespace", default=None, envvar="BUNDLE_EXTRACT_WATCH_NAMESPACE",
              help="Target namespace(s), comma-separated; default: OLM's default for the install modes.")
@click.option("--exclude", multiple=True, type=_JqLines(), envvar="BUNDLE_EXTRACT_EXCLUDE",
              help="Drop objects for which JQ yields true; repeatable.")
@click.option("--include", multiple=True, type=_JqLines(), envvar="BUNDLE_EXTRACT_INCLUDE",
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
@_TEMP_DIR_OPTION
@acquire_options
@_handle_errors
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
        deployment_config=_deployment_config(deployment_config),
    )
    if channel is not None and catalog is None:
        raise ConfigError("--channel needs --catalog")
    with _temp_dir(temp_dir) as tmp:
        acquire_opts = _make_acquire_options(params, Path(tmp))
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


@main.command("krm")
@_TEMP_DIR_OPTION
@acquire_options
@_handle_errors
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
    with _temp_dir(temp_dir) as tmp:
        result = run_function(data, lambda: _make_acquire_options(params, Path(tmp)))
    sys.stdout.write(result.text)
    sys.stdout.flush()
    if result.error is not None:
        _fail(result.error, result.exit_code)


@main.command("update-bundle")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("bundles.yaml"), show_default=True, help="The bundles file.")
@click.option("-o", "--output", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory receiving charts/ and helmfile.yaml.gotmpl (default: the config's directory).")
@click.option("--bundle", default=None, envvar="BUNDLE", help="Regenerate only this bundle (entry name).")
@click.option("--version", "version", default=None, help="Pull this version of --bundle and record it in the config.")
@click.option("--keep-going", is_flag=True, default=False, envvar="BUNDLE_EXTRACT_KEEP_GOING",
              help="Write the bundles that succeed even when others fail (the exit code still reports the failures).")
@click.option("--strict-images", is_flag=True, default=False, envvar="BUNDLE_EXTRACT_STRICT_IMAGES",
              help="An image reference a chart cannot pull as written (placeholder, openshift.io/x:latest) "
                   "is an error; nothing is written.")
@acquire_options
@_handle_errors
def update_bundle_command(
    config_path: Path, root: Path | None, bundle: str | None, version: str | None, keep_going: bool,
    strict_images: bool, **params: Any
) -> None:
    """Pull bundles listed in the config and regenerate their charts and the helmfile.

    All or nothing: when an entry fails, every failing entry is reported (one line each) and
    nothing is written, unless --keep-going.
    """
    import tempfile

    from extractor.pipeline import update_bundle

    root = root or config_path.resolve().parent
    with tempfile.TemporaryDirectory(prefix="bundle-extract-") as tmp:
        result = update_bundle(
            config_path, root, _make_acquire_options(params, Path(tmp)), bundle=bundle, version=version,
            keep_going=keep_going, strict_images=strict_images,
        )
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    for name, path in result.charts.items():
        digest = result.digests.get(name) or "directory"
        click.echo(f"{name}: {path} ({digest})", err=True)
    click.echo(f"helmfile: {result.helmfile}", err=True)


@main.command("list-versions")
@click.argument("repository", required=False)
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("bundles.yaml"), show_default=True, help="The bundles file (with --bundle).")
@click.option("--bundle", default=None, help="List the versions of this bundles.yaml entry's image.")
@acquire_options
@_handle_errors
def list_versions_command(repository: str | None, config_path: Path, bundle: str | None, **params: Any) -> None:
    """Print the tags of REPOSITORY (or of --bundle's image), one per line, oldest version first.

    Version-like tags are ordered by their numbers (SemVer pre-releases first), other tags follow
    in text order. --mirror applies; with --offline the tags recorded in the cache are listed.
    """
    import tempfile

    from extractor.review.versions import list_versions

    if (repository is None) == (bundle is None):
        raise ConfigError("list-versions: give either REPOSITORY or --bundle NAME")
    if bundle is not None:
        from extractor.config import load_config

        entry = load_config(config_path).entry(bundle)
        if entry.is_catalog:
            raise ConfigError(f"bundle {bundle!r} comes from catalog {entry.catalog}: its versions are its channel's "
                              "('bundle-extract outdated' lists the newer ones)")
        repository = entry.image
    assert repository is not None
    with tempfile.TemporaryDirectory(prefix="bundle-extract-") as tmp:
        tags = list_versions(repository, _make_acquire_options(params, Path(tmp)))
    for tag in tags:
        click.echo(tag)


@main.command("verify")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("bundles.yaml"), show_default=True, help="The bundles file (bundles.lock.yaml beside it).")
@click.option("-o", "--output", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory holding charts/ and helmfile.yaml.gotmpl (default: the config's directory).")
@acquire_options
@_handle_errors
def verify_command(config_path: Path, root: Path | None, **params: Any) -> None:
    """Regenerate from bundles.lock.yaml's digests and compare with charts/ and the helmfile.

    Exit 0 when identical; exit 1 listing every differing file (hand edits, stale output, a
    generator whose output changed). Nothing in the project is written.
    """
    import tempfile

    from extractor.pipeline import verify

    root = root or config_path.resolve().parent
    with tempfile.TemporaryDirectory(prefix="bundle-extract-") as tmp:
        problems = verify(config_path, root, _make_acquire_options(params, Path(tmp)))
    if problems:
        for line in problems:
            click.echo(line)
        click.echo(f"error: {len(problems)} file(s) differ from what bundles.lock.yaml regenerates; "
                   "run 'make update-bundle' and commit the result", err=True)
        sys.exit(1)
    click.echo("verify: charts/, the helmfile and bundles.lock.yaml match the lock", err=True)


@main.command("helmfile")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("bundles.yaml"), show_default=True)
@click.option("-o", "--output", "root", type=click.Path(file_okay=False, path_type=Path), default=None)
@_handle_errors
def helmfile_command(config_path: Path, root: Path | None) -> None:
    """Regenerate helmfile.yaml.gotmpl from the generated charts (no pulling)."""
    from extractor.config import load_config
    from extractor.pipeline import regenerate_helmfile

    config = load_config(config_path)
    path = regenerate_helmfile(config, root or config_path.resolve().parent)
    click.echo(f"helmfile: {path}", err=True)


@main.command("images")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("bundles.yaml"), show_default=True, help="The bundles file (charts/ beside it).")
@click.option("-o", "--output", "output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write images.txt, images.json and skopeo-sync.yaml into this directory.")
@click.option("--root", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory holding charts/ (default: the config's directory).")
@click.option("--bundle", "bundles", multiple=True, help="Only this bundles.yaml entry (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Every place of every image as JSON.")
@_handle_errors
def images_command(config_path: Path, output: Path | None, root: Path | None, bundles: tuple[str, ...],
                   as_json: bool) -> None:
    """Print every image the generated charts run (from charts/*/release.yaml; nothing is pulled).

    Plain: each pullable reference once, one per line (input for skopeo copy). References that
    cannot be pulled as written (placeholders, openshift.io/x:latest) are reported on stderr.
    """
    from extractor.config import load_config
    from extractor.review.images_list import (
        project_images,
        render_json,
        render_plain,
        unpullable_lines,
        write_image_files,
    )

    config = load_config(config_path)
    charts = project_images(config, root or config_path.resolve().parent, list(bundles) or None)
    if output is not None:
        for path in write_image_files(charts, output):
            click.echo(f"images: {path}", err=True)
    click.echo(render_json(charts) if as_json else render_plain(charts), nl=False)
    for line in unpullable_lines(charts):
        click.echo(f"warning: not pullable: {line}", err=True)
    for chart in charts:
        if not chart.images:
            click.echo(f"warning: chart {chart.chart!r} lists no images (generated by an older bundle-extract? "
                       "run make update-bundle)", err=True)


@main.command("pull-secret")
@click.option("--registry", "registries", multiple=True, metavar="HOST",
              help="A registry the Secret must cover (repeatable).")
@click.option("--image", "images", multiple=True, metavar="REF", help="An image the chart pulls (repeatable).")
@click.option("--request", "request", type=click.File("rb"), default=None, metavar="FILE|-",
              help="JSON request {images, registries, imageRegistryMirrors, imageOverrides} (- for stdin).")
@click.option("--authfile", type=click.Path(dir_okay=False, path_type=Path), default=None,
              envvar="BUNDLE_EXTRACT_AUTHFILE", help="Only this auth file (default: podman's lookup order).")
@click.option("--warn-parent", is_flag=True, default=False,
              help="Also write warnings to the parent process's stderr (helmfile's exec keeps a "
                   "successful command's stderr to itself).")
@_handle_errors
def pull_secret_command(registries: tuple[str, ...], images: tuple[str, ...], request: Any,
                        authfile: Path | None, warn_parent: bool) -> None:
    """Print chart values filling pullSecret.dockerConfigJson for the registries a chart pulls from.

    Credentials are looked up as pulls look them up (auth files in podman's order, credHelpers,
    credsStore); a registry no credential covers is a warning on stderr. Run by each chart's
    pull-secret.values.yaml.gotmpl at deploy time; the output holds credentials: never store it.
    """
    from extractor.pipeline.pull_secret import parse_request, pull_secret_values

    mirrors: dict[str, str] = {}
    overrides: dict[str, str] = {}
    release = ""
    all_images, all_registries = list(images), list(registries)
    if request is not None:
        parsed = parse_request(request.read(4 * 1024 * 1024 + 1))
        release, mirrors, overrides = parsed.release, parsed.mirrors, parsed.overrides
        all_images += parsed.images
        all_registries += parsed.registries
    if not all_images and not all_registries:
        raise ConfigError("pull-secret: name at least one --registry, --image or a --request")
    secret = pull_secret_values(all_images, all_registries, mirrors, overrides, authfile=authfile)
    who = f"release {release}: " if release else ""
    for host in secret.missing:
        _warn(f"warning: pull-secret: {who}no credential for {host} (auth files, credHelpers, credsStore): "
              "the pull Secret does not cover it", warn_parent)
    click.echo(secret.values, nl=False)


def _warn(line: str, parent: bool) -> None:
    """``line`` on stderr; with ``parent``, on the stderr of the nearest ancestor process whose
    stderr is another file instead (Linux ``/proc/<pid>/fd/2``; helmfile's, past wrapper scripts
    such as pyenv shims that share our stderr pipe), where the user sees it."""
    if parent and not sys.stderr.isatty():  # a terminal: the user sees our own stderr
        try:
            ours = os.fstat(2)
            pid = os.getppid()
            for _ in range(8):  # a few wrapper levels at most
                target = Path(f"/proc/{pid}/fd/2")
                theirs = os.stat(target)
                if (ours.st_dev, ours.st_ino) != (theirs.st_dev, theirs.st_ino):
                    with open(target, "a", encoding="utf-8") as stream:
                        stream.write(line + "\n")
                    return
                status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8", errors="replace")
                ppid = next((int(row.split()[1]) for row in status.splitlines() if row.startswith("PPid:")), 0)
                if ppid <= 1:
                    break
                pid = ppid
        except (OSError, ValueError, IndexError):
            pass  # no /proc, or not allowed: our own stderr
    click.echo(line, err=True)


@main.command("demo")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="bundles.yaml to use (default: the one shipped with the project).")
@click.option("--bundles-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Sample bundle directories (default: ../shared/bundles beside the project).")
@click.option("-o", "--output", "workdir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".demo"), show_default=True, help="Where charts, helmfile and output go.")
@click.option("--builtin-samples", "builtin", is_flag=True,
              help="Use the small sample bundles the tool writes itself, even when ../shared/bundles exists.")
@_handle_errors
def demo_command(config_path: Path | None, bundles_dir: Path | None, workdir: Path, builtin: bool) -> None:
    """The main job on an embedded default: a local registry seeded with sample bundle images,
    then charts + helmfile, then `helmfile template`. Uses the real bundles of ../shared/bundles when
    they are there, else small samples the tool writes itself (--builtin-samples forces them)."""
    from extractor.demo.run import run_demo

    result = run_demo(workdir, config_path=config_path, bundles_dir=bundles_dir, builtin=builtin)
    for line in result.summary():
        click.echo(line)


@main.command("outdated")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("bundles.yaml"), show_default=True, help="The bundles file.")
@click.option("-o", "--output", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory holding the generated charts/ (default: the config's directory).")
@click.option("--bundle", default=None, help="Check only this bundles.yaml entry.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (for CI) instead of a table.")
@acquire_options
@_handle_errors
def outdated_command(config_path: Path, root: Path | None, bundle: str | None, as_json: bool, **params: Any) -> None:
    """List newer versions of the bundles in the config, and tags rebuilt since generation.

    Per entry: newer versions in the registry (floating tags such as latest or v1.15 never count),
    the newest one its track (patch: same major.minor, the default; minor; major) and
    versionPattern allow, and whether the current tag now points to another digest than the one
    charts/<name>/Chart.yaml records (a rebuild). Local bundles are skipped. Nothing is written.

    \b
    Exit codes: 0 nothing to do; 3 updates available (a proposed version or a rebuild);
    errors: their family's code, but 1 for registry errors (whose usual code is 3).
    """
    import tempfile

    from extractor.config import load_config
    from extractor.review.outdated import UPDATES_EXIT_CODE, format_table, outdated, to_json, updates_available

    config = load_config(config_path)
    try:
        with tempfile.TemporaryDirectory(prefix="bundle-extract-") as tmp:
            results = outdated(config, root or config_path.resolve().parent,
                               _make_acquire_options(params, Path(tmp)), only=[bundle] if bundle else None)
    except ExtractorError as exc:
        _fail(str(exc), 1 if exc.exit_code == UPDATES_EXIT_CODE else exc.exit_code)
        return
    click.echo(to_json(results) if as_json else format_table(results), nl=False)
    if updates_available(results):
        sys.exit(UPDATES_EXIT_CODE)


@main.command("diff")
@click.argument("base", required=False, default="HEAD")
@click.argument("head", required=False)
@click.option("-o", "--output", "root", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The generated project (holding charts/); git refs are read from its repository.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of Markdown.")
@_handle_errors
def diff_command(base: str, head: str | None, root: Path, as_json: bool) -> None:
    """Review what a regeneration changes, semantically: Markdown for a pull request (or --json).

    BASE and HEAD are git refs of the repository the project is in, or directories holding a
    generated project (charts/ and helmfile.yaml.gotmpl); default BASE=HEAD, HEAD=the project's
    working tree. Refs are exported with git archive; the working tree is never touched. Charts are
    rendered with helm template; per chart: versions and digests (downgrades flagged), objects
    added/removed/renamed, images, RBAC (escalations flagged), CRDs, webhooks, workloads and
    helmfile hooks/needs. Generation noise (chart-version labels) is counted, not listed.
    """
    from extractor.review.diff import review
    from extractor.review.markdown import to_markdown

    report = review(root, base, head)
    click.echo(report.to_json() if as_json else to_markdown(report), nl=False)


@main.command("adopt")
@click.option("--release", required=True, help="The generated release (bundles.yaml entry) taking the objects over.")
@click.option("--from-release", "from_release", default=None,
              help="The old chart's Helm release in the same namespace (default: --release).")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("bundles.yaml"), show_default=True)
@click.option("-o", "--output", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory holding charts/ (default: the config's directory).")
@click.option("-n", "--namespace", default=None, help="Release namespace (default: the entry's namespace).")
@click.option("-e", "--environment", default="default", show_default=True,
              help="helmfile environment: its kubeContext (bundles.yaml) and values/<release>.<env>.yaml.")
@click.option("--kube-context", default=None,
              help="kubeconfig context for kubectl and helm (default: the environment's, else the current one).")
@click.option("-f", "--values", "values", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="More values files for the release (values/<release>[.<env>].yaml are read already).")
@click.option("--dry-run", is_flag=True, help="Print what would be adopted; change nothing.")
@_handle_errors
def adopt_command(release: str, from_release: str | None, config_path: Path, root: Path | None,
                  namespace: str | None, environment: str, kube_context: str | None, values: tuple[Path, ...],
                  dry_run: bool) -> None:
    """Hand objects of the old charts over to a generated release (explicit opt-in).

    Every object the release would own (helm template of charts/RELEASE) that exists in the
    cluster without a Helm owner, or owned by --from-release, gets Helm's ownership label and
    annotations for RELEASE, so that helmfile sync can take it over. An object owned by any other
    release is refused and nothing is changed (exit 10). Objects the old chart created that the new
    one does not own are listed as left-overs. See docs/migrate.md.
    """
    from extractor.pipeline.adopt import AdoptOptions, adopt

    result = adopt(AdoptOptions(release=release, config=config_path, root=root, namespace=namespace,
                                from_release=from_release, kube_context=kube_context, environment=environment,
                                values=values, dry_run=dry_run))
    verb = "would adopt" if dry_run else "adopted"
    for adoption in result.adopted:
        click.echo(f"{verb}: {adoption.ref} (owner before: {adoption.owner})")
    for item in result.left_over:
        click.echo(f"left over: {item.ref} (from {item.source}; {item.fate})")
    click.echo(f"adopt {result.release} in {result.namespace}: {len(result.adopted)} {verb}, "
               f"{len(result.owned)} already owned, {len(result.absent)} to be created, "
               f"{len(result.left_over)} left over" + (" (dry run: nothing changed)" if dry_run else ""), err=True)


def _package_options(func: F) -> F:
    """The options ``package`` and ``push`` share: --config, --output, --dest, --helm."""
    for option in reversed([
        click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                     default=Path("bundles.yaml"), show_default=True, help="The bundles file."),
        click.option("-o", "--output", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Directory holding charts/ (default: the config's directory)."),
        click.option("-d", "--dest", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Directory receiving the .tgz archives. [default: <output>/dist]"),
        click.option("--helm", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="The helm binary (default: the tools cache, then PATH)."),
    ]):
        func = option(func)
    return func


@main.command("package")
@click.argument("charts", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@_package_options
@_handle_errors
def package_command(charts: tuple[Path, ...], config_path: Path, root: Path | None, dest: Path | None,
                    helm: Path | None) -> None:
    """helm package every generated chart (and its <name>-crds chart), or the CHARTS given, reproducibly.

    Two runs give byte-identical archives (fixed mtimes, owners and gzip header; SOURCE_DATE_EPOCH
    sets the time). A directory that is not a generated chart is refused; nothing is written then.
    """
    from extractor.pipeline.publish import generated_charts, package_charts

    root = root or config_path.resolve().parent
    selected = list(charts) or generated_charts(config_path, root)
    for archive in package_charts(selected, dest or root / "dist", helm=helm):
        click.echo(str(archive))


@main.command("push")
@click.argument("charts", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@click.option("--repo", required=False, default=None, metavar="oci://HOST/PATH",
              help="The OCI repository (charts land at HOST/PATH/<chart>:<version>).")
@_package_options
@click.option("--authfile", type=click.Path(dir_okay=False, path_type=Path), default=None,
              envvar="REGISTRY_AUTH_FILE", help="Auth file (default: podman's lookup order).")
@click.option("--plain-http/--no-plain-http", "plain_http", default=None,
              help="Plain HTTP to the registry (default: only for loopback hosts).")
@click.option("--registry-ca-file", "ca_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              envvar="BUNDLE_EXTRACT_REGISTRY_CA_FILE", help="CA bundle verifying the registry's certificate.")
@_handle_errors
def push_command(charts: tuple[Path, ...], repo: str | None, config_path: Path, root: Path | None,
                 dest: Path | None, helm: Path | None, authfile: Path | None, plain_http: bool | None,
                 ca_file: Path | None) -> None:
    """Package (as `package` does) and helm push every generated chart, or the CHARTS given, to --repo.

    The archives reach --dest only once every push succeeded.

    Credentials are looked up as pulls look them up (auth files in podman's order, credHelpers,
    credsStore) and passed to helm in a temporary registry config file, deleted afterwards.
    """
    from extractor.pipeline.publish import generated_charts, publish_charts

    if not repo:
        raise ConfigError("push: give the repository, REPO=oci://HOST/PATH (--repo)")
    root = root or config_path.resolve().parent
    selected = list(charts) or generated_charts(config_path, root)
    for pushed in publish_charts(selected, dest or root / "dist", repo, helm=helm, authfile=authfile,
                                 plain_http=plain_http, ca_file=ca_file):
        click.echo(f"{pushed.reference} {pushed.digest}".rstrip())


@main.command("destroy")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("bundles.yaml"), show_default=True, help="The bundles file.")
@click.option("-o", "--output", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory holding charts/ and the helmfile (default: the config's directory).")
@click.option("--bundle", "bundles", multiple=True, help="Destroy only this release (repeatable; default: all).")
@click.option("--delete-namespaces", is_flag=True, help="Also delete the namespaces the releases and their "
              "presync hooks created (not default/kube-*, not those another release still uses).")
@click.option("--delete-crds", is_flag=True, help="Also delete the charts' CRDs (and so every custom resource); "
              "refused while custom resources remain, unless --force.")
@click.option("--force", is_flag=True, help="With --delete-crds: delete remaining custom resources too.")
@click.option("--kube-context", default=None, envvar="KUBE_CONTEXT",
              help="kubeconfig context for kubectl and helmfile.")
@click.option("--helm", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The helm binary helmfile runs.")
@click.option("--helmfile", "helmfile_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The helmfile binary.")
@_handle_errors
def destroy_command(config_path: Path, root: Path | None, bundles: tuple[str, ...], delete_namespaces: bool,
                    delete_crds: bool, force: bool, kube_context: str | None, helm: Path | None,
                    helmfile_path: Path | None) -> None:
    """helmfile destroy the releases; CRDs (and every custom resource) are kept unless --delete-crds."""
    from extractor.pipeline.destroy import destroy

    root = root or config_path.resolve().parent
    result = destroy(config_path, root, bundles=bundles, delete_namespaces=delete_namespaces,
                     delete_crds=delete_crds, force=force, kube_context=kube_context, helmfile=helmfile_path,
                     helm=helm, report=lambda line: click.echo(line, err=True))
    kept = "" if delete_crds else "; CRDs kept (DELETE_CRDS=1 / --delete-crds deletes them)"
    click.echo(f"destroyed {', '.join(result.releases) or 'nothing'}"
               + (f"; namespaces deleted: {', '.join(result.namespaces)}" if result.namespaces else "")
               + (f"; CRDs deleted: {len(result.crds)}" if result.crds else "") + kept, err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
