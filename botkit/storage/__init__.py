"""Where botkit keeps what it must remember between messages, behind small interfaces:
conversations (:class:`~botkit.core.conversations.ConversationStore`), rate-limit buckets
(:class:`~botkit.core.limits.RateLimiter`) and retried events (:class:`~botkit.core.limits.EventLog`).

SQLite under the data directory (and memory, for buckets and event ids) is the default, for one
process; Redis is the second implementation, for several workers (``storage: redis://...`` in a
deployment file, or ``$BOTKIT_REDIS_URL``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from botkit.core.conversations import ConversationStore
from botkit.core.feedback import FeedbackStore
from botkit.core.limits import EventLog, MemoryEventLog, MemoryRateLimiter, RateLimiter


@dataclass
class Storage:
    conversations: ConversationStore
    feedback: FeedbackStore | None = None
    rates: RateLimiter = field(default_factory=MemoryRateLimiter)
    events: EventLog = field(default_factory=MemoryEventLog)
    #: what the parts share and must be closed last (a connection pool)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def aclose(self) -> None:
        await self.conversations.aclose()
        if self.feedback is not None:
            await self.feedback.aclose()
        await self.rates.aclose()
        await self.events.aclose()
        for close in self.closers:
            await close()


def open_storage(data_dir: Path, url: str = "sqlite") -> Storage:
    """The storage ``url`` names: ``sqlite`` (files under ``data_dir``) or ``redis://...``."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from botkit.storage.redis import open_redis

        storage: Storage = open_redis(url)
        return storage
    from botkit.storage.sqlite import SQLiteConversations
    from botkit.storage.sqlite_feedback import SQLiteFeedback

    return Storage(
        SQLiteConversations(data_dir / "conversations.sqlite3"),
        SQLiteFeedback(data_dir / "feedback.sqlite3"),
    )
