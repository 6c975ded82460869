"""Messages on Discord -> the core: which ones the bot answers, as what, and where.

Answered: a mention in a server channel (in a new thread started from it when
``open_threads``, the thread then being one conversation for everyone in it), any message in a
thread the bot opened or answered in, and direct messages. Ignored: bots (the bot itself
included), system messages, a delivery already handled (a replayed event). A bare mention gets
a short prompt to ask something; files alone are answered from their text, or the sender is told
what the bot can read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import discord

from botkit.adapters.discord.places import (
    bot_mentioned,
    place_of,
    read_attachments,
    readable_text,
    roles_of,
    unreadable_note,
)
from botkit.adapters.discord.replies import Answers, MessageTarget, send
from botkit.core.message import Message
from botkit.serve.surface import ServeContext

SURFACE = "discord"
#: Seconds a message id is remembered, so that a replayed delivery is answered once.
SEEN_FOR = 3600.0
#: Threads remembered as the bot's (besides those it owns or joined), the oldest forgotten.
MAX_THREADS = 100_000
ASK_SOMETHING = "Ask me something: write your question after the mention."
_ANSWERED_TYPES = (discord.MessageType.default, discord.MessageType.reply)


class MessageEvents:
    """``on_message`` for one client: decides, converts, and starts the answer in flight."""

    def __init__(
        self,
        context: ServeContext,
        answers: Answers,
        open_threads: bool,
        me: Callable[[], Any],
        accepting: Callable[[], bool],
    ) -> None:
        self.context = context
        self.answers = answers
        self.open_threads = open_threads
        self.me = me
        self.accepting = accepting
        #: threads the bot answered in since it started (besides those it owns or joined)
        self.threads: dict[int, None] = {}

    async def on_message(self, message: discord.Message) -> None:
        me = self.me()
        if not self.accepting() or me is None or message.author.bot or message.author.id == me.id:
            return
        if message.type not in _ANSWERED_TYPES:
            return
        channel = message.channel
        thread = channel if isinstance(channel, discord.Thread) else None
        ours = thread is not None and self._ours(thread)
        if message.guild is not None and not ours and not bot_mentioned(message, me):
            return
        events = self.context.bot.storage.events if self.context.bot.storage else None
        if events is not None and not await events.first_time(f"discord:{message.id}", SEEN_FOR):
            return
        if thread is not None:
            self.remember(thread.id)
        self.context.inflight.start(self._answer(message, me), name=f"discord-{message.id}")

    def remember(self, thread_id: int) -> None:
        """Answer in this thread from now on, without a mention."""
        self.threads[thread_id] = None
        if len(self.threads) > MAX_THREADS:
            del self.threads[next(iter(self.threads))]

    def _ours(self, thread: discord.Thread) -> bool:
        """A thread the bot opened, joined, or answered in."""
        me = self.me()
        return (
            thread.id in self.threads
            or (me is not None and thread.owner_id == me.id)
            or thread.me is not None
        )

    async def _answer(self, message: discord.Message, me: Any) -> None:
        text = readable_text(message, me.id)
        attachments = await read_attachments(list(message.attachments))
        if not text and not any(a.text for a in attachments):
            note = unreadable_note(attachments) if attachments else ASK_SOMETHING
            reference = message.to_reference(fail_if_not_exists=False) if message.guild else None
            await send(message.channel, note, reference)
            return
        where = place_of(message.channel, message.guild.id if message.guild else None)
        new_thread = (
            self.open_threads
            and message.guild is not None
            and isinstance(message.channel, discord.TextChannel)
        )
        thread = str(message.id) if new_thread else where.thread  # a thread takes its id
        core = Message(
            text,
            self.context.policy.gpt_for(SURFACE, where.route),
            SURFACE,
            user_id=str(message.author.id),
            user_name=message.author.display_name,
            workspace=where.workspace,
            channel=where.channel,
            thread=thread,
            is_dm=where.is_dm,
            shared=self.context.policy.shared(where.is_dm),
            message_id=str(message.id),
            attachments=attachments,
            roles=roles_of(message.author),
        )
        name = _thread_name(text or attachments[0].name, message.author.display_name)
        target = MessageTarget(message, new_thread, name, self.remember)
        await self.answers.answer(core, target)


def _thread_name(text: str, user: str) -> str:
    """A thread's name (1-100 characters): the start of the question."""
    flat = " ".join(text.split())
    if not flat:
        return f"Conversation with {user}"[:100]
    return flat if len(flat) <= 80 else flat[:79].rsplit(" ", 1)[0] + "…"
