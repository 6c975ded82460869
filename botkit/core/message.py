"""The platform-neutral message every adapter produces."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field

from botkit.core.conversations import ConversationKey

#: Characters of an attached text file the model is given (the rest is cut, with a note).
ATTACHMENT_TEXT_LIMIT = 20_000


#: The request id of the message being answered, for log records made meanwhile (the core sets it).
current_request_id: ContextVar[str] = ContextVar("botkit_request_id", default="")


def new_request_id() -> str:
    """A short id that follows one message through the logs of core, knowledge and model."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message. ``text`` holds its content when it is text (else ``None``)."""

    name: str
    content_type: str = ""
    size: int = 0
    text: str | None = None


@dataclass(frozen=True)
class Message:
    """One user message, wherever it was written.

    Who: ``user_id`` (the platform's stable id) and ``user_name`` (how to address them). Where:
    ``surface`` (console, slack, discord, api...), ``workspace`` (Slack team, Discord guild),
    ``channel`` and ``thread``; ``is_dm`` for direct messages. ``shared``: everyone in this place
    shares one conversation (a Slack or Discord thread), instead of one per user. ``message_id``
    is the platform's id of the message (to drop retried deliveries), ``request_id`` follows it
    through the logs. ``command``: a task command the platform named explicitly (a slash command),
    with ``text`` as its input. ``roles``: the user's roles where the platform has them (Discord),
    for access rules; ``api_key``: the name of the API key a request came with.
    """

    text: str
    gpt: str
    surface: str = "console"
    user_id: str = ""
    user_name: str = ""
    workspace: str = ""
    channel: str = ""
    thread: str = ""
    is_dm: bool = False
    shared: bool = False
    message_id: str = ""
    attachments: tuple[Attachment, ...] = ()
    command: str = ""
    roles: tuple[str, ...] = ()
    api_key: str = ""
    request_id: str = field(default_factory=new_request_id)

    @property
    def speaker(self) -> str:
        """How the model and the logs name the person writing."""
        return self.user_name or self.user_id

    @property
    def conversation(self) -> ConversationKey:
        """The conversation this message continues: its place, and its user unless shared."""
        user = "" if self.shared else self.user_id
        return ConversationKey(
            self.surface, self.workspace, self.channel, self.thread, self.gpt, user
        )

    def content(self) -> str:
        """The text the model reads: the message, then the text of its text attachments."""
        parts = [self.text]
        for item in self.attachments:
            if item.text is None:
                continue
            body = item.text[:ATTACHMENT_TEXT_LIMIT]
            cut = "\n[... the rest of the file was cut]" if len(item.text) > len(body) else ""
            parts.append(f'<attachment name="{item.name}">\n{body}{cut}\n</attachment>')
        return "\n\n".join(p for p in parts if p)
