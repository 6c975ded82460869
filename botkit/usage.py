"""What model calls cost: a price table per model (editable in a deployment file's ``prices:``),
and durations like ``7d`` for ``botkit usage --since``."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Mapping

from botkit.errors import InputError

#: US dollars per million prompt and completion tokens, by model-name prefix (the longest
#: matching prefix wins). Local models cost nothing. Prices change: override them per deployment.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o4-mini": (1.10, 4.40),
    "o3-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o1": (15.00, 60.00),
}


class PriceTable:
    def __init__(self, overrides: Mapping[str, tuple[float, float]] | None = None) -> None:
        self.prices = {**PRICES, **(overrides or {})}
        self._prefixes = sorted(self.prices, key=len, reverse=True)

    def cost(self, provider: str, model: str, prompt: int, completion: int) -> float:
        """Estimated US dollars for a call (0 for local models and unknown ones)."""
        if provider == "local":
            return 0.0
        name = model.partition(":")[2] or model
        for prefix in self._prefixes:
            if name.startswith(prefix):
                per_in, per_out = self.prices[prefix]
                return (prompt * per_in + completion * per_out) / 1_000_000
        return 0.0


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def since(text: str | None, now: float | None = None) -> float:
    """A Unix time from ``7d``, ``12h``, ``30m`` (ago) or a date ``2026-11-30``; 0 for None."""
    if not text:
        return 0.0
    now = time.time() if now is None else now
    found = _DURATION.match(text)
    if found:
        return now - float(found.group(1)) * _SECONDS[found.group(2)]
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise InputError(
            f"--since {text!r}: give a duration like 7d, 12h, 30m or a date like 2026-11-30"
        ) from None
