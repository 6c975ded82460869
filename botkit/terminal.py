"""Messages for the person at the terminal: warnings and errors on stderr, never read as markup."""

from __future__ import annotations

from rich.console import Console

err = Console(stderr=True)


def warn(text: str) -> None:
    err.print(f"warning: {text}", style="yellow", markup=False, highlight=False, soft_wrap=True)


def error(text: str) -> None:
    err.print(f"error: {text}", style="red", markup=False, highlight=False, soft_wrap=True)
