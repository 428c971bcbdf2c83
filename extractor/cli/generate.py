"""Commands on a bundles.yaml project: ``update-bundle``, ``list-versions``, ``verify``, ``helmfile``,
``outdated`` and ``diff``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from extractor.cli.common import (
    acquire_options,
    fail,
    handle_errors,
    make_acquire_options,
)
from extractor.errors import ConfigError, ExtractorError


@click.command("update-bundle")
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
@handle_errors
def update_bundle_command(
    config_path: Path, root: Path | None, bundle: str | None, version: str | None, keep_going: bool,
    strict_images: bool, **params: Any
) -> None:
    """Pull bundles listed in the config and regenerate their charts and the helmfile.

    All or nothing: when an entry fails, every failing entry is reported (one line each) and
    nothing is written, unless --keep-going.
    """
    from extractor.pipeline import update_bundle

    root = root or config_path.resolve().parent
    # no work directory: bundles are unpacked in the output's staging directory, made only when
    # something is pulled (a no-op run creates no directory at all)
    result = update_bundle(
        config_path, root, make_acquire_options(params, None), bundle=bundle, version=version,
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


@click.command("list-versions")
@click.argument("repository", required=False)
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("bundles.yaml"), show_default=True, help="The bundles file (with --bundle).")
@click.option("--bundle", default=None, help="List the versions of this bundles.yaml entry's image.")
@acquire_options
@handle_errors
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
        tags = list_versions(repository, make_acquire_options(params, Path(tmp)))
    for tag in tags:
        click.echo(tag)


@click.command("verify")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("bundles.yaml"), show_default=True, help="The bundles file (bundles.lock.yaml beside it).")
@click.option("-o", "--output", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory holding charts/ and helmfile.yaml.gotmpl (default: the config's directory).")
@acquire_options
@handle_errors
def verify_command(config_path: Path, root: Path | None, **params: Any) -> None:
    """Regenerate from bundles.lock.yaml's digests and compare with charts/ and the helmfile.

    Exit 0 when identical; exit 1 listing every differing file (hand edits, stale output, a
    generator whose output changed). Nothing in the project is written.
    """
    import tempfile

    from extractor.pipeline import verify

    root = root or config_path.resolve().parent
    with tempfile.TemporaryDirectory(prefix="bundle-extract-") as tmp:
        problems = verify(config_path, root, make_acquire_options(params, Path(tmp)))
    if problems:
        for line in problems:
            click.echo(line)
        click.echo(f"error: {len(problems)} file(s) differ from what bundles.lock.yaml regenerates; "
                   "run 'make update-bundle' and commit the result", err=True)
        sys.exit(1)
    click.echo("verify: charts/, the helmfile and bundles.lock.yaml match the lock", err=True)


@click.command("helmfile")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("bundles.yaml"), show_default=True)
@click.option("-o", "--output", "root", type=click.Path(file_okay=False, path_type=Path), default=None)
@handle_errors
def helmfile_command(config_path: Path, root: Path | None) -> None:
    """Regenerate helmfile.yaml.gotmpl from the generated charts (no pulling)."""
    from extractor.config import load_config
    from extractor.pipeline import regenerate_helmfile

    config = load_config(config_path)
    path = regenerate_helmfile(config, root or config_path.resolve().parent)
    click.echo(f"helmfile: {path}", err=True)


@click.command("outdated")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("bundles.yaml"), show_default=True, help="The bundles file.")
@click.option("-o", "--output", "root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory holding the generated charts/ (default: the config's directory).")
@click.option("--bundle", default=None, help="Check only this bundles.yaml entry.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (for CI) instead of a table.")
@acquire_options
@handle_errors
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
                               make_acquire_options(params, Path(tmp)), only=[bundle] if bundle else None)
    except ExtractorError as exc:
        fail(str(exc), 1 if exc.exit_code == UPDATES_EXIT_CODE else exc.exit_code)
        return
    click.echo(to_json(results) if as_json else format_table(results), nl=False)
    if updates_available(results):
        sys.exit(UPDATES_EXIT_CODE)


@click.command("diff")
@click.argument("base", required=False, default="HEAD")
@click.argument("head", required=False)
@click.option("-o", "--output", "root", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The generated project (holding charts/); git refs are read from its repository.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of Markdown.")
@handle_errors
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
