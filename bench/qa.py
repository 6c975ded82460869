"""Extractive question answering on the embedded default (issue 15): SQuAD, answers and abstentions.

SQuAD's distinct paragraphs (../shared/datasets/squad_dev_half.jsonl) are indexed as documents
(hybrid search, chunk_size 400: one chunk a paragraph) and each question's passages are the ones
retrieved for it (top_k 4, min_score 0.3, the GPT defaults). Then:

1. Answers: exact match and token F1 (SQuAD normalisation, best over the gold answers) of the
   extractor (plugins/qa/extract.py) next to the previous method (the best sentence). Its weights
   are fitted on half of the articles and scored on the other half, both ways round (2-fold by
   article), so every figure comes from articles the weights did not see. Also the oracle (the
   best candidate span) and the extraction cost in ms/question.
2. "I don't know": how often it abstains (confidence below ``min_confidence``) on its own
   passages (answerable) and on the passages retrieved for a question of another article.
3. ``--train``: fit the weights on every article and write plugins/qa/weights.json (what ships).
4. ``--eval N``: the whole `botkit eval` path on N questions (a qa GPT on the embedded model over
   the first 1,000 paragraphs, concurrency 8): questions/s and its F1 (with the shipped weights,
   which saw these articles: a speed figure, not a quality one).

Run: python bench/qa.py [--limit N] [--train] [--eval 400]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "datasets"
sys.path.insert(0, str(REPO))

from botkit.evaluation import metrics  # noqa: E402
from botkit.knowledge.base import KnowledgeBase  # noqa: E402
from botkit.knowledge.embeddings import WordLlamaEmbedder  # noqa: E402
from botkit.knowledge.index import KnowledgeIndex  # noqa: E402
from botkit.spec import EmbedderSpec, KnowledgeSpec  # noqa: E402
from plugins.qa import extract  # noqa: E402

EMBEDDER = WordLlamaEmbedder(EmbedderSpec())
#: Span labels for fitting: a candidate is right when its F1 with a gold answer reaches this.
RIGHT = 0.8
#: Inverse L2 strength of the logistic regression (chosen by the 2-fold F1: 0.1 > 1.0).
C = 0.1


def squad() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / "squad_dev_half.jsonl").open(encoding="utf-8")]


def retrieve(rows: list[dict[str, Any]], folder: Path) -> list[list[str]]:
    """The passages retrieved for each question (texts, best first), as the qa plugin gets them."""
    texts = list(dict.fromkeys(r["context"] for r in rows))
    docs = folder / "docs"
    docs.mkdir(parents=True)
    for n, text in enumerate(texts):
        (docs / f"{n:04d}.txt").write_text(text, encoding="utf-8")
    spec = KnowledgeSpec.model_validate({"sources": ["docs"], "chunk_size": 400})
    index = KnowledgeIndex("bench", spec, folder / "gpt.yaml", folder, folder / "data", EMBEDDER)
    kb = KnowledgeBase(index)
    kb.refresh()
    return [[p.text for p in kb.search(r["question"])] for r in rows]


def folds(rows: list[dict[str, Any]]) -> list[int]:
    titles = sorted({r["title"] for r in rows})
    fold = {t: n % 2 for n, t in enumerate(titles)}
    return [fold[r["title"]] for r in rows]


def build(rows: list[dict[str, Any]], passages: list[list[str]]) -> list[Any]:
    """Each question's candidates and their F1 with the gold answers."""
    out = []
    for r, found in zip(rows, passages, strict=True):
        c = extract.candidates(r["question"], found, EMBEDDER)
        f1 = np.array([metrics.token_f1(c.text(n), r["answers"]) for n in range(len(c.spans))])
        c.features = sparse.csr_matrix(c.features, dtype=np.float32)  # most are crossed zeros
        out.append((c, f1))
    return out


def fit(data: list[Any]) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    x = sparse.vstack([c.features for c, _ in data]).tocsr()
    y = np.concatenate([f1 for _, f1 in data]) >= RIGHT
    model = LogisticRegression(C=C, max_iter=3000)
    model.fit(x, y)
    weights = model.coef_[0].copy()
    weights[0] += model.intercept_[0]
    return weights  # type: ignore[no-any-return]


