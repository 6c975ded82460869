"""Conversations in SQLite under the data directory: the default store, for one process.

Writes go to one writer thread with its own connection, in order, and ``append`` returns once the
transaction has committed (WAL mode with ``synchronous=NORMAL``: durable across a crash of the
process); an error reaches the caller as :class:`~botkit.errors.StorageError`. Reads run inline
on the event loop: a bounded, indexed read answers in microseconds, less than a hop to a worker
thread costs. A database of the first schema (one conversation per user, turns without speakers)
is migrated in place when it is opened.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from botkit.core.conversations import (
    MAX_HISTORY_TURNS,
    ConversationKey,
    ConversationStore,
    KeyedLocks,
    Turn,
)
from botkit.storage.sqlite_db import SQLiteFile, transaction

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
        self.file = SQLiteFile(path, "the conversation", _migrate)
        self.path = path
        self._locks = KeyedLocks()

    async def history(self, key: ConversationKey, limit: int = MAX_HISTORY_TURNS) -> list[Turn]:
        rows = self.file.read(_HISTORY, (*_key(key), limit))
        return [Turn(*row) for row in reversed(rows)]

    async def append(self, key: ConversationKey, turns: Sequence[Turn]) -> None:
        if turns:
            await self.file.write(_append, key, list(turns))

    async def reset(self, key: ConversationKey) -> None:
        await self.file.write(_reset, key)

    async def latest_thread(self, surface: str, user: str, gpt: str) -> str | None:
        rows = self.file.read(
            "SELECT thread FROM conversations WHERE surface=? AND user=? AND gpt=? "
            "ORDER BY updated DESC LIMIT 1",
            (surface, user, gpt),
        )
        return str(rows[0][0]) if rows else None

    def lock(self, key: ConversationKey) -> contextlib.AbstractAsyncContextManager[None]:
        return self._locks.hold(key)

    async def prune(self, older_than: float) -> int:
        return await self.file.write(_prune, older_than)

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        """Finish every queued write, then close the database."""
        self.file.close()


def _append(db: sqlite3.Connection, key: ConversationKey, turns: list[Turn]) -> None:
    now = time.time()

    def work() -> None:
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

    transaction(db, work)


def _reset(db: sqlite3.Connection, key: ConversationKey) -> None:
    db.execute(f"DELETE FROM conversations WHERE {_KEY_WHERE}", _key(key))


def _prune(db: sqlite3.Connection, older_than: float) -> int:
    return db.execute("DELETE FROM conversations WHERE updated < ?", (older_than,)).rowcount


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
