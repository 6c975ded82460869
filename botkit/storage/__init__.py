"""Where botkit keeps what it must remember between messages, behind small interfaces.

SQLite under the data directory is the default (one process); Redis is the second
implementation, for several workers (``storage: redis://...`` in a deployment file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from botkit.core.conversations import ConversationStore


@dataclass
class Storage:
    conversations: ConversationStore

    async def aclose(self) -> None:
        await self.conversations.aclose()


def open_storage(data_dir: Path) -> Storage:
    """The default storage: SQLite files under ``data_dir``."""
    from botkit.storage.sqlite import SQLiteConversations

    return Storage(SQLiteConversations(data_dir / "conversations.sqlite3"))
