"""Chroma: embedded (``PersistentClient`` under the data directory) or a server (``chroma_url``)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botkit.errors import StoreUnreachable

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
