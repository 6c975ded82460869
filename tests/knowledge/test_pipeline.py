"""The indexing pipeline: the embedding child process, its failures, and what a killed run leaves."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from botkit.knowledge import index as index_module
from botkit.knowledge import pipeline
from botkit.knowledge.embeddings import WordLlamaEmbedder
from botkit.knowledge.index import KnowledgeIndex
from botkit.knowledge.store import TEXT_KEY, ChunkCollection
from botkit.spec import EmbedderSpec

from .conftest import DOCS, FailingEmbedder, KillingEmbedder, make_base


@pytest.fixture
def child(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Embed in a child process whatever the amount; records whether each child started."""
    monkeypatch.setattr(pipeline, "SUBPROCESS_MIN_BYTES", 0)
    started: list[bool] = []
    start = pipeline._ProcessFeed.start

    def spy(self: Any) -> bool:
        started.append(start(self))
        return started[-1]

    monkeypatch.setattr(pipeline._ProcessFeed, "start", spy)
    return started


def edit_all(project: Path) -> None:
    for name in DOCS:
        path = project / name
        path.write_text(path.read_text().replace("business days", "working days") + "\nNew.\n")


def test_a_child_process_indexes_the_same_chunks_as_the_thread(
    project: Path, tmp_path: Path, child: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(project / "docs", copy / "docs")
    kb = make_base(project)
    report = kb.refresh()
    assert child == [True]
    assert (report.indexed, report.chunks_added) == (3, 4)
    assert {"read", "chunk", "embed", "write", "manifest"} <= set(report.timings)
    assert kb.search("how long does a refund take")[0].source == "docs/refunds.md"

    monkeypatch.setattr(pipeline, "SUBPROCESS_MIN_BYTES", 1 << 40)
    in_thread = make_base(copy)
    in_thread.refresh()
    assert child == [True]  # no second child

    def rows(kb: Any) -> dict[str, Any]:
        got = kb.index.collection().get(include=["documents", "metadatas", "embeddings"])
        return {
            i: (d, m, np.round(e, 6).tolist())
            for i, d, m, e in zip(
                got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True
            )
        }

    assert rows(kb) == rows(in_thread)


def test_an_error_in_the_child_fails_the_run_and_the_next_run_finishes(
    project: Path, monkeypatch: pytest.MonkeyPatch, child: list[bool]
) -> None:
    make_base(project).refresh()
    edit_all(project)
    monkeypatch.setattr(index_module, "EMBED_BATCH", 1)  # one file per batch
    broken = make_base(project, embedder=FailingEmbedder(fail_on=2))
    with pytest.raises(RuntimeError, match="embedding service went away"):
        broken.refresh()
    assert child == [True, True]
    kb = make_base(project)
    assert kb.stats()["chunks"] == 4  # every file still searchable: old or new version
    finish = kb.refresh()
    assert (finish.indexed, finish.unchanged) == (2, 1)
    texts = kb.index.collection().get(include=["documents"])["documents"]
    assert len(texts) == 4 and not any("business days" in t for t in texts)


def test_a_child_that_dies_is_an_error_and_the_next_run_finishes(
    project: Path, monkeypatch: pytest.MonkeyPatch, child: list[bool]
) -> None:
    make_base(project).refresh()
    edit_all(project)
    monkeypatch.setattr(index_module, "EMBED_BATCH", 1)
    killed = make_base(project, embedder=KillingEmbedder(kill_on=2))
    with pytest.raises(pipeline.ChildDied, match=r"embedding process ended \(exit code -9\)"):
        killed.refresh()
    kb = make_base(project)
    assert {p.source for p in kb.search("refund shipping vault", top_k=10, min_score=0)} == set(
        DOCS
    )
    finish = kb.refresh()  # the first file's batch may or may not have left the child in time
    assert finish.indexed + finish.unchanged == 3 and finish.indexed >= 2
    texts = kb.index.collection().get(include=["documents"])["documents"]
    assert len(texts) == kb.stats()["chunks"] == 4
    assert not any("business days" in t for t in texts)


class LocalEmbedder(WordLlamaEmbedder):
    """Asks for a child process, but its class cannot be found by one (made in a function)."""


def test_an_embedder_a_child_cannot_load_is_run_in_a_thread(
    project: Path, child: list[bool]
) -> None:
    unpicklable = type("Unpicklable", (LocalEmbedder,), {})  # not importable by name
    kb = make_base(project, embedder=unpicklable(EmbedderSpec()))
    report = kb.refresh()
    assert child == [False]
    assert report.indexed == 3
    assert kb.search("how long does a refund take")[0].source == "docs/refunds.md"


def test_what_a_killed_run_wrote_but_never_recorded_is_cleaned_up(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = make_base(project)
    kb.refresh()
    vault = project / "docs/vault.md"
    vault.write_text("# The Vault\n\nThe Acme Vault stores 4 TB.\n")
    with monkeypatch.context() as m:  # a run killed before any manifest write
        m.setattr(KnowledgeIndex, "save_manifest", lambda self, manifest: None)
        kb.refresh()
    vault.write_text("# The Vault\n\nThe Acme Vault stores 8 TB.\n")
    kb.refresh()
    vault_texts = [
        d for d, m in zip(*_docs_and_metas(kb), strict=True) if m["source"] == "docs/vault.md"
    ]
    assert len(vault_texts) == 1 and vault_texts[0].endswith("The Acme Vault stores 8 TB.")
    (project / "docs/shipping.md").unlink()
    with monkeypatch.context() as m:
        m.setattr(KnowledgeIndex, "save_manifest", lambda self, manifest: None)
        kb.refresh()  # deleted, unrecorded: the manifest still names the file
    kb.refresh()
    sources = {m["source"] for m in _docs_and_metas(kb)[1]}
    assert sources == {"docs/refunds.md", "docs/vault.md"}
    assert kb.stats()["chunks"] == 3


def _docs_and_metas(kb: Any) -> tuple[list[str], list[dict[str, Any]]]:
    got = kb.index.collection().get(include=["documents", "metadatas"])
    return got["documents"], got["metadatas"]


def test_chunk_texts_live_in_metadata_and_read_back_as_documents_old_layout_too(
    project: Path,
) -> None:
    kb = make_base(project)
    kb.refresh()
    raw = kb.index.collection().collection  # Chroma's own collection
    stored = raw.get(include=["documents", "metadatas"])
    assert all(d is None for d in stored["documents"])  # no trigram full-text index to feed
    assert all(m[TEXT_KEY] for m in stored["metadatas"])
    vector = kb.index.embedder.embed(["older"])
    raw.add(  # a chunk written by an earlier botkit: its text as the document
        ids=["old-1"],
        embeddings=vector,
        documents=["Written the old way."],
        metadatas=[{"source": "docs/old.md", "title": "", "start": 0, "end": 19}],
    )
    collection = kb.index.collection()
    assert isinstance(collection, ChunkCollection)
    got = collection.get(ids=["old-1", stored["ids"][0]], include=["documents"])
    assert dict(zip(got["ids"], got["documents"], strict=True)) == {
        "old-1": "Written the old way.",
        stored["ids"][0]: stored["metadatas"][0][TEXT_KEY],
    }
    assert got["metadatas"] is None
    got = collection.get(ids=[stored["ids"][0]], include=["metadatas"])
    assert TEXT_KEY not in got["metadatas"][0] and "documents" not in got["included"]
    found = collection.query(query_embeddings=vector, n_results=2)
    assert found["documents"][0][0] == "Written the old way."
    assert all(TEXT_KEY not in m for m in found["metadatas"][0])


def test_progress_is_told_once_per_file_in_order_of_completion(project: Path) -> None:
    kb = make_base(project)
    (project / "docs/blob.md").write_bytes(b"\x00binary")
    calls: list[tuple[str, int, int, int]] = []
    kb.refresh(lambda *args: calls.append(args))
    assert sorted(c[0] for c in calls) == ["docs/blob.md", *sorted(DOCS)]
    assert [c[2] for c in calls] == [1, 2, 3, 4] and {c[3] for c in calls} == {4}
    assert sum(c[1] for c in calls) == 4
    calls.clear()
    os.utime(project / "docs/vault.md")  # touched: hashed, not re-embedded
    kb.refresh(lambda *args: calls.append(args))
    assert len(calls) == 4 and sum(c[1] for c in calls) == 0


def test_the_manifest_is_compact_and_not_rewritten_when_nothing_changed(project: Path) -> None:
    kb = make_base(project)
    kb.refresh()
    path = kb.index.folder / "manifest.json"
    text = path.read_text()
    assert "\n" not in text and json.loads(text)["files"].keys() == set(DOCS)
    before = path.stat().st_mtime_ns
    assert not kb.refresh().changed
    assert path.stat().st_mtime_ns == before


def test_wordllama_vectors_are_wordllamas_own() -> None:
    embedder = WordLlamaEmbedder(EmbedderSpec())
    texts = ["Refunds are issued within 5 business days.", "é😀 ✓\n\n# heading", "a " * 500]
    ours = embedder.embed(texts)
    theirs = embedder.model().embed(texts, norm=True)
    assert ours.dtype == np.float32 and ours.shape == (3, 256)
    assert np.abs(ours - theirs).max() < 1e-5
    assert not np.isnan(embedder.embed([""])).any()  # WordLlama's own gives NaN here


def test_the_child_never_runs_the_callers_main_module(project: Path, tmp_path: Path) -> None:
    """A script that indexes at module level, unguarded (or ``python -m botkit``, whose
    ``__main__`` runs the command on import): the embedding child must not run it again."""
    script = tmp_path / "index_it.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parents[2])!r})\n"
        "from pathlib import Path\n"
        "from botkit.knowledge import pipeline\n"
        "from tests.knowledge.conftest import make_base\n"
        "pipeline.SUBPROCESS_MIN_BYTES = 0\n"
        "started = []\n"
        "start = pipeline._ProcessFeed.start\n"
        "pipeline._ProcessFeed.start = lambda self: started.append(start(self)) or started[-1]\n"
        "print('module body', flush=True)\n"
        "report = make_base(Path(sys.argv[1])).refresh()\n"
        "print('indexed', report.indexed, started, flush=True)\n"
    )
    result = subprocess.run(
        [sys.executable, str(script), str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["module body", "indexed 3 [True]"]
