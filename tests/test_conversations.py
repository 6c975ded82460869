"""The SQLite conversation store: durable writes, bounded reads, one answer at a time per place."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from botkit.core.conversations import ConversationKey, Turn
from botkit.errors import StorageError
from botkit.storage.sqlite import SQLiteConversations

KEY = ConversationKey("console", "", "", "t1", "translator", "ada")
TURNS = [Turn("user", "Hello", "ada", "Ada"), Turn("assistant", "Bonjour")]


async def test_what_append_returned_for_is_there_for_a_new_store(tmp_path: Path) -> None:
    store = SQLiteConversations(tmp_path / "c.sqlite3")
    for _ in range(3):
        await store.append(KEY, TURNS)
    store.close()
    again = SQLiteConversations(tmp_path / "c.sqlite3")
    assert await again.history(KEY) == TURNS * 3
    assert await again.latest_thread("console", "ada", "translator") == "t1"
    await again.reset(KEY)
    assert await again.history(KEY) == []
    assert await again.latest_thread("console", "ada", "translator") is None
    again.close()


async def test_a_place_is_one_conversation_for_everyone_and_keeps_each_speaker(
    tmp_path: Path,
) -> None:
    store = SQLiteConversations(tmp_path / "c.sqlite3")
    thread = ConversationKey("slack", "T1", "C1", "1700.1", "assistant")  # shared: no user
    await store.append(thread, [Turn("user", "hi", "U1", "Ada"), Turn("assistant", "hello")])
    await store.append(thread, [Turn("user", "and me?", "U2", "Bob", message_id="m2")])
    turns = await store.history(thread)
    assert [(t.speaker_name, t.content) for t in turns] == [
        ("Ada", "hi"),
        ("", "hello"),
        ("Bob", "and me?"),
    ]
    assert turns[2].message_id == "m2"
    assert await store.history(ConversationKey("slack", "T1", "C1", "1700.2", "assistant")) == []
    store.close()


async def test_the_history_read_is_bounded_to_the_newest_turns(tmp_path: Path) -> None:
    store = SQLiteConversations(tmp_path / "c.sqlite3")
    await store.append(KEY, [Turn("user", str(i)) for i in range(50)])
    assert [t.content for t in await store.history(KEY, limit=3)] == ["47", "48", "49"]
    store.close()


async def test_latest_thread_is_the_most_recently_updated(tmp_path: Path) -> None:
    store = SQLiteConversations(tmp_path / "c.sqlite3")
    for thread in ("a", "b", "a"):
        await store.append(ConversationKey("console", "", "", thread, "g", "ada"), TURNS)
        await asyncio.sleep(0.01)
    assert await store.latest_thread("console", "ada", "g") == "a"
    assert await store.latest_thread("console", "bob", "g") is None
    store.close()


async def test_a_failed_write_reaches_the_caller(tmp_path: Path) -> None:
    store = SQLiteConversations(tmp_path / "c.sqlite3")
    await store.append(KEY, TURNS)
    other = sqlite3.connect(tmp_path / "c.sqlite3")
    other.execute("DROP TABLE turns")  # the database changes under the store's feet
    other.close()
    with pytest.raises(StorageError, match="could not save the conversation"):
        await store.append(KEY, TURNS)
    store.close()


async def test_the_lock_serialises_one_conversation_and_no_other(tmp_path: Path) -> None:
    store = SQLiteConversations(tmp_path / "c.sqlite3")
    other = ConversationKey("console", "", "", "t2", "translator", "ada")
    order: list[str] = []

    async def hold(key: ConversationKey, name: str) -> None:
        async with store.lock(key):
            order.append(f"{name} in")
            await asyncio.sleep(0.05)
            order.append(f"{name} out")

    await asyncio.gather(hold(KEY, "a"), hold(KEY, "b"), hold(other, "c"))
    assert order.index("a out") < order.index("b in")  # one at a time in one place
    assert order.index("c in") < order.index("a out")  # another place does not wait
    store.close()


async def test_prune_drops_conversations_not_updated_since(tmp_path: Path) -> None:
    store = SQLiteConversations(tmp_path / "c.sqlite3")
    await store.append(KEY, TURNS)
    assert await store.prune(time.time() - 3600) == 0
    assert await store.prune(time.time() + 1) == 1
    assert await store.history(KEY) == []
    store.close()


async def test_a_database_of_the_first_schema_is_migrated_keeping_its_turns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE conversations (id INTEGER PRIMARY KEY, surface TEXT NOT NULL,
            channel TEXT NOT NULL, thread TEXT NOT NULL, user TEXT NOT NULL, gpt TEXT NOT NULL,
            updated REAL NOT NULL, UNIQUE (surface, channel, thread, user, gpt));
        CREATE TABLE turns (id INTEGER PRIMARY KEY, conversation INTEGER NOT NULL
            REFERENCES conversations(id) ON DELETE CASCADE, role TEXT NOT NULL,
            content TEXT NOT NULL, created REAL NOT NULL);
        CREATE INDEX turns_by_conversation ON turns (conversation, id);
        INSERT INTO conversations VALUES (1, 'console', '', 't1', 'ada', 'translator', 1.0);
        INSERT INTO turns VALUES (1, 1, 'user', 'Hello', 1.0), (2, 1, 'assistant', 'Bonjour', 1.0);
        """
    )
    old.close()
    store = SQLiteConversations(path)
    assert [t.chat() for t in await store.history(KEY)] == [t.chat() for t in TURNS]
    assert await store.latest_thread("console", "ada", "translator") == "t1"
    await store.append(KEY, TURNS)
    assert len(await store.history(KEY)) == 4
    store.close()
