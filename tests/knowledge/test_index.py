"""Indexing into a real embedded Chroma with the real WordLlama embedder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from botkit.knowledge import index as index_module
from botkit.knowledge.embeddings import OpenAIEmbedder
from botkit.spec import EmbedderSpec
from botkit.testing import StubOpenAI

from .conftest import FailingEmbedder, make_base


def sources(base: object, query: str) -> list[str]:
    return [p.source for p in base.search(query, min_score=0)]  # type: ignore[attr-defined]


def test_first_index_then_nothing_to_do(project: Path) -> None:
    kb = make_base(project)
    first = kb.refresh()
    assert (first.files, first.indexed, first.rebuilt) == (3, 3, "first index")
    assert first.chunks_added == 4
    again = kb.refresh()
    assert (again.indexed, again.unchanged, again.chunks_added, again.changed) == (0, 3, 0, False)
    assert not kb.index.stale()
    assert sources(kb, "how long does a refund take")[0] == "docs/refunds.md"


def test_only_the_edited_file_is_reembedded_and_a_deleted_one_disappears(project: Path) -> None:
    kb = make_base(project)
    kb.refresh()
    (project / "docs/vault.md").write_text("# The Vault\n\nThe Acme Vault stores 8 TB now.\n")
    os.utime(project / "docs/refunds.md")  # touched, same content: hashed, not re-embedded
    (project / "docs/shipping.md").unlink()
    assert kb.index.stale()
    report = kb.refresh()
    assert (report.indexed, report.unchanged, report.removed) == (1, 1, 1)
    assert (report.chunks_added, report.chunks_removed) == (1, 2)
    found = kb.search("how much does the Vault store", min_score=0)
    assert found[0].source == "docs/vault.md" and "8 TB" in found[0].text
    assert "docs/shipping.md" not in sources(kb, "shipping to the EU")
    assert kb.stats()["chunks"] == 3


def test_changing_the_chunking_rebuilds_instead_of_mixing(project: Path) -> None:
    make_base(project).refresh()
    report = make_base(project, chunk_size=20, chunk_overlap=5).refresh()
    assert report.rebuilt.startswith("settings changed: chunk_size 200 -> 20")
    assert report.indexed == 3


def test_a_run_that_fails_half_way_leaves_a_usable_index_and_the_next_run_finishes(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_base(project).refresh()
    for name in ("refunds", "shipping", "vault"):
        path = project / f"docs/{name}.md"
        path.write_text(path.read_text().replace("business days", "working days") + "\nUpdated.\n")
    monkeypatch.setattr(index_module, "EMBED_BATCH", 1)  # one file per batch
    broken = make_base(project, embedder=FailingEmbedder(fail_on=2))
    with pytest.raises(RuntimeError, match="went away"):
        broken.refresh()
    kb = make_base(project)
    assert kb.stats()["chunks"] == 4  # every file still searchable: old or new version
    assert {p.source for p in kb.search("refund shipping vault", top_k=10, min_score=0)} == {
        "docs/refunds.md",
        "docs/shipping.md",
        "docs/vault.md",
    }
    finish = kb.refresh()
    assert (finish.indexed, finish.unchanged) == (2, 1)
    texts = kb.index.collection().get(include=["documents"])["documents"]
    assert len(texts) == 4 and not any("business days" in t for t in texts)


def test_bad_files_are_skipped_with_a_warning_and_keep_what_was_indexed(project: Path) -> None:
    kb = make_base(project, sources=["docs", "missing/*.md"])
    kb.refresh()
    (project / "docs/blob.md").write_bytes(b"\x00\x01binary")
    (project / "docs/vault.md").write_bytes("caf\xe9".encode("latin-1"))
    report = kb.refresh()
    assert report.warnings == [
        f"knowledge source 'missing/*.md' matches no file (looked in {project})",
        "skipped docs/blob.md: it looks like a binary file, not text",
        "skipped docs/vault.md: it is not UTF-8 text (byte 3); convert it, e.g. with iconv",
    ]
    assert "docs/vault.md" in sources(kb, "Vault stores photos")  # the last good version stays


def test_an_openai_compatible_embedder_is_batched_and_switching_embedders_rebuilds(
    project: Path, openai_stub: StubOpenAI
) -> None:
    make_base(project).refresh()  # WordLlama first
    spec = EmbedderSpec(
        provider="openai", name="stub-embed", base_url=openai_stub.url, batch_size=3
    )
    kb = make_base(project, embedder=OpenAIEmbedder(spec))
    report = kb.refresh()
    assert report.rebuilt == (
        "settings changed: embedder 'wordllama:l2_supercat-256' -> 'openai:stub-embed', "
        "dimension 256 -> 8"
    )
    batches = [r.body["input"] for r in openai_stub.requests if r.path == "/v1/embeddings"]
    assert [len(b) for b in batches] == [1, 3, 1]  # the dimension probe, then 4 chunks 3 at a time
    assert kb.stats()["dimension"] == openai_stub.embedding_dim
    assert all(r.body["model"] == "stub-embed" for r in openai_stub.requests)
    assert kb.stats()["chunks"] == 4


def test_the_keyword_index_reads_the_collection_page_by_page(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botkit.knowledge import base

    monkeypatch.setattr(base, "_PAGE", 3)  # 100k rows in one read overflow SQLite's variables
    kb = make_base(project)
    kb.refresh()
    assert sorted(kb.keyword().ids) == sorted(kb.index.collection().get()["ids"])
    assert len(kb.keyword().ids) == 4
    assert kb.search("EU shipping euros", mode="bm25")[0].source == "docs/shipping.md"


def test_files_outside_the_project_and_symlinks_leading_out_are_left_out(tmp_path: Path) -> None:
    from botkit.knowledge.sources import resolve_sources
    from botkit.spec import KnowledgeSpec

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "docs").mkdir(parents=True)
    elsewhere.mkdir()
    (project / "docs" / "inside.md").write_text("# In\n\nInside.\n")
    (elsewhere / "secret.md").write_text("# Secret\n\nThe password is hunter2.\n")
    (project / "docs" / "link.md").symlink_to(elsewhere / "secret.md")
    (project / "docs" / "dir").symlink_to(elsewhere, target_is_directory=True)
    gpt_file = project / "configs" / "gpts" / "qa.yaml"
    gpt_file.parent.mkdir(parents=True)
    spec = KnowledgeSpec(sources=["docs", "../../../elsewhere/*.md", str(elsewhere / "secret.md")])
    files, warnings = resolve_sources(spec, gpt_file, project)
    assert [f.name for f in files] == ["docs/inside.md"]
    assert len([w for w in warnings if "outside the project folder" in w]) == 3
    opted = KnowledgeSpec(sources=["docs"], allow_outside=True)
    files, _ = resolve_sources(opted, gpt_file, project)
    assert {f.name for f in files} >= {"docs/inside.md", "docs/link.md"}
