"""The platform-neutral message every adapter produces."""

from __future__ import annotations

from dataclasses import dataclass

from botkit.core.conversations import ConversationKey


@dataclass(frozen=True)
class Message:
    """One user message, wherever it was written.

    ``surface`` names the adapter (console, slack, discord, http); ``channel`` and ``thread`` say
    where in it; together with ``user`` and ``gpt`` they identify the conversation it continues.
    """

    text: str
    gpt: str
    surface: str = "console"
    channel: str = ""
    thread: str = ""
    user: str = ""

    @property
    def conversation(self) -> ConversationKey:
        return ConversationKey(self.surface, self.channel, self.thread, self.user, self.gpt)
