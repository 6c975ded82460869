"""``botkit feedback``: what people thought of the answers, and that as data to evaluate with."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from pathlib import Path

import click

from botkit.atomic import atomic_write_text
from botkit.cli.context import CLIContext, pass_context
from botkit.core.feedback import Exchange, Rating
from botkit.storage import open_storage
from botkit.terminal import show_rows
from botkit.usage import since as parse_since


def _exchanges(
    ctx: CLIContext, gpt: str | None, since: float, only: Rating | None
) -> list[Exchange]:
    """Rated exchanges from where botkit serve keeps them ($BOTKIT_REDIS_URL, else SQLite)."""
    url = os.environ.get("BOTKIT_REDIS_URL") or "sqlite"

    async def read() -> list[Exchange]:
        storage = open_storage(ctx.settings.data_dir, url)
        try:
            if storage.feedback is None:
                return []
            return await storage.feedback.exchanges(gpt, since, only)
        finally:
            await storage.aclose()

    return asyncio.run(read())


@click.group(invoke_without_command=True)
@click.option("--since", "since_text", help="Only feedback since: 7d, 12h or a date.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def feedback(click_ctx: click.Context, since_text: str | None, as_json: bool) -> None:
    """Ratings per GPT (👍/👎 from every surface); `export` writes them as eval data."""
    if click_ctx.invoked_subcommand is not None:
        return
    ctx: CLIContext = click_ctx.obj
    rated = _exchanges(ctx, None, parse_since(since_text), None)
    counts: dict[str, Counter[str]] = {}
    for exchange in rated:
        counts.setdefault(exchange.gpt, Counter())[exchange.rating or ""] += 1
        counts[exchange.gpt]["corrections"] += bool(exchange.correction)
    rows = [
        {
            "gpt": gpt,
            "rated": c["up"] + c["down"],
            "up": c["up"],
            "down": c["down"],
            "up_rate": round(c["up"] / max(1, c["up"] + c["down"]), 3),
            "corrections": c["corrections"],
        }
        for gpt, c in sorted(counts.items())
    ]
    show_rows(rows, ["gpt", "rated", "up", "down", "up_rate", "corrections"], as_json)


def _labels(expected: str) -> object:
    """A multi-label answer was kept as a JSON list: give it back as one."""
    if expected.startswith("["):
        try:
            found = json.loads(expected)
        except ValueError:
            return expected
        if isinstance(found, list) and all(isinstance(x, str) for x in found):
            return found
    return expected


@feedback.command()
@click.option("--gpt", "gpt_name", required=True, help="The GPT whose feedback to export.")
@click.option("--since", "since_text", help="Only feedback since: 7d, 12h or a date.")
@click.option("--only", type=click.Choice(["up", "down"]), help="Only 👍 or only 👎.")
@click.option(
    "--out", type=click.Path(path_type=Path, dir_okay=False), help="Write here (default: stdout)."
)
@pass_context
def export(
    ctx: CLIContext, gpt_name: str, since_text: str | None, only: str | None, out: Path | None
) -> None:
    """JSONL for `botkit eval` and `botkit finetune prepare`: the question as `input`, the
    correction (or, for a 👍, the answer) as `expected`. A 👎 without a correction is left out."""
    ctx.bot(conversations=False).gpt(gpt_name)  # an unknown GPT is an error naming the known ones
    rows, skipped = [], 0
    rating: Rating | None = "up" if only == "up" else "down" if only == "down" else None
    for e in _exchanges(ctx, gpt_name, parse_since(since_text), rating):
        expected = e.correction or (e.answer if e.rating == "up" else "")
        if not expected:
            skipped += 1
            continue
        rows.append(
            {
                "input": e.question,
                "expected": _labels(expected),
                "rating": e.rating,
                "answer": e.answer,
                "surface": e.surface,
                "request_id": e.request_id,
            }
        )
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(out, text)
    note = f"{len(rows)} example(s)" + (f" to {out}" if out else "")
    if skipped:
        note += f"; {skipped} 👎 without a correction left out"
    click.echo(note, err=True)
