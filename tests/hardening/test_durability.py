"""Durability: stores survive ``kill -9`` mid-write with every acknowledged write in them, and an
index or a trained head killed mid-way leaves the previous one in use."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from botkit.core.conversations import ConversationKey
from botkit.storage.sqlite import SQLiteConversations
from botkit.storage.sqlite_feedback import SQLiteFeedback
from botkit.storage.sqlite_usage import SQLiteUsage

from ..conftest import REPO

KEY = ConversationKey("test", "", "c", "t", "g", "u")

WRITERS = {
    "conversations": """
        from botkit.core.conversations import ConversationKey, Turn
        from botkit.storage.sqlite import SQLiteConversations
        store = SQLiteConversations(PATH)
        key = ConversationKey("test", "", "c", "t", "g", "u")
        async def write(n):
            await store.append(key, [Turn("user", f"turn {n}"), Turn("assistant", "x" * 500)])
    """,
    "feedback": """
        from botkit.core.feedback import Exchange
        from botkit.storage.sqlite_feedback import SQLiteFeedback
        store = SQLiteFeedback(PATH)
        async def write(n):
            await store.record([Exchange(f"r{n}", "g", "api", "u", f"q{n}", "a" * 500)])
            await store.rate(f"r{n}", "up", "u")
    """,
    "usage": """
        from botkit.core.metering import ModelCall
        from botkit.storage.sqlite_usage import SQLiteUsage
        store = SQLiteUsage(PATH)
        async def write(n):
            call = ModelCall(1.0, f"r{n}", "g", "api", "u", "m", "openai", "chat", n, n, False, 0.1, True)
            await store.record([(call, 0.0)])
    """,
}
LOOP = """
import asyncio, sys
PATH = __import__("pathlib").Path(sys.argv[1])
START = int(sys.argv[2])
{writer}
async def main():
    n = START
    while True:
        await write(n)
        print(n, flush=True)  # acknowledged: the write returned
        n += 1
asyncio.run(main())
"""


def kill_in_a_loop(kind: str, path: Path, rounds: int = 5) -> list[int]:
    """Run the writer, kill -9 it at a random moment, again; every number it acknowledged."""
    script = LOOP.format(writer=textwrap.dedent(WRITERS[kind]))
    acknowledged: list[int] = []
    rng = random.Random(kind)
    for _ in range(rounds):
        start = acknowledged[-1] + 1 if acknowledged else 0
        child = subprocess.Popen(
            [sys.executable, "-c", script, str(path), str(start)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert child.stdout is not None
        deadline = time.monotonic() + rng.uniform(0.3, 1.0)
        first = child.stdout.readline()  # it started writing
        assert first.strip(), "the writer did not start"
        acknowledged.append(int(first))
        while time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate()
        acknowledged += [int(line) for line in rest.split()]
    return acknowledged


def intact(path: Path) -> None:
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()


@pytest.mark.slow
async def test_conversations_survive_kill_9_with_every_acknowledged_turn(tmp_path: Path) -> None:
    path = tmp_path / "conversations.sqlite3"
    acknowledged = kill_in_a_loop("conversations", path)
    intact(path)
    store = SQLiteConversations(path)
    kept = {t.content for t in await store.history(KEY, limit=10**6)}
    store.close()
    assert len(acknowledged) > 20
    assert {f"turn {n}" for n in acknowledged} <= kept


@pytest.mark.slow
async def test_feedback_survives_kill_9_with_every_acknowledged_rating(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    acknowledged = kill_in_a_loop("feedback", path)
    intact(path)
    store = SQLiteFeedback(path)
    rated = {e.request_id for e in await store.exchanges()}
    await store.aclose()
    assert {f"r{n}" for n in acknowledged} <= rated


@pytest.mark.slow
async def test_usage_survives_kill_9_with_every_acknowledged_call(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    acknowledged = kill_in_a_loop("usage", path)
    intact(path)
    store = SQLiteUsage(path)
    (row,) = store.summary()
    store.close()
    assert row["calls"] >= len(acknowledged)


INDEXER = """
import sys
from pathlib import Path
from botkit.knowledge.embeddings import WordLlamaEmbedder
from botkit.knowledge.base import KnowledgeBase
from botkit.knowledge.index import KnowledgeIndex
from botkit.spec import EmbedderSpec, KnowledgeSpec
root = Path(sys.argv[1])
spec = KnowledgeSpec(sources=["docs"], chunk_size=32, chunk_overlap=4)
kb = KnowledgeBase(KnowledgeIndex("test", spec, root / "gpt.yaml", root, root / "data",
                                  WordLlamaEmbedder(EmbedderSpec())))
