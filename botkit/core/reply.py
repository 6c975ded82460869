"""What the core hands back to an adapter: a stream of text, then what came with it."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field

from botkit.tasks import TaskResult


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
class Reply:
    """One answer being produced.

    Iterate it for the text as it is generated. ``citations`` and, when a task plugin answered,
    its typed ``result`` are set before the first chunk arrives; ``text`` holds everything
    generated so far.
    """

    citations: list[Citation] = field(default_factory=list)
    result: TaskResult | None = None
    parts: list[str] = field(default_factory=list)
    _chunks: AsyncGenerator[str, None] | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def __aiter__(self) -> Reply:
        return self

    async def __anext__(self) -> str:
        assert self._chunks is not None, "a Reply is made by Bot.respond"
        return await self._chunks.__anext__()

    async def collect(self) -> Reply:
        """Run the reply to its end (for callers that do not stream)."""
        async for _ in self:
            pass
        return self

    async def aclose(self) -> None:
        if self._chunks is not None:
            await self._chunks.aclose()
