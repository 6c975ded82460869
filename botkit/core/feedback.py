"""The feedback loop: each exchange a surface served, and what people thought of it.

A chat surface records every exchange it shows (its request id, GPT, surface, who asked, the
question and the answer); a 👍 or 👎 (and an optional correction) given on any surface is stored
against that exchange. ``botkit feedback export`` turns them into JSONL that ``botkit eval`` and
``botkit finetune prepare`` read: the question as input, the correction (or, for a 👍, the
answer) as the expected output.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

Rating = Literal["up", "down"]


@dataclass(frozen=True)
class Exchange:
    request_id: str
    gpt: str
    surface: str
    user: str
    question: str
    answer: str
    created: float = 0.0
    rating: Rating | None = None
    correction: str = ""
    rated_by: str = ""


class FeedbackStore(ABC):
    @abstractmethod
    async def record(self, exchanges: list[Exchange]) -> None:
        """Keep exchanges that were shown (batched by the caller)."""

    @abstractmethod
    async def rate(
        self, request_id: str, rating: Rating, user: str, correction: str = ""
    ) -> Exchange | None:
        """Store a rating (the latest one counts); the exchange rated, or None if unknown."""

    @abstractmethod
    async def exchanges(
        self, gpt: str | None = None, since: float = 0.0, only: Rating | None = None
    ) -> list[Exchange]:
        """Rated exchanges, oldest first (with ``only``: those rated so)."""

    @abstractmethod
    async def prune(self, older_than: float) -> int:
        """Forget exchanges older than ``older_than`` that nobody rated."""

    async def aclose(self) -> None:  # noqa: B027 - optional
        """Finish pending work and release connections."""
