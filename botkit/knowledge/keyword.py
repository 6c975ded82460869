"""BM25 keyword search (bm25s) over a collection's chunks, saved beside the manifest."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from botkit.atomic import atomic_folder


def _bm25s() -> Any:
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG on import
    return bm25s


def _tokenize(texts: list[str]) -> Any:
    bm25s = _bm25s()

    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), show_progress=False)


def _stemmer() -> Any:
    try:
        import Stemmer  # PyStemmer: optional, better recall when present
    except ImportError:
        return None
    return Stemmer.Stemmer("english")


class KeywordIndex:
    def __init__(self, ids: list[str], model: Any) -> None:
        self.ids = ids
        self.model = model

    @classmethod
    def build(cls, ids: list[str], texts: list[str]) -> KeywordIndex:
        bm25s = _bm25s()

        model = bm25s.BM25()
        if texts:
            model.index(_tokenize(texts), show_progress=False)
        return cls(ids, model)

    def search(self, query: str, k: int) -> dict[str, float]:
        """Chunk id -> BM25 score for the best ``k`` chunks with a score above zero."""
        if not self.ids:
            return {}
        k = min(k, len(self.ids))
        found, scores = self.model.retrieve(
            _tokenize([query]), k=k, show_progress=False, n_threads=1
        )
        return {self.ids[i]: float(s) for i, s in zip(found[0], scores[0], strict=True) if s > 0}

    def save(self, folder: Path) -> None:
        with atomic_folder(folder) as staging:
            if self.ids:
                self.model.save(str(staging), show_progress=False)
            (staging / "ids.json").write_text(json.dumps(self.ids))

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex | None:
        bm25s = _bm25s()

        try:
            ids = json.loads((folder / "ids.json").read_text())
            model = bm25s.BM25.load(str(folder), show_progress=False) if ids else bm25s.BM25()
        except (OSError, ValueError):
            return None
        return cls(ids, model)


def normalise_scores(scores: dict[str, float]) -> dict[str, float]:
    """Scale to 0..1 by the best score (0 stays 0), so keyword and vector scores can be mixed."""
    if not scores:
        return {}
    top = max(scores.values())
    return {k: (v / top if top > 0 else 0.0) for k, v in scores.items()}


def fuse(
    vector: dict[str, float], keyword: dict[str, float], vector_weight: float
) -> dict[str, float]:
    """Weighted sum of the two normalised scores; a chunk missing from one list scores 0 there."""
    v, kw = normalise_scores(vector), normalise_scores(keyword)
    return {
        i: vector_weight * v.get(i, 0.0) + (1 - vector_weight) * kw.get(i, 0.0)
        for i in v.keys() | kw.keys()
    }
