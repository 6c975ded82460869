"""Durability under ``kill -9`` (issue 17), many rounds. Printed figures; the tests run 5 rounds.

For each SQLite store botkit keeps (conversations, feedback, usage), a writer process appends as
fast as it can and prints each write it had acknowledged (the store's call returned); it is killed
with SIGKILL at a random moment, restarted, killed again, ``--rounds`` times, on one database.
Then: ``PRAGMA integrity_check``, and every acknowledged write looked up. Target: lost 0,
integrity ok. The writers are the ones ``tests/hardening/test_durability.py`` uses.

Run: python bench/durability.py [--rounds 50]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botkit.storage.sqlite import SQLiteConversations
from botkit.storage.sqlite_feedback import SQLiteFeedback
from botkit.storage.sqlite_usage import SQLiteUsage
from tests.hardening.test_durability import KEY, kill_in_a_loop


async def kept(kind: str, path: Path) -> set[int]:
    """The writes the database holds, read back the way botkit reads each store."""
    if kind == "conversations":
        store = SQLiteConversations(path)
        turns = await store.history(KEY, limit=10**7)
        store.close()
        return {int(t.content.split()[1]) for t in turns if t.role == "user"}
    if kind == "feedback":
        feedback = SQLiteFeedback(path)
        exchanges = await feedback.exchanges()
        await feedback.aclose()
        return {int(e.request_id[1:]) for e in exchanges}
    SQLiteUsage(path).close()  # the store opens (and would repair) it first
    db = sqlite3.connect(path)
    ids = {int(r[0][1:]) for r in db.execute("SELECT request_id FROM calls")}
    db.close()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50, help="kills per store (default 50)")
    args = parser.parse_args()
    print(f"{'store':14} {'kills':>6} {'acknowledged':>13} {'kept':>8} {'lost':>5}  integrity  s")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("conversations", "feedback", "usage"):
            path = Path(tmp) / f"{kind}.sqlite3"
            started = time.perf_counter()
            acknowledged = kill_in_a_loop(kind, path, rounds=args.rounds)
            db = sqlite3.connect(path)
            (integrity,) = db.execute("PRAGMA integrity_check").fetchone()
            db.close()
            found = asyncio.run(kept(kind, path))
            lost = len(set(acknowledged) - found)
            print(
                f"{kind:14} {args.rounds:6} {len(set(acknowledged)):13} {len(found):8} {lost:5}  "
                f"{integrity:9}  {time.perf_counter() - started:.0f}"
            )


if __name__ == "__main__":
    main()
