"""One SQLite file: writes in order on one writer thread (awaited, errors raised), reads inline.

Reads run on the event loop: a bounded, indexed read answers in microseconds, less than a hop to
a worker thread costs. WAL mode with ``synchronous=NORMAL``: a committed write survives a crash of
the process.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from botkit.errors import StorageError

T = TypeVar("T")


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode, WAL journal, foreign keys on, waiting on locks."""
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # in WAL mode: durable across crashes of the process
    db.execute("PRAGMA foreign_keys=ON")
    return db


class SQLiteFile:
    def __init__(self, path: Path, what: str, setup: Callable[[sqlite3.Connection], None]) -> None:
        """``what`` names the data in errors ("the conversation"); ``setup`` creates or
        migrates the schema on the writer's connection."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.what = what
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"botkit-{path.stem}")
        self._write_db = self._writer.submit(connect, path).result()
        self._writer.submit(setup, self._write_db).result()
        self._read_db = connect(path)
        self._read_lock = threading.Lock()

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._read_lock:
            try:
                return self._read_db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StorageError(f"could not read {self.what} from {self.path}: {exc}") from exc

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(connection, *args)`` on the writer thread; its result, once committed."""
        try:
            return await asyncio.wrap_future(self._writer.submit(fn, self._write_db, *args))
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"could not save {self.what} in {self.path}: {exc}") from exc

    def close(self) -> None:
        """Finish every queued write, then close both connections."""
        self._writer.submit(self._write_db.close)
        self._writer.shutdown(wait=True)
        self._read_db.close()


def transaction(db: sqlite3.Connection, work: Callable[[], T]) -> T:
    """``work()`` in one transaction: all of it is written, or none."""
    db.execute("BEGIN IMMEDIATE")
    try:
        result = work()
        db.execute("COMMIT")
        return result
    except BaseException:
        db.execute("ROLLBACK")
        raise
