"""Moderation: whether a text should not go in (a user's message) or out (a model's answer).

GPTs on OpenAI are checked by OpenAI's moderation endpoint (``/v1/moderations``, through the
GPT's own model when it offers :class:`Moderator`); others by a local rule set (a few patterns per
category, and the ones a GPT or deployment file adds). Either way the answer is the categories
flagged, never the text: the audit line of a blocked message names who and where, not what.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

#: The built-in local rules: a deliberately small, conservative set; extend it per GPT.
LOCAL_RULES: dict[str, tuple[str, ...]] = {
    "violence": (
        r"\b(i|we)('ll| will| am going to|'m going to) (kill|murder|shoot|stab) (you|him|her|them)\b",
        r"\bhow (do i|to) (make|build) (a )?(bomb|explosive|pipe bomb)\b",
    ),
    "self-harm": (
        r"\b(i want to|i'm going to|i will|how (do i|to)) (kill myself|end my life|commit suicide)\b",
    ),
    "prompt-injection": (
        r"\bignore (all |any )?(previous|prior|above) (instructions|rules)\b",
        r"\byou are now (in )?(dan|developer mode|jailbreak)\b",
    ),
}


@runtime_checkable
class Moderator(Protocol):
    """A model whose provider moderates text (OpenAI's moderation endpoint)."""

    async def moderate(self, texts: Sequence[str]) -> list[list[str]]:
        """The categories flagged for each text (empty: nothing flagged)."""
        ...


class LocalModerator:
    """Patterns per category; a text matching any pattern of a category is flagged with it."""

    def __init__(self, extra: Mapping[str, Sequence[str]] | None = None) -> None:
        rules: dict[str, list[str]] = {k: list(v) for k, v in LOCAL_RULES.items()}
        for category, patterns in (extra or {}).items():
            rules.setdefault(category, []).extend(patterns)
        self.rules = {
            category: [re.compile(p, re.IGNORECASE) for p in patterns]
            for category, patterns in rules.items()
        }

    async def moderate(self, texts: Sequence[str]) -> list[list[str]]:
        return [
            [c for c, patterns in self.rules.items() if any(p.search(t) for p in patterns)]
            for t in texts
        ]