def best_sentence(question: str, passages: list[str]) -> str:
    """The previous method: the sentence with the best embedding + word-overlap score."""
    import re

    words = re.compile(r"\w+")
    found = [s for p in passages for s in extract.sentences(p)] or passages[:1]
    if not found:
        return ""
    vectors = EMBEDDER.embed([question, *found])
    q_words = {w.lower() for w in words.findall(question) if len(w) > 3}
    scores = [
        float(v @ vectors[0])
        + 0.5 * len(q_words & {w.lower() for w in words.findall(s)}) / (len(q_words) or 1)
        for s, v in zip(found, vectors[1:], strict=True)
    ]
    return found[int(np.argmax(scores))]


def report(rows: list[dict[str, Any]], passages: list[list[str]]) -> None:
    fold = folds(rows)
    t0 = time.perf_counter()
    data = build(rows, passages)
    print(f"SQuAD ({len(rows)} questions, {len({r['title'] for r in rows})} articles, "
          f"top-4 hybrid passages; features built in {time.perf_counter() - t0:.0f} s)")  # fmt: skip
    weights = [fit([d for d, f in zip(data, fold, strict=True) if f != k]) for k in (0, 1)]
    answers = [extract.pick(c, weights[f]) for (c, _), f in zip(data, fold, strict=True)]
    f1 = [
        metrics.token_f1(s.answer if s else "", r["answers"])
        for s, r in zip(answers, rows, strict=True)
    ]
    em = [
        metrics.exact_match(s.answer if s else "", r["answers"])
        for s, r in zip(answers, rows, strict=True)
    ]
    oracle = [float(f1s.max()) if len(f1s) else 0.0 for _, f1s in data]
    sentence_f1 = [
        metrics.token_f1(best_sentence(r["question"], found), r["answers"])
        for r, found in zip(rows[:500], passages[:500], strict=True)
    ]
    print(f"   best sentence (before), first 500       F1 {statistics.mean(sentence_f1):.3f}")
    print(f"   extracted span, 2-fold by article       F1 {statistics.mean(f1):.3f}  "
          f"EM {statistics.mean(em):.3f}   (oracle span F1 {statistics.mean(oracle):.3f})")  # fmt: skip
    # abstention: the same questions on another article's passages
    rng = random.Random(0)
    by_title: dict[str, list[int]] = {}
    for n, r in enumerate(rows):
        by_title.setdefault(r["title"], []).append(n)
    titles = sorted(by_title)
    confidences, foreign = [], []
    for n, r in enumerate(rows):
        other = rng.choice([t for t in titles if t != r["title"]])
        found = passages[rng.choice(by_title[other])]
        span = extract.pick(extract.candidates(r["question"], found, EMBEDDER), weights[fold[n]])
        foreign.append(span.confidence if span else 0.0)
        confidences.append(answers[n].confidence if answers[n] else 0.0)
    print(f"   abstains (confidence < threshold; default {extract.MIN_CONFIDENCE}): on its own "
          "passages / on another article's")  # fmt: skip
    for threshold in (0.02, 0.04, 0.06, 0.08, 0.1, 0.2):
        own = statistics.mean(c < threshold for c in confidences)
        other_rate = statistics.mean(c < threshold for c in foreign)
        kept = [x for x, c in zip(f1, confidences, strict=True) if c >= threshold]
        print(f"     {threshold:.2f}: {own:.3f} / {other_rate:.3f}   F1 counting abstentions as "
              f"0: {sum(kept) / len(f1):.3f}")  # fmt: skip
    # cost of the extraction alone (shipped weights), per question
    sample = list(zip(rows, passages, strict=True))[:300]
    for name, embedder in (("with", EMBEDDER), ("without", None)):
        extractor = extract.Extractor(embedder=embedder)
        started = time.perf_counter()
        for r, found in sample:
            extractor.best(r["question"], found)
        ms = (time.perf_counter() - started) / len(sample) * 1000
        print(f"   extraction cost {name} the embedder: {ms:.1f} ms/question (300 questions)")
    print("   target: F1 >= 0.5")


