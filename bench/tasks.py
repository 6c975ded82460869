"""Task benchmarks (issue: task plugins), the embedded default only. Printed figures, not tests.

- Sentiment on SST-2 (sst2_eval, examples drawn from sst2_train, 16 per label, mean of 5 seeds):
  accuracy and macro-F1 of the sentiment plugin (label centroids in WordLlama space), next to the
  majority class. Target accuracy >= 0.80.
- Intent classification on CLINC150 (150 intents; label centroids from clinc150_train, scored on
  clinc150_val): accuracy, next to the majority class. Target >= 0.88.
- Throughput: classifications per second through the plugin (target >= 50/s for embedding methods).

Still to add here: label-likelihood scoring with the embedded model, out-of-scope recall, translation
chrF. Datasets: ../shared/datasets (see its README for sources and licences).
Run: python bench/tasks.py
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "datasets"
sys.path.insert(0, str(REPO))

from botkit.core.bot import Bot  # noqa: E402
from botkit.spec import GPTSpec  # noqa: E402
from botkit.tasks import TaskRequest  # noqa: E402


def rows(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (DATA / name).open()]


def macro_f1(gold: list[str], predicted: list[str]) -> float:
    scores = []
    for label in set(gold):
        tp = sum(g == p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == label != g for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label != p for g, p in zip(gold, predicted, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return statistics.mean(scores)


async def classify_all(
    bot: Bot, plugin: str, options: dict[str, object], texts: list[str]
) -> tuple[list[str], float]:
    task = bot.task(plugin)
    opts = task.Options.model_validate(options)
    spec = GPTSpec(name="bench", instructions="x")
    await task.run(TaskRequest("warm up", spec, opts, bot))  # centroids are built once per options
    t0 = time.perf_counter()
    labels = [(await task.run(TaskRequest(t, spec, opts, bot))).label for t in texts]  # type: ignore[attr-defined]
    return labels, len(texts) / (time.perf_counter() - t0)


async def sentiment(bot: Bot) -> None:
    train, test = rows("sst2_train.jsonl"), rows("sst2_eval.jsonl")
    gold = [r["label"] for r in test]
    majority = Counter(r["label"] for r in train).most_common(1)[0][0]
    accs, f1s, rates = [], [], []
    for seed in range(5):
        rng = random.Random(seed)
        labels = {}
        for label in ("positive", "negative"):
            pool = [r["text"] for r in train if r["label"] == label]
            labels[label] = {"description": f"a {label} review", "examples": rng.sample(pool, 16)}
        predicted, rate = await classify_all(
            bot, "sentiment", {"labels": labels}, [r["text"] for r in test]
        )
        accs.append(statistics.mean(p == g for p, g in zip(predicted, gold, strict=True)))
        f1s.append(macro_f1(gold, predicted))
        rates.append(rate)
    base = statistics.mean(g == majority for g in gold)
    print(f"SST-2 ({len(test)} reviews, 16 examples per label, 5 seeds)")
    print(f"   majority class          accuracy {base:.3f}")
    accuracy, f1, rate = statistics.mean(accs), statistics.mean(f1s), statistics.mean(rates)
    print(
        f"   label centroids         accuracy {accuracy:.3f}  macro-F1 {f1:.3f}  {rate:.0f} texts/s"
        "   (target accuracy >= 0.80)"
    )


async def intents(bot: Bot) -> None:
    train, test = rows("clinc150_train.jsonl"), rows("clinc150_val.jsonl")
    examples: dict[str, list[str]] = {}
    for r in train:
        examples.setdefault(r["label"], []).append(r["text"])
    labels = {
        name: {"description": name.replace("_", " "), "examples": texts}
        for name, texts in examples.items()
    }
    predicted, rate = await classify_all(
        bot, "classification", {"labels": labels}, [r["text"] for r in test]
    )
    gold = [r["label"] for r in test]
    accuracy = statistics.mean(p == g for p, g in zip(predicted, gold, strict=True))
    majority = statistics.mean(g == Counter(gold).most_common(1)[0][0] for g in gold)
    print(f"CLINC150 ({len(test)} queries, 150 intents, 100 examples each)")
    print(f"   majority class          accuracy {majority:.3f}")
    print(
        f"   label centroids         accuracy {accuracy:.3f}  {rate:.0f} texts/s   (target >= 0.88)"
    )


async def main() -> None:
    bot = Bot.from_config(REPO / "configs", None, (REPO / "plugins",))
    await sentiment(bot)
    await intents(bot)


if __name__ == "__main__":
    asyncio.run(main())
