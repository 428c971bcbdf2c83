"""What the commands share: error mapping, the registry options, temporary directories, jq values.

Every :class:`~extractor.errors.ExtractorError` becomes one line on stderr (``error: ...``) and the
error family's exit code (:func:`handle_errors`); the library itself never prints or exits.
"""

from __future__ import annotations

import functools
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from extractor.errors import ConfigError, ExtractorError

F = TypeVar("F", bound=Callable[..., Any])


DEBUG = False
"""Set by ``-v -v``: an unexpected exception (a bug) keeps its traceback."""


def fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handle_errors(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ExtractorError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except Exception as exc:  # a bug: keep it to one line unless debugging
            if DEBUG:
                raise
            fail(f"internal error: {type(exc).__name__}: {exc} (run with -v -v for a traceback)", 70)
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


def make_acquire_options(params: dict[str, Any], work_dir: Path | None) -> Any:
    from extractor.acquire import AcquireOptions
    from extractor.acquire.retry import RetryPolicy

    mirrors: list[Any] = []
    mirror_values = [part for item in params.pop("mirrors", ()) for part in str(item).split()]
    if mirror_values:  # env var values may hold several, space-separated
        from extractor.acquire.reference import Mirror

        mirrors = [Mirror.parse(part) for part in mirror_values]
    url_mirrors: tuple[Any, ...] = ()
    url_mirror_values = [part for item in params.pop("url_mirrors", ()) for part in str(item).split()]
    if url_mirror_values:  # URL handling only when asked for
        from extractor.acquire.urlref import UrlMirror

        url_mirrors = tuple(UrlMirror.parse(part) for part in url_mirror_values)
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


class JqLines(click.ParamType[str]):
    """A jq expression; from an environment variable, one expression per line (expressions hold
    spaces, so the usual whitespace split would cut them)."""

    name = "JQ"
    envvar_list_splitter = "\n"

    def split_envvar_value(self, rv: str) -> list[str]:
        return [line for line in rv.split("\n") if line.strip()]

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return str(value)


def temporary_directory(path: Path | None) -> Any:
    """A temporary directory for one command (unpacked images), inside ``path`` when given
    (``--temp-dir``, created if missing)."""
    import tempfile

    if path is not None:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--temp-dir {path}: cannot create it ({exc.strerror})") from None
    return tempfile.TemporaryDirectory(prefix="bundle-extract-", dir=path)


TEMP_DIR_OPTION = click.option(
    "--temp-dir", type=click.Path(file_okay=False, path_type=Path), default=None, envvar="BUNDLE_EXTRACT_TEMP_DIR",
    help="Directory for temporary files (unpacked images and catalogs), created if missing; default: the "
    "system's. The blob cache stays in --cache-dir.",
)


def read_deployment_config(path: Path | None) -> dict[str, Any] | None:
    """``--deployment-config FILE`` parsed (``None`` without one); :class:`ConfigError` names the file."""
    if path is None:
        return None
    from extractor.config import load_deployment_config  # bundles.yaml machinery only when asked

    return load_deployment_config(path)
