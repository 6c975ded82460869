"""``botkit slack ...``: what setting up the Slack surface needs."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from botkit.cli.context import CLIContext, pass_context
from botkit.cli.serve import load_deployment


@click.group()
def slack() -> None:
    """Set up the Slack surface."""


@slack.command()
@click.option(
    "--bot",
    "bot_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The deployment file (default: configs/bots/default.yaml).",
)
@click.option("--request-url", default="https://YOUR-HOST/slack/events", show_default=True,
              help="HTTP mode: where Slack sends events (botkit serves /slack/events).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="JSON instead of YAML.")
@pass_context
def manifest(ctx: CLIContext, bot_file: Path | None, request_url: str, as_json: bool) -> None:
    """Print a Slack app manifest: create the app from it, install it, then export
    SLACK_BOT_TOKEN (and SLACK_APP_TOKEN for Socket Mode, or SLACK_SIGNING_SECRET for HTTP)."""
    from botkit.adapters.slack.manifest import manifest as make

    spec, _ = load_deployment(ctx.settings, bot_file)
    found = make(spec, request_url)
    click.echo(json.dumps(found, indent=2) if as_json else yaml.safe_dump(found, sort_keys=False))
