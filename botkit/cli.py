"""The ``botkit`` command."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from botkit.adapters.console import run_console
from botkit.cli_eval import eval_group
from botkit.cli_finetune import finetune
from botkit.cli_knowledge import knowledge
from botkit.core.bot import Bot
from botkit.errors import BotkitError, ConfigError
from botkit.loader import gpt_files, load_gpt_file
from botkit.plugins import load_registry
from botkit.settings import data_dir
from botkit.spec import json_schema
from botkit.terminal import error, show_rows, warn


@dataclass
class Settings:
    config_dir: Path
    plugin_dirs: tuple[Path, ...]
    debug: bool

    @property
    def all_plugin_dirs(self) -> tuple[Path, ...]:
        """The project's own plugins/ folder (built-in task plugins), then the user's folders."""
        return (self.config_dir.absolute().parent / "plugins", *self.plugin_dirs)

    def bot(self) -> Bot:
        bot = Bot.from_config(self.config_dir, data_dir(), self.all_plugin_dirs)
        for failure in bot.registry.failures:
            warn(f"plugin {failure.plugin} {failure.error}")
        return bot


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("configs"),
    envvar="BOTKIT_CONFIG_DIR",
    show_default=True,
    help="Folder holding gpts/*.yaml (env BOTKIT_CONFIG_DIR).",
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
def cli(ctx: click.Context, config_dir: Path, plugin_dirs: tuple[Path, ...], debug: bool) -> None:
    """botkit: custom GPTs from YAML files, in the console, Slack, Discord and over HTTP."""
    ctx.obj = Settings(config_dir, plugin_dirs, debug)


@cli.command()
@click.option("--gpt", "gpt_name", required=True, help="The GPT to talk to (see `botkit gpts`).")
@click.option("--resume", is_flag=True, help="Continue your last conversation with this GPT.")
@click.pass_obj
def console(settings: Settings, gpt_name: str, resume: bool) -> None:
    """Chat with a GPT in the terminal (or pipe messages through it, one a line)."""
    sys.exit(run_console(settings.bot(), gpt_name, resume=resume, debug=settings.debug))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def gpts(settings: Settings, as_json: bool) -> None:
    """List the GPTs of the config folder."""
    catalog = settings.bot().catalog
    rows = [
        {
            "name": g.spec.name,
            "model": g.spec.model.label,
            "task": g.spec.task.plugin if g.spec.task else "",
            "description": g.spec.description,
            "file": str(g.path),
        }
        for g in catalog.gpts.values()
    ]
    show_rows(rows, ["name", "model", "task", "description"], as_json)
    for path, problems in catalog.problems.items():
        warn(f"{path} has {len(problems)} problem(s); run `botkit validate {path}`")
    if not catalog.gpts and not catalog.problems:
        warn(f"no GPT files in {settings.config_dir / 'gpts'}")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, exists=True))
@click.pass_obj
def validate(settings: Settings, paths: tuple[Path, ...]) -> None:
    """Check GPT files (default: the config folder); exit 1 on any problem."""
    registry = load_registry(settings.all_plugin_dirs)
    files = gpt_files(paths or [settings.config_dir])
    if not files:
        raise BotkitError(
            f"no GPT files found in {', '.join(map(str, paths or [settings.config_dir]))}"
        )
    bad = 0
    for path in files:
        try:
            spec = load_gpt_file(path, registry.providers.keys(), registry.tasks)
        except ConfigError as exc:
            bad += 1
            for problem in exc.problems:
                click.echo(str(problem))
        else:
            click.echo(f"{path}: ok ({spec.name})")
    if bad:
        click.echo(f"{bad} of {len(files)} file(s) have problems", err=True)
        sys.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
def plugins(settings: Settings, as_json: bool) -> None:
    """List model providers, embedders and task plugins, and where each comes from."""
    registry = load_registry(settings.all_plugin_dirs)
    rows = [
        {"kind": kind, "name": name, "plugin": plugin, "source": registry.sources.get(plugin, "")}
        for (kind, name), plugin in sorted(registry.origins.items())
    ]
    show_rows(rows, ["kind", "name", "plugin", "source"], as_json)
    for failure in registry.failures:
        warn(f"plugin {failure.plugin} {failure.error}")


@cli.command()
def schema() -> None:
    """Print the JSON Schema of GPT files (for editor completion)."""
    click.echo(json.dumps(json_schema(), indent=2))


cli.add_command(knowledge)
cli.add_command(finetune)
cli.add_command(eval_group)


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
