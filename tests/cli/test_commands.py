"""The root group loads each subcommand's module only when it runs (extractor.cli.COMMANDS).

The table must describe the commands exactly: every command of the modules is in it, under its own
name, with the first paragraph of its own help, so that ``bundle-extract --help`` (written from the
table) reads as click would write it from the commands themselves.
"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import click

from extractor.cli import COMMANDS, main
from tests.conftest import REPO
from tests.test_imports import imported

MODULES = ("run", "generate", "images", "deploy")


def _commands_of_modules() -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for module in MODULES:
        for value in vars(importlib.import_module(f"extractor.cli.{module}")).values():
            if isinstance(value, click.Command) and value.name:
                assert value.name not in found, f"command {value.name} defined twice"
                found[value.name] = value
    return found


def test_the_table_names_every_command_with_its_own_help() -> None:
    commands = _commands_of_modules()
    assert set(commands) == set(COMMANDS)
    for name, command in commands.items():
        module, attr, first_paragraph = COMMANDS[name]
        assert command is getattr(importlib.import_module(f"extractor.cli.{module}"), attr)
        assert inspect.cleandoc(command.help or "").split("\n\n")[0] == first_paragraph, name


def test_root_help_reads_as_click_writes_it_from_the_commands() -> None:
    """A plain click group holding the real commands writes the same ``--help``."""
    eager = click.Group(name=main.name, params=main.params, help=main.help, commands=_commands_of_modules(),
                        context_settings=main.context_settings)
    lazy_help = main.get_help(click.Context(main, info_name="bundle-extract"))
    eager_help = eager.get_help(click.Context(eager, info_name="bundle-extract"))
    assert lazy_help == eager_help
    assert "update-bundle" in lazy_help and "Pull bundles listed in the config" in lazy_help


def test_help_imports_no_command_module_and_a_command_only_its_own() -> None:
    def loaded(*args: str) -> set[str]:
        return {name for name in imported(*args) if name.startswith("extractor.cli.")}

    assert loaded("--help") == {"extractor.cli.common"}
    assert loaded("run", "--help") == {"extractor.cli.common", "extractor.cli.run"}
    assert loaded("images", "--help") == {"extractor.cli.common", "extractor.cli.images"}


def test_an_unknown_command_is_one_line_with_the_usage_exit_code() -> None:
    proc = subprocess.run([sys.executable, "-m", "extractor", "no-such-command"], capture_output=True, text=True,
                          timeout=60, check=False, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: No such command 'no-such-command'. (see 'bundle-extract --help')"]
