"""Conversations: where they happen, what was said and by whom, and the store that keeps them.

A conversation is a *place* (surface, workspace, channel, thread) with one GPT answering; when the
place is not shared (a console session, say) the user is part of the key too. Each turn keeps its
speaker, so in a Slack thread with three people the model is told who said what.

:class:`ConversationStore` is the interface; botkit ships SQLite (the default, in
:mod:`botkit.storage.sqlite`) and Redis (to share conversations between workers). Writes are
durable when ``append`` returns, and a failed write raises :class:`~botkit.errors.StorageError`:
the caller learns that the turn was not saved. ``lock(key)`` serialises the answers of one
conversation (two quick messages in one thread are answered one after the other, the second with
the first exchange in its history) without holding up any other conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Literal

from botkit.models.base import ChatMessage, Role

#: Turns read back for a prompt at most (the prompt is then trimmed to the model's window).
MAX_HISTORY_TURNS = 200

#: How an assistant turn ended: in full, stopped by the user or a client gone, or by an error.
TurnStatus = Literal["complete", "stopped", "failed"]


@dataclass(frozen=True)
class ConversationKey:
    surface: str
    workspace: str
    channel: str
    thread: str
    gpt: str
    user: str = ""  # set only when each user has their own conversation in this place


@dataclass(frozen=True)
class Turn:
    role: Role
    content: str
    speaker_id: str = ""
    speaker_name: str = ""
    status: TurnStatus = "complete"
    message_id: str = ""

    def chat(self) -> ChatMessage:
        return ChatMessage(role=self.role, content=self.content)


class KeyedLocks:
    """One asyncio lock per conversation, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[ConversationKey, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    @contextlib.asynccontextmanager
    async def hold(self, key: ConversationKey) -> AsyncIterator[None]:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            yield


class ConversationStore(ABC):
    """Where conversations are kept (see the module's docstring for the contract)."""

    @abstractmethod
    async def history(self, key: ConversationKey, limit: int = MAX_HISTORY_TURNS) -> list[Turn]:
        """The last ``limit`` turns of the conversation, oldest first."""

    @abstractmethod
    async def append(self, key: ConversationKey, turns: Sequence[Turn]) -> None:
        """Add turns; they are stored when this returns (else it raises ``StorageError``)."""

    @abstractmethod
    async def reset(self, key: ConversationKey) -> None:
        """Forget the conversation."""

    @abstractmethod
    async def latest_thread(self, surface: str, user: str, gpt: str) -> str | None:
        """The thread of ``user``'s most recently updated private conversation with ``gpt``."""

    @abstractmethod
    def lock(self, key: ConversationKey) -> contextlib.AbstractAsyncContextManager[None]:
        """Held while one message of the conversation is answered."""

    @abstractmethod
    async def prune(self, older_than: float) -> int:
        """Delete conversations last updated before ``older_than`` (a Unix time); how many."""

    async def aclose(self) -> None:  # noqa: B027 - optional: most stores hold nothing to close
        """Finish pending work and release connections."""
