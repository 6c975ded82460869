"""Messages for the person at the terminal: warnings and errors on stderr, never read as markup."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

err = Console(stderr=True)


def warn(text: str) -> None:
    err.print(f"warning: {text}", style="yellow", markup=False, highlight=False, soft_wrap=True)


def error(text: str) -> None:
    err.print(f"error: {text}", style="red", markup=False, highlight=False, soft_wrap=True)


def show_rows(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    """Rows as JSON (every field) for scripts, or as a table of ``columns`` for people."""
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*(_cell(row[c]) for c in columns))
    Console().print(table)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
