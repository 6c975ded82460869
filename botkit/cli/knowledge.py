"""``botkit knowledge ...``: index, search, inspect and clear the GPTs' knowledge."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from botkit.cli.context import CLIContext, pass_context
from botkit.errors import BotkitError
from botkit.terminal import err, show_rows, warn

Command = Callable[..., Any]

if TYPE_CHECKING:
    from botkit.core.bot import Bot
    from botkit.knowledge.base import KnowledgeBase
    from botkit.knowledge.index import IndexReport


@click.group()
def knowledge() -> None:
    """Index, search and inspect the documents GPTs answer from."""


def _selected(bot: Bot, gpt: str | None, every: bool) -> list[tuple[str, KnowledgeBase]]:
    if gpt and every:
        raise click.UsageError("give --gpt NAME or --all, not both")
    if gpt:
        kb = bot.runtime_now(gpt).knowledge
        if kb is None:
            raise BotkitError(
                f"GPT {gpt!r} has no knowledge sources (add knowledge: {{sources: [...]}})"
            )
        return [(gpt, kb)]
    if not every:
        raise click.UsageError("say which GPT: --gpt NAME, or --all")
    found = [
        (name, kb)
        for name in bot.catalog.gpts
        if (kb := bot.runtime_now(name).knowledge) is not None
    ]
    if not found:
        raise BotkitError("no GPT has knowledge sources")
    return found


def _which(action: str) -> Callable[[Command], Command]:
    """The --gpt NAME / --all options of a command that acts on GPTs' knowledge."""

    def decorate(command: Command) -> Command:
        command = click.option("--all", "every", is_flag=True, help=f"{action} for every GPT.")(
            command
        )
        return click.option("--gpt", help=f"{action} for this GPT.")(command)

    return decorate


@knowledge.command()
@_which("Index")
@pass_context
def index(ctx: CLIContext, gpt: str | None, every: bool) -> None:
    """Index what changed since the last run (a new or changed setting rebuilds)."""
    bot = ctx.bot(conversations=False)
    for name, kb in _selected(bot, gpt, every):
        report = _index_with_progress(name, kb)
        for warning in report.warnings:
            warn(warning)
        summary = (
            f"{name}: {report.files} files ({report.indexed} indexed, {report.unchanged} unchanged, "
            f"{report.removed} removed), {report.chunks_added} chunks added, "
            f"{report.chunks_removed} removed in {report.seconds:.1f} s"
        )
        if report.rebuilt:
            summary += f" (rebuilt: {report.rebuilt})"
        click.echo(summary)


def _index_with_progress(name: str, kb: KnowledgeBase) -> IndexReport:
    kb.connect()
    columns = (
        TextColumn(f"[bold]{name}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files  {task.fields[chunks]} chunks  {task.fields[rate]:.0f} chunks/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err) as bar:
        task = bar.add_task(name, total=None, chunks=0, rate=0.0)
        chunks = 0

        def advance(_file: str, added: int, done: int, total: int) -> None:
            nonlocal chunks
            chunks += added
            elapsed = bar.tasks[0].elapsed or 0
            rate = chunks / elapsed if elapsed else 0.0
            bar.update(task, completed=done, total=total, chunks=chunks, rate=rate)

        return kb.refresh(advance)


@knowledge.command()
@click.option("--gpt", required=True, help="The GPT whose knowledge to search.")
@click.option(
    "--top-k", type=int, default=None, help="How many passages (default: the GPT's top_k)."
)
@click.option("--mode", type=click.Choice(["hybrid", "vector", "bm25"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.argument("query")
@pass_context
def search(
    ctx: CLIContext, gpt: str, top_k: int | None, mode: str | None, as_json: bool, query: str
) -> None:
    """Show the passages a question retrieves, with their scores and sources."""
    bot = ctx.bot(conversations=False)
    ((_, kb),) = _selected(bot, gpt, False)
    passages = kb.search_fresh(query, top_k=top_k, mode=mode, min_score=0.0)
    if as_json:
        click.echo(json.dumps([p.__dict__ for p in passages], indent=2))
        return
    table = Table("#", "score", "relevance", "source", "section", "passage")
    for n, p in enumerate(passages, 1):
        where = p.source + (f" p.{p.page}" if p.page else "")
        passage = " ".join(p.text.split())
        table.add_row(str(n), f"{p.score:.3f}", f"{p.relevance:.3f}", where, p.title, passage[:160])
    Console().print(table)
    floor = kb.spec.min_score
    if not any(p.relevance >= floor for p in passages):
        warn(f"no passage reaches min_score {floor}: the GPT would answer that it does not know")


@knowledge.command()
@click.option("--json", "as_json", is_flag=True)
@pass_context
def stats(ctx: CLIContext, as_json: bool) -> None:
    """Files and chunks indexed for each GPT with knowledge."""
    bot = ctx.bot(conversations=False)
    rows = [kb.stats() | {"stale": kb.index.stale()} for _, kb in _selected(bot, None, True)]
    show_rows(rows, ["gpt", "files", "chunks", "embedder", "store", "stale"], as_json)


@knowledge.command()
@_which("Delete the index")
@pass_context
def clear(ctx: CLIContext, gpt: str | None, every: bool) -> None:
    """Delete the index (the documents themselves are not touched)."""
    bot = ctx.bot(conversations=False)
    for name, kb in _selected(bot, gpt, every):
        kb.clear()
        click.echo(f"{name}: index cleared")
