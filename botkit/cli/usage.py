"""``botkit usage``: what the GPTs cost, from the model calls ``botkit serve`` recorded."""

from __future__ import annotations

import click

from botkit.cli.context import CLIContext, pass_context
from botkit.storage.sqlite_usage import GROUPS, SQLiteUsage
from botkit.terminal import show_rows
from botkit.usage import since as parse_since


@click.command()
@click.option(
    "--since", "since_text", help="Only calls since: 7d, 12h, 30m or a date (2026-11-30)."
)
@click.option("--by", type=click.Choice(GROUPS), default="gpt", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_context
def usage(ctx: CLIContext, since_text: str | None, by: str, as_json: bool) -> None:
    """Calls, tokens, estimated cost (local models cost 0) and median latency per GPT, user,
    surface or model. Costs use the price table of the deployment that served them."""
    path = ctx.settings.data_dir / "usage.sqlite3"
    if not path.exists():
        click.echo(
            f"no usage recorded yet in {ctx.settings.data_dir} (botkit serve records it)", err=True
        )
        rows: list[dict[str, object]] = []
    else:
        store = SQLiteUsage(path)
        try:
            rows = list(store.summary(parse_since(since_text), by))
        finally:
            store.close()
    columns = [by, "calls", "failed", "tokens_in", "tokens_out", "cost_usd", "p50_ms"]
    show_rows(rows, columns, as_json)
