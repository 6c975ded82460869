"""Conversations, rate-limit buckets and retried events in Redis: several workers, one state.

Every worker of a deployment points at the same Redis (``storage: redis://...`` or
``$BOTKIT_REDIS_URL``): a conversation's turns are one Redis list, answered one message at a time
across workers (a Redis lock, renewed while the answer is written); rate-limit buckets are updated
atomically by a Lua script; a retried Slack event is claimed with ``SET NX``. A Redis that does not
answer is a :class:`~botkit.errors.StorageError` the user is told about; the next message after it
is back works again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from botkit.core.conversations import (
    MAX_HISTORY_TURNS,
    ConversationKey,
    ConversationStore,
    Turn,
)
from botkit.core.feedback import Exchange, FeedbackStore, Rating
from botkit.core.limits import EventLog, RateLimiter
from botkit.errors import StorageError

T = TypeVar("T")
PREFIX = "botkit:"
#: How long a conversation lock lives unless renewed (a worker that dies frees it after this).
LOCK_SECONDS = 30.0
#: How long a worker waits for another's answer in the same conversation.
LOCK_WAIT = 300.0

_TAKE = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 't'))
local then_ = tonumber(redis.call('HGET', KEYS[1], 'at'))
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if tokens == nil then tokens = burst; then_ = now end
tokens = math.min(burst, tokens + (now - then_) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""


def _key_id(key: ConversationKey) -> str:
    raw = json.dumps([key.surface, key.workspace, key.channel, key.thread, key.gpt, key.user])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class _Redis:
    """A redis.asyncio client made on first use (in the event loop it will serve)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis

            self._client = aioredis.from_url(
                self.url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5
            )
        return self._client

    async def call(self, what: str, work: Callable[[Any], Awaitable[T]]) -> T:
        import redis.exceptions

        try:
            return await work(self.client)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            raise StorageError(
                f"Redis at {_shown(self.url)} does not answer ({what}): {exc}"
            ) from exc
        except redis.exceptions.RedisError as exc:
            raise StorageError(f"Redis at {_shown(self.url)} failed ({what}): {exc}") from exc

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _shown(url: str) -> str:
    """The URL without a password."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rsplit('@', 1)[-1]}"


class RedisConversations(ConversationStore):
    def __init__(self, redis: _Redis) -> None:
        self.redis = redis

    async def history(self, key: ConversationKey, limit: int = MAX_HISTORY_TURNS) -> list[Turn]:
        rows = await self.redis.call(
            "read a conversation",
            lambda r: r.lrange(f"{PREFIX}turns:{_key_id(key)}", -limit, -1),
        )
        return [Turn(**json.loads(row)) for row in rows]

    async def append(self, key: ConversationKey, turns: Sequence[Turn]) -> None:
        if not turns:
            return
        kid, now = _key_id(key), time.time()
        rows = [json.dumps(t.__dict__) for t in turns]

        async def write(r: Any) -> None:
            async with r.pipeline(transaction=True) as pipe:
                pipe.rpush(f"{PREFIX}turns:{kid}", *rows)
                pipe.zadd(f"{PREFIX}updated", {kid: now})
                if key.user:
                    pipe.set(f"{PREFIX}latest:{key.surface}:{key.user}:{key.gpt}", key.thread)
                await pipe.execute()

        await self.redis.call("save a conversation", write)

    async def reset(self, key: ConversationKey) -> None:
        kid = _key_id(key)

        async def forget(r: Any) -> None:
            async with r.pipeline(transaction=True) as pipe:
                pipe.delete(f"{PREFIX}turns:{kid}")
                pipe.zrem(f"{PREFIX}updated", kid)
                if key.user:
                    pipe.delete(f"{PREFIX}latest:{key.surface}:{key.user}:{key.gpt}")
                await pipe.execute()

        await self.redis.call("reset a conversation", forget)

    async def latest_thread(self, surface: str, user: str, gpt: str) -> str | None:
        found = await self.redis.call(
            "read a conversation", lambda r: r.get(f"{PREFIX}latest:{surface}:{user}:{gpt}")
        )
        return None if found is None else str(found)

    def lock(self, key: ConversationKey) -> contextlib.AbstractAsyncContextManager[None]:
        return self._hold(key)

    @contextlib.asynccontextmanager
    async def _hold(self, key: ConversationKey) -> AsyncIterator[None]:
        """A Redis lock (token-checked release), renewed while held so a long answer keeps it."""
        import asyncio

        lock = self.redis.client.lock(
            f"{PREFIX}lock:{_key_id(key)}", timeout=LOCK_SECONDS, blocking_timeout=LOCK_WAIT
        )
        got = await self.redis.call("wait for the conversation", lambda r: lock.acquire())
        if not got:
            raise StorageError("another worker is still answering in this conversation; try again")

        async def renew() -> None:
            while True:
                await asyncio.sleep(LOCK_SECONDS / 3)
                with contextlib.suppress(Exception):
                    await lock.extend(LOCK_SECONDS, replace_ttl=True)

        renewing = asyncio.create_task(renew())
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(Exception):  # expired or Redis gone: it frees itself
                await lock.release()

    async def prune(self, older_than: float) -> int:
        async def drop(r: Any) -> int:
            old = await r.zrangebyscore(f"{PREFIX}updated", "-inf", older_than)
            if old:
                await r.delete(*(f"{PREFIX}turns:{k}" for k in old))
                await r.zrem(f"{PREFIX}updated", *old)
            return len(old)

        return await self.redis.call("prune conversations", drop)


#: Seconds an exchange nobody rated is kept (a rating makes it permanent).
EXCHANGE_TTL = 30 * 86400


class RedisFeedback(FeedbackStore):
    def __init__(self, redis: _Redis) -> None:
        self.redis = redis

    async def record(self, exchanges: list[Exchange]) -> None:
        async def write(r: Any) -> None:
            async with r.pipeline(transaction=False) as pipe:
                for e in exchanges:
                    key = f"{PREFIX}exchange:{e.request_id}"
                    fields = {k: v for k, v in e.__dict__.items() if v is not None}
                    pipe.hset(key, mapping={k: str(v) for k, v in fields.items()})
                    pipe.expire(key, EXCHANGE_TTL)
                await pipe.execute()

        if exchanges:
            await self.redis.call("keep exchanges", write)

    async def rate(
        self, request_id: str, rating: Rating, user: str, correction: str = ""
    ) -> Exchange | None:
        key = f"{PREFIX}exchange:{request_id}"

        async def write(r: Any) -> dict[str, str]:
            if not await r.exists(key):
                return {}
            now = time.time()
            async with r.pipeline(transaction=True) as pipe:
                pipe.hset(
                    key, mapping={"rating": rating, "correction": correction, "rated_by": user}
                )
                pipe.persist(key)
                pipe.zadd(f"{PREFIX}rated", {request_id: now})
                pipe.hgetall(key)
                found: dict[str, str] = (await pipe.execute())[-1]
            return found

        found = await self.redis.call("store a rating", write)
        return _exchange(found) if found else None

    async def exchanges(
        self, gpt: str | None = None, since: float = 0.0, only: Rating | None = None
    ) -> list[Exchange]:
        async def read(r: Any) -> list[dict[str, str]]:
            ids = await r.zrangebyscore(f"{PREFIX}rated", since, "+inf")
            async with r.pipeline(transaction=False) as pipe:
                for request_id in ids:
                    pipe.hgetall(f"{PREFIX}exchange:{request_id}")
                found: list[dict[str, str]] = await pipe.execute()
            return found

        rows = [_exchange(row) for row in await self.redis.call("read feedback", read) if row]
        return [
            e for e in rows if (gpt is None or e.gpt == gpt) and (only is None or e.rating == only)
        ]

    async def prune(self, older_than: float) -> int:
        return 0  # unrated exchanges expire by themselves (EXCHANGE_TTL)


def _exchange(row: dict[str, str]) -> Exchange:
    rating = row.get("rating")
    return Exchange(
        row.get("request_id", ""), row.get("gpt", ""), row.get("surface", ""), row.get("user", ""),
        row.get("question", ""), row.get("answer", ""), float(row.get("created") or 0),
        rating if rating in ("up", "down") else None,  # type: ignore[arg-type]
        row.get("correction", ""), row.get("rated_by", ""),
    )  # fmt: skip


class RedisRateLimiter(RateLimiter):
    def __init__(self, redis: _Redis) -> None:
        self.redis = redis

    async def take(self, key: str, per_second: float, burst: int) -> float:
        wait = await self.redis.call(
            "check a rate limit",
            lambda r: r.eval(_TAKE, 1, f"{PREFIX}rate:{key}", time.time(), per_second, burst),
        )
        return float(wait)


class RedisEventLog(EventLog):
    def __init__(self, redis: _Redis) -> None:
        self.redis = redis

    async def first_time(self, event_id: str, ttl: float) -> bool:
        claimed = await self.redis.call(
            "claim an event",
            lambda r: r.set(f"{PREFIX}event:{event_id}", "1", nx=True, ex=max(1, int(ttl))),
        )
        return bool(claimed)


def open_redis(url: str) -> Any:
    """The :class:`~botkit.storage.Storage` on the Redis at ``url`` (one connection pool)."""
    from botkit.storage import Storage

    redis = _Redis(url)
    storage = Storage(
        RedisConversations(redis),
        RedisFeedback(redis),
        RedisRateLimiter(redis),
        RedisEventLog(redis),
    )
    storage.closers.append(redis.aclose)
    return storage
