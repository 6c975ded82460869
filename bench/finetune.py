"""Local fine-tuning end to end: what `botkit finetune local` keeps, and what it buys held out.

Needs ../shared/datasets and the training extra (`pip install -e '.[train]'`). Each task builds
a GPT in a temporary project, runs the library behind `botkit finetune local` (data checks, the
held-out comparison, training, keeping the better result) and scores the GPT before and after on
the dataset's own evaluation split, which training never sees:

- ``sst2``: a sentiment GPT with 16 SST-2 examples a label (calibrated label likelihood on the
  embedded SmolLM2-135M) trained on ``--rows`` rows of sst2_train (20% held out to choose);
  scored on sst2_dev_half (whole GLUE dev sentences). Target: >= 0.88 in <= 15 minutes.
- ``clinc150``: a 150-intent classifier (label centroids) trained on clinc150_train, scored on
  clinc150_val (``--eval`` there: it is the split CLINC150 reports). Target: >= 0.95.
- ``translation``: the shipped translator GPT, NTREX-128 en->fr: trained on the lines of half
  the documents, scored (chrF) on the lines of the other half.

    python bench/finetune.py [--task sst2|clinc150|translation|all] [--rows 2000] [--method auto]
        [--epochs 1] [--max-steps N] [--lr 5e-4] [--rank 8] [--batch-size 8] [--json OUT]

Timings on a shared machine are noisy; the step time and peak memory are printed with them.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets"
PLUGINS = ROOT / "plugins"
sys.path.insert(0, str(ROOT))

from botkit.core.bot import Bot  # noqa: E402
from botkit.finetune.lora import heldout, store  # noqa: E402
from botkit.finetune.lora.data import Row  # noqa: E402
from botkit.finetune.lora.pipeline import Hooks, Plan, finetune_local  # noqa: E402
from botkit.finetune.lora.train import Progress, Settings  # noqa: E402


def rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).open(encoding="utf-8")]


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), "utf-8")
    return path


def say(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", flush=True)


def stepper() -> Any:
    def step(p: Progress) -> None:
        if p.step == 1 or p.step % 10 == 0 or p.step == p.total:
            say(f"step {p.step}/{p.total} loss {p.loss:.4f} ({p.seconds:.1f} s)")

    return step


def run(
    name: str, gpt: dict[str, Any], train: list[dict[str, Any]], test: list[dict[str, Any]],
    args: argparse.Namespace, eval_rows: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-ft-") as tmp:
        folder = Path(tmp)
        (folder / "configs" / "gpts").mkdir(parents=True)
        (folder / "configs" / "gpts" / f"{gpt['name']}.yaml").write_text(
            yaml.safe_dump(gpt, allow_unicode=True), encoding="utf-8"
        )
        home = folder / "home"
        bot = Bot.from_config(folder / "configs", home, (PLUGINS,))
        test_rows = [Row(r["text"], r["label"], i + 1) for i, r in enumerate(test)]
        say(f"{name}: scoring {gpt['name']} before training on {len(test)} test rows")
        before = heldout.score_sync(
            heldout.variant(bot, gpt["name"], None, home), gpt["name"], test_rows
        )
        settings = Settings(
            rank=args.rank, lr=args.lr, epochs=args.epochs, max_steps=args.max_steps,
            batch_size=args.batch_size, seed=args.seed,
        )  # fmt: skip
        plan = Plan(
            gpt["name"],
            write_jsonl(folder / "train.jsonl", train),
            write_jsonl(folder / "eval.jsonl", eval_rows) if eval_rows else None,
            method=args.method,
            settings=settings,
        )
        started = time.perf_counter()
        report = finetune_local(bot, plan, home, Hooks(say, stepper()))
        seconds = time.perf_counter() - started
        say(report.message)
        adapter = store.adapter_for(home, gpt["name"])
        after = heldout.score_sync(
            heldout.variant(bot, gpt["name"], adapter, home), gpt["name"], test_rows
        )
        metric = report.metric
        lora = (store.read_info(store.adapter_dir(home, gpt["name"])) or {}).get("training")
        return {
            "task": name,
            "metric": metric,
            "test_rows": len(test),
            "before": before.get(metric),
            "after": after.get(metric),
            "kept": report.kept,
            "candidates_heldout": {m: r.get(metric) for m, r in report.candidates.items()},
            "before_heldout": report.before.get(metric),
            "train_rows": report.train_rows,
            "heldout_rows": report.heldout_rows,
            "finetune_seconds": round(seconds, 1),
            "lora_training": lora,
            "notes": report.notes,
        }


def sst2(args: argparse.Namespace) -> dict[str, Any]:
    train = rows("sst2_train.jsonl")
    rng = random.Random(0)  # the sentiment setting of bench/tasks.py, seed 0
    by_label: dict[str, list[str]] = {}
    for row in train:
        by_label.setdefault(row["label"], []).append(row["text"])
    shots = {label: rng.sample(texts, 16) for label, texts in sorted(by_label.items())}
    used = {t for texts in shots.values() for t in texts}
    pool = [r for r in train if r["text"] not in used and len(r["text"].split()) >= 4]
    random.Random(args.seed).shuffle(pool)
    gpt = {
        "name": "sst2",
        "instructions": "Classify the sentiment of movie reviews.",
        "task": {
            "plugin": "sentiment",
            "options": {"labels": {k: {"examples": v} for k, v in shots.items()}},
        },
    }
    return run("SST-2", gpt, pool[: args.rows], rows("sst2_dev_half.jsonl"), args)


def clinc150(args: argparse.Namespace) -> dict[str, Any]:
    train = rows("clinc150_train.jsonl")
    examples: dict[str, list[str]] = {}
    for row in train:
        examples.setdefault(row["label"], []).append(row["text"])
    gpt = {
        "name": "intents",
        "instructions": "Route each request to its intent.",
        "task": {
            "plugin": "classification",
            "options": {"labels": {k: {"examples": v} for k, v in examples.items()}},
        },
    }
    val = rows("clinc150_val.jsonl")
    return run("CLINC150", gpt, train, val, args, eval_rows=val)


def translation(args: argparse.Namespace) -> dict[str, Any]:
    lines = rows("translation_en_fr.jsonl")
    docs = sorted({r["doc_id"] for r in lines})
    random.Random(0).shuffle(docs)
    held_docs = set(docs[: len(docs) // 2])
    train = [
        {"text": r["source"], "label": r["target"]} for r in lines if r["doc_id"] not in held_docs
    ]
    test = [{"text": r["source"], "label": r["target"]} for r in lines if r["doc_id"] in held_docs]
    random.Random(args.seed).shuffle(train)
    random.Random(args.seed).shuffle(test)
    gpt = yaml.safe_load((ROOT / "configs" / "gpts" / "translator.yaml").read_text("utf-8"))
    limit = args.test_rows or 60
    return run("NTREX en->fr", gpt, train[: args.rows], test[:limit], args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="all", choices=["sst2", "clinc150", "translation", "all"])
    parser.add_argument("--rows", type=int, default=2000, help="training rows (SST-2, translation)")
    parser.add_argument("--test-rows", type=int, default=0, help="translation: held-out lines")
    parser.add_argument("--method", default="auto", choices=["auto", "lora", "head"])
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    tasks = {"sst2": sst2, "clinc150": clinc150, "translation": translation}
    chosen = list(tasks) if args.task == "all" else [args.task]
    results = []
    for name in chosen:
        result = tasks[name](args)
        results.append(result)
        print(json.dumps(result, indent=2), flush=True)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
