from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from botkit.knowledge.base import KnowledgeBase
from botkit.knowledge.embeddings import Embedder, WordLlamaEmbedder
from botkit.knowledge.index import KnowledgeIndex
from botkit.spec import EmbedderSpec, KnowledgeSpec

DOCS = {
    "docs/refunds.md": "# Refunds\n\n## Timing\n\nRefunds are issued within 5 business days.\n\n"
    "## Eligibility\n\nAsk for a refund within 14 days of purchase.\n",
    "docs/shipping.md": "# Shipping\n\n## Europe\n\nShipping to the EU takes 4 to 7 business days "
    "and costs 6.90 euros.\n",
    "docs/vault.md": "# The Vault\n\nThe Acme Vault stores 2 TB of photos on your home network.\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, text in DOCS.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def make_base(project: Path, embedder: Embedder | None = None, **spec: Any) -> KnowledgeBase:
    spec.setdefault("sources", ["docs"])
    knowledge = KnowledgeSpec.model_validate(spec)
    index = KnowledgeIndex(
        "test",
        knowledge,
        project / "configs" / "gpts" / "test.yaml",
        project,
        project / "data",
        embedder or WordLlamaEmbedder(EmbedderSpec()),
    )
    return KnowledgeBase(index)


class FailingEmbedder(WordLlamaEmbedder):
    """The real embedder, made to fail on its ``fail_on``-th call (a network drop, say)."""

    def __init__(self, fail_on: int) -> None:
        super().__init__(EmbedderSpec())
        self.calls = 0
        self.fail_on = fail_on

    def embed(self, texts: list[str]) -> Any:
        self.calls += 1
        if self.calls == self.fail_on:
            raise RuntimeError("embedding service went away")
        return super().embed(texts)


class KillingEmbedder(WordLlamaEmbedder):
    """The real embedder, whose process is killed (SIGKILL) on its ``kill_on``-th call, when that
    process is not the test's own: it is meant for the embedding child process."""

    def __init__(self, kill_on: int) -> None:
        super().__init__(EmbedderSpec())
        self.calls = 0
        self.kill_on = kill_on
        self.parent = os.getpid()

    def embed(self, texts: list[str]) -> Any:
        self.calls += 1
        if self.calls == self.kill_on:
            if os.getpid() == self.parent:
                raise AssertionError("KillingEmbedder ran in the test process, not in a child")
            os.kill(os.getpid(), signal.SIGKILL)
        return super().embed(texts)
