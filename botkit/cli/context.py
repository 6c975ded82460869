"""What every ``botkit`` command receives: the resolved :class:`~botkit.settings.Settings`, and
the bot built from them (closed when the command ends)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from botkit.core.bot import Bot
from botkit.settings import Settings
from botkit.terminal import warn

T = TypeVar("T")


@dataclass
class CLIContext:
    settings: Settings
    _bot: Bot | None = field(default=None, repr=False)

    def bot(self, conversations: bool = True) -> Bot:
        """The bot of the project (made once per command); problems of plugins are warned about.

        ``conversations=False``: no conversation store (evaluations keep no history).
        """
        if self._bot is None:
            self.settings.require_config_dir()
            self._bot = Bot.from_settings(self.settings, conversations=conversations)
            for failure in self._bot.registry.failures:
                warn(f"plugin {failure.plugin} {failure.error}")
            for note in self._bot.registry.notes:
                warn(note)
            click.get_current_context().call_on_close(self._bot.close)
        return self._bot

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` in a fresh event loop; the bot's models are closed in that same loop."""

        async def main() -> T:
            try:
                return await coro
            finally:
                if self._bot is not None:
                    await self._bot.aclose()

        return asyncio.run(main())


pass_context = click.make_pass_decorator(CLIContext)
