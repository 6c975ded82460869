"""Model calls in SQLite under the data directory (each worker keeps its own: ``botkit usage``
reads the folder it is given; Prometheus scrapes every worker's ``/metrics``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from botkit.core.metering import ModelCall
from botkit.storage.sqlite_db import SQLiteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    time REAL NOT NULL, request_id TEXT NOT NULL, gpt TEXT NOT NULL, surface TEXT NOT NULL,
    user TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL, kind TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, estimated INTEGER NOT NULL,
    latency REAL NOT NULL, ok INTEGER NOT NULL, cost REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_by_time ON calls (time);
"""
GROUPS = ("gpt", "user", "surface", "model")


def _setup(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)


class SQLiteUsage:
    def __init__(self, path: Path) -> None:
        self.file = SQLiteFile(path, "usage", _setup)

    async def record(self, calls: list[tuple[ModelCall, float]]) -> None:
        """Model calls and their estimated cost, in one transaction."""
        if calls:
            await self.file.write(_insert, calls)

    def summary(self, since: float = 0.0, by: str = "gpt") -> list[dict[str, Any]]:
        """Calls, failures, tokens, cost and median latency per ``by``, most expensive first."""
        if by not in GROUPS:
            raise ValueError(f"by must be one of {', '.join(GROUPS)}")
        rows = self.file.read(
            f"SELECT {by}, COUNT(*), SUM(1 - ok), SUM(prompt_tokens), SUM(completion_tokens), "
            f"SUM(cost), MAX(estimated) FROM calls WHERE time >= ? GROUP BY {by} "
            "ORDER BY SUM(cost) DESC, COUNT(*) DESC",
            (since,),
        )
        out = []
        for name, calls, failed, tokens_in, tokens_out, cost, estimated in rows:
            latencies = [r[0] for r in self.file.read(
                f"SELECT latency FROM calls WHERE time >= ? AND {by} = ? ORDER BY latency",
                (since, name),
            )]  # fmt: skip
            out.append(
                {
                    by: name or "-",
                    "calls": calls,
                    "failed": failed,
                    "tokens_in": tokens_in,
                    "tokens_out": tokens_out,
                    "cost_usd": round(cost, 9),
                    "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else 0,
                    "estimated": bool(estimated),
                }
            )
        return out

    def close(self) -> None:
        self.file.close()

    async def aclose(self) -> None:
        self.close()


def _insert(db: sqlite3.Connection, calls: list[tuple[ModelCall, float]]) -> None:
    db.executemany(
        "INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(c.time, c.request_id, c.gpt, c.surface, c.user, c.model, c.provider, c.kind,
          c.prompt_tokens, c.completion_tokens, int(c.estimated), c.latency, int(c.ok), cost)
         for c, cost in calls],
    )  # fmt: skip
