"""Conversation history, persisted in SQLite under the data directory.

A conversation is identified by where it happens (surface, channel, thread), who is talking (user)
and which GPT answers.

Reads run inline on the event loop: SQLite in WAL mode answers an indexed lookup in microseconds,
less than a hop to a worker thread costs. Writes go to one writer thread with its own connection, in
order, and the caller does not wait for them: a reply is never held up by the disk (bench/core.py
measures the difference). A read of a conversation with a write still queued waits for that write,
so nobody ever sees a history without its latest exchange; ``close()`` finishes every queued write.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from botkit.models.base import ChatMessage

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    surface TEXT NOT NULL, channel TEXT NOT NULL, thread TEXT NOT NULL, user TEXT NOT NULL,
    gpt TEXT NOT NULL, updated REAL NOT NULL,
    UNIQUE (surface, channel, thread, user, gpt)
);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY,
    conversation INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL, content TEXT NOT NULL, created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns (conversation, id);
"""


#: Finished writes are forgotten once this many conversations have one on record.
_PRUNE_AT = 1024


@dataclass(frozen=True)
class ConversationKey:
    surface: str
    channel: str
    thread: str
    user: str
    gpt: str


def _log_failure(key: ConversationKey, future: Future[None]) -> None:
    if (exc := future.exception()) is not None:
        log.error("could not save the conversation %s: %s", key, exc)


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: durable across crashes of the process
    db.execute("PRAGMA foreign_keys=ON")
    return db


class ConversationStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="botkit-history")
        self._write_db = self._writer.submit(_connect, path).result()
        self._write_db.executescript(_SCHEMA)
        self._read_db = _connect(path)
        self._read_lock = threading.Lock()
        self._pending: dict[ConversationKey, Future[None]] = {}
        self._last: Future[None] | None = None

    async def history(self, key: ConversationKey) -> list[ChatMessage]:
        await self._settled(self._pending.get(key))
        with self._read_lock:
            rows = self._read_db.execute(
                "SELECT t.role, t.content FROM turns t JOIN conversations c ON t.conversation = c.id "
                "WHERE c.surface=? AND c.channel=? AND c.thread=? AND c.user=? AND c.gpt=? ORDER BY t.id",
                (key.surface, key.channel, key.thread, key.user, key.gpt),
            ).fetchall()
        return [ChatMessage(role=role, content=content) for role, content in rows]

    async def append(self, key: ConversationKey, turns: list[ChatMessage]) -> None:
        """Queue the turns for writing; returns at once."""
        self._queue(key, self._append, key, turns)

    async def reset(self, key: ConversationKey) -> None:
        await self._settled(self._queue(key, self._reset, key))

    async def latest_thread(self, surface: str, user: str, gpt: str) -> str | None:
        """The thread of this user's most recent conversation with ``gpt`` (for ``--resume``)."""
        await self._settled(self._last)
        with self._read_lock:
            row = self._read_db.execute(
                "SELECT thread FROM conversations WHERE surface=? AND user=? AND gpt=? "
                "ORDER BY updated DESC LIMIT 1",
                (surface, user, gpt),
            ).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        """Finish every queued write, then close both connections."""
        self._writer.submit(self._write_db.close)
        self._writer.shutdown(wait=True)
        self._read_db.close()

    def _queue(self, key: ConversationKey, fn: object, *args: object) -> Future[None]:
        if len(self._pending) > _PRUNE_AT:  # only this (the loop's) thread changes the dict
            self._pending = {k: f for k, f in self._pending.items() if not f.done()}
        future: Future[None] = self._writer.submit(fn, *args)  # type: ignore[arg-type]
        self._pending[key] = self._last = future
        future.add_done_callback(lambda f: _log_failure(key, f))
        return future

    @staticmethod
    async def _settled(future: Future[None] | None) -> None:
        if future is not None and not future.done():
            await asyncio.wrap_future(future)

    def _append(self, key: ConversationKey, turns: list[ChatMessage]) -> None:
        now = time.time()
        db = self._write_db
        db.execute("BEGIN")
        try:
            (conversation,) = db.execute(
                "INSERT INTO conversations (surface, channel, thread, user, gpt, updated) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (surface, channel, thread, user, gpt) "
                "DO UPDATE SET updated=excluded.updated RETURNING id",
                (key.surface, key.channel, key.thread, key.user, key.gpt, now),
            ).fetchone()
            db.executemany(
                "INSERT INTO turns (conversation, role, content, created) VALUES (?, ?, ?, ?)",
                [(conversation, t["role"], t["content"], now) for t in turns],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _reset(self, key: ConversationKey) -> None:
        self._write_db.execute(
            "DELETE FROM conversations WHERE surface=? AND channel=? AND thread=? AND user=? AND gpt=?",
            (key.surface, key.channel, key.thread, key.user, key.gpt),
        )
