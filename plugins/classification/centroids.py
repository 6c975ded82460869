"""Nearest label centroid in embedding space: fast, needs no language model, any number of labels.

Each label is the mean of the embeddings of its description and examples; a text's similarity to
every centroid, sharpened by a softmax, gives the label scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Softmax temperature over cosine similarities (which sit close together for short texts).
SHARPNESS = 20.0


class Centroids:
    def __init__(self, embedder: Any, label_texts: dict[str, list[str]]) -> None:
        self.embedder = embedder
        self.names = list(label_texts)
        rows = [embedder.embed(label_texts[n]).mean(axis=0) for n in self.names]
        matrix = np.vstack(rows)
        self.matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)

    async def scores(self, text: str) -> tuple[dict[str, float], float]:
        """Each label's probability for ``text`` (softmax over centroid similarities), and the
        best similarity itself: low when the text is like none of the labels."""
        sims = self.matrix @ self.embedder.embed([text])[0]
        weights = np.exp(SHARPNESS * (sims - sims.max()))
        probs = weights / weights.sum()
        return {n: float(p) for n, p in zip(self.names, probs, strict=True)}, float(sims.max())
