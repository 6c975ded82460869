"""How the likelihood method's calibration could change (issue 15, point 3): a study, not a test.

The sentiment plugin on local models scores each label word after a prompt of 4 examples a label
and subtracts the model's bias for each label, measured as the mean score of the declared
examples (16 a label). This records the raw label scores once per seed (SmolLM2-135M, examples
from sst2_train) and compares ways of measuring that bias on sst2_eval (rows held out from
SST-2's training set: where tuning belongs; sst2_dev_half is for reporting):

- none; the mean over the examples (what ships); the same without the 4 shown in the prompt;
  the median; the decision threshold that best splits the examples not shown;
- the mean over the texts being classified (batch calibration): it needs the inputs in bulk and
  assumes their labels balanced, so it is shown for scale, not offered.

Run: python bench/sentiment_calibration.py [--texts 400] [--seeds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "datasets"
sys.path.insert(0, str(REPO))

from botkit.models.local import LocalModel  # noqa: E402
from botkit.spec import ModelSpec  # noqa: E402
from plugins.classification.likelihood import MAX_SHOTS, Likelihood  # noqa: E402

NAMES = ["positive", "negative"]


def rows(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (DATA / name).open(encoding="utf-8")]


async def raw_scores(texts: int, seeds: int) -> list[tuple[dict[str, np.ndarray], np.ndarray]]:
    train, test = rows("sst2_train.jsonl"), rows("sst2_eval.jsonl")[:texts]
    model = LocalModel(ModelSpec(provider="local"))
    out = []
    for seed in range(seeds):
        rng = random.Random(seed)
        examples = {
            label: rng.sample([r["text"] for r in train if r["label"] == label], 16)
            for label in NAMES
        }
        descriptions = {label: f"a {label} review" for label in NAMES}
        scorer = Likelihood(
            model, "Classify the sentiment of each text", "Sentiment", descriptions, examples
        )
        shown = {k: np.array([await scorer.raw(t) for t in v]) for k, v in examples.items()}
        out.append((shown, np.array([await scorer.raw(r["text"]) for r in test])))
    return out


def threshold(examples: dict[str, np.ndarray]) -> np.ndarray:
    """A bias whose decision threshold best splits the examples not shown in the prompt."""
    margin = np.concatenate(
        [examples[k][MAX_SHOTS:, 0] - examples[k][MAX_SHOTS:, 1] for k in NAMES]
    )
    truth = np.array([k == "positive" for k in NAMES for _ in examples[k][MAX_SHOTS:]])
    cuts = np.sort(margin)
    middle = (cuts[:-1] + cuts[1:]) / 2
    best = max(middle, key=lambda t: (np.mean((margin > t) == truth), -abs(t - np.median(margin))))
    return np.array([best, 0.0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    gold = [r["label"] for r in rows("sst2_eval.jsonl")[: args.texts]]
    runs = asyncio.run(raw_scores(args.texts, args.seeds))
    biases = {
        "none": lambda ex, _: np.zeros(2),
        "mean of the examples (ships)": lambda ex, _: np.mean([ex[k].mean(0) for k in NAMES], 0),
        "mean, without the shown ones": lambda ex, _: np.mean(
            [ex[k][MAX_SHOTS:].mean(0) for k in NAMES], 0
        ),
        "median of the examples": lambda ex, _: np.median(np.vstack(list(ex.values())), 0),
        "best threshold on the examples": lambda ex, _: threshold(ex),
        "mean of the inputs (batch)": lambda _, tests: tests.mean(0),
    }
    print(f"SST-2 sst2_eval, {args.texts} texts, 16 examples a label, {args.seeds} seeds")
    for name, bias in biases.items():
        accs = []
        for examples, tests in runs:
            adjusted = tests - bias(examples, tests)
            predicted = [NAMES[int(np.argmax(row))] for row in adjusted]
            accs.append(statistics.mean(p == g for p, g in zip(predicted, gold, strict=True)))
        print(f"   {name:32} accuracy {statistics.mean(accs):.3f}  "
              f"({', '.join(f'{a:.3f}' for a in accs)})")  # fmt: skip


if __name__ == "__main__":
    main()
