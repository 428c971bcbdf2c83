"""The ``bundle-extract`` command line (click). Parses options, calls the library, maps errors.

Every :class:`~extractor.errors.ExtractorError` becomes one line on stderr (``error: ...``) and
the error family's exit code; the library itself never prints or exits.

The group loads a subcommand's module only when that command runs (:data:`COMMANDS` names the
module of each and the first paragraph of its help, which ``bundle-extract --help`` lists without
importing any of them): building every command's options costs more than a small ``run``'s
rendering. ``tests/cli/test_lazy_commands.py`` keeps the table equal to the commands' own help.
"""

from __future__ import annotations

import importlib
import sys
from gettext import gettext as _
from typing import Any

import click

from extractor import __version__
from extractor.cli import common
from extractor.cli.common import fail

__all__ = ["COMMANDS", "main"]

#: command name -> (module under extractor.cli, function, first paragraph of its help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "adopt": ("deploy", "adopt_command",
              "Hand objects of the old charts over to a generated release (explicit opt-in)."),
    "demo": ("deploy", "demo_command",
             "The main job on an embedded default: a local registry seeded with sample bundle images,\n"
             "then charts + helmfile, then `helmfile template`. Uses the real bundles of ../shared/bundles when\n"
             "they are there, else small samples the tool writes itself (--builtin-samples forces them)."),
    "destroy": ("deploy", "destroy_command",
                "helmfile destroy the releases; CRDs (and every custom resource) are kept unless --delete-crds."),
    "diff": ("generate", "diff_command",
             "Review what a regeneration changes, semantically: Markdown for a pull request (or --json)."),
    "helmfile": ("generate", "helmfile_command",
                 "Regenerate helmfile.yaml.gotmpl from the generated charts (no pulling)."),
    "images": ("images", "images_command",
               "Print every image the generated charts run (from charts/*/release.yaml; nothing is pulled)."),
    "krm": ("run", "krm_command",
            "Run as a Kustomize KRM function (generator): read a ResourceList on stdin, write it back\n"
            "with the rendered objects as items."),
    "list-versions": ("generate", "list_versions_command",
                      "Print the tags of REPOSITORY (or of --bundle's image), one per line, oldest version first."),
    "outdated": ("generate", "outdated_command",
                 "List newer versions of the bundles in the config, and tags rebuilt since generation."),
    "package": ("deploy", "package_command",
                "helm package every generated chart (and its <name>-crds chart), or the CHARTS given, reproducibly."),
    "pull-secret": ("images", "pull_secret_command",
                    "Print chart values filling pullSecret.dockerConfigJson for the registries a chart pulls from."),
    "push": ("deploy", "push_command",
             "Package (as `package` does) and helm push every generated chart, or the CHARTS given, to --repo."),
    "run": ("run", "run_command",
            "Print the plain manifests OLM would apply for BUNDLE (image reference or directory; with\n"
            "--catalog, PACKAGE[:VERSION])."),
    "update-bundle": ("generate", "update_bundle_command",
                      "Pull bundles listed in the config and regenerate their charts and the helmfile."),
    "verify": ("generate", "verify_command",
               "Regenerate from bundles.lock.yaml's digests and compare with charts/ and the helmfile."),
}


class _Commands(click.Group):
    """The root group: subcommands from :data:`COMMANDS`, imported on first use; usage errors
    (unknown option, missing argument, a value click itself refuses) are one ``error:`` line like
    every other error, with click's exit code (2)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        command: click.Command = getattr(importlib.import_module(f"{__name__}.{spec[0]}"), spec[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands section of ``--help`` from the table: the same text click writes from the
        commands themselves (their short help is the first paragraph of their help)."""
        stand_ins = [click.Command(name, help=COMMANDS[name][2]) for name in self.list_commands(ctx)]
        limit = formatter.width - 6 - max(len(command.name or "") for command in stand_ins)
        rows = [(command.name or "", command.get_short_help_str(limit)) for command in stand_ins]
        with formatter.section(_("Commands")):
            formatter.write_dl(rows)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.ClickException as exc:
            hint = ""
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                hint = f" (see '{exc.ctx.command_path} --help')"
            fail(exc.format_message().replace("\n", " ") + hint, exc.exit_code)
        except click.Abort:
            fail("aborted", 1)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="bundle-extract")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Render OLM registry+v1 bundles into Helm charts and a helmfile for clusters without OLM."""
    common.DEBUG = verbose >= 2
    if verbose:  # at the default level no module is imported for it: warnings reach stderr anyway
        import logging

        level = logging.WARNING - 10 * min(verbose, 2)
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    main()
