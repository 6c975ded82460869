"""``botkit init``: a ready project in a folder of your own."""

from __future__ import annotations

from pathlib import Path

import click

from botkit.project import TEMPLATES, init_project
from botkit.terminal import warn


@click.command()
@click.argument("folder", required=False, type=click.Path(path_type=Path), default=Path("."))
@click.option(
    "--template",
    type=click.Choice(list(TEMPLATES)),
    default="default",
    show_default=True,
    help="What to start from (see --list).",
)
@click.option("--list", "listing", is_flag=True, help="List the templates.")
@click.option("--force", is_flag=True, help="Overwrite files that exist (each is named).")
def init(folder: Path, template: str, listing: bool, force: bool) -> None:
    """Write a ready project into FOLDER (default: here): GPTs, a deployment file, sample
    knowledge, a plugins folder. An existing file is never overwritten without --force."""
    if listing:
        for name, chosen in TEMPLATES.items():
            click.echo(f"{name:<10} {chosen.description}")
        return
    report = init_project(folder, template, force)
    for path in report.overwritten:
        warn(f"overwrote {path}")
    for path in report.kept:
        click.echo(f"kept {path} (it exists; --force overwrites it)", err=True)
    click.echo(
        f"wrote {len(report.written) + len(report.overwritten)} file(s) in {folder} "
        f"({template} template)"
    )
    here = "" if folder.resolve() == Path.cwd().resolve() else f"cd {folder} && "
    click.echo("next:")
    click.echo(f"  {here}botkit console --gpt translator     chat in the terminal")
    click.echo(f"  {here}botkit serve                        the API and web page on :8000")
