"""``botkit serve``: run a deployment (its surfaces, in one process)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from botkit.cli.context import CLIContext, pass_context
from botkit.deploy.loader import default_bot_file, load_bot_file
from botkit.deploy.spec import BotSpec
from botkit.loader import load_catalog
from botkit.plugins import load_registry
from botkit.settings import Settings


def load_deployment(settings: Settings, bot_file: Path | None) -> tuple[BotSpec, str]:
    """The deployment to run and where it came from: ``--bot``, else configs/bots/default.yaml,
    else the HTTP API alone with the defaults."""
    config_dir = settings.require_config_dir()
    path = bot_file or default_bot_file(config_dir)
    if path is None:
        return BotSpec(name="default"), "the defaults (no configs/bots/default.yaml): the API alone"
    registry = load_registry(settings.all_plugin_dirs)
    catalog = load_catalog(config_dir, registry.providers.keys(), registry.tasks)
    names = [*catalog.gpts, *(p.stem for p in catalog.problems)]
    return load_bot_file(path, names), str(path)


@click.command()
@click.argument("surfaces", nargs=-1)
@click.option(
    "--bot",
    "bot_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The deployment file (default: configs/bots/default.yaml, else the API alone).",
)
@click.option("--host", help="Listen here (default: the file's surfaces.api.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Listen on this port (0: a free one).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object a line, with the request id of each message.",
)
@pass_context
def serve(
    ctx: CLIContext,
    surfaces: tuple[str, ...],
    bot_file: Path | None,
    host: str | None,
    port: int | None,
    log_format: str,
) -> None:
    """Serve GPTs: the OpenAI-compatible API and web page, Slack, Discord.

    \b
    botkit serve                       the deployment configs/bots/default.yaml
    botkit serve --bot configs/bots/team.yaml
    botkit serve api --host 0.0.0.0 --port 8000    only these surfaces
    """
    from botkit.serve import logs
    from botkit.serve.runner import ServeOptions
    from botkit.serve.runner import serve as run

    logs.configure(log_format)
    spec, origin = load_deployment(ctx.settings, bot_file)
    click.echo(f"botkit serve: {spec.name} from {origin}", err=True)

    def listening(bound_host: str, bound_port: int) -> None:
        click.echo(f"open http://{bound_host}:{bound_port}/ (OpenAI API at /v1)", err=True)

    options = ServeOptions(only=surfaces, host=host, port=port, on_listening=listening)
    sys.exit(asyncio.run(run(ctx.settings, spec, options)))
