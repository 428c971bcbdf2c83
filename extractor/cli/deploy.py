"""Commands around deployment: ``demo``, ``adopt``, ``package``, ``push`` and ``destroy``."""

from __future__ import annotations

from pathlib import Path

import click

from extractor.cli.common import (
    F,
    handle_errors,
)
from extractor.errors import ConfigError


@click.command("demo")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="bundles.yaml to use (default: the one shipped with the project).")
@click.option("--bundles-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Sample bundle directories (default: ../shared/bundles beside the project).")
@click.option("-o", "--output", "workdir", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".demo"), show_default=True, help="Where charts, helmfile and output go.")
@click.option("--builtin-samples", "builtin", is_flag=True,
              help="Use the small sample bundles the tool writes itself, even when ../shared/bundles exists.")
@handle_errors
def demo_command(config_path: Path | None, bundles_dir: Path | None, workdir: Path, builtin: bool) -> None:
    """The main job on an embedded default: a local registry seeded with sample bundle images,
    then charts + helmfile, then `helmfile template`. Uses the real bundles of ../shared/bundles when
    they are there, else small samples the tool writes itself (--builtin-samples forces them)."""
    from extractor.demo.run import run_demo

    result = run_demo(workdir, config_path=config_path, bundles_dir=bundles_dir, builtin=builtin)
    for line in result.summary():
        click.echo(line)


@click.command("adopt")
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
@handle_errors
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


@click.command("package")
@click.argument("charts", nargs=-1, type=click.Path(file_okay=False, path_type=Path))
@_package_options
@handle_errors
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


@click.command("push")
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
@handle_errors
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


@click.command("destroy")
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
@handle_errors
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
