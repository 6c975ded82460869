"""The ``botkit`` command: the root group, its global options, and error handling.

Each command group lives in its own module of this package and depends only on
:mod:`botkit.cli.context`; this module assembles them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from botkit.cli.catalog import gpts, plugins, schema, validate
from botkit.cli.console import console
from botkit.cli.context import CLIContext
from botkit.cli.discord import discord_group
from botkit.cli.doctor import doctor
from botkit.cli.eval import eval_group
from botkit.cli.feedback import feedback
from botkit.cli.finetune import finetune
from botkit.cli.init import init
from botkit.cli.knowledge import knowledge
from botkit.cli.serve import serve
from botkit.cli.slack import slack
from botkit.cli.usage import usage
from botkit.errors import BotkitError
from botkit.settings import Settings
from botkit.terminal import error


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder holding gpts/*.yaml and bots/*.yaml (default: $BOTKIT_CONFIG_DIR, else ./configs).",
)
@click.option(
    "--plugins-dir",
    "plugin_dirs",
    type=click.Path(path_type=Path, file_okay=False),
    multiple=True,
    help="A folder of your own plugins (repeatable).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.version_option(package_name="botkit")
@click.pass_context
def cli(
    ctx: click.Context, config_dir: Path | None, plugin_dirs: tuple[Path, ...], debug: bool
) -> None:
    """botkit: custom GPTs from YAML files, in the console, Slack, Discord and over HTTP."""
    ctx.obj = CLIContext(Settings.resolve(config_dir, plugin_dirs, debug))


COMMANDS = (
    init,
    console,
    serve,
    discord_group,
    gpts,
    validate,
    plugins,
    schema,
    doctor,
    knowledge,
    eval_group,
    finetune,
    usage,
    feedback,
    slack,
)
for command in COMMANDS:
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or bool(os.environ.get("BOTKIT_DEBUG"))
    try:
        cli.main(args=args, prog_name="botkit", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except BotkitError as exc:
        if debug:
            raise
        error(str(exc))
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
