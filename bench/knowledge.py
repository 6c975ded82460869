"""Knowledge benchmarks (issue: knowledge). Figures are printed; nothing here is a pass/fail test.

1. Indexing throughput with the default embedder (WordLlama), chunks/s, on generated
   help-center-like files (10k and 100k chunks), into the embedded Chroma and into a Chroma server
   (`chroma run`, started here on 127.0.0.1), by today's pipeline and by the one of an earlier
   commit (--before, default the commit before issue 15's work) side by side in the same run:
   this machine may be shared and noisy, the ratio is the figure to trust. Then a re-index of the
   unchanged corpus (target <= 5 %), and where the time went (the profile table).
   Targets: >= 1000 chunks/s at 100k into the embedded store, >= 3x before into a server.
2. Query latency (the whole hybrid search: embed, Chroma, BM25, fusion, fetch) p50/p95 at 10k and
   100k chunks. Target p95 <= 30 ms at 100k.
3. Retrieval quality on SQuAD (../shared/datasets/squad_dev_half.jsonl): its 1,065 distinct
   paragraphs as documents, its 5,665 questions as queries, recall@1 and @5 for vector, BM25 and
   hybrid search, through KnowledgeBase.search, indexed by both pipelines. Target: hybrid
   recall@5 >= 0.93, above either alone.
4. The shipped help center (knowledge/acme, questions.jsonl): right page at 1 and in the top 3.

Run: python bench/knowledge.py [--skip-100k] [--sizes N ...] [--stores embedded server]
     [--before REV | --before none] [--only-indexing]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import types
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
sys.path.insert(0, str(REPO))

from botkit.knowledge.base import KnowledgeBase  # noqa: E402
from botkit.knowledge.embeddings import WordLlamaEmbedder, normalise  # noqa: E402
from botkit.knowledge.index import KnowledgeIndex  # noqa: E402
from botkit.knowledge.keyword import KeywordIndex  # noqa: E402
from botkit.spec import EmbedderSpec, KnowledgeSpec  # noqa: E402

EMBEDDER = WordLlamaEmbedder(EmbedderSpec())


class WordLlamaBefore(WordLlamaEmbedder):
    """WordLlama as embedded before issue 15 (its own padded ``embed``): the old pipeline's."""

    def embed(self, texts: list[str]) -> Any:
        if not texts:
            return np.zeros((0, self.DIM), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        vectors = self.model().embed([texts[i] for i in order], norm=True, batch_size=256)
        out = np.empty_like(vectors)
        out[order] = vectors
        return normalise(out)


EMBEDDER_BEFORE = WordLlamaBefore(EmbedderSpec())
#: The pipeline measured against: main before issue 15's indexing work.
BEFORE = "58965a8"


def knowledge_base(
    project: Path, index_class: Any = KnowledgeIndex, data: Path | None = None, **spec: object
) -> KnowledgeBase:
    spec.setdefault("sources", ["docs"])
    knowledge = KnowledgeSpec.model_validate(spec)
    data = data or project / "data"
    embedder = EMBEDDER if index_class is KnowledgeIndex else EMBEDDER_BEFORE
    index = index_class("bench", knowledge, project / "gpt.yaml", project, data, embedder)
    return KnowledgeBase(index)


def before_module(rev: str) -> types.ModuleType:
    """botkit/knowledge/index.py as it was at ``rev`` (read with git), loaded beside today's."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:botkit/knowledge/index.py"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType(f"botkit_index_{rev}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:botkit/knowledge/index.py", "exec"), module.__dict__)
    return module


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


@contextlib.contextmanager
def chroma_server(folder: Path) -> Iterator[str]:
    """`chroma run` (the CLI that comes with chromadb) on 127.0.0.1 and a free port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
    command = [chroma, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("chroma run did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(30)


@contextlib.contextmanager
def stage_timers(patches: list[tuple[Any, str, str]]) -> Iterator[dict[str, float]]:
    """Seconds spent in each patched callable, summed by stage name (to profile the old pipeline,
    which reports no timings of its own)."""
    timings: dict[str, float] = {}

    def timed(function: Callable[..., Any], stage: str) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0

        return run

    saved = [(owner, name, owner.__dict__.get(name)) for owner, name, _ in patches]
    for owner, name, stage in patches:
        setattr(owner, name, timed(getattr(owner, name), stage))
    try:
        yield timings
    finally:
        for owner, name, original in saved:
            if original is None:
                delattr(owner, name)  # an instance attribute shadowing the class's
            else:
                setattr(owner, name, original)


#: BM25 is built by KnowledgeBase.refresh after indexing, the same way for both pipelines.
BM25_PATCHES: list[tuple[Any, str, str]] = [
    (KeywordIndex, "build", "bm25 build"),  # tokenize and index
    (KeywordIndex, "save", "bm25 save"),
]


def before_patches(module: types.ModuleType) -> list[tuple[Any, str, str]]:
    return [
        *BM25_PATCHES,
        (module.KnowledgeIndex, "_changed_entry", "read"),  # stat and hash
        (module, "read_sections", "read"),
        (module, "chunk_sections", "chunk"),
        (EMBEDDER_BEFORE, "embed", "embed"),
        (module._Writer, "_upsert", "write"),  # in the writer thread
        (module._Writer, "_finish", "wait"),  # for the writer thread, then delete replaced
        (module.KnowledgeIndex, "save_manifest", "manifest"),
    ]


def index_run(
    docs: Path, work: Path, method: str, index_class: Any, url: str | None, patches: list[Any]
) -> dict[str, Any]:
    """Index ``docs`` from nothing, then again unchanged; the figures of both."""
    project = work / method
    project.mkdir(parents=True)
    (project / "docs").symlink_to(docs, target_is_directory=True)
    kb = knowledge_base(project, index_class, chroma_url=url)
    kb.connect()
    kb.index.embedder.embed(["warm up"])
    with stage_timers(patches) as timings:
        t0 = time.perf_counter()
        report = kb.refresh()
        full = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = kb.refresh()
    unchanged = time.perf_counter() - t0
    assert again.unchanged == report.files and again.chunks_added == 0, again
    profile = {**timings, **getattr(report, "timings", {})}
    bm25 = full - report.seconds
    profile["bm25 read"] = bm25 - profile.get("bm25 build", 0) - profile.get("bm25 save", 0)
    return {
        "kb": kb,
        "chunks": report.chunks_added,
        "files": report.files,
        "seconds": full,
        "rate": report.chunks_added / full,
        "unchanged": unchanged,
        "profile": profile,
    }


STAGES = {
    "read": "reading (stat, hash, parse)",
    "chunk": "chunking",
    "embed": "embedding",
    "write": "Chroma writes",
    "delete": "Chroma deletes (replaced chunks)",
    "wait": "waiting for the other side",
    "manifest": "manifest writes",
    "bm25 read": "BM25: read the chunks back from Chroma",
    "bm25 build": "BM25: tokenize and index",
    "bm25 save": "BM25: save",
}


def indexing(sizes: list[int], stores: list[str], before: str | None) -> list[dict[str, Any]]:
    """1. and 2.: both pipelines side by side per size and store; latency on today's index."""
    module = before_module(before) if before else None
    results = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            write_corpus(work / "corpus", size)
            for n, store in enumerate(stores):
                methods: list[tuple[str, Any, list[Any]]] = [
                    ("today", KnowledgeIndex, BM25_PATCHES)
                ]
                if module:
                    old = ("before", module.KnowledgeIndex, before_patches(module))
                    # alternate who goes first: a machine that slows down hurts both alike
                    methods = [old, *methods] if n % 2 == 0 else [*methods, old]
                for method, index_class, patches in methods:
                    with contextlib.ExitStack() as stack:
                        url = None
                        if store == "server":
                            url = stack.enter_context(chroma_server(work / f"server-{method}"))
                        run = index_run(
                            work / "corpus", work / store, method, index_class, url, patches
                        )
                        run.update(size=size, store=store, method=method)
                        print(
                            f"1. {store:<8} {method:<6} {run['chunks']} chunks in "
                            f"{run['files']} files: {run['seconds']:.1f} s = {run['rate']:.0f} "
                            f"chunks/s; unchanged re-index {run['unchanged']:.2f} s = "
                            f"{run['unchanged'] / run['seconds']:.1%} of it",
                            flush=True,
                        )
                        if store == "embedded" and method == "today":
                            latency(run["kb"], run["chunks"])
                        del run["kb"]
                        results.append(run)
    summary(results)
    return results


def latency(kb: KnowledgeBase, chunks: int) -> None:
    questions = [json.loads(line)["question"] for line in (SHARED / "squad_dev_half.jsonl").open()][
        :300
    ]
    for q in questions[:20]:
        kb.search(q)
    ms = []
    for q in questions:
        t0 = time.perf_counter()
        kb.search(q)
        ms.append((time.perf_counter() - t0) * 1000)
    cuts = statistics.quantiles(ms, n=100)
    print(
        f"2. hybrid search at {chunks} chunks, {len(ms)} queries: "
        f"p50 {cuts[49]:.1f} ms, p95 {cuts[94]:.1f} ms (target p95 <= 30 ms at 100k)",
        flush=True,
    )


def summary(results: list[dict[str, Any]]) -> None:
    print("\n1. indexing, chunks/s (today / before = speed-up); targets: >= 1000 at 100k embedded,")
    print("   >= 3x before into a server; unchanged re-index <= 5 % of a full one")
    print("| chunks | store | before | today | speed-up | re-index (today) |")
    print("|---:|---|---:|---:|---:|---:|")
    keys = dict.fromkeys((r["size"], r["store"]) for r in results)
    for size, store in keys:
        runs = {r["method"]: r for r in results if (r["size"], r["store"]) == (size, store)}
        now, old = runs["today"], runs.get("before")
        before = f"{old['rate']:,.0f}" if old else "-"
        ratio = f"{now['rate'] / old['rate']:.2f}x" if old else "-"
        print(
            f"| {now['chunks']:,} | {store} | {before} | {now['rate']:,.0f} | {ratio} | "
            f"{now['unchanged'] / now['seconds']:.1%} |"
        )
    for size, store in keys:
        runs = {r["method"]: r for r in results if (r["size"], r["store"]) == (size, store)}
        print(f"\nwhere the time went, {runs['today']['chunks']:,} chunks, {store} (seconds)")
        print("| stage | " + " | ".join(runs) + " |")
        print("|---|" + "---:|" * len(runs))
        for stage, label in STAGES.items():
            cells = [
                f"{r['profile'][stage]:.1f}" if stage in r["profile"] else "-"
                for r in runs.values()
            ]
            print(f"| {label} | " + " | ".join(cells) + " |")
        cells = [f"**{r['seconds']:.1f}**" for r in runs.values()]
        print("| **total, wall clock** | " + " | ".join(cells) + " |")
    print(
        "   reading, chunking and embedding run beside the Chroma writes (today: in a child "
        "process; before: writes in a thread), so stages overlap and do not add up to the total",
        flush=True,
    )


def squad_quality(methods: list[tuple[str, Any]]) -> None:
    rows = [json.loads(line) for line in (SHARED / "squad_dev_half.jsonl").open()]
    texts = paragraphs()
    number = {t: i for i, t in enumerate(texts)}
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "docs").mkdir()
        for t, i in number.items():
            (project / "docs" / f"{i:04d}.txt").write_text(t)
        print(f"3. SQuAD: {len(texts)} paragraphs, {len(rows)} questions")
        for method, index_class in methods:
            # chunk_size 400: a SQuAD paragraph is one document and (nearly always) one chunk
            kb = knowledge_base(
                project, index_class, project / f"data-{method}", chunk_size=400, chunk_overlap=40
            )
            kb.refresh()
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
                    f"   {method:<6} {mode:<7} recall@1 {at1 / len(rows):.3f}  "
                    f"recall@5 {at5 / len(rows):.3f}{extra}",
                    flush=True,
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
    parser.add_argument("--sizes", type=int, nargs="+", help="chunks to index (default 10k 100k)")
    parser.add_argument(
        "--stores", nargs="+", choices=["embedded", "server"], default=["embedded", "server"]
    )
    parser.add_argument(
        "--before", default=BEFORE, help=f"git revision to compare with (default {BEFORE}), or none"
    )
    parser.add_argument("--only-indexing", action="store_true", help="only 1. and 2.")
    args = parser.parse_args()
    sizes = args.sizes or ([10_000] if args.skip_100k else [10_000, 100_000])
    before = None if args.before == "none" else args.before
    indexing(sizes, args.stores, before)
    if args.only_indexing:
        return
    methods: list[tuple[str, Any]] = [("today", KnowledgeIndex)]
    if before:
        methods.insert(0, ("before", before_module(before).KnowledgeIndex))
    squad_quality(methods)
    acme_quality()


if __name__ == "__main__":
    main()
