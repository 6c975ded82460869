"""Nothing blocks the event loop: classification and knowledge search run beside it.

A monitor sleeps 5 ms at a time and records how late it wakes up; while a burst of intent
classifications (label centroids over WordLlama and TF-IDF) and knowledge questions runs, with the
knowledge base looking for changed documents on its timer, no wake-up may be more than 50 ms late.
(A re-index itself writes to Chroma, whose embedded store holds the GIL while it writes: the
README's Knowledge section says so, and points a server with changing documents at a Chroma
server.)
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from botkit.core.bot import Bot
from botkit.core.message import Message

from .conftest import REPO, write_gpt

INTENTS = {
    f"intent_{n}": {
        "description": f"questions about topic number {n}",
        "examples": [f"how do I handle case {n} variant {k} of my account" for k in range(20)],
    }
    for n in range(100)
}
DOCS = {
    f"docs/page{n}.md": f"# Page {n}\n\n## Section\n\nTopic {n} is explained here in detail. " * 8
    for n in range(60)
}


async def monitor(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.005)
        lags.append(time.perf_counter() - started - 0.005)


async def test_no_stall_over_50_ms_under_classification_and_knowledge_queries(
    config_dir: Path, tmp_path: Path
) -> None:
    for name, text in DOCS.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    write_gpt(
        config_dir,
        "intents",
        task={"plugin": "classification", "options": {"labels": INTENTS, "method": "embeddings"}},
    )
    topics = {f"topic_{name}": spec for name, spec in INTENTS.items()}  # built during the burst
    write_gpt(
        config_dir,
        "topics",
        task={"plugin": "classification", "options": {"labels": topics, "method": "embeddings"}},
    )
    write_gpt(
        config_dir,
        "docs",
        knowledge={"sources": ["docs"], "min_score": 0, "refresh_interval": 0.05},
        task={"plugin": "qa", "options": {"mode": "extractive"}},
    )
    bot = Bot.from_config(config_dir, tmp_path / "home", (REPO / "plugins",))
    # As a server does at start: the first GPTs' parts made (imports, index) before any message
    assert await bot.prepare(["docs", "intents"]) == {}
    stop, lags = asyncio.Event(), []
    watching = asyncio.create_task(monitor(stop, lags))
    questions = [
        bot.reply_text(Message(f"how do I handle case {n % 100} of my account", gpt))
        for n in range(40)
        for gpt in ("intents", "topics")
    ] + [bot.reply_text(Message(f"What about topic {n}?", "docs")) for n in range(60)]
    answers = await asyncio.gather(*questions)
    await asyncio.sleep(0.2)  # a few more looks for changed documents
    stop.set()
    await watching
    await bot.aclose()
    assert all(answers) and len(lags) > 20
    worst = max(lags)
    assert worst < 0.05, f"the event loop stalled for {worst * 1000:.0f} ms"