def train(rows: list[dict[str, Any]], passages: list[list[str]]) -> None:
    weights = fit(build(rows, passages))
    names = extract.feature_names()
    payload = {
        "fitted_on": "SQuAD v1.1 dev, the shared half (squad_dev_half.jsonl), retrieved passages",
        "how": f"bench/qa.py --train: logistic regression, C={C}, right = span F1 >= {RIGHT}",
        "weights": {n: round(float(w), 5) for n, w in zip(names, weights, strict=True) if w},
    }
    extract.WEIGHTS_FILE.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {extract.WEIGHTS_FILE} ({len(payload['weights'])} weights)")


def eval_path(rows: list[dict[str, Any]], n: int, folder: Path) -> None:
    import yaml

    from botkit.core.bot import Bot
    from botkit.evaluation.runner import RunSettings, evaluation_target
    from botkit.evaluation.session import EvalRequest, evaluate
    from botkit.evaluation.store import RunStore

    texts = list(dict.fromkeys(r["context"] for r in rows))[:1000]
    docs = folder / "eval" / "docs"
    docs.mkdir(parents=True)
    for k, text in enumerate(texts):
        (docs / f"{k:04d}.txt").write_text(text, encoding="utf-8")
    gpts = folder / "eval" / "configs" / "gpts"
    gpts.mkdir(parents=True)
    gpt = {
        "name": "squad",
        "instructions": "Answer from the passages.",
        "model": "embedded",
        "knowledge": {"sources": ["../../docs"], "chunk_size": 400},
        "task": {"plugin": "qa", "options": {"mode": "extractive"}},
    }
    (gpts / "squad.yaml").write_text(yaml.safe_dump(gpt), encoding="utf-8")
    known = set(texts)
    questions = [r for r in rows if r["context"] in known]
    questions = random.Random(0).sample(questions, min(n, len(questions)))
    data = folder / "eval" / "questions.jsonl"
    with data.open("w", encoding="utf-8") as handle:
        for r in questions:
            handle.write(json.dumps({"input": r["question"], "expected": r["answers"]}) + "\n")
    home = folder / "eval" / "home"
    bot = Bot.from_config(folder / "eval" / "configs", home, (REPO / "plugins",))
    knowledge = bot.runtime_now("squad").knowledge
    assert knowledge is not None
    knowledge.refresh()
    target = evaluation_target(bot, "squad")
    request = EvalRequest(data, use_cache=False, progress=False, settings=RunSettings(8))
    started = time.perf_counter()
    run = evaluate(bot, target, request, RunStore(home / "evals"))
    total = time.perf_counter() - started
    rate = run.info["count"] / run.info["seconds"]
    print(f"botkit eval, qa GPT (extractive, embedded) over {len(texts)} paragraphs, "
          f"{run.info['count']} questions, concurrency 8: {rate:.1f} questions/s predicting, "
          f"{run.info['count'] / total:.1f}/s end to end, {run.info['failed']} failed; "
          f"F1 {run.info['metrics'].get('f1')} EM {run.info['metrics'].get('exact_match')} "
          "(shipped weights: seen these articles)")  # fmt: skip
    # where a question's time goes, side by side in this process (200 of the questions)
    extractor = extract.Extractor(embedder=EMBEDDER)
    sample = [r["question"] for r in questions[:200]]
    found = [knowledge.search(q) for q in sample]
    costs = {}
    for name, step in (
        ("search_fresh (staleness check + search)", lambda q, _: knowledge.search_fresh(q)),
        ("search alone", lambda q, _: knowledge.search(q)),
        ("extraction", lambda q, f: extractor.best(q, [p.text for p in f])),
    ):
        started = time.perf_counter()
        for question, passages in zip(sample, found, strict=True):
            step(question, passages)
        costs[name] = (time.perf_counter() - started) / len(sample) * 1000
    print(
        "   per question, one at a time: " + ", ".join(f"{k} {v:.1f} ms" for k, v in costs.items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="the first N questions only")
    parser.add_argument("--train", action="store_true", help="fit and write the shipped weights")
    parser.add_argument("--eval", type=int, metavar="N", help="the botkit eval path on N questions")
    args = parser.parse_args()
    rows = squad()[: args.limit]
    with tempfile.TemporaryDirectory() as tmp:
        if args.eval:
            eval_path(squad(), args.eval, Path(tmp))
            return
        passages = retrieve(rows, Path(tmp))
        if args.train:
            train(rows, passages)
        else:
            report(rows, passages)


if __name__ == "__main__":
    main()