def progress(name, added, done, total):
    print(done, flush=True)
kb.refresh(progress)
print("done", flush=True)
"""


def _docs(root: Path, version: str, count: int = 120) -> None:
    for n in range(count):
        body = " ".join(f"{version} fact marker{n} sentence {k}." for k in range(40))
        (root / "docs" / f"page{n}.md").write_text(f"# Page {n}\n\n{body}\n")


@pytest.mark.slow
def test_an_index_killed_mid_way_leaves_every_file_searchable_and_the_next_run_finishes(
    tmp_path: Path,
) -> None:
    from botkit.knowledge.base import KnowledgeBase
    from botkit.knowledge.embeddings import WordLlamaEmbedder
    from botkit.knowledge.index import KnowledgeIndex
    from botkit.spec import EmbedderSpec, KnowledgeSpec

    (tmp_path / "docs").mkdir()
    _docs(tmp_path, "old")
    subprocess.run(
        [sys.executable, "-c", INDEXER, str(tmp_path)], check=True, capture_output=True, cwd=REPO
    )
    _docs(tmp_path, "new")
    child = subprocess.Popen(
        [sys.executable, "-c", INDEXER, str(tmp_path)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert child.stdout is not None
    while int(child.stdout.readline() or "0") < 20:  # a good part is written
        pass
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    spec = KnowledgeSpec(sources=["docs"], chunk_size=32, chunk_overlap=4, min_score=0)
    index = KnowledgeIndex("test", spec, tmp_path / "gpt.yaml", tmp_path, tmp_path / "data",
                           WordLlamaEmbedder(EmbedderSpec()))  # fmt: skip
    kb = KnowledgeBase(index)
    for n in (0, 60, 119):  # every file answers, in its old or its new version
        found = kb.search(f"marker{n}", top_k=50, mode="bm25")
        assert any(p.source == f"docs/page{n}.md" for p in found), n
    report = kb.refresh()
    assert report.indexed > 0 and report.chunks_removed > 0
    found = kb.search("old fact marker5", top_k=50, mode="bm25")
    assert all("old fact" not in p.text for p in found)  # finished: only the new versions


@pytest.mark.slow
def test_a_head_killed_while_training_leaves_the_previous_head_in_use(tmp_path: Path) -> None:
    from botkit.finetune import local_head

    folder = tmp_path / "heads" / "router"
    trainer = textwrap.dedent("""
        import sys
        from pathlib import Path
        from botkit.finetune import local_head
        from botkit.knowledge.embeddings import WordLlamaEmbedder
        from botkit.spec import EmbedderSpec
        n = int(sys.argv[2])
        texts = [f"text {i} about {'billing' if i % 2 else 'shipping'}" for i in range(n)]
        labels = ["billing" if i % 2 else "shipping" for i in range(n)]
        embedder = WordLlamaEmbedder(EmbedderSpec())
        head = local_head.train(embedder, texts, labels, EmbedderSpec().model_dump(mode="json"))
        print("trained", flush=True)
        local_head.save(head, Path(sys.argv[1]))
        print("saved", flush=True)
    """)
    subprocess.run(
        [sys.executable, "-c", trainer, str(folder), "40"],
        check=True,
        capture_output=True,
        cwd=REPO,
    )
    before = local_head.load(folder)
    assert before is not None
    child = subprocess.Popen(
        [sys.executable, "-c", trainer, str(folder), "20000"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    time.sleep(2.0)  # killed while it embeds and trains
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    after = local_head.load(folder)
    assert after is not None and after.info["data_hash"] == before.info["data_hash"]
