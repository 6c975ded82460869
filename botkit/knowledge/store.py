"""Chroma: embedded (``PersistentClient`` under the data directory) or a server (``chroma_url``).

A chunk's text is stored in its metadata (:data:`TEXT_KEY`), not as Chroma's document: Chroma
indexes every document in a trigram full-text index (SQLite FTS5) that botkit never queries
(keyword search is BM25, bm25s), and that index halves the write rate, embedded and server alike
(bench/knowledge.py's chunks written alone on 2 cores: about 1,000 a second with documents, 2,000
without). :class:`ChunkCollection` gives the text back as ``documents`` on reads, from either
place, so collections written before still read the same.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botkit.errors import StoreUnreachable

#: The metadata key holding a chunk's text.
TEXT_KEY = "text"

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def chroma_url(configured: str | None) -> str | None:
    return configured or os.environ.get("BOTKIT_CHROMA_URL") or None


def open_client(data_dir: Path, url: str | None) -> Any:
    """A Chroma client, shared per store for the whole process. Telemetry is off."""
    key = url or str(data_dir / "chroma")
    with _lock:
        if key not in _clients:
            _clients[key] = _http_client(url) if url else _persistent_client(data_dir / "chroma")
        return _clients[key]


def _settings() -> Any:
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False)


def _persistent_client(path: Path) -> Any:
    import chromadb

    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=_settings())


def _http_client(url: str) -> Any:
    import chromadb

    parsed = urlparse(url if "://" in url else f"http://{url}")
    ssl = parsed.scheme == "https"
    port = parsed.port or (443 if ssl else 8000)
    try:
        client = chromadb.HttpClient(
            host=parsed.hostname or "localhost", port=port, ssl=ssl, settings=_settings()
        )
        client.heartbeat()
    except Exception as exc:  # chromadb raises plain ValueError/ConnectionError variants here
        raise StoreUnreachable(
            url, str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        ) from exc
    return client


@contextmanager
def store_errors(url: str | None) -> Iterator[None]:
    """Turn a lost connection to a Chroma server into one clear :class:`StoreUnreachable`."""
    try:
        yield
    except StoreUnreachable:
        raise
    except Exception as exc:
        import httpx  # chromadb's HTTP client is httpx

        lost = isinstance(exc, httpx.TransportError) or "could not connect" in str(exc).lower()
        if url and lost:
            raise StoreUnreachable(url, type(exc).__name__) from exc
        raise


def forget_client(data_dir: Path, url: str | None) -> None:
    with _lock:
        _clients.pop(url or str(data_dir / "chroma"), None)


class ChunkCollection:
    """A Chroma collection whose reads return chunk texts as ``documents`` wherever they are stored
    (the metadata's :data:`TEXT_KEY`, or Chroma's document field in collections written before).
    Everything else is the collection's own."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)

    def get(self, *args: Any, include: Any = ("metadatas", "documents"), **kwargs: Any) -> Any:
        wanted = list(include)
        result = self.collection.get(*args, include=_asked(wanted), **kwargs)
        _give_texts(result, wanted, nested=False)
        return result

    def query(
        self, *args: Any, include: Any = ("metadatas", "documents", "distances"), **kwargs: Any
    ) -> Any:
        wanted = list(include)
        result = self.collection.query(*args, include=_asked(wanted), **kwargs)
        _give_texts(result, wanted, nested=True)
        return result


def _asked(wanted: list[str]) -> list[str]:
    return [*wanted, "metadatas"] if "documents" in wanted and "metadatas" not in wanted else wanted


def _give_texts(result: Any, wanted: list[str], nested: bool) -> None:
    """Fill ``documents`` from the metadata's text, and take the text out of the metadata."""
    if "documents" not in wanted and "metadatas" not in wanted:
        return
    groups = result["metadatas"] if nested else [result["metadatas"]]
    documents = (
        (result.get("documents") or [None] * len(groups)) if nested else [result.get("documents")]
    )
    texts = []
    metas = []
    for docs, group in zip(documents, groups, strict=True):
        docs = docs if docs is not None else [None] * len(group)
        clean = [
            None if m is None else {k: v for k, v in m.items() if k != TEXT_KEY} for m in group
        ]
        texts.append(
            [
                d if d is not None else (m or {}).get(TEXT_KEY)
                for d, m in zip(docs, group, strict=True)
            ]
        )
        metas.append(clean)
    if "included" in result:
        result["included"] = wanted
    if "documents" in wanted:
        result["documents"] = texts if nested else texts[0]
    result["metadatas"] = (metas if nested else metas[0]) if "metadatas" in wanted else None
