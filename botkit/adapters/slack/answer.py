"""One reply of the core, shown in Slack: streamed, split, rendered, with its sources and buttons.

Where the workspace has it, the answer streams natively (``chat.startStream`` / ``appendStream``
/ ``stopStream``, Markdown as written); elsewhere one message is posted and edited with
``chat.update`` at most about once a second, in Slack's mrkdwn. A task's typed result is Block
Kit. Every answer ends with its numbered sources and 👍/👎 buttons; one that failed part-way says
so where it stopped. A refused message (access, rate, size) is told to its writer alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from botkit.adapters.streaming import StreamedMessages
from botkit.core.bot import Bot
from botkit.core.message import Message
from botkit.core.reply import Reply
from botkit.errors import AccessDenied, BotkitError, InputError, RateLimited
from botkit.render import markdown_to_mrkdwn, slack_blocks, slack_citations, slack_escape

log = logging.getLogger("botkit.slack")

#: Characters of one Slack message: what a section block holds (the last part gets the buttons).
MESSAGE_LIMIT = 2800  # room for what turning Markdown into mrkdwn adds
#: Seconds between two edits of a streamed answer (Slack allows about one a second).
EDIT_INTERVAL = 1.0
FEEDBACK_UP, FEEDBACK_DOWN = "botkit_feedback_up", "botkit_feedback_down"


def feedback_block(request_id: str) -> dict[str, Any]:
    buttons = [
        (FEEDBACK_UP, "👍", "This answer helped"),
        (FEEDBACK_DOWN, "👎", "This answer did not help"),
    ]
    return {
        "type": "actions",
        "block_id": f"botkit_feedback:{request_id}",
        "elements": [
            {
                "type": "button",
                "action_id": action,
                "value": request_id,
                "text": {"type": "plain_text", "text": label, "emoji": True},
                "accessibility_label": hint,
            }
            for action, label, hint in buttons
        ],
    }


def ending_blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks = [slack_citations(reply.citations)] if reply.citations else []
    if reply.text.strip():
        blocks.append(feedback_block(reply.request_id))
    return blocks


def refusal(exc: BotkitError) -> str:
    """What a refused or failed message tells its writer, in one line."""
    if isinstance(exc, (AccessDenied, RateLimited, InputError)):
        return f"⚠ {exc}"
    return f"⚠ I could not answer: {exc}"


@dataclass
class Place:
    """Where an answer goes: a channel, the thread in it ("" for none), and who asked."""

    channel: str
    thread_ts: str
    user: str
    team: str


class SlackAnswer:
    def __init__(self, client: Any, bot: Bot, native: dict[str, bool]) -> None:
        self.client = client
        self.bot = bot
        #: team id -> whether native streaming works there (learnt on first use)
        self.native = native

    async def reply(self, message: Message, place: Place, stream: bool = True) -> Reply | None:
        """Answer ``message`` at ``place``; the reply, or None when it was refused."""
        async with self.bot.respond(message) as reply:
            try:
                first = await reply.__anext__()
            except StopAsyncIteration:
                first = ""
            except BotkitError as exc:
                await self.tell(place, refusal(exc))
                return None
            if reply.result is not None:
                await self._post_result(reply, place)
                return reply
            natively = stream and place.thread_ts and self.native.get(place.team, True)
            if natively and await self._native(reply, place, first):
                return reply
            await self._edited(reply, place, first)
        return reply

    async def tell(self, place: Place, text: str) -> None:
        """A short note for the user who asked only (ephemeral), else in the thread."""
        try:
            await self.client.chat_postEphemeral(
                channel=place.channel, user=place.user, text=text, thread_ts=place.thread_ts or None
            )
        except Exception:
            await self.client.chat_postMessage(
                channel=place.channel, text=text, thread_ts=place.thread_ts or None
            )

    async def _post_result(self, reply: Reply, place: Place) -> None:
        assert reply.result is not None
        if reply.result.prose:
            text = markdown_to_mrkdwn(reply.text)
            blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]
        else:
            task = type(reply.result).__name__.lower()
            blocks = slack_blocks(task, reply.result)
            text = slack_escape(reply.text)
        await self.client.chat_postMessage(
            channel=place.channel,
            thread_ts=place.thread_ts or None,
            text=text[:MESSAGE_LIMIT],
            blocks=[*blocks, *ending_blocks(reply)],
        )

    async def _native(self, reply: Reply, place: Place, first: str) -> bool:
        """Stream with Slack's own streaming; False (nothing posted) when the workspace lacks it."""
        from slack_sdk.errors import SlackApiError

        try:
            started = await self.client.chat_startStream(
                channel=place.channel,
                thread_ts=place.thread_ts,
                markdown_text=first or " ",
                recipient_team_id=place.team or None,
                recipient_user_id=place.user or None,
            )
        except SlackApiError as exc:
            if exc.response.get("error") == "ratelimited":
                raise
            log.info("native streaming unavailable in %s (%s): editing messages instead",
                     place.team, exc.response.get("error"))  # fmt: skip
            self.native[place.team] = False
            return False
        ts = started["ts"]
        try:
            async for chunk in reply:
                await self.client.chat_appendStream(
                    channel=place.channel, ts=ts, markdown_text=chunk
                )
        except BotkitError as exc:
            note = f"\n\n⚠ the answer failed part-way: {exc}"
            await self.client.chat_stopStream(channel=place.channel, ts=ts, markdown_text=note)
            return True
        await self.client.chat_stopStream(channel=place.channel, ts=ts, blocks=ending_blocks(reply))
        return True

    async def _edited(self, reply: Reply, place: Place, first: str) -> None:
        """Post one message and edit it as the answer grows (split past Slack's length)."""
        client = self.client

        class Writer:
            async def post(self, text: str) -> str:
                posted = await client.chat_postMessage(
                    channel=place.channel, thread_ts=place.thread_ts or None,
                    text=markdown_to_mrkdwn(text),
                )  # fmt: skip
                return str(posted["ts"])

            async def edit(self, handle: str, text: str) -> None:
                await client.chat_update(
                    channel=place.channel, ts=handle, text=markdown_to_mrkdwn(text)
                )

        shown = StreamedMessages(Writer(), MESSAGE_LIMIT, EDIT_INTERVAL)
        try:
            await shown.add(first)
            async for chunk in reply:
                await shown.add(chunk)
        except BotkitError as exc:
            await shown.fail(f"⚠ the answer failed part-way: {exc}")
            return
        handles = await shown.finish()
        blocks = ending_blocks(reply)
        if blocks and handles:  # the last message gets the sources and the buttons
            last = markdown_to_mrkdwn(shown.last)
            body = {"type": "section", "text": {"type": "mrkdwn", "text": last[:3000]}}
            await client.chat_update(
                channel=place.channel, ts=handles[-1], text=last, blocks=[body, *blocks]
            )
