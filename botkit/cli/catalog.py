"""``botkit gpts``, ``validate``, ``plugins`` and ``schema``: what a project holds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from botkit.cli.context import CLIContext, pass_context
from botkit.deploy.loader import BOTS_FOLDER, bot_files, load_bot_file
from botkit.deploy.spec import bot_json_schema
from botkit.errors import BotkitError, ConfigError
from botkit.loader import gpt_files, load_catalog, load_gpt_file
from botkit.plugins import load_registry
from botkit.spec import json_schema
from botkit.terminal import show_rows, warn


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_context
def gpts(ctx: CLIContext, as_json: bool) -> None:
    """List the GPTs of the config folder."""
    catalog = ctx.bot(conversations=False).catalog
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
        warn(f"no GPT files in {ctx.settings.config_dir / 'gpts'}")


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path, exists=True))
@pass_context
def validate(ctx: CLIContext, paths: tuple[Path, ...]) -> None:
    """Check GPT files and deployment files (default: the config folder); exit 1 on any problem.

    A deployment file is one under a bots/ folder; the GPTs it names must exist.
    """
    settings = ctx.settings
    if not paths:
        settings.require_config_dir()
    registry = load_registry(settings.all_plugin_dirs)
    given = list(paths or [settings.config_dir])
    bots = [p for p in given if p.is_file() and p.parent.name == BOTS_FOLDER]
    gpt_paths = [p for p in given if p not in bots]
    bots += [b for p in gpt_paths if p.is_dir() for b in bot_files(p)]
    files = gpt_files(gpt_paths)
    if not files and not bots:
        raise BotkitError(f"no GPT or deployment files found in {', '.join(map(str, given))}")
    names: set[str] = set()
    bad = 0
    for path in files:
        try:
            spec = load_gpt_file(path, registry.providers.keys(), registry.tasks)
        except ConfigError as exc:
            bad += 1
            names.add(path.stem)  # still a GPT a deployment may name: its problems are above
            for problem in exc.problems:
                click.echo(str(problem))
        else:
            names.add(spec.name)
            click.echo(f"{path}: ok ({spec.name})")
    if bots and not files:  # deployment files alone: check them against the project's GPTs
        names = (
            set(load_catalog(settings.config_dir).gpts) if settings.config_dir.is_dir() else set()
        )
    for path in bots:
        try:
            bot = load_bot_file(path, names)
        except ConfigError as exc:
            bad += 1
            for problem in exc.problems:
                click.echo(str(problem))
        else:
            click.echo(f"{path}: ok (deployment {bot.name})")
    if bad:
        click.echo(f"{bad} of {len(files) + len(bots)} file(s) have problems", err=True)
        sys.exit(1)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_context
def plugins(ctx: CLIContext, as_json: bool) -> None:
    """List model providers, embedders and task plugins, and where each comes from."""
    registry = load_registry(ctx.settings.all_plugin_dirs)
    rows = [
        {"kind": kind, "name": name, "plugin": plugin, "source": registry.sources.get(plugin, "")}
        for (kind, name), plugin in sorted(registry.origins.items())
    ]
    show_rows(rows, ["kind", "name", "plugin", "source"], as_json)
    for failure in registry.failures:
        warn(f"plugin {failure.plugin} {failure.error}")
    for note in registry.notes:
        warn(note)


@click.command()
@click.option("--bot", "bot", is_flag=True, help="The schema of deployment files instead.")
def schema(bot: bool) -> None:
    """Print the JSON Schema of GPT files (or of deployment files), for editor completion."""
    click.echo(json.dumps(bot_json_schema() if bot else json_schema(), indent=2))
