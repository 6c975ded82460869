"""A core reply shown on Discord: posted whole when it is ready within a second, else streamed
into a message edited at a safe rate; split at 2,000 characters without breaking code blocks;
its sources as an embed and 👍/👎 under it; a task's typed result as an embed.

Where the answer goes is a :class:`Target`'s business (a message answered in a new thread or
as a reply; a slash command's deferred response and its followups). Whatever the core refuses
(access, size, rate, an empty message...) is one short line to the user, never a traceback; an
answer that fails part-way keeps what came and says that it failed. Nothing a model writes
can ping anyone: mentions are made inert and no mention is allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import discord

from botkit.adapters.discord.feedback import RatingButtons
from botkit.adapters.streaming import StreamedMessages
from botkit.core.message import Message
from botkit.core.reply import Reply
from botkit.errors import BotkitError
from botkit.render import discord_citations_embed, discord_embed, discord_mentions_inert
from botkit.serve.surface import ServeContext
from botkit.text import split_message

#: Discord's longest message.
LIMIT = 2000
NO_PINGS = discord.AllowedMentions.none()
ORIGINAL = "@original"
#: Longest reason shown to a user.
MAX_REASON = 300


def _inert(text: str) -> str:
    """``text`` with its mentions made inert, unless that passes the limit (no mention pings
    anyway: every message is sent with no mention allowed)."""
    safe = discord_mentions_inert(text)
    return safe if len(safe) <= LIMIT else text


async def send(
    channel: Any, text: str | None = None, reference: Any = None, **fields: Any
) -> discord.Message:
    """``channel.send`` with no mention allowed, replying to ``reference`` when there is one."""
    if reference is not None:
        fields["reference"] = reference
    message: discord.Message = await channel.send(text, allowed_mentions=NO_PINGS, **fields)
    return message


def short_reason(error: BaseException) -> str:
    """One line for a user: a botkit error's own wording, else the kind of failure."""
    text = str(error) if isinstance(error, BotkitError) else ""
    line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"


class Writer(Protocol):
    """Posts and edits the messages of one answer (:class:`StreamedMessages` drives it)."""

    async def post(self, text: str) -> Any: ...

    async def edit(self, handle: Any, text: str) -> None: ...

    async def decorate(self, handle: Any, embeds: list[discord.Embed], view: Any) -> None: ...

    async def whole(self, text: str | None, embeds: list[discord.Embed], view: Any) -> None: ...


class Target(Protocol):
    """Where one answer goes, and how a refusal is said."""

    async def thinking(self) -> None: ...

    async def refuse(self, text: str) -> None: ...

    async def open(self) -> Writer: ...


class ChannelWriter:
    """Messages in a channel, thread or DM; the first one a reply to ``reference`` if given."""

    def __init__(self, channel: Any, reference: discord.MessageReference | None = None) -> None:
        self.channel = channel
        self.reference = reference

    async def post(self, text: str) -> Any:
        reference, self.reference = self.reference, None
        return await self.channel.send(_inert(text), reference=reference, allowed_mentions=NO_PINGS)

    async def edit(self, handle: Any, text: str) -> None:
        await handle.edit(content=_inert(text), allowed_mentions=NO_PINGS)

    async def decorate(self, handle: Any, embeds: list[discord.Embed], view: Any) -> None:
        await handle.edit(embeds=embeds, view=view)

    async def whole(self, text: str | None, embeds: list[discord.Embed], view: Any) -> None:
        reference, self.reference = self.reference, None
        text = _inert(text) if text else None
        await send(self.channel, text, reference, embeds=embeds, view=view)


class InteractionWriter:
    """A slash command's answer: its deferred response first, then followups."""

    def __init__(self, interaction: discord.Interaction[Any]) -> None:
        self.interaction = interaction
        self._original_used = False

    async def post(self, text: str) -> Any:
        if not self._original_used:
            self._original_used = True
            await self.interaction.edit_original_response(
                content=_inert(text), allowed_mentions=NO_PINGS
            )
            return ORIGINAL
        return await self.interaction.followup.send(
            _inert(text), wait=True, allowed_mentions=NO_PINGS
        )

    async def edit(self, handle: Any, text: str) -> None:
        if handle == ORIGINAL:
            await self.interaction.edit_original_response(
                content=_inert(text), allowed_mentions=NO_PINGS
            )
        else:
            await handle.edit(content=_inert(text), allowed_mentions=NO_PINGS)

    async def decorate(self, handle: Any, embeds: list[discord.Embed], view: Any) -> None:
        if handle == ORIGINAL:
            await self.interaction.edit_original_response(embeds=embeds, view=view)
        else:
            await handle.edit(embeds=embeds, view=view)

    async def whole(self, text: str | None, embeds: list[discord.Embed], view: Any) -> None:
        self._original_used = True
        await self.interaction.edit_original_response(
            content=_inert(text) if text else None,
            embeds=embeds,
            view=view,
            allowed_mentions=NO_PINGS,
        )


