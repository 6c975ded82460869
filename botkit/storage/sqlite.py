"""Conversations in SQLite under the data directory: the default store, for one process.

Writes go to one writer thread with its own connection, in order, and ``append`` returns once the
transaction has committed (WAL mode with ``synchronous=NORMAL``: durable across a crash of the
process); an error reaches the caller as :class:`~botkit.errors.StorageError`. Reads run inline
on the event loop: a bounded, indexed read answers in microseconds, less than a hop to a worker
thread costs. A database of the first schema (one conversation per user, turns without speakers)
is migrated in place when it is opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from botkit.core.conversations import (
    MAX_HISTORY_TURNS,
    ConversationKey,
    ConversationStore,
    KeyedLocks,
    Turn,
)
from botkit.errors import StorageError

T = TypeVar("T")
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY,
    surface TEXT NOT NULL, workspace TEXT NOT NULL, channel TEXT NOT NULL, thread TEXT NOT NULL,
    gpt TEXT NOT NULL, user TEXT NOT NULL, updated REAL NOT NULL,
    UNIQUE (surface, workspace, channel, thread, gpt, user)
);
CREATE INDEX IF NOT EXISTS conversations_by_update ON conversations (updated);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY,
    conversation INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL, content TEXT NOT NULL,
    speaker_id TEXT NOT NULL DEFAULT '', speaker_name TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'complete', message_id TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS turns_by_conversation ON turns (conversation, id);
"""

_KEY_WHERE = "surface=? AND workspace=? AND channel=? AND thread=? AND gpt=? AND user=?"
_HISTORY = (
    "SELECT t.role, t.content, t.speaker_id, t.speaker_name, t.status, t.message_id "
    "FROM turns t JOIN conversations c ON t.conversation = c.id WHERE c.surface=? AND "
    "c.workspace=? AND c.channel=? AND c.thread=? AND c.gpt=? AND c.user=? "
    "ORDER BY t.id DESC LIMIT ?"
)


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode, WAL journal, foreign keys on, waiting on locks."""
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: durable across crashes of the process
    db.execute("PRAGMA foreign_keys=ON")
    return db


def _key(key: ConversationKey) -> tuple[str, ...]:
    return (key.surface, key.workspace, key.channel, key.thread, key.gpt, key.user)


def _turn_row(turn: Turn) -> tuple[str, ...]:
    return (
        turn.role,
        turn.content,
        turn.speaker_id,
        turn.speaker_name,
        turn.status,
        turn.message_id,
    )


class SQLiteConversations(ConversationStore):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="botkit-history")
        self._write_db = self._writer.submit(connect, path).result()
        self._writer.submit(_migrate, self._write_db).result()
        self._read_db = connect(path)
        self._read_lock = threading.Lock()
        self._locks = KeyedLocks()

    async def history(self, key: ConversationKey, limit: int = MAX_HISTORY_TURNS) -> list[Turn]:
        with self._read_lock:
            try:
                rows = self._read_db.execute(_HISTORY, (*_key(key), limit)).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(
                    f"could not read the conversation from {self.path}: {exc}"
                ) from exc
        return [Turn(*row) for row in reversed(rows)]

    async def append(self, key: ConversationKey, turns: Sequence[Turn]) -> None:
        if turns:
            await self._write(self._append, key, list(turns))

    async def reset(self, key: ConversationKey) -> None:
        await self._write(self._reset, key)

    async def latest_thread(self, surface: str, user: str, gpt: str) -> str | None:
        with self._read_lock:
            row = self._read_db.execute(
                "SELECT thread FROM conversations WHERE surface=? AND user=? AND gpt=? "
                "ORDER BY updated DESC LIMIT 1",
                (surface, user, gpt),
            ).fetchone()
        return None if row is None else str(row[0])

    def lock(self, key: ConversationKey) -> contextlib.AbstractAsyncContextManager[None]:
        return self._locks.hold(key)

    async def prune(self, older_than: float) -> int:
        return await self._write(self._prune, older_than)

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        """Finish every queued write, then close both connections."""
        self._writer.submit(self._write_db.close)
        self._writer.shutdown(wait=True)
        self._read_db.close()

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.wrap_future(self._writer.submit(fn, *args))
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"could not save the conversation in {self.path}: {exc}") from exc

    def _append(self, key: ConversationKey, turns: list[Turn]) -> None:
        now = time.time()
        db = self._write_db
        db.execute("BEGIN IMMEDIATE")
        try:
            (conversation,) = db.execute(
                "INSERT INTO conversations (surface, workspace, channel, thread, gpt, user, "
                "updated) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (surface, workspace, channel, "
                "thread, gpt, user) DO UPDATE SET updated=excluded.updated RETURNING id",
                (*_key(key), now),
            ).fetchone()
            db.executemany(
                "INSERT INTO turns (conversation, role, content, speaker_id, speaker_name, status,"
                " message_id, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(conversation, *_turn_row(t), now) for t in turns],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _reset(self, key: ConversationKey) -> None:
        self._write_db.execute(f"DELETE FROM conversations WHERE {_KEY_WHERE}", _key(key))

    def _prune(self, older_than: float) -> int:
        cursor = self._write_db.execute(
            "DELETE FROM conversations WHERE updated < ?", (older_than,)
        )
        return cursor.rowcount


def _migrate(db: sqlite3.Connection) -> None:
    """Create the schema, or bring a database of the first schema up to this one."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version >= SCHEMA_VERSION:
        return
    old = {row[1] for row in db.execute("PRAGMA table_info(conversations)")}
    db.execute("BEGIN IMMEDIATE")
    try:
        if old and "workspace" not in old:  # schema 1: (surface, channel, thread, user, gpt)
            db.execute("ALTER TABLE conversations RENAME TO conversations_v1")
            db.execute("ALTER TABLE turns RENAME TO turns_v1")
            db.execute("DROP INDEX IF EXISTS turns_by_conversation")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(
                "INSERT INTO conversations (id, surface, workspace, channel, thread, gpt, user, "
                "updated) SELECT id, surface, '', channel, thread, gpt, user, updated "
                "FROM conversations_v1"
            )
            db.execute(
                "INSERT INTO turns (id, conversation, role, content, created) "
                "SELECT id, conversation, role, content, created FROM turns_v1"
            )
            db.execute("DROP TABLE turns_v1")
            db.execute("DROP TABLE conversations_v1")
        else:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
