"""What the core hands back to an adapter: a stream of text, then what came with it."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from types import TracebackType

from botkit.tasks import TaskResult

#: Why a reply ended. ``stop``/``length``/``content_filter`` come from the model; ``task``: a
#: task plugin answered; ``not_found``: no knowledge passage was relevant; ``stopped``: the user
#: (or a client that went away) stopped it; ``error``: the model or a plugin failed part-way.
FinishReason = str


@dataclass(frozen=True)
class Citation:
    """A numbered reference to the passage of a knowledge source that an answer draws on."""

    number: int
    source: str  # the file, relative to the project
    title: str = ""  # heading path within it, "Refunds > Timing"
    page: int | None = None
    snippet: str = ""
    score: float = 0.0

    @property
    def where(self) -> str:
        """``billing/refunds.md > Refunds > Timing (p. 3)``: the source and the place in it."""
        where = f"{self.source} > {self.title}" if self.title else self.source
        return f"{where} (p. {self.page})" if self.page else where

    @property
    def label(self) -> str:
        """``[1] billing/refunds.md > Refunds > Timing``: how adapters show a citation in text."""
        return f"[{self.number}] {self.where}"


@dataclass
class Usage:
    """Tokens one reply cost. ``estimated``: counted by botkit, not reported by the model."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Reply:
    """One answer being produced.

    Iterate it for the text as it is generated, preferably inside ``async with``: leaving the
    block (normally, on an exception or on cancellation) ends the reply and saves what the user
    saw. ``citations`` and, when a task plugin answered, its typed ``result`` are set before the
    first chunk arrives; ``text`` holds everything generated so far. Once the reply has ended,
    ``finish_reason``, ``usage``, ``latency`` (seconds from the request to the last chunk) and
    ``first_token_latency`` tell how it went, and ``saved`` whether the conversation kept it.
    """

    gpt: str = ""
    request_id: str = ""
    question: str = ""  # what was answered (the message, or a client's last user message)
    citations: list[Citation] = field(default_factory=list)
    result: TaskResult | None = None
    parts: list[str] = field(default_factory=list)
    model: str = ""  # the model that answered, as ``provider:name`` ("" for tasks without one)
    finish_reason: FinishReason | None = None
    usage: Usage | None = None
    latency: float | None = None
    first_token_latency: float | None = None
    saved: bool = False
    _chunks: AsyncGenerator[str, None] | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    def __aiter__(self) -> Reply:
        return self

    async def __anext__(self) -> str:
        assert self._chunks is not None, "a Reply is made by Bot.respond or Bot.complete"
        return await self._chunks.__anext__()

    async def collect(self) -> Reply:
        """Run the reply to its end (for callers that do not stream)."""
        async with self:
            async for _ in self:
                pass
        return self

    async def aclose(self) -> None:
        """Stop the reply (if it is still going) and save what was shown."""
        if self._chunks is not None:
            await self._chunks.aclose()

    async def __aenter__(self) -> Reply:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
