"""One policy, asked by every surface: where to answer, who may use which GPT, how often, how much.

Built from a deployment file (:class:`~botkit.deploy.spec.BotSpec`). Surfaces ask it which GPT
answers in a channel and whether a thread is one shared conversation; the core asks it to
:meth:`Policy.admit` every message before anything else happens (access rules, size, rate), so no
surface can forget a rule or apply it differently.
"""

from __future__ import annotations

from collections.abc import Iterable

from botkit.core.limits import MemoryRateLimiter, RateLimiter
from botkit.core.message import Message
from botkit.deploy.spec import AccessRule, BotSpec
from botkit.errors import AccessDenied, InputTooLong, RateLimited


class Policy:
    def __init__(
        self, spec: BotSpec, gpts: Iterable[str], rates: RateLimiter | None = None
    ) -> None:
        self.spec = spec
        self.gpts = list(gpts)
        self.rates = rates or MemoryRateLimiter()
        self._named = {g for rule in spec.access.rules for g in rule.gpts}

    # -- where ---------------------------------------------------------------------------------
    @property
    def command_prefixes(self) -> tuple[str, ...]:
        return (self.spec.command_prefix,)

    def gpt_for(self, surface: str, channel: str = "") -> str:
        """The GPT answering in ``channel`` of ``surface``: its route, else the surface's
        default, else the deployment's."""
        settings = getattr(self.spec.surfaces, surface, None)
        routes: dict[str, str] = getattr(settings, "channels", {}) or {}
        if channel in routes:
            return routes[channel]
        return getattr(settings, "default_gpt", None) or self.spec.default_gpt

    def shared(self, is_dm: bool) -> bool:
        """Whether a place is one conversation for everyone in it (a thread) or one per user
        (a direct message is one person's anyway)."""
        return not is_dm and self.spec.conversations.share_threads

    def served(self, surface: str) -> list[str]:
        """The GPTs a surface serves (the API may be limited to some)."""
        if surface == "api" and self.spec.surfaces.api.gpts:
            return [g for g in self.gpts if g in self.spec.surfaces.api.gpts]
        return list(self.gpts)

    # -- who -----------------------------------------------------------------------------------
    def may_use(self, gpt: str, message: Message) -> bool:
        """Whether the writer of ``message`` (where it was written, with its key) may use ``gpt``."""
        if gpt not in self.served(message.surface):
            return False
        rules = [r for r in self.spec.access.rules if gpt in r.gpts or "*" in r.gpts]
        if not rules:
            return self.spec.access.default == "allow" and gpt not in self._named
        return any(_matches(rule, message) for rule in rules)

    def usable(self, message: Message) -> list[str]:
        """The GPTs the writer of ``message`` may use (what ``/v1/models`` lists)."""
        return [g for g in self.served(message.surface) if self.may_use(g, message)]

    # -- everything at once, for the core ------------------------------------------------------
    async def admit(self, gpt: str, message: Message, text: str) -> None:
        """Raise unless ``message`` may be answered by ``gpt`` now: access, size, then rate."""
        if not self.may_use(gpt, message):
            raise AccessDenied(gpt)
        limit = self.spec.max_input_chars
        if len(text) > limit:
            raise InputTooLong(
                f"the message is too long ({len(text)} characters; at most {limit} here): "
                "shorten it"
            )
        rate = self.spec.rate_limit
        if rate is not None:
            who = message.user_id or message.api_key or "anonymous"
            wait = await self.rates.take(
                f"{message.surface}:{message.workspace}:{who}", rate.per_minute / 60, rate.burst
            )
            if wait > 0:
                raise RateLimited(wait)


def _matches(rule: AccessRule, message: Message) -> bool:
    """Every list the rule gives matches the message (a list left out matches anything)."""
    checks = (
        (rule.users, {message.user_id, message.user_name}),
        (rule.channels, {message.channel}),
        (rule.workspaces, {message.workspace}),
        (rule.roles, set(message.roles)),
        (rule.api_keys, {message.api_key}),
        (rule.surfaces, {message.surface}),
    )
    return all(not wanted or bool(set(wanted) & have - {""}) for wanted, have in checks)
