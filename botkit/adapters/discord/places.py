"""Who wrote, where, and what they attached: discord.py's objects as a core message's fields.

A thread is its own place inside its parent channel (``channel`` is the parent's id, ``thread``
the thread's), so the parent channel's GPT route applies in its threads and a thread is one
conversation. A DM has no workspace. Text files (by type or name, up to
:data:`MAX_TEXT_FILE` bytes) are read from Discord's CDN through discord.py, so the model
can answer from them.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import aiohttp
import discord

from botkit.core.message import Attachment

#: Largest attached file read as text.
MAX_TEXT_FILE = 256 * 1024
TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/x-yaml",
    "application/yaml",
)
TEXT_SUFFIXES = frozenset({
    ".txt", ".md", ".markdown", ".rst", ".csv", ".tsv", ".json", ".jsonl", ".yaml", ".yml",
    ".toml", ".ini", ".cfg", ".log", ".xml", ".html", ".css", ".js", ".ts", ".py", ".rb", ".go",
    ".rs", ".java", ".kt", ".c", ".h", ".cpp", ".hpp", ".cs", ".php", ".sh", ".sql", ".tex",
})  # fmt: skip
_USER = re.compile(r"<@!?(\d+)>")
_ROLE = re.compile(r"<@&(\d+)>")
_CHANNEL = re.compile(r"<#(\d+)>")


@dataclass(frozen=True)
class Place:
    workspace: str  # the guild's id, "" in a DM
    channel: str  # the channel's id (a thread's parent)
    thread: str  # the thread's id, "" outside threads
    is_dm: bool

    @property
    def route(self) -> str:
        """The channel whose GPT route applies."""
        return self.channel


def place_of(channel: Any, guild_id: int | None, channel_id: int | None = None) -> Place:
    """Where ``channel`` (a channel, thread, DM or partial one; None: only ``channel_id`` is
    known) is."""
    workspace = str(guild_id) if guild_id else ""
    if isinstance(channel, discord.Thread):
        return Place(workspace, str(channel.parent_id), str(channel.id), False)
    is_dm = isinstance(channel, (discord.DMChannel, discord.GroupChannel)) or not guild_id
    return Place(workspace, str(channel.id if channel is not None else channel_id), "", is_dm)


def roles_of(user: Any) -> tuple[str, ...]:
    """A member's roles, by id and by name, for access rules (none outside a server)."""
    found: list[str] = []
    for role in getattr(user, "roles", ()):
        if not role.is_default():
            found += [str(role.id), role.name]
    return tuple(found)


def bot_mentioned(message: discord.Message, me: discord.abc.User) -> bool:
    """Whether ``message`` names the bot: its user, or the role Discord made for it."""
    if any(user.id == me.id for user in message.mentions):
        return True
    return any(_is_bot_role(role, me.id) for role in message.role_mentions)


def _is_bot_role(role: Any, bot_id: int) -> bool:
    tags = getattr(role, "tags", None)
    return tags is not None and getattr(tags, "bot_id", None) == bot_id


def readable_text(message: discord.Message, me_id: int) -> str:
    """The message's text as a person reads it: the bot's own mention dropped, other mentions as
    ``@name`` and ``#channel``."""
    users = {u.id: u.display_name for u in message.mentions}
    roles = {r.id: r.name for r in message.role_mentions}
    channels = {c.id: c.name for c in message.channel_mentions}
    bot_roles = {r.id for r in message.role_mentions if _is_bot_role(r, me_id)}

    def user(match: re.Match[str]) -> str:
        found = int(match.group(1))
        return "" if found == me_id else f"@{users.get(found, 'someone')}"

    def role(match: re.Match[str]) -> str:
        found = int(match.group(1))
        return "" if found in bot_roles else f"@{roles.get(found, 'role')}"

    text = _USER.sub(user, message.content)
    text = _ROLE.sub(role, text)
    text = _CHANNEL.sub(lambda m: f"#{channels.get(int(m.group(1)), 'channel')}", text)
    return text.strip()


def is_text_file(name: str, content_type: str | None) -> bool:
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind.startswith(TEXT_TYPES) or PurePosixPath(name).suffix.lower() in TEXT_SUFFIXES


#: Seconds to fetch one attachment: a slow CDN must not hold the answer back.
ATTACHMENT_TIMEOUT = 10.0


async def read_attachments(items: list[discord.Attachment]) -> tuple[Attachment, ...]:
    """Each attachment's name, type and size, and the text of the small text files."""

    async def one(item: discord.Attachment) -> Attachment:
        text = None
        if item.size <= MAX_TEXT_FILE and is_text_file(item.filename, item.content_type):
            try:
                text = (await asyncio.wait_for(item.read(), ATTACHMENT_TIMEOUT)).decode("utf-8")
            except (
                discord.DiscordException,
                aiohttp.ClientError,
                asyncio.TimeoutError,
                OSError,
                ValueError,
            ):
                text = None  # not fetched (gone, unreachable, too slow, a bad URL) or not UTF-8
        return Attachment(item.filename, item.content_type or "", item.size, text)

    return tuple(await asyncio.gather(*(one(item) for item in items)))


def unreadable_note(attachments: tuple[Attachment, ...]) -> str:
    """What to tell someone who sent only files the bot cannot read."""
    names = ", ".join(a.name for a in attachments[:5])
    kinds = ".txt, .md, .csv, .json, code"
    return (
        f"I can only read text files ({kinds}; up to {MAX_TEXT_FILE // 1024} KB), and not "
        f"{names}: write your question, or attach it as a text file."
    )
