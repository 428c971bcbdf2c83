"""``make package`` / ``make push``: the generated charts as reproducible archives, pushed to an OCI registry.

:func:`package_charts` runs ``helm package`` on every generated chart of the project (each
bundles.yaml entry's chart and its ``<name>-crds`` companion) or on the chart directories given,
into a private temporary directory, then rewrites each archive so that it depends on nothing but
the chart's files: Helm writes each tar entry with the time of packaging (helm 3) or the file's
modification time (helm 4), and a gzip header of its own. The rewritten archive holds the same
entries in the same order with mtime :data:`ARCHIVE_MTIME` (or ``$SOURCE_DATE_EPOCH``), owner
0/0 and no owner names, in a gzip stream without a time stamp or file name, so two runs give
byte-identical ``.tgz`` files. They are moved into the destination directory only once every
chart packaged (nothing half-written).

:func:`push_charts` pushes archives with ``helm push`` to ``oci://HOST/PATH``. Credentials are
looked up exactly as pulls look them up (:func:`extractor.acquire.credentials.find_credentials`:
``--authfile``, ``REGISTRY_AUTH_FILE``, podman's auth files, ``credHelpers``, ``credsStore``) and
handed to helm in a registry config file (``HELM_REGISTRY_CONFIG``) written into a private
(0700) temporary directory and deleted when helm is done; nothing is written into the project or
into the user's helm configuration. Without credentials helm's own configuration applies
(``helm registry login``). Loopback registries are reached over plain HTTP (``--plain-http``), as
pulls reach them.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from extractor import yamlio
from extractor.acquire.credentials import auth_file_candidates, find_credentials
from extractor.acquire.reference import Reference, is_loopback
from extractor.config import load_config
from extractor.emit.chart import ANNOTATION_PREFIX, CHARTS_DIR
from extractor.emit.crds_chart import CRDS_OF_ANNOTATION, crds_chart_name
from extractor.emit.swap import Staging
from extractor.errors import ConfigError, EmitError, ExtractorError, ToolError
from extractor.files import read_bounded
from extractor.tools import find_tool, run_tool

__all__ = [
    "ARCHIVE_MTIME", "PushResult", "generated_charts", "normalise_archive", "package_charts", "publish_charts",
    "push_charts",
]

ARCHIVE_MTIME = 0
"""Modification time (seconds since the epoch) of every entry of a packaged chart, unless
``$SOURCE_DATE_EPOCH`` says otherwise."""
MAX_ARCHIVE_BYTES = 256 * 1024 * 1024
"""Largest archive (compressed or unpacked) :func:`normalise_archive` reads."""
_AUTH_WORDS = ("401", "403", "unauthorized", "authentication", "denied", "forbidden")
HELM_TIMEOUT = 300.0
"""Seconds one ``helm package`` or ``helm push`` may run."""


def _chart_meta(chart_dir: Path) -> dict[str, object] | None:
    try:
        meta = yamlio.load(read_bounded(chart_dir / "Chart.yaml"))
    except (OSError, yaml.YAMLError, ExtractorError):
        return None
    return meta if isinstance(meta, dict) else None


def _is_generated(chart_dir: Path) -> bool:
    """A chart bundle-extract wrote: its Chart.yaml carries our csv-name or crds-of annotation."""
    meta = _chart_meta(chart_dir)
    annotations = meta.get("annotations") if meta else None
    return isinstance(annotations, dict) and bool(
        annotations.get(ANNOTATION_PREFIX + "csv-name") or annotations.get(CRDS_OF_ANNOTATION))


def generated_charts(config_path: Path, root: Path) -> list[Path]:
    """Every generated chart of the project, in bundles.yaml order: ``charts/<name>`` then, when
    it exists, ``charts/<name>-crds``.

    Raises :class:`ConfigError` when bundles.yaml is invalid or an entry's chart has not been
    generated yet.
    """
    config = load_config(config_path)
    found: list[Path] = []
    for entry in config.bundles:
        chart = root / CHARTS_DIR / entry.name
        if not _is_generated(chart):
            raise ConfigError(f"{chart}: chart {entry.name!r} has not been generated; run 'make update-bundle'")
        found.append(chart)
        companion = root / CHARTS_DIR / crds_chart_name(entry.name)
        if companion.is_dir():
            found.append(companion)
    return found


def _source_date_epoch(env: Mapping[str, str]) -> int:
    text = env.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return ARCHIVE_MTIME
    if not text.isdigit():
        raise ConfigError(f"SOURCE_DATE_EPOCH={text[:40]!r} is not a whole number of seconds")
    return int(text)


def normalise_archive(data: bytes, mtime: int = ARCHIVE_MTIME) -> bytes:
    """``data`` (a ``helm package`` ``.tgz``) rewritten reproducibly (see the module docstring):
    the same entries, in the same order, with the same contents and modes.

    Raises :class:`EmitError` for an archive that is not a gzip-compressed tar of regular files
    and directories, or larger than :data:`MAX_ARCHIVE_BYTES` (compressed or unpacked).
    """
    if len(data) > MAX_ARCHIVE_BYTES:
        raise EmitError(f"chart archive of {len(data)} bytes is over the {MAX_ARCHIVE_BYTES}-byte limit")
    out = io.BytesIO()
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as source, \
                gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as zipped, \
                tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as target:
            for member in source:
                if not (member.isfile() or member.isdir()):
                    raise EmitError(f"chart archive entry {member.name!r} is not a file or a directory")
                total += member.size
                if total > MAX_ARCHIVE_BYTES:
                    raise EmitError(f"chart archive unpacks to more than {MAX_ARCHIVE_BYTES} bytes")
                info = tarfile.TarInfo(member.name)
                info.type = member.type
                info.mode = member.mode & 0o7777
                info.size = member.size if member.isfile() else 0
                info.mtime = mtime
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.pax_headers = {}
                target.addfile(info, source.extractfile(member) if member.isfile() else None)
    except (tarfile.TarError, OSError, EOFError, gzip.BadGzipFile) as exc:
        raise EmitError(f"chart archive is not a gzip-compressed tar ({type(exc).__name__})") from None
    return out.getvalue()


def _helm(helm: Path | None) -> str:
    if helm is not None:
        return str(helm)
    found = find_tool("helm")
    if found is None:
        raise ToolError("helm: not found (run 'make tools' or set BUNDLE_EXTRACT_HELM)")
    return str(found)


def _run_helm(binary: str, args: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``binary args`` with ``env`` added to the environment; :class:`ToolError` with helm's
    last output line when it fails or runs longer than :data:`HELM_TIMEOUT`."""
    return run_tool("helm", args, path=binary, env=env, timeout=HELM_TIMEOUT)


