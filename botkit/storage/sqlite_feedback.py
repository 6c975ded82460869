"""Exchanges and their ratings in SQLite under the data directory."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from botkit.core.feedback import Exchange, FeedbackStore, Rating
from botkit.storage.sqlite_db import SQLiteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS exchanges (
    request_id TEXT PRIMARY KEY, gpt TEXT NOT NULL, surface TEXT NOT NULL, user TEXT NOT NULL,
    question TEXT NOT NULL, answer TEXT NOT NULL, created REAL NOT NULL,
    rating TEXT, correction TEXT NOT NULL DEFAULT '', rated_by TEXT NOT NULL DEFAULT '',
    rated REAL
);
CREATE INDEX IF NOT EXISTS exchanges_rated ON exchanges (gpt, rated);
CREATE INDEX IF NOT EXISTS exchanges_created ON exchanges (created);
"""
_COLUMNS = "request_id, gpt, surface, user, question, answer, created, rating, correction, rated_by"


def _setup(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


class SQLiteFeedback(FeedbackStore):
    def __init__(self, path: Path) -> None:
        self.file = SQLiteFile(path, "feedback", _setup)

    async def record(self, exchanges: list[Exchange]) -> None:
        if exchanges:
            await self.file.write(_record, exchanges)

    async def rate(
        self, request_id: str, rating: Rating, user: str, correction: str = ""
    ) -> Exchange | None:
        changed = await self.file.write(_rate, request_id, rating, user, correction)
        if not changed:
            return None
        rows = self.file.read(f"SELECT {_COLUMNS} FROM exchanges WHERE request_id=?", (request_id,))
        return Exchange(*rows[0]) if rows else None

    async def exchanges(
        self, gpt: str | None = None, since: float = 0.0, only: Rating | None = None
    ) -> list[Exchange]:
        sql = f"SELECT {_COLUMNS} FROM exchanges WHERE rating IS NOT NULL AND rated >= ?"
        params: list[object] = [since]
        if gpt:
            sql += " AND gpt = ?"
            params.append(gpt)
        if only:
            sql += " AND rating = ?"
            params.append(only)
        return [Exchange(*row) for row in self.file.read(sql + " ORDER BY rated", tuple(params))]

    async def prune(self, older_than: float) -> int:
        return await self.file.write(_prune, older_than)

    async def aclose(self) -> None:
        self.file.close()


def _record(db: sqlite3.Connection, exchanges: list[Exchange]) -> None:
    db.executemany(
        "INSERT OR IGNORE INTO exchanges (request_id, gpt, surface, user, question, answer, "
        "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (e.request_id, e.gpt, e.surface, e.user, e.question, e.answer, e.created or time.time())
            for e in exchanges
        ],
    )


def _rate(db: sqlite3.Connection, request_id: str, rating: str, user: str, correction: str) -> int:
    return db.execute(
        "UPDATE exchanges SET rating=?, correction=?, rated_by=?, rated=? WHERE request_id=?",
        (rating, correction, user, time.time(), request_id),
    ).rowcount


def _prune(db: sqlite3.Connection, older_than: float) -> int:
    return db.execute(
        "DELETE FROM exchanges WHERE rating IS NULL AND created < ?", (older_than,)
    ).rowcount
