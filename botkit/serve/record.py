"""What a server keeps of each reply without slowing it down: writes batched in the background.

:class:`Batcher` collects items from synchronous callbacks (a reply observer) and writes them
in batches, every ``interval`` seconds or ``size`` items, in one background task; a failed write
is logged and the items retried with the next batch (bounded, so a store that stays down cannot
eat the memory).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("botkit.serve")

#: Items kept waiting at most while their store does not answer (the oldest are dropped).
MAX_WAITING = 10_000


class Batcher(Generic[T]):
    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        what: str,
        interval: float = 1.0,
        size: int = 200,
    ) -> None:
        self.write = write
        self.what = what
        self.interval = interval
        self.size = size
        self._items: list[T] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, item: T) -> None:
        self._items.append(item)
        if len(self._items) > MAX_WAITING:
            del self._items[: len(self._items) - MAX_WAITING]
        if len(self._items) >= self.size:
            self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        batch, self._items = self._items, []
        if not batch:
            return
        try:
            await self.write(batch)
        except Exception as exc:
            log.warning(
                "could not record %d %s (kept for the next try): %s", len(batch), self.what, exc
            )
            self._items[:0] = batch

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
