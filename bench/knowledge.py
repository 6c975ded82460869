"""Knowledge benchmarks (issue: knowledge). Figures are printed; nothing here is a pass/fail test.

1. Indexing throughput with the default embedder (WordLlama) into the embedded Chroma, chunks/s,
   on N generated help-center-like files; then a re-index of the unchanged corpus (target <= 5 %).
2. Query latency (the whole hybrid search: embed, Chroma, BM25, fusion, fetch) p50/p95 at 10k and
   100k chunks. Target p95 <= 30 ms at 100k.
3. Retrieval quality on SQuAD (../shared/datasets/squad_dev_half.jsonl): its 1,065 distinct
   paragraphs as documents, its 5,665 questions as queries, recall@1 and @5 for vector, BM25 and
   hybrid search, through KnowledgeBase.search. Target: hybrid recall@5 >= 0.93, above either alone.
4. The shipped help center (knowledge/acme, questions.jsonl): right page at 1 and in the top 3.

Run: python bench/knowledge.py [--skip-100k]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
sys.path.insert(0, str(REPO))

from botkit.knowledge.base import KnowledgeBase  # noqa: E402
from botkit.knowledge.embeddings import WordLlamaEmbedder  # noqa: E402
from botkit.knowledge.index import KnowledgeIndex  # noqa: E402
from botkit.spec import EmbedderSpec, KnowledgeSpec  # noqa: E402

EMBEDDER = WordLlamaEmbedder(EmbedderSpec())


def knowledge_base(project: Path, **spec: object) -> KnowledgeBase:
    spec.setdefault("sources", ["docs"])
    knowledge = KnowledgeSpec.model_validate(spec)
    index = KnowledgeIndex(
        "bench", knowledge, project / "gpt.yaml", project, project / "data", EMBEDDER
    )
    return KnowledgeBase(index)


def paragraphs() -> list[str]:
    rows = [json.loads(line) for line in (SHARED / "squad_dev_half.jsonl").open()]
    return list(dict.fromkeys(r["context"] for r in rows))


def write_corpus(folder: Path, chunks_wanted: int, seed: int = 0) -> None:
    """Markdown files of 4 sections x 1 paragraph (one chunk per section at chunk_size 200)."""
    rng = random.Random(seed)
    texts = paragraphs()
    folder.mkdir(parents=True)
    for f in range(chunks_wanted // 4):
        body = [f"# Document {f}\n"]
        for s in range(4):
            words = rng.choice(texts).split()[:110]
            body.append(f"## Section {s}\n\n{' '.join(words)} ({f}.{s})\n")
        (folder / f"doc{f:06d}.md").write_text("\n".join(body))


def throughput_and_latency(sizes: list[int]) -> None:
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp)
            write_corpus(project / "docs", size)
            kb = knowledge_base(project)
            kb.connect()
            EMBEDDER.embed(["warm up"])
            t0 = time.perf_counter()
            report = kb.refresh()
            full = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = kb.refresh()
            unchanged = time.perf_counter() - t0
            assert again.unchanged == report.files and again.chunks_added == 0
            print(
                f"1. {report.chunks_added} chunks in {report.files} files: indexed in {full:.1f} s = "
                f"{report.chunks_added / full:.0f} chunks/s (target >= 1000); unchanged re-index "
                f"{unchanged:.2f} s = {unchanged / full:.1%} of it (target <= 5 %)"
            )
            questions = [
                json.loads(line)["question"] for line in (SHARED / "squad_dev_half.jsonl").open()
            ][:300]
            for q in questions[:20]:
                kb.search(q)
            ms = []
            for q in questions:
                t0 = time.perf_counter()
                kb.search(q)
                ms.append((time.perf_counter() - t0) * 1000)
            cuts = statistics.quantiles(ms, n=100)
            print(
                f"2. hybrid search at {report.chunks_added} chunks, {len(ms)} queries: "
                f"p50 {cuts[49]:.1f} ms, p95 {cuts[94]:.1f} ms (target p95 <= 30 ms at 100k)"
            )


def squad_quality() -> None:
    rows = [json.loads(line) for line in (SHARED / "squad_dev_half.jsonl").open()]
    texts = paragraphs()
    number = {t: i for i, t in enumerate(texts)}
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "docs").mkdir()
        for t, i in number.items():
            (project / "docs" / f"{i:04d}.txt").write_text(t)
        # chunk_size 400: a SQuAD paragraph is one document and (nearly always) one chunk
        kb = knowledge_base(project, chunk_size=400, chunk_overlap=40)
        kb.refresh()
        print(f"3. SQuAD: {len(texts)} paragraphs, {len(rows)} questions")
        for mode in ("vector", "bm25", "hybrid"):
            at1 = at5 = 0
            for r in rows:
                found = kb.search(r["question"], top_k=5, mode=mode, min_score=-1)
                names = list(dict.fromkeys(p.source for p in found))
                gold = f"docs/{number[r['context']]:04d}.txt"
                at1 += names[:1] == [gold]
                at5 += gold in names[:5]
            extra = f" (vector_weight {kb.spec.vector_weight})" if mode == "hybrid" else ""
            print(
                f"   {mode:<7} recall@1 {at1 / len(rows):.3f}  recall@5 {at5 / len(rows):.3f}{extra}"
            )
        print("   target: hybrid recall@5 >= 0.93 and above both")


def acme_quality() -> None:
    questions = [json.loads(line) for line in (REPO / "knowledge/acme/questions.jsonl").open()]
    answerable = [q for q in questions if q["source"]]
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        shutil.copytree(REPO / "knowledge", project / "knowledge")
        kb = knowledge_base(project, sources=["knowledge/acme/**/*.md"])
        kb.refresh()
        print(f"4. help center: {len(answerable)} answerable questions, right page at 1 / in top 3")
        for mode in ("vector", "bm25", "hybrid"):
            at1 = at3 = 0
            for q in answerable:
                names = [
                    p.source for p in kb.search(q["question"], top_k=3, mode=mode, min_score=-1)
                ]
                gold = f"knowledge/acme/{q['source']}"
                at1 += names[:1] == [gold]
                at3 += gold in names
            print(f"   {mode:<7} {at1 / len(answerable):.2f} / {at3 / len(answerable):.2f}")
        unanswerable = [q["question"] for q in questions if not q["source"]]
        best = [
            max((p.relevance for p in kb.search(q, min_score=-1)), default=0) for q in unanswerable
        ]
        shown = ", ".join(f"{b:.2f}" for b in best)
        print(f"   unanswerable questions: best relevance {shown} (min_score {kb.spec.min_score})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skip-100k", action="store_true", help="only 10k chunks for 1. and 2.")
    args = parser.parse_args()
    throughput_and_latency([10_000] if args.skip_100k else [10_000, 100_000])
    squad_quality()
    acme_quality()


if __name__ == "__main__":
    main()
