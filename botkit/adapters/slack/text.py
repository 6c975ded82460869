"""Slack's message text for the model, and names for the people in it.

Slack writes mentions, channels and links as ``<@U123>``, ``<#C123|general>``, ``<!here>`` and
``<https://x|label>``, and escapes ``&``, ``<`` and ``>``. The model reads plain text instead:
``@Ada``, ``#general``, ``@here``, ``label (https://x)``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable

_TOKEN = re.compile(r"<([@#!])?([^>|]*)(?:\|([^>]*))?>")
#: How long a resolved name is trusted (people rename themselves, rarely).
NAME_TTL = 3600.0
#: Names kept at most (the oldest looked up go first): a workspace's people, not every id ever
#: written in a message.
MAX_NAMES = 10_000


def plain_text(text: str, names: dict[str, str], bot_user_id: str = "") -> str:
    """Slack's markup as the model should read it; the bot's own mention is dropped."""

    def replace(match: re.Match[str]) -> str:
        sigil, target, label = match.group(1), match.group(2), match.group(3)
        if sigil == "@":
            return "" if target == bot_user_id else f"@{label or names.get(target, target)}"
        if sigil == "#":
            return f"#{label or target}"
        if sigil == "!":
            return f"@{label or target.split('^')[0]}"
        return f"{label} ({target})" if label and label != target else target

    shown = _TOKEN.sub(replace, text)
    shown = shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"[ \t]{2,}", " ", shown).strip()


def mentioned_users(text: str) -> list[str]:
    return [m.group(2) for m in _TOKEN.finditer(text) if m.group(1) == "@"]


class Names:
    """Display names of Slack users, each looked up once (``users.info``) and then cached."""

    def __init__(self, lookup: Callable[[str], Awaitable[str]]) -> None:
        self._lookup = lookup
        self._known: dict[str, tuple[str, float]] = {}

    async def of(self, user_id: str) -> str:
        found = self._known.get(user_id)
        if found is not None and time.monotonic() - found[1] < NAME_TTL:
            return found[0]
        try:
            name = await self._lookup(user_id) or user_id
        except Exception:  # no users:read scope, a deleted user: the id will do
            name = user_id
        self._known.pop(user_id, None)
        self._known[user_id] = (name, time.monotonic())
        while len(self._known) > MAX_NAMES:
            del self._known[next(iter(self._known))]
        return name

    async def all(self, user_ids: list[str]) -> dict[str, str]:
        return {uid: await self.of(uid) for uid in dict.fromkeys(user_ids)}
