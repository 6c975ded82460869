"""``botkit console``: chat with a GPT in the terminal."""

from __future__ import annotations

import sys

import click

from botkit.adapters.console import run_console
from botkit.cli.context import CLIContext, pass_context


@click.command()
@click.option("--gpt", "gpt_name", required=True, help="The GPT to talk to (see `botkit gpts`).")
@click.option("--resume", is_flag=True, help="Continue your last conversation with this GPT.")
@pass_context
def console(ctx: CLIContext, gpt_name: str, resume: bool) -> None:
    """Chat with a GPT in the terminal (or pipe messages through it, one a line)."""
    bot = ctx.bot(conversations=True)
    sys.exit(run_console(bot, gpt_name, resume=resume, debug=ctx.settings.debug))
