"""One evaluation from start to end: check the data, run it, score it, store and report it.

The data is checked whole (streamed) before anything is written, so a bad row leaves no run
behind. Predictions are appended to the run as they complete and cached by GPT version and
input, so an interrupted run resumes where it stopped when started again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from botkit.core.bot import Bot
from botkit.evaluation.data import select_examples
from botkit.evaluation.report_html import write_report
from botkit.evaluation.runner import EvalTarget, Runner, RunSettings
from botkit.evaluation.scoring import check, summarize
from botkit.evaluation.store import PredictionCache, Run, RunStore, gpt_version

#: Mistakes listed in the HTML report.
REPORT_MISTAKES = 50


@dataclass
class EvalRequest:
    data: Path
    input_field: str | None = None
    expected_field: str | None = None
    limit: int | None = None
    seed: int | None = None
    use_cache: bool = True
    thresholds: dict[str, float] = field(default_factory=dict)
    settings: RunSettings = field(default_factory=RunSettings)
    progress: bool = True


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} ex/s" if speed else "- ex/s", style="cyan")


def mistakes(run: Run) -> Iterator[dict[str, Any]]:
    """Records that failed or were wrong, in the order they completed."""
    for record in run.predictions():
        if record.get("error") is not None or record.get("correct") is False:
            yield record


def evaluate(bot: Bot, target: EvalTarget, request: EvalRequest, store: RunStore) -> Run:
    """Run ``target`` on ``request.data``; return the finished run (its run.json has metrics).

    Raises :class:`~botkit.evaluation.data.DataError` before creating anything for bad data,
    and ``KeyboardInterrupt`` after marking the run interrupted (its predictions stay cached).
    """
    selection = select_examples(
        request.data,
        request.input_field,
        request.expected_field,
        request.limit,
        request.seed,
        target.check,
    )
    version = gpt_version(target.gpt.spec, target.fingerprint())
    cache = PredictionCache(
        store.root / "cache" / f"{target.name}-{version}.jsonl", request.use_cache
    )
    info: dict[str, Any] = {
        "gpt": target.name,
        "gpt_file": str(target.gpt.path),
        "version": version,
        "kind": target.kind,
        "data": str(request.data),
        "input_field": request.input_field,
        "expected_field": request.expected_field,
        "limit": request.limit,
        "seed": request.seed,
        "labels": list(target.labels),
        "top_k": target.top_k or None,
        "rubric": request.settings.rubric,
        "grader": request.settings.grader.spec.name if request.settings.grader else None,
        "concurrency": request.settings.concurrency,
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "status": "running",
        "total": selection.count,
        "thresholds": request.thresholds,
    }
    run = store.create(target.name, info)
    handle = run.predictions_file.open("a", encoding="utf-8")

    def sink(record: dict[str, Any]) -> None:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        if progress is not None and task_id is not None:
            progress.advance(task_id)

    runner = Runner(bot, target, cache, request.settings, sink)
    progress = _progress() if request.progress else None
    task_id = progress.add_task(f"eval {target.name}", total=selection.count) if progress else None
    try:
        if progress is not None:
            progress.start()
        clock = time.perf_counter()
        asyncio.run(_run(bot, runner, selection.examples()))
        run.info["seconds"] = round(time.perf_counter() - clock, 3)
    except BaseException as exc:
        _finish_counts(run, runner)
        if isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError)):
            run.info["status"] = "interrupted"
            run.save()
        elif runner.done == runner.failed:  # nothing to keep: leave no half-made run behind
            handle.close()
            store.discard(run)
        else:
            run.info.update(status="failed", error=str(exc))
            run.save()
        raise
    finally:
        if progress is not None:
            progress.stop()
        handle.close()
        cache.close()
    _finish_counts(run, runner)
    metrics = summarize(target.kind, run.predictions(), list(target.labels), target.target)
    results = check(metrics, request.thresholds)
    run.info.update(
        status="done",
        finished=dt.datetime.now().isoformat(timespec="seconds"),
        metrics=metrics,
        checks=[
            {
                "metric": r.metric,
                "minimum": r.minimum,
                "actual": r.actual,
                "passed": r.passed,
                "text": str(r),
            }
            for r in results
        ],
        passed=all(r.passed for r in results),
        report=str(run.report_file),
    )
    write_report(run.info, _first(mistakes(run), REPORT_MISTAKES), run.report_file)
    run.save()
    return run


def _first(records: Iterator[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    return [r for _, r in zip(range(count), records, strict=False)]


def _finish_counts(run: Run, runner: Runner) -> None:
    run.info.update(count=runner.done, failed=runner.failed, cached=runner.cached)


async def _run(bot: Bot, runner: Runner, examples: Iterator[Any]) -> None:
    try:
        await runner.run(examples)
    finally:
        await bot.aclose()


def _progress() -> Progress | None:
    console = Console(stderr=True)
    if not console.is_terminal:
        return None
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        _Rate(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
        console=console,
    )
