"""Score a GPT on held-out rows, as `botkit eval` would, with or without a candidate fine-tune.

The GPT runs exactly as in production (its task plugin, its prompt, calibration and all), through
the evaluation runner, and is scored with its own metrics: accuracy for classification, chrF for
translation, token F1 for QA and chat. A variant of the GPT is a copy of the bot whose catalog
holds the GPT with another ``model.adapter`` and whose data directory holds (or lacks) a
classifier head, so nothing the user has is touched while candidates are compared.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from botkit.core.bot import Bot
from botkit.evaluation.runner import EvalTarget, Runner, RunSettings, evaluation_target
from botkit.evaluation.scoring import summarize
from botkit.finetune.lora.data import Row

#: The metric that decides whether a fine-tune is better, by kind of GPT.
PRIMARY = {"classification": "accuracy", "translation": "chrf", "qa": "f1", "chat": "f1"}
#: Held-out rows scored at once (local models run one at a time anyway).
CONCURRENCY = 4


def primary_metric(target: EvalTarget) -> str:
    return PRIMARY.get(target.kind, "f1")


def variant(bot: Bot, gpt: str, adapter: Path | None, home: Path | None) -> Bot:
    """A copy of ``bot`` whose GPT ``gpt`` runs with ``adapter`` (None: the bare model) and with
    ``home`` as data directory (where its classifier head is looked for; see :func:`home_with`)."""
    loaded = bot.gpt(gpt)
    spec = loaded.spec
    if spec.model.provider == "local":
        model = spec.model.model_copy(update={"adapter": str(adapter) if adapter else None})
        spec = spec.model_copy(update={"model": model})
    other = copy.copy(bot)
    gpts = {**bot.catalog.gpts, gpt: dataclasses.replace(loaded, spec=spec)}
    other.catalog = dataclasses.replace(bot.catalog, gpts=gpts)
    other.data_dir = home
    for name in ("_runtimes", "_validated"):  # per-GPT state made from the catalog: made anew
        if isinstance(getattr(bot, name, None), dict):
            setattr(other, name, {})
    return other


def home_with(scratch: Path, data_dir: Path | None, head: Path | None = None) -> Path:
    """A data directory that is ``data_dir`` (models' F16 copies, knowledge indexes...) except for
    classifier heads: only ``head`` (a head folder) or none. Made of links, in ``scratch``."""
    scratch.mkdir(parents=True, exist_ok=True)
    if data_dir is not None and data_dir.is_dir():
        for entry in data_dir.iterdir():
            link = scratch / entry.name
            if entry.name not in ("heads", "adapters") and not link.exists():
                link.symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    if head is not None:
        (scratch / "heads").mkdir(exist_ok=True)
        link = scratch / "heads" / head.name
        if not link.exists():
            link.symlink_to(head.resolve(), target_is_directory=True)
    return scratch


async def score(bot: Bot, gpt: str, rows: Sequence[Row]) -> dict[str, Any]:
    """The GPT's metrics on ``rows`` (every row run afresh: no prediction cache)."""
    target = evaluation_target(bot, gpt)
    records: list[dict[str, Any]] = []
    runner = Runner(bot, target, None, RunSettings(concurrency=CONCURRENCY), records.append)
    await runner.run(row.labeled() for row in rows)
    metrics = summarize(target.kind, records, list(target.labels), target.target)
    metrics["examples"] = len(records)
    metrics["failed"] = runner.failed
    return metrics


def score_sync(bot: Bot, gpt: str, rows: Sequence[Row]) -> dict[str, Any]:
    return asyncio.run(score(bot, gpt, rows))
