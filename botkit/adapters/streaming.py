"""Showing a reply as it streams on a chat platform: post one message, edit it at a safe rate.

A platform writer posts and edits messages; :class:`StreamedMessages` decides when. Text goes out
at most once per ``interval`` (Slack and Discord rate-limit edits), continues in a new message
when it passes the platform's length limit (never breaking a code block: :mod:`botkit.text`),
and ends in one of two ways: :meth:`finish` shows the whole answer, :meth:`fail` shows what came
and says clearly that the answer failed part-way, so a half answer never looks whole.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from botkit.text import split_message

#: Shown at the end of the message while the answer is still coming.
WRITING = " …"


class Writer(Protocol):
    """How one platform posts a message and edits it (``handle`` is whatever ``post`` returned)."""

    async def post(self, text: str) -> Any: ...

    async def edit(self, handle: Any, text: str) -> None: ...


class StreamedMessages:
    def __init__(
        self,
        writer: Writer,
        limit: int,
        interval: float = 1.0,
        clock: Any = time.monotonic,
    ) -> None:
        self.writer = writer
        self.limit = limit
        self.interval = interval
        self.clock = clock
        self.text = ""
        self.handles: list[Any] = []
        self._shown: list[str] = []
        self._last = float("-inf")

    @property
    def last(self) -> str:
        """The text of the last message shown."""
        return self._shown[-1] if self._shown else ""

    async def add(self, chunk: str) -> None:
        """More of the answer: shown now if the last update is ``interval`` old."""
        self.text += chunk
        if self.clock() - self._last >= self.interval:
            await self._show(self.text + WRITING)

    async def finish(self, suffix: str = "") -> list[Any]:
        """The whole answer (and ``suffix``, a note or sources), shown; the messages' handles."""
        await self._show(self.text + suffix if self.text.strip() else suffix or "(no answer)")
        return self.handles

    async def fail(self, note: str) -> list[Any]:
        """What came, then ``note`` saying the answer failed part-way."""
        shown = f"{self.text.rstrip()}\n\n{note}" if self.text.strip() else note
        await self._show(shown)
        return self.handles

    async def _show(self, text: str) -> None:
        self._last = self.clock()
        for i, part in enumerate(split_message(text, self.limit)):
            if i < len(self.handles):
                if self._shown[i] != part:
                    await self.writer.edit(self.handles[i], part)
                    self._shown[i] = part
            else:
                self.handles.append(await self.writer.post(part))
                self._shown.append(part)
