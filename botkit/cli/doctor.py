"""``botkit doctor``: check the installation and the project."""

from __future__ import annotations

import sys

import click

from botkit.cli.context import CLIContext, pass_context
from botkit.doctor import run_checks


@click.command()
@pass_context
def doctor(ctx: CLIContext) -> None:
    """Check what is installed and configured: each line ✓ or ✗ with the fix; exit 1 on any ✗."""
    failed = 0
    for check in run_checks(ctx.settings):
        click.echo(f"{check.mark} {check.what}")
        if check.fix and (not check.ok or check.note):
            click.echo(f"    {'fix' if not check.ok else 'tip'}: {check.fix}")
        failed += not check.ok
    if failed:
        click.echo(f"{failed} problem(s)", err=True)
        sys.exit(1)
