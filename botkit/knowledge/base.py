"""A GPT's knowledge base: keep the index fresh, and search it (vector, BM25 or hybrid).

Searching never checks the documents for changes: :meth:`KnowledgeBase.open` indexes what is new
once (before a server says it is ready), and :meth:`KnowledgeBase.watch` looks for changed files
on a timer in the background and re-indexes them while searches go on against the index as it is
(new chunks are written before old ones are deleted, and the keyword index is swapped whole).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from botkit.knowledge.index import IndexReport, KnowledgeIndex, Progress, embed_text
from botkit.knowledge.keyword import KeywordIndex, fuse
from botkit.knowledge.store import chroma_url, store_errors

log = logging.getLogger(__name__)

#: Rows read from Chroma at a time when rebuilding the keyword index.
_PAGE = 5000
#: Candidates each method contributes before fusion.
CANDIDATES = 50


@dataclass(frozen=True)
class Passage:
    id: str
    text: str
    source: str
    title: str
    page: int | None
    score: float  # ranking score (0-1)
    relevance: float  # cosine similarity of the query and the passage: what min_score gates


class KnowledgeBase:
    def __init__(self, index: KnowledgeIndex) -> None:
        self.index = index
        self.spec = index.spec
        self._keyword: KeywordIndex | None = None
        self._size: int | None = None  # chunks in the collection, counted once per refresh
        self.url = chroma_url(self.spec.chroma_url)
        self._lock = threading.RLock()
        self._opened = False

    # -- keeping it fresh ----------------------------------------------------------------------
    def refresh(self, progress: Progress | None = None) -> IndexReport:
        """Index what changed; rebuild the keyword index when anything did. Blocking."""
        with self._lock, store_errors(self.url):
            report = self.index.index(progress)
            folder = self.index.folder / "bm25"
            if report.changed or not (folder / "ids.json").exists():
                keyword = self._build_keyword()
                keyword.save(folder)
                self._keyword = keyword
            self._size = self.index.collection().count()
            return report

    def open(self) -> IndexReport | None:
        """Make the knowledge base ready to search: index it if it never was, or if any file
        changed since (with ``auto_refresh``); load the keyword index. Blocking, once."""
        with self._lock:
            report = None
            if not self._opened:
                with store_errors(self.url):
                    never = not (self.index.folder / "manifest.json").exists()
                    if never or (self.spec.auto_refresh and self.index.stale()):
                        report = self.refresh()
                    self.keyword()
                    self._size = self.index.collection().count()
                self._opened = True
            return report

    async def watch(self, interval: float) -> None:
        """Re-index changed documents every ``interval`` seconds, in a worker thread, until
        cancelled; a failed attempt is logged and tried again next time."""
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.refresh_if_stale)
            except Exception as exc:  # a document mid-write, a store gone for a while
                log.warning("knowledge of %s: refresh failed: %s", self.index.gpt, exc)

    def connect(self) -> None:
        """Open the store now, so an unreachable server is reported before any work starts."""
        with store_errors(self.url):
            self.index.collection()

    def refresh_if_stale(self) -> IndexReport | None:
        if self.spec.auto_refresh and self.index.stale():
            return self.refresh()
        return None

    def search_fresh(
        self,
        query: str,
        top_k: int | None = None,
        mode: str | None = None,
        min_score: float | None = None,
    ) -> list[Passage]:
        """Refresh a stale index (when auto_refresh is on), then search it. Blocking: for
        one-off searches (``botkit knowledge search``), not for answering messages."""
        self.refresh_if_stale()
        return self.search(query, top_k, mode, min_score)

    async def asearch(
        self, query: str, top_k: int | None = None, min_score: float | None = None
    ) -> list[Passage]:
        """:meth:`search` from async code, in a worker thread."""
        return await asyncio.to_thread(self.search, query, top_k, None, min_score)

    def _build_keyword(self) -> KeywordIndex:
        collection = self.index.collection()
        ids: list[str] = []
        texts: list[str] = []
        total = collection.count()
        for offset in range(0, total, _PAGE):  # one get of 100k rows overflows SQLite's variables
            page = collection.get(include=["documents", "metadatas"], limit=_PAGE, offset=offset)
            ids.extend(page["ids"])
            texts.extend(
                embed_text(str((m or {}).get("title", "")), d or "")
                for d, m in zip(page["documents"], page["metadatas"], strict=True)
            )
        return KeywordIndex.build(ids, texts)

    def keyword(self) -> KeywordIndex:
        if self._keyword is not None:  # a refresh swaps it whole: searches never wait for one
            return self._keyword
        with self._lock:  # loaded once, whoever asks first
            if self._keyword is None:
                self._keyword = (
                    KeywordIndex.load(self.index.folder / "bm25") or self._build_keyword()
                )
            return self._keyword

    def size(self) -> int:
        """Chunks in the collection (counted once, then after each refresh)."""
        if self._size is not None:
            return self._size
        with self._lock:
            if self._size is None:
                self._size = self.index.collection().count()
            return self._size

    # -- searching -----------------------------------------------------------------------------
    def search(
        self,
        query: str,
        top_k: int | None = None,
        mode: str | None = None,
        min_score: float | None = None,
    ) -> list[Passage]:
        """The best passages for ``query``, most relevant first, none below ``min_score``."""
        args = (query, top_k or self.spec.top_k, mode or self.spec.search, min_score)
        with store_errors(self.url):
            try:
                return self._search(*args)
            except Exception:
                with self._lock:  # another process may have rebuilt the collection: look again
                    self.index.forget()
                    self._size = None
                return self._search(*args)

    def _search(self, query: str, top_k: int, mode: str, min_score: float | None) -> list[Passage]:
        floor = self.spec.min_score if min_score is None else min_score
        size = self.size()
        if size == 0:
            return []
        collection = self.index.collection()
        query_vector = self.index.embedder.embed([query])[0]
        vector: dict[str, float] = {}
        keyword: dict[str, float] = {}
        n = max(CANDIDATES, top_k)
        if mode in ("vector", "hybrid"):
            found = collection.query(
                query_embeddings=[query_vector.tolist()],
                n_results=min(n, size),
                include=["distances"],
            )
            vector = {
                i: 1.0 - d for i, d in zip(found["ids"][0], found["distances"][0], strict=True)
            }
        if mode in ("bm25", "hybrid"):
            keyword = self.keyword().search(query, n)
        ranking = (
            vector
            if mode == "vector"
            else keyword
            if mode == "bm25"
            else fuse(vector, keyword, self.spec.vector_weight)
        )
        best = sorted(ranking, key=lambda i: ranking[i], reverse=True)[: top_k * 3]
        if not best:
            return []
        data = collection.get(ids=best, include=["documents", "metadatas", "embeddings"])
        rows = {
            i: (d, m, e)
            for i, d, m, e in zip(
                data["ids"], data["documents"], data["metadatas"], data["embeddings"], strict=True
            )
        }
        passages = []
        for i in best:
            if i not in rows:
                continue  # the keyword index still names a chunk that is gone
            text, meta, embedding = rows[i]
            relevance = float(np.dot(np.asarray(embedding, dtype=np.float32), query_vector))
            if relevance < floor:
                continue
            page = meta.get("page")
            passages.append(
                Passage(
                    i,
                    text or "",
                    str(meta.get("source", "")),
                    str(meta.get("title", "")),
                    int(page) if page else None,
                    ranking[i],
                    relevance,
                )
            )
            if len(passages) == top_k:
                break
        return passages

    def stats(self) -> dict[str, Any]:
        manifest = self.index.load_manifest()
        return {
            "gpt": self.index.gpt,
            "files": len(manifest["files"]),
            "chunks": sum(len(f["ids"]) for f in manifest["files"].values()),
            "embedder": manifest.get("settings", {}).get("embedder", ""),
            "dimension": manifest.get("settings", {}).get("dimension", 0),
            "store": self.index.spec.chroma_url or "embedded",
        }

    def clear(self) -> None:
        with self._lock:
            self.index.clear()
            self._keyword = None
            self._size = None
            shutil.rmtree(self.index.folder / "bm25", ignore_errors=True)
