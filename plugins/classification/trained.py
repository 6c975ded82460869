"""A head trained on the GPT's own labeled data (``botkit finetune local``), used once it exists."""

from __future__ import annotations

import asyncio
from typing import Any

from botkit.finetune.local_head import Head


class Trained:
    def __init__(self, head: Head, embedder: Any, names: list[str]) -> None:
        self.head = head
        self.embedder = embedder
        self.names = names

    async def scores(self, text: str) -> tuple[dict[str, float], None]:
        """Each label's probability for ``text``, computed in a worker thread."""
        return await asyncio.to_thread(self.score, text)

    def score(self, text: str) -> tuple[dict[str, float], None]:
        probs = self.head.probabilities(self.embedder.embed([text]), [text])[0]
        by_label = dict(zip(self.head.labels, map(float, probs), strict=True))
        return {name: by_label.get(name, 0.0) for name in self.names}, None
