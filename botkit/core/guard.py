"""A GPT's safety settings at work: moderation of what comes in and goes out, and whether what
it sends its model is redacted (:mod:`botkit.safety`). Made once per GPT runtime."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from botkit.core.metering import is_remote
from botkit.errors import BotkitError
from botkit.safety.moderation import LocalModerator, Moderator
from botkit.spec import GPTSpec, SafetySpec

audit = logging.getLogger("botkit.audit")


class Blocked(BotkitError):
    """A message (or an answer) the moderation rules do not let through."""

    def __init__(self, where: str, categories: list[str]) -> None:
        self.categories = categories
        super().__init__(
            f"this {where} was blocked by the moderation rules ({', '.join(categories)})"
        )


@dataclass
class Guard:
    safety: SafetySpec
    moderator: Moderator
    redact: bool

    @classmethod
    def for_gpt(cls, spec: GPTSpec, base: SafetySpec | None, model: object) -> Guard:
        """The guard of GPT ``spec`` (its ``safety:`` over the deployment's ``base``); ``model``
        moderates when the provider says so and it can (OpenAI's endpoint)."""
        safety = (
            spec.safety.over(base) if spec.safety and base else spec.safety or base or SafetySpec()
        )
        moderation = safety.moderation
        on_openai = spec.model.provider == "openai" and "api.openai.com" in (
            spec.model.base_url or "https://api.openai.com"
        )
        use_model = moderation.provider == "openai" or (moderation.provider == "auto" and on_openai)
        if use_model and not isinstance(model, Moderator):
            raise BotkitError(f"GPT {spec.name}: its model cannot moderate; use provider: local")
        moderator: Moderator = model if use_model else LocalModerator(moderation.rules)  # type: ignore[assignment]
        redact = safety.redact == "on" or (safety.redact == "auto" and is_remote(spec.model))
        return cls(safety, moderator, redact)

    async def check(self, direction: str, text: str, gpt: str, who: str, where: str) -> None:
        """Moderate ``text`` going ``in`` or ``out``: an audit line (without the text) when
        flagged, and :class:`Blocked` when the rule for that direction is ``block``."""
        severity = (
            self.safety.moderation.input if direction == "in" else self.safety.moderation.output
        )
        if severity == "off" or not text.strip():
            return
        (categories,) = await self.moderator.moderate([text])
        if not categories:
            return
        action = "blocked" if severity == "block" else "flagged"
        audit.warning(
            "%s %s GPT %s: user %s on %s (%s)",
            action,
            "a message to" if direction == "in" else "an answer of",
            gpt,
            who or "-",
            where,
            ", ".join(categories),
            extra={"audit": action, "gpt": gpt, "categories": categories},
        )
        if severity == "block":
            raise Blocked("message" if direction == "in" else "answer", categories)
