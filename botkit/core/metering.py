"""Every model call, metered and guarded at the one place text leaves for a model.

The bot hands out its models wrapped: a call records what it cost (:class:`ModelCall`: GPT,
surface, user, model, tokens, latency, whether it worked) to the bot's usage sinks, and, when the
reply asked for it (:data:`current_call`), redacts what it sends (e-mails, numbers, keys:
:mod:`botkit.safety.redact`) and gives the originals back in what the model answers. Task plugins
calling the model get the same, without knowing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from botkit.models.base import (
    ChatMessage,
    ChatModel,
    Chunk,
    LabelScorer,
    StreamEnd,
    StructuredOutput,
)
from botkit.safety.moderation import Moderator
from botkit.safety.redact import Redaction
from botkit.spec import GenerationParams, ModelSpec


@dataclass(frozen=True)
class CallContext:
    """Who a model call is for (set by the core for each reply)."""

    gpt: str = ""
    surface: str = ""
    user: str = ""
    request_id: str = ""
    redact: bool = False


#: The reply being answered: model calls made meanwhile are metered (and redacted) for it.
current_call: ContextVar[CallContext | None] = ContextVar("botkit_call", default=None)


@dataclass(frozen=True)
class ModelCall:
    time: float
    request_id: str
    gpt: str
    surface: str
    user: str
    model: str  # provider:name
    provider: str
    kind: str  # chat, json or score
    prompt_tokens: int
    completion_tokens: int
    estimated: bool
    latency: float
    ok: bool


UsageSink = Callable[[ModelCall], None]


def is_remote(spec: ModelSpec) -> bool:
    """Whether a model runs off this machine (what ``redact: auto`` protects from)."""
    if spec.provider == "local":
        return False
    url = spec.base_url or ""
    return not any(host in url for host in ("://127.0.0.1", "://localhost", "://[::1]"))


class MeteredModel(ChatModel):
    """A model, metered; its optional capabilities are added by :func:`metered`."""

    def __init__(self, inner: ChatModel, sinks: list[UsageSink]) -> None:
        super().__init__(inner.spec)
        self.inner = inner
        self.sinks = sinks
        self.data_dir = inner.data_dir

    @property
    def context_window(self) -> int:
        return self.inner.context_window

    async def count_tokens(self, text: str) -> int:
        return await self.inner.count_tokens(text)

    async def count_message_tokens(self, messages: list[ChatMessage]) -> list[int]:
        return await self.inner.count_message_tokens(messages)

    async def load(self) -> Any:
        return await self.inner.load()

    async def aclose(self) -> None:
        await self.inner.aclose()

    def _redaction(self) -> Redaction | None:
        call = current_call.get()
        return Redaction() if call is not None and call.redact else None

    def _record(self, kind: str, started: float, ok: bool, tokens: tuple[int, int, bool]) -> None:
        call = current_call.get() or CallContext()
        record = ModelCall(
            time.time(), call.request_id, call.gpt, call.surface, call.user, self.spec.label,
            self.spec.provider, kind, tokens[0], tokens[1], tokens[2],
            time.perf_counter() - started, ok,
        )  # fmt: skip
        for sink in self.sinks:
            with contextlib.suppress(Exception):  # recording must never break a reply
                sink(record)

    async def stream(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[Chunk, None]:
        redaction = self._redaction()
        sent = _redacted(messages, redaction)
        started, ok, end, size = time.perf_counter(), False, StreamEnd(), 0
        held = ""  # streamed text that may end in the start of a placeholder
        try:
            async with contextlib.aclosing(self.inner.stream(sent, params)) as chunks:
                async for chunk in chunks:
                    if isinstance(chunk, StreamEnd):
                        end = chunk
                        continue
                    size += len(chunk)
                    if redaction is None:
                        yield chunk
                        continue
                    held += chunk
                    cut = redaction.pending(held)
                    if cut:
                        yield redaction.restore(held[:cut])
                    held = held[cut:]
            if held and redaction is not None:
                yield redaction.restore(held)
            ok = True
            yield end
        finally:
            estimated = end.prompt_tokens is None or end.completion_tokens is None
            prompt = end.prompt_tokens if end.prompt_tokens is not None else _estimate(sent)
            completion = (
                end.completion_tokens if end.completion_tokens is not None else -(-size // 4)
            )
            self._record("chat", started, ok, (prompt, completion, estimated))


class _MeteredJSON(MeteredModel):
    async def complete_json(
        self,
        messages: list[ChatMessage],
        params: GenerationParams,
        name: str,
        schema: dict[str, Any],
    ) -> Any:
        assert isinstance(self.inner, StructuredOutput)
        sent = _redacted(messages, self._redaction())
        started, ok = time.perf_counter(), False
        try:
            answer = await self.inner.complete_json(sent, params, name, schema)
            ok = True
            return answer
        finally:
            self._record("json", started, ok, (_estimate(sent), 0, True))


class _MeteredScoring(MeteredModel):
    async def score_labels(self, prefix: str, text: str, labels: Sequence[str]) -> list[float]:
        assert isinstance(self.inner, LabelScorer)
        started, ok = time.perf_counter(), False
        try:
            scores = await self.inner.score_labels(prefix, text, labels)
            ok = True
            return scores
        finally:
            self._record("score", started, ok, (-(-len(text) // 4), 0, True))


class _Moderating(MeteredModel):
    async def moderate(self, texts: Sequence[str]) -> list[list[str]]:
        assert isinstance(self.inner, Moderator)
        return await self.inner.moderate(texts)


_CLASSES: dict[tuple[bool, ...], type[MeteredModel]] = {}
_CAPABILITIES: tuple[tuple[Any, type[MeteredModel]], ...] = (
    (StructuredOutput, _MeteredJSON),
    (LabelScorer, _MeteredScoring),
    (Moderator, _Moderating),
)


def metered(inner: ChatModel, sinks: list[UsageSink]) -> ChatModel:
    """``inner``, metered, offering exactly the optional capabilities it offers."""
    shape = tuple(isinstance(inner, protocol) for protocol, _ in _CAPABILITIES)
    if shape not in _CLASSES:
        bases = [mixin for (_, mixin), has in zip(_CAPABILITIES, shape, strict=True) if has]
        _CLASSES[shape] = type("Metered", (*bases, MeteredModel), {}) if bases else MeteredModel
    model: ChatModel = _CLASSES[shape](inner, sinks)
    return model


def _redacted(messages: list[ChatMessage], redaction: Redaction | None) -> list[ChatMessage]:
    """The conversation's turns redacted (the instructions are the GPT author's, kept)."""
    if redaction is None:
        return messages
    return [
        m
        if m["role"] == "system"
        else ChatMessage(role=m["role"], content=redaction.redact(m["content"]))
        for m in messages
    ]


def _estimate(messages: list[ChatMessage]) -> int:
    return sum(-(-len(m["content"]) // 4) + 4 for m in messages)
