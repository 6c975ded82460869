"""The SQLite conversation store: writes queued to one writer thread, reads that never miss them."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from botkit.core.conversations import ConversationKey, ConversationStore
from botkit.models.base import ChatMessage

KEY = ConversationKey("console", "", "t1", "ada", "translator")
TURNS = [
    ChatMessage(role="user", content="Hello"),
    ChatMessage(role="assistant", content="Bonjour"),
]


async def test_a_read_waits_for_the_queued_write_of_its_conversation(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.sqlite3")
    gate = threading.Event()
    store._writer.submit(gate.wait)  # hold the writer thread
    await store.append(KEY, TURNS)  # returns at once: the write is queued
    other = await store.history(ConversationKey("console", "", "t2", "ada", "translator"))
    assert other == []  # other conversations are not held up
    reading = asyncio.create_task(store.history(KEY))
    await asyncio.sleep(0.05)
    assert not reading.done()
    gate.set()
    assert await reading == TURNS
    store.close()


async def test_close_finishes_queued_writes_and_a_new_store_sees_them(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.sqlite3")
    for _ in range(3):
        await store.append(KEY, TURNS)
    store.close()
    again = ConversationStore(tmp_path / "c.sqlite3")
    assert await again.history(KEY) == TURNS * 3
    assert await again.latest_thread("console", "ada", "translator") == "t1"
    await again.reset(KEY)
    assert await again.history(KEY) == []
    assert await again.latest_thread("console", "ada", "translator") is None
    again.close()


async def test_latest_thread_is_the_most_recently_updated(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.sqlite3")
    for thread in ("a", "b", "a"):
        await store.append(ConversationKey("console", "", thread, "ada", "g"), TURNS)
        await asyncio.sleep(0.01)
    assert await store.latest_thread("console", "ada", "g") == "a"
    assert await store.latest_thread("console", "bob", "g") is None
    store.close()