def package_charts(
    charts: Sequence[Path], dest: Path, *, helm: Path | None = None, env: Mapping[str, str] | None = None,
) -> list[Path]:
    """Package each chart directory of ``charts`` into ``dest`` (created) as
    ``<name>-<version>.tgz``, reproducibly; return the archive paths, in ``charts`` order.

    ``helm``: the helm binary (default: :func:`extractor.tools.find_tool`). ``env``: where
    ``SOURCE_DATE_EPOCH`` is read (default ``os.environ``). Every chart is checked before any is
    packaged, and nothing is written to ``dest`` unless all of them packaged. Raises
    :class:`ConfigError` for a directory that is not a chart bundle-extract generated (one line
    naming it), :class:`ToolError` when helm fails, :class:`EmitError` when ``dest`` cannot be written.
    """
    env = os.environ if env is None else env
    mtime = _source_date_epoch(env)
    if not charts:
        raise ConfigError("package: no charts to package")
    for chart in charts:
        if not _is_generated(chart):
            raise ConfigError(f"{chart}: not a chart generated by bundle-extract (no Chart.yaml with "
                              f"{ANNOTATION_PREFIX}csv-name); refusing to package it")
    binary = _helm(helm)
    with Staging(dest, ".bundle-extract-package-") as staging:
        staged: list[Path] = []
        for index, chart in enumerate(charts):
            out = staging.path / str(index)
            out.mkdir()
            try:
                _run_helm(binary, ["package", str(chart), "--destination", str(out)], {})
            except ToolError as exc:
                raise ToolError(f"helm package {chart}: {exc}") from None
            archives = sorted(out.glob("*.tgz"))
            if len(archives) != 1:
                raise ToolError(f"helm package {chart}: expected one archive, found {len(archives)}")
            archive = archives[0]
            archive.write_bytes(normalise_archive(archive.read_bytes(), mtime))
            staged.append(archive)
        names = [a.name for a in staged]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"package: two charts give the same archive {duplicates[0]}")
        results = []
        try:
            for archive in staged:
                target = dest / archive.name
                archive.replace(target)
                results.append(target)
        except OSError as exc:
            raise EmitError(f"{dest}: cannot move the packages into place: {exc.strerror}") from None
    return results


def publish_charts(
    charts: Sequence[Path],
    dest: Path,
    repo: str,
    *,
    helm: Path | None = None,
    authfile: Path | None = None,
    plain_http: bool | None = None,
    ca_file: Path | None = None,
) -> list[PushResult]:
    """``make push``: :func:`package_charts` into a private temporary directory, :func:`push_charts`
    every archive, then move the archives into ``dest`` (created then). ``repo`` is checked first;
    when packaging or a push fails, ``dest`` is left as it was. Raises what those two raise."""
    _parse_repo(repo)
    with tempfile.TemporaryDirectory(prefix="bundle-extract-packages-") as tmp:
        archives = package_charts(charts, Path(tmp), helm=helm)
        pushed = push_charts(archives, repo, helm=helm, authfile=authfile, plain_http=plain_http, ca_file=ca_file)
        try:
            dest.mkdir(parents=True, exist_ok=True)
            for archive in archives:
                shutil.move(archive, dest / archive.name)
        except OSError as exc:
            raise EmitError(f"{dest}: cannot move the packages into place: {exc.strerror}") from None
    return [dataclasses.replace(p, archive=dest / p.archive.name) for p in pushed]


