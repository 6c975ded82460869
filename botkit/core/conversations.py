"""Conversation history, persisted in SQLite under the data directory.

A conversation is identified by where it happens (surface, channel, thread), who is talking (user)
and which GPT answers. SQLite runs in WAL mode with ``synchronous=NORMAL``, so reading a history or
writing a turn is an indexed lookup or two inserts that commit without waiting for the disk: tens of
microseconds, less than handing the call to a worker thread would cost (bench/core.py measures it).
They therefore run inline; the methods stay async so that other stores can do real I/O.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from botkit.models.base import ChatMessage

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


@dataclass(frozen=True)
class ConversationKey:
    surface: str
    channel: str
    thread: str
    user: str
    gpt: str


class ConversationStore:
    def __init__(self, path: Path | str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)

    async def history(self, key: ConversationKey) -> list[ChatMessage]:
        return self._history(key)

    async def append(self, key: ConversationKey, turns: list[ChatMessage]) -> None:
        self._append(key, turns)

    async def reset(self, key: ConversationKey) -> None:
        self._reset(key)

    async def latest_thread(self, surface: str, user: str, gpt: str) -> str | None:
        """The thread of this user's most recent conversation with ``gpt`` (for ``--resume``)."""
        return self._latest_thread(surface, user, gpt)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _history(self, key: ConversationKey) -> list[ChatMessage]:
        with self._lock:
            rows = self._db.execute(
                "SELECT t.role, t.content FROM turns t JOIN conversations c ON t.conversation = c.id "
                "WHERE c.surface=? AND c.channel=? AND c.thread=? AND c.user=? AND c.gpt=? ORDER BY t.id",
                (key.surface, key.channel, key.thread, key.user, key.gpt),
            ).fetchall()
        return [ChatMessage(role=role, content=content) for role, content in rows]

    def _append(self, key: ConversationKey, turns: list[ChatMessage]) -> None:
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            try:
                cur = self._db.execute(
                    "INSERT INTO conversations (surface, channel, thread, user, gpt, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (surface, channel, thread, user, gpt) "
                    "DO UPDATE SET updated=excluded.updated RETURNING id",
                    (key.surface, key.channel, key.thread, key.user, key.gpt, now),
                )
                (conversation,) = cur.fetchone()
                self._db.executemany(
                    "INSERT INTO turns (conversation, role, content, created) VALUES (?, ?, ?, ?)",
                    [(conversation, t["role"], t["content"], now) for t in turns],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _reset(self, key: ConversationKey) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM conversations WHERE surface=? AND channel=? AND thread=? AND user=? AND gpt=?",
                (key.surface, key.channel, key.thread, key.user, key.gpt),
            )

    def _latest_thread(self, surface: str, user: str, gpt: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT thread FROM conversations WHERE surface=? AND user=? AND gpt=? "
                "ORDER BY updated DESC LIMIT 1",
                (surface, user, gpt),
            ).fetchone()
        return None if row is None else str(row[0])
