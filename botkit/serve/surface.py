"""What a surface is to the runner: something that starts, turns its platform's events into
messages for the core, and stops; and what it receives to do so.

Surfaces register through the same plugin hook mechanism as everything else
(``register_surfaces``); botkit's own ``api``, ``slack`` and ``discord`` do too, so a third party can
add Telegram or Teams without touching the core.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from botkit.core.feedback import Exchange, FeedbackStore, Rating
from botkit.errors import BotkitError

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from botkit.core.bot import Bot
    from botkit.core.policy import Policy
    from botkit.deploy.spec import BotSpec
    from botkit.serve.metrics import Metrics
    from botkit.serve.record import Batcher
    from botkit.settings import Settings


class SurfaceError(BotkitError):
    """A surface cannot start: its message names what to fix (a variable, a scope, a setting)."""


class InFlight:
    """The replies being worked on, so that a shutdown lets them finish (within a bound)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.accepting = True

    def start(self, work: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task[Any]:
        """Run ``work`` in the background; its failure is logged, never lost silently."""
        task = asyncio.create_task(work, name=name or None)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logging.getLogger("botkit.serve").error(
                "background work %s failed", task.get_name(), exc_info=task.exception()
            )

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the work in flight; cancel what is left; how many
        were cancelled."""
        self.accepting = False
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        left = list(self._tasks)
        for task in left:
            task.cancel()
        if left:
            await asyncio.gather(*left, return_exceptions=True)
        return len(left)


@dataclass
class ServeContext:
    """What every surface of one server shares."""

    bot: Bot
    policy: Policy
    spec: BotSpec
    settings: Settings
    inflight: InFlight = field(default_factory=InFlight)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("botkit.serve"))
    #: closed when the server stops, after the replies in flight (background writers)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: writes the exchanges shown, in batches (a rating may arrive before its batch is written)
    exchanges: Batcher[Exchange] | None = None
    metrics: Metrics | None = None

    @property
    def feedback(self) -> FeedbackStore | None:
        storage = self.bot.storage
        return storage.feedback if storage is not None else None

    async def rate(self, request_id: str, rating: Rating, user: str, correction: str = "") -> bool:
        """Store a 👍/👎 (and a correction) given on any surface; False for an unknown answer."""
        store = self.feedback
        if store is None:
            return False
        if await store.rate(request_id, rating, user, correction) is not None:
            return True
        if self.exchanges is None:
            return False
        await self.exchanges.flush()  # rated within a second of being shown: write it now
        return await store.rate(request_id, rating, user, correction) is not None


class Surface(ABC):
    """One way people reach the GPTs. ``settings`` is the surface's section of the deployment
    file (or the surface's own model for a third-party surface)."""

    name: ClassVar[str]

    def __init__(self, settings: BaseModel, context: ServeContext) -> None:
        self.settings = settings
        self.context = context

    def routes(self) -> list[BaseRoute]:
        """HTTP routes this surface adds to the server's one ASGI app (none by default)."""
        return []

    def middleware(self) -> list[Any]:
        """Starlette middleware this surface needs on the shared app (none by default)."""
        return []

    @abstractmethod
    async def start(self) -> None:
        """Connect and begin accepting messages; raise :class:`SurfaceError` saying what to fix."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop accepting new messages (replies in flight finish, within the shutdown grace)."""