@dataclass(frozen=True)
class PushResult:
    """One pushed archive: the ``oci://`` reference and the manifest digest helm reported."""

    archive: Path
    reference: str
    digest: str


def _parse_repo(repo: str) -> tuple[str, str]:
    """``oci://host[:port]/path`` -> (host, path). Raises :class:`ConfigError`."""
    if not repo or not repo.startswith("oci://"):
        raise ConfigError(f"push: REPO={repo[:200]!r} must be an OCI repository, oci://HOST/PATH")
    rest = repo[len("oci://"):].rstrip("/")
    host, _, path = rest.partition("/")
    if "@" in host:  # never echo user:password@ back
        raise ConfigError(f"push: REPO=oci://{host.rpartition('@')[2]}/...: credentials in REPO are not accepted "
                          "(use an auth file or a credential helper)")
    try:
        Reference.parse(f"{host}/{path or 'charts'}/chart")
    except ConfigError:
        raise ConfigError(f"push: REPO={repo!r} is not a valid oci://HOST/PATH") from None
    if not host or ("." not in host and ":" not in host and host != "localhost"):
        raise ConfigError(f"push: REPO={repo!r} must name a registry host (oci://HOST/PATH)")
    return host, path


def _chart_name(archive: Path) -> str:
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                if member.isfile() and member.name.count("/") == 1 and member.name.endswith("/Chart.yaml"):
                    return member.name.split("/", 1)[0]
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ConfigError(f"{archive}: not a chart archive ({type(exc).__name__})") from None
    raise ConfigError(f"{archive}: not a chart archive (no <chart>/Chart.yaml)")


def push_charts(
    archives: Sequence[Path],
    repo: str,
    *,
    helm: Path | None = None,
    authfile: Path | None = None,
    plain_http: bool | None = None,
    ca_file: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> list[PushResult]:
    """``helm push`` each archive to ``repo`` (``oci://HOST/PATH``; a chart lands at
    ``HOST/PATH/<chart>:<version>``). Returns what was pushed, in order.

    ``plain_http``: ``None`` = plain HTTP for loopback hosts only. ``authfile``, ``env``: as for
    :func:`extractor.acquire.credentials.find_credentials`. Raises :class:`ConfigError` for a bad
    ``repo`` or archive (checked before anything is pushed), :class:`ToolError` naming the archive
    and helm's last error line (never a credential) when a push fails; pushes stop at the first
    failure.
    """
    host, path = _parse_repo(repo)
    if not archives:
        raise ConfigError("push: no chart archives to push")
    names = [_chart_name(a) for a in archives]
    env = os.environ if env is None else env
    creds = find_credentials(Reference.parse(f"{host}/{path or names[0]}/{names[0]}"), authfile=authfile, env=env)
    plain = is_loopback(host) if plain_http is None else plain_http
    binary = _helm(helm)
    flags = (["--plain-http"] if plain else []) + (["--ca-file", str(ca_file)] if ca_file else [])
    results: list[PushResult] = []
    with tempfile.TemporaryDirectory(prefix="bundle-extract-push-") as tmp:
        os.chmod(tmp, 0o700)
        extra = {"HELM_CACHE_HOME": str(Path(tmp) / "cache")}
        token = ""
        if creds is not None:
            config = Path(tmp) / "registry.json"
            token = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
            fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"auths": {host: {"auth": token}}}, handle)
            extra["HELM_REGISTRY_CONFIG"] = str(config)
        for archive, name in zip(archives, names, strict=True):
            try:
                proc = _run_helm(binary, ["push", str(archive), repo.rstrip("/"), *flags], extra)
            except ToolError as exc:
                hint = ""
                if creds is None and any(word in str(exc).lower() for word in _AUTH_WORDS):
                    places = ", ".join(str(p) for p in auth_file_candidates(authfile, env))
                    hint = f" (no credentials for {host} in {places}, nor a credential helper)"
                message = str(exc)
                if creds is not None:  # helm's line should not hold the secret; make sure
                    for secret in (creds.password, token):
                        if secret:
                            message = message.replace(secret, "***")
                raise ToolError(f"push {archive.name} to {repo}: {message}{hint}") from None
            digest = ""
            for line in (proc.stdout + "\n" + proc.stderr).splitlines():
                if line.startswith("Digest:"):
                    digest = line.split(":", 1)[1].strip()
            results.append(PushResult(archive=archive, reference=f"{repo.rstrip('/')}/{name}", digest=digest))
    return results
