"""Rate limits and once-only events, behind small interfaces (in memory for one process, Redis for
several workers: :mod:`botkit.storage.redis`)."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import OrderedDict

#: Buckets and event ids kept in memory at most (the oldest go first).
MEMORY_LIMIT = 100_000


class RateLimiter(ABC):
    """Token buckets: each key holds up to ``burst`` tokens, refilled at ``per_second``."""

    @abstractmethod
    async def take(self, key: str, per_second: float, burst: int) -> float:
        """Take one token: 0 when there was one, else the seconds until there is."""

    async def aclose(self) -> None:  # noqa: B027 - optional: in-memory limiters hold nothing
        """Release connections."""


class EventLog(ABC):
    """Remembers event ids for a while, so that a retried delivery is handled once."""

    @abstractmethod
    async def first_time(self, event_id: str, ttl: float) -> bool:
        """True the first time ``event_id`` is seen within ``ttl`` seconds, False after."""

    async def aclose(self) -> None:  # noqa: B027 - optional
        """Release connections."""


class MemoryRateLimiter(RateLimiter):
    def __init__(self, clock: object = time.monotonic) -> None:
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def take(self, key: str, per_second: float, burst: int) -> float:
        now = self._clock()  # type: ignore[operator]
        tokens, then = self._buckets.pop(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - then) * per_second)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / per_second
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > MEMORY_LIMIT:
            self._buckets.popitem(last=False)
        return wait


class MemoryEventLog(EventLog):
    def __init__(self) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()

    async def first_time(self, event_id: str, ttl: float) -> bool:
        now = time.monotonic()
        while self._seen and next(iter(self._seen.values())) < now:
            self._seen.popitem(last=False)  # expired (kept in expiry order)
        if event_id in self._seen:
            return False
        self._seen[event_id] = now + ttl
        while len(self._seen) > MEMORY_LIMIT:
            self._seen.popitem(last=False)
        return True