class MessageTarget:
    """Answering a message: in a new thread started from it (``open_thread``), else as a reply
    where it was written (plainly in a DM)."""

    def __init__(
        self,
        message: discord.Message,
        open_thread: bool,
        thread_name: str,
        opened: Callable[[int], None],
    ) -> None:
        self.message = message
        self.open_thread = open_thread
        self.thread_name = thread_name
        self.opened = opened
        dm = message.guild is None
        self.reference = None if dm else message.to_reference(fail_if_not_exists=False)

    async def thinking(self) -> None:
        with contextlib.suppress(discord.HTTPException):
            await self.message.channel.typing()

    async def refuse(self, text: str) -> None:
        await send(self.message.channel, text, self.reference)

    async def open(self) -> Writer:
        if self.open_thread:
            try:
                thread = await self.message.create_thread(
                    name=self.thread_name, auto_archive_duration=1440
                )
            except discord.HTTPException as exc:  # no permission, a thread already there...
                logging.getLogger("botkit.discord").warning(
                    "could not open a thread (%s): answering in the channel", exc
                )
            else:
                self.opened(thread.id)
                return ChannelWriter(thread)
        return ChannelWriter(self.message.channel, self.reference)


class InteractionTarget:
    """Answering a deferred slash command; a refusal replaces the "thinking..." response with a
    message only the user sees."""

    def __init__(self, interaction: discord.Interaction[Any]) -> None:
        self.interaction = interaction

    async def thinking(self) -> None:
        """Deferred already: Discord shows that the bot is thinking."""

    async def refuse(self, text: str) -> None:
        with contextlib.suppress(discord.HTTPException):
            await self.interaction.delete_original_response()
        await self.interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)

    async def open(self) -> Writer:
        return InteractionWriter(self.interaction)


@dataclass
class Answers:
    """Runs core replies onto Discord targets."""

    context: ServeContext
    #: the 👍/👎 buttons (:func:`botkit.adapters.discord.feedback.rating_buttons`)
    buttons: RatingButtons
    #: seconds between edits of a streaming answer (Discord allows 5 edits per 5 s a channel)
    interval: float = 1.0
    #: seconds without an answer after which Discord shows "botkit is typing..."
    thinking_after: float = 0.5

    async def answer(self, message: Message, target: Target) -> None:
        """Answer ``message`` at ``target``; every failure ends in a line to the user or a log."""
        log = self.context.log
        reply = self.context.bot.respond(message)
        async with reply:
            typing = asyncio.ensure_future(self._thinking_soon(target))
            try:
                first = await _first(reply)
            except BotkitError as exc:
                await target.refuse(short_reason(exc))
                return
            except Exception:
                log.exception("discord: answering %s failed", message.request_id)
                await target.refuse(
                    f"⚠ something went wrong (request {message.request_id}); it was logged"
                )
                return
            finally:
                typing.cancel()
            writer = await target.open()
            view = self.buttons.view(reply.request_id)
            result = reply.result
            if result is not None and not result.prose:
                embed = discord.Embed.from_dict(discord_embed(self._task(message, reply), result))
                await writer.whole(None, [embed], view)
                return
            await self._stream(reply, first, writer, view)

    async def _stream(self, reply: Reply, first: str, writer: Writer, view: Any) -> None:
        """Show the answer: posted whole (with its sources and 👍/👎) when the rest of it comes
        within ``interval`` of its first piece, else streamed from then on, then finished."""
        started = time.monotonic()
        stream = StreamedMessages(writer, LIMIT, self.interval)
        live = False  # shown while it comes (it takes longer than ``interval``)
        chunk = first
        while True:
            if live:
                await stream.add(chunk)
            else:
                stream.text += chunk
                if not reply.done and time.monotonic() - started >= self.interval:
                    live = True
                    await stream.add("")
            try:
                chunk = await reply.__anext__()
            except StopAsyncIteration:
                break
            except Exception as exc:  # the model or a plugin failed part-way
                if isinstance(exc, BotkitError):
                    self.context.log.warning("answer %s failed: %s", reply.request_id, exc)
                else:
                    self.context.log.exception("answer %s failed", reply.request_id)
                await stream.fail(f"⚠ the answer failed part-way: {short_reason(exc)}")
                return
        embeds = []
        if reply.citations:
            embeds.append(discord.Embed.from_dict(discord_citations_embed(reply.citations)))
        text = stream.text
        if not live and text.strip() and len(split_message(text, LIMIT)) == 1:
            await writer.whole(text, embeds, view)  # one message, one call
            return
        handles = await stream.finish()
        await writer.decorate(handles[-1], embeds, view)

    async def _thinking_soon(self, target: Target) -> None:
        """Show that the bot is at work when the answer is slow to start (queued behind others
        in its conversation, a cold model...); a quick answer needs no sign."""
        await asyncio.sleep(self.thinking_after)
        with contextlib.suppress(Exception):  # only a sign: never a reason to fail
            await target.thinking()

    def _task(self, message: Message, reply: Reply) -> str:
        """The task's name for the embed's footer: the command used, else the GPT's task."""
        if message.command:
            return message.command
        spec = self.context.bot.gpt(reply.gpt).spec
        return spec.task.plugin if spec.task else reply.gpt


async def _first(reply: Reply) -> str:
    """The first piece of the answer ("" for an empty one): what the core refuses is raised
    here, before anything is shown."""
    try:
        return await reply.__anext__()
    except StopAsyncIteration:
        return ""
