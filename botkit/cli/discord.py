"""``botkit discord``: what a server admin needs to add the bot (its invitation URL)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from botkit.cli.context import CLIContext, pass_context
from botkit.errors import BotkitError


@click.group("discord")
def discord_group() -> None:
    """The Discord surface: invite the bot to a server."""


@discord_group.command("invite-url")
@click.option(
    "--bot",
    "bot_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The deployment file, for the variable holding the bot token (surfaces.discord."
    "token_env; default: configs/bots/default.yaml, else DISCORD_TOKEN).",
)
@click.option(
    "--app-id",
    type=click.IntRange(min=1),
    help="The application id (Developer Portal -> General Information); default: asked of "
    "Discord with the bot token.",
)
@pass_context
def invite_url(ctx: CLIContext, bot_file: Path | None, app_id: int | None) -> None:
    """Print the URL that adds the bot to a server, with its slash commands and exactly the
    permissions it uses (listed on stderr).

    \b
    botkit discord invite-url --bot configs/bots/team.yaml
    botkit discord invite-url --app-id 123456789012345678
    """
    from botkit.adapters.discord.invite import PERMISSIONS, fetch_application_id
    from botkit.adapters.discord.invite import invite_url as url

    if app_id is None:
        from botkit.cli.serve import load_deployment

        spec, _ = load_deployment(ctx.settings, bot_file)
        env = spec.surfaces.discord.token_env
        token = os.environ.get(env, "").strip()
        if not token:
            raise BotkitError(
                f"give the application id with --app-id, or export ${env} (the bot token) to "
                "ask Discord for it"
            )
        app_id = asyncio.run(fetch_application_id(token))
    click.echo(url(app_id))
    click.echo("Open it as a server admin. It asks for:", err=True)
    for name, (_, why) in PERMISSIONS.items():
        click.echo(f"  {name}: {why}", err=True)
    click.echo("  scopes bot and applications.commands (the slash commands)", err=True)
