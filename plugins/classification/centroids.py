"""Nearest labels, in embedding space and in word space: fast, any number of labels, no training.

Each label is known by its description and examples (its texts). A label with few texts is
known by their centroids: the mean of their WordLlama embeddings (meaning) and of their TF-IDF
vectors over words and word pairs (wording). With ``NEAREST_FROM`` texts a label or more, its
nearest texts count too, so a label whose examples say the same thing in several ways is matched
by any of them: meaning is the mean of the text's cosine similarity to the label's nearest text,
to its ``NEIGHBOURS`` nearest and to the centroid; wording the mean of the similarity to the
TF-IDF centroid and to the nearest texts. The two are mixed and a softmax over the labels turns
them into probabilities.

On CLINC150 (150 intents, 100 examples each), cross-validated inside clinc150_train (80
examples as labels, 20 held out): embedding centroids 0.877, 3 nearest texts 0.900, centroids
of both kinds (the previous method) 0.904, this mix 0.939; on clinc150_val 0.912 (previously
0.885; bench/tasks.py). Word statistics need data, so wording counts only from ``WORDS_FIRST``
texts a label and fully from ``WORDS_FULL_WEIGHT`` on (with two examples a label, "my" or
"where" would otherwise decide).

The text's best mixed similarity is returned too: low when the text is like none of the labels,
which ``min_similarity`` turns into "none of these" (on CLINC150's out-of-scope queries a better
gate than the softmax confidence: bench/tasks.py).
"""

from __future__ import annotations

import asyncio
from itertools import pairwise
from typing import Any

import numpy as np

#: Softmax temperature over similarities (which sit close together for short texts).
SHARPNESS = 20.0
#: Texts per label (description and examples) from which wording counts at all, and from which it
#: weighs as much as meaning (in between, proportionally).
WORDS_FIRST, WORDS_FULL_WEIGHT = 5, 20
#: A label's meaning similarity is the mean over its this many most similar texts (CLINC150,
#: cross-validated inside clinc150_train: 1 0.884, 3 0.900, 5 0.902, 10 0.895, centroid 0.877;
#: with the wording, 3 is best).
NEIGHBOURS = 3
#: Texts per label (on average) from which the nearest ones count: with fewer, their centroid is
#: steadier (the shipped classifier, 3 texts a label, sends "Where is my package?" to billing's
#: "Where can I download my invoice?" by its nearest text).
NEAREST_FROM = 10
#: Labels whose nearest texts are searched: those with the nearest centroids (the rest cannot win;
#: this keeps the cost of 150 labels x 100 examples near that of the centroids alone).
SHORTLIST = 16
#: Wording's weight against meaning's once a label has ``WORDS_FULL_WEIGHT`` texts.
WORDING = 2 / 3


class Centroids:
    def __init__(self, embedder: Any, label_texts: dict[str, list[str]]) -> None:
        from scipy import sparse  # scikit-learn takes seconds to import: only when needed
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.embedder = embedder
        self.names = list(label_texts)
        texts = [text for name in self.names for text in label_texts[name]]
        self.vectors = _normalized(embedder.embed(texts)).astype(np.float32)
        self.counts = np.array([len(label_texts[n]) for n in self.names])
        # row r of ``index``: the positions of label r's texts, padded with len(texts)
        bounds = np.concatenate([[0], np.cumsum(self.counts)])
        self.index = np.full((len(self.names), int(self.counts.max())), len(texts))
        for row in range(len(self.names)):
            self.index[row, : self.counts[row]] = np.arange(bounds[row], bounds[row + 1])
        self.centroids = _normalized(np.add.reduceat(self.vectors, bounds[:-1], axis=0)).astype(
            np.float32
        )
        self.table = np.vstack([self.vectors, np.zeros_like(self.vectors[:1])])[self.index]
        self.k = np.minimum(self.counts, NEIGHBOURS)
        self.words = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2))
        text_words = self.words.fit_transform(texts).tocsr()
        self.text_words_t = text_words.T.tocsr()  # a text's few words pick a few rows
        wording = np.vstack([text_words[a:b].mean(axis=0) for a, b in pairwise(bounds)])
        self.wording_t = sparse.csr_matrix(_normalized(wording).T)
        per_label = len(texts) / len(label_texts)
        ramp = (per_label - WORDS_FIRST) / (WORDS_FULL_WEIGHT - WORDS_FIRST)
        self.word_weight = min(1.0, max(0.0, ramp))
        self.nearest = per_label >= NEAREST_FROM

    def _nearest(self, table: Any, rows: Any) -> tuple[Any, Any]:
        """For each of ``rows``: the similarity of its nearest text and the mean over its
        ``NEIGHBOURS`` nearest, from the similarities of its texts (``table``, one row each)."""
        table = np.where(self.index[rows] == len(self.vectors), -np.inf, table)  # padding last
        k = int(self.k[rows].max())
        top = -np.sort(-table, axis=1)[:, :k]
        keep = np.arange(k)[None, :] < self.k[rows, None]
        return top[:, 0], np.where(keep, top, 0.0).sum(axis=1) / self.k[rows]

    def similarities(self, text: str) -> Any:
        """Each label's similarity to ``text``: in meaning, the mean of its similarity to the
        label's nearest text, to its ``NEIGHBOURS`` nearest and to their centroid; in wording,
        the mean of those to its TF-IDF centroid and nearest texts (labels with fewer than
        ``NEAREST_FROM`` texts: the centroids alone). Only the ``SHORTLIST``
        labels with the nearest centroids are searched; the others keep their centroid
        similarities, capped below the shortlist's (they are not in the running)."""
        vector = self.embedder.embed([text])[0]
        words = self.words.transform([text])
        near = self.centroids @ vector
        worded = (words @ self.wording_t).toarray().ravel()
        if not self.nearest:
            return (near + self.word_weight * worded) / (1 + self.word_weight)
        rows = (
            np.argpartition(-near, SHORTLIST)[:SHORTLIST]
            if len(near) > SHORTLIST
            else np.arange(len(near))
        )
        one, few = self._nearest(self.table[rows] @ vector, rows)
        by_text = np.append((words @ self.text_words_t).toarray().ravel(), 0.0)
        _, few_words = self._nearest(by_text[self.index[rows]], rows)
        meaning = near.astype(np.float64)
        meaning[rows] = (one + few + near[rows]) / 3
        wording = worded.copy()
        wording[rows] = (worded[rows] + few_words) / 2
        others = np.ones(len(near), bool)
        others[rows] = False
        meaning[others] = np.minimum(meaning[others], meaning[rows].min())
        wording[others] = np.minimum(wording[others], wording[rows].min())
        w = WORDING * self.word_weight
        return (meaning + w * wording) / (1 + w)

    async def scores(self, text: str) -> tuple[dict[str, float], float]:
        """Each label's probability for ``text``, and the text's best similarity (meaning and
        wording): low when the text is like none of the labels. Computed in a worker thread."""
        return await asyncio.to_thread(self.score, text)

    def score(self, text: str) -> tuple[dict[str, float], float]:
        sims = self.similarities(text)
        weights = np.exp(SHARPNESS * (sims - sims.max()))
        probs = weights / weights.sum()
        return {n: float(p) for n, p in zip(self.names, probs, strict=True)}, float(sims.max())


def _normalized(matrix: Any) -> Any:
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)
