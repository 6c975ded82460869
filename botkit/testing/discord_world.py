"""The data behind :class:`~botkit.testing.StubDiscord`: guilds, channels, threads, users, messages
and reactions, and what Discord does to them.

Operations check what Discord checks (unknown ids, message limits, editing another user's
message...) and raise :class:`DiscordError` with Discord's status, code and message. The events
Discord would send for what happened (the bot's own MESSAGE_CREATE, THREAD_CREATE...) go to
:meth:`DiscordWorld.emit`, which the stub connects to its gateway. No HTTP here. Application
commands and interactions build on this in :mod:`botkit.testing.discord_apps`, the test's
payload builders in :mod:`botkit.testing.discord_events`.
"""

from __future__ import annotations

import copy
import functools
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Concatenate, ParamSpec, TypeVar

from botkit.testing import discord_payloads as p

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38

#: What a bot that reads, replies, embeds, attaches, reacts and opens threads needs (the bot
#: role's permissions in the stub's guilds; ``309237763136``).
BOT_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | SEND_MESSAGES_IN_THREADS
    | CREATE_PUBLIC_THREADS
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | ADD_REACTIONS
)
EVERYONE_PERMISSIONS = (
    BOT_PERMISSIONS | CREATE_PRIVATE_THREADS | USE_EXTERNAL_EMOJIS | USE_APPLICATION_COMMANDS
)

_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


P = ParamSpec("P")
R = TypeVar("R")
W = TypeVar("W", bound="DiscordWorld")


def _locked(method: Callable[Concatenate[W, P], R]) -> Callable[Concatenate[W, P], R]:
    """Run ``method`` holding the world's lock: tests read and build from their thread while the
    stub's loop changes the same objects."""

    def locked(self: W, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._lock:
            return method(self, *args, **kwargs)

    functools.update_wrapper(locked, method)
    return locked


class DiscordError(Exception):
    """What Discord answers instead: ``status`` and a JSON ``body`` (``message``, ``code``...)."""

    def __init__(self, status: int, message: str, code: int = 0, **extra: Any) -> None:
        super().__init__(f"{status} {message} ({code})")
        self.status = status
        self.body: dict[str, Any] = {"message": message, "code": code, **extra}

    @classmethod
    def form(cls, body: dict[str, Any]) -> DiscordError:
        """A 400 with Discord's body as given (``50035 Invalid Form Body``, ``50006``...)."""
        error = cls(400, body["message"], body["code"])
        error.body = body
        return error


def unknown_message() -> DiscordError:
    return DiscordError(404, "Unknown Message", 10008)


@dataclass
class StubInteraction:
    """An interaction the stub handed out, and how the client answered it."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    created_at: float = field(default_factory=time.monotonic)
    dispatched_at: float | None = None
    #: The interaction response the client sent (``{"type": 5, "data": {...}}``), once it did.
    callback: dict[str, Any] | None = None
    original_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)

    @property
    def callback_type(self) -> int | None:
        return None if self.callback is None else int(self.callback.get("type", 0))

    @property
    def channel_id(self) -> int:
        return int(self.payload["channel_id"])


class DiscordWorld:
    """The stub's Discord: one guild ``botkit-test`` to start with, channels ``#general`` and
    ``#random``, the bot, a human ``alice`` (:attr:`user`) and the guild's ``owner``."""

    def __init__(
        self,
        *,
        token: str = "stub-token",
        bot_name: str = "botkit",
        bot_permissions: int = BOT_PERMISSIONS,
        interaction_timeout: float = 3.0,
        echo_own_messages: bool = True,
    ) -> None:
        self._lock = threading.RLock()
        self.ids = p.Snowflakes()
        self.token = token
        self.bot_permissions = bot_permissions
        self.interaction_timeout = interaction_timeout
        self.echo_own_messages = echo_own_messages
        self.application_id = self.ids()
        self.bot_id = self.application_id  # as for every application made since 2021
        self.bot_user = p.user(self.bot_id, bot_name, bot=True)
        self.users: dict[int, dict[str, Any]] = {self.bot_id: self.bot_user}
        self.guilds: dict[int, dict[str, Any]] = {}
        self.members: dict[int, dict[int, dict[str, Any]]] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {None: []}
        self.interactions: dict[int, StubInteraction] = {}
        self._dms: dict[int, int] = {}
        self._history: dict[int, list[dict[str, Any]]] = {}
        self._by_id: dict[int, dict[str, Any]] = {}
        self._reactors: dict[tuple[int, str], list[int]] = {}
        self._files: dict[int, bytes] = {}
        self.owner = self.add_user("owner", guild_id=None)
        self.user = self.add_user("alice", guild_id=None)
        guild = self.add_guild("botkit-test", members=[self.owner, self.user])
        self.guild_id = int(guild["id"])
        self.channel_id = next(c for c, d in self.channels.items() if d.get("name") == "general")

    # -- hooks the server fills in -------------------------------------------------------------
    def emit(self, event: str, data: dict[str, Any], guild_id: int | None) -> None:
        """Send ``event`` to connected clients (the stub sends it through its gateway)."""

    def cdn_url(self, path: str) -> str:
        """The URL at which the stub serves ``path`` (attachments)."""
        return f"http://cdn.invalid{path}"

    # -- the world -----------------------------------------------------------------------------
    @_locked
    def add_user(
        self, name: str, *, bot: bool = False, guild_id: int | None = -1
    ) -> dict[str, Any]:
        """A new user, a member of ``guild_id`` (default: the first guild; ``None``: none)."""
        data = p.user(self.ids(), name, bot=bot)
        self.users[int(data["id"])] = data
        if guild_id == -1:
            guild_id = next(iter(self.guilds), None)
        if guild_id is not None:
            self._join(guild_id, data)
            member = self.members[guild_id][int(data["id"])]
            self.emit("GUILD_MEMBER_ADD", {**member, "guild_id": str(guild_id)}, guild_id)
        return data

    def _join(self, guild_id: int, user_data: dict[str, Any]) -> None:
        roles = [self._bot_role(guild_id)] if int(user_data["id"]) == self.bot_id else []
        self.members[guild_id][int(user_data["id"])] = p.member(user_data, roles, p.timestamp())

    def _bot_role(self, guild_id: int) -> int:
        return int(self.guilds[guild_id]["roles"][1]["id"])

    @_locked
    def add_guild(
        self,
        name: str,
        *,
        channels: Iterable[str] = ("general", "random"),
        members: Iterable[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """A guild the bot is in, with text ``channels`` and ``members`` (users) besides the bot."""
        guild_id = self.ids()
        roles = [
            p.role(guild_id, "@everyone", EVERYONE_PERMISSIONS),
            p.role(self.ids(), self.bot_user["username"], self.bot_permissions, position=1),
        ]
        self.guilds[guild_id] = {
            "id": str(guild_id),
            "name": name,
            "owner_id": self.owner["id"],
            "roles": roles,
            "joined_at": p.timestamp(),
        }
        self.members[guild_id] = {}
        for user_data in [self.bot_user, *members]:
            self._join(guild_id, user_data)
        for position, channel in enumerate(channels):
            channel_id = self.ids()
            self.channels[channel_id] = p.text_channel(
                channel_id, guild_id, channel, position=position
            )
        self.emit("GUILD_CREATE", self.guild_payload(guild_id, all_members=True), guild_id)
        return self.guilds[guild_id]

    @_locked
    def add_channel(
        self, /, name: str, *, guild_id: int | None = None, kind: int = p.GUILD_TEXT, **fields: Any
    ) -> dict[str, Any]:
        """A new channel (text by default) in ``guild_id`` (default: the first guild)."""
        guild_id = guild_id or self.guild_id
        position = sum(1 for c in self.channels.values() if c.get("guild_id") == str(guild_id))
        channel_id = self.ids()
        data = p.text_channel(channel_id, guild_id, name, position=position, kind=kind)
        data.update(fields)
        self.channels[channel_id] = data
        self.emit("CHANNEL_CREATE", data, guild_id)
        return data

    @_locked
    def dm_channel(self, user_data: dict[str, Any]) -> dict[str, Any]:
        """The bot's DM channel with ``user_data``, opened on first use."""
        user_id = int(user_data["id"])
        if user_id not in self._dms:
            channel_id = self.ids()
            self._dms[user_id] = channel_id
            self.channels[channel_id] = p.dm_channel(channel_id, user_data)
        return self.channels[self._dms[user_id]]

    @_locked
    def guild_payload(self, guild_id: int, *, all_members: bool) -> dict[str, Any]:
        """The GUILD_CREATE of ``guild_id``: the bot's own member only, unless ``all_members``
        (a session with the server-members intent)."""
        base = self.guilds[guild_id]
        members = list(self.members[guild_id].values())
        if not all_members:
            members = [m for m in members if m["user"]["id"] == str(self.bot_id)]
        own = [c for c in self.channels.values() if c.get("guild_id") == base["id"]]
        return {
            **base,
            "unavailable": False,
            "large": False,
            "member_count": len(self.members[guild_id]),
            "members": members,
            "channels": [c for c in own if c["type"] not in p.THREAD_TYPES],
            "threads": [c for c in own if c["type"] in p.THREAD_TYPES],
            "presences": [],
            "voice_states": [],
            "emojis": [],
            "stickers": [],
            "features": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "icon": None,
            "banner": None,
            "splash": None,
            "description": None,
            "system_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "application_id": None,
        }

    @_locked
    def channel(self, channel_id: int) -> dict[str, Any]:
        try:
            return self.channels[channel_id]
        except KeyError:
            raise DiscordError(404, "Unknown Channel", 10003) from None

    @_locked
    def guild_of(self, channel_id: int) -> int | None:
        guild = self.channel(channel_id).get("guild_id")
        return int(guild) if guild else None

    @_locked
    def messages(
        self, channel_id: int | None = None, after: int | str | None = None
    ) -> list[dict[str, Any]]:
        """The messages of a channel (default :attr:`channel_id`), oldest first, as they are now
        (edits applied, deleted ones gone, ephemeral ones never there); only those newer than
        message ``after`` when given (as Discord's ``after=``), which stays cheap in a long
        history: a test polling for an answer copies only what came since its question."""
        history = self._history.get(channel_id or self.channel_id, [])
        if after is not None:
            start = len(history)  # the newest last: walk back only over the newer ones
            while start and int(history[start - 1]["id"]) > int(after):
                start -= 1
            history = history[start:]
        return copy.deepcopy(history)

    @_locked
    def message(self, message_id: int) -> dict[str, Any] | None:
        """Any message by id, ephemeral interaction responses included."""
        found = self._by_id.get(int(message_id))
        return copy.deepcopy(found) if found is not None else None

    @_locked
    def synced_commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """The application commands registered globally, or in ``guild_id``."""
        return copy.deepcopy(self.commands.get(guild_id, []))

    # -- events the test dispatches ------------------------------------------------------------
    @_locked
    def apply(self, event: str, data: dict[str, Any]) -> None:
        """Update the world for ``event`` before it is sent (the test dispatched it)."""
        if event == "MESSAGE_CREATE":
            self._store(copy.deepcopy(data))
        elif event == "MESSAGE_UPDATE" and int(data["id"]) in self._by_id:
            self._by_id[int(data["id"])].update(copy.deepcopy(data))
        elif event == "MESSAGE_DELETE":
            self._forget(int(data["id"]))
        elif event in ("CHANNEL_CREATE", "THREAD_CREATE", "CHANNEL_UPDATE", "THREAD_UPDATE"):
            self.channels[int(data["id"])] = {k: v for k, v in data.items() if k != "newly_created"}
        elif event in ("CHANNEL_DELETE", "THREAD_DELETE"):
            self.channels.pop(int(data["id"]), None)
        elif event == "INTERACTION_CREATE":
            interaction = self.interactions.get(int(data["id"]))
            if interaction is None:
                interaction = StubInteraction(int(data["id"]), data["token"], data["type"], data)
                self.interactions[interaction.id] = interaction
            interaction.dispatched_at = time.monotonic()
        elif event.startswith("MESSAGE_REACTION_") and int(data["message_id"]) in self._by_id:
            user_id, add = int(data["user_id"]), event.endswith("ADD")
            self._react(int(data["message_id"]), data["emoji"], user_id, add=add)

    def _store(self, message: dict[str, Any]) -> None:
        message_id, channel_id = int(message["id"]), int(message["channel_id"])
        if message_id in self._by_id:
            return
        self.users.setdefault(int(message["author"]["id"]), message["author"])
        self._by_id[message_id] = message
        if message.get("flags", 0) & p.FLAG_EPHEMERAL:
            return
        self._history.setdefault(channel_id, []).append(message)
        channel = self.channels.get(channel_id)
        if channel is not None:
            channel["last_message_id"] = message["id"]
            if channel["type"] in p.THREAD_TYPES:
                channel["message_count"] += 1
                channel["total_message_sent"] += 1

    def _forget(self, message_id: int) -> dict[str, Any] | None:
        message = self._by_id.pop(message_id, None)
        if message is not None:
            history = self._history.get(int(message["channel_id"]), [])
            if message in history:
                history.remove(message)
        return message

    # -- messages ------------------------------------------------------------------------------
    def _find(self, channel_id: int, message_id: int) -> dict[str, Any]:
        message = self._by_id.get(message_id)
        if message is None or int(message["channel_id"]) != channel_id:
            raise unknown_message()
        return message

    @_locked
    def channel_message(self, channel_id: int, message_id: int) -> dict[str, Any]:
        """``GET /channels/{id}/messages/{id}``."""
        return copy.deepcopy(self._find(channel_id, message_id))

    def _mentions(self, content: str, guild_id: int | None, allowed: Any) -> dict[str, Any]:
        """mentions, mention_roles and mention_everyone of ``content``, as ``allowed`` permits."""
        parse = None if allowed is None else list(allowed.get("parse") or [])
        user_ids = [int(u) for u in _MENTION.findall(content)]
        if parse is not None and "users" not in parse:
            user_ids = [u for u in user_ids if str(u) in map(str, allowed.get("users") or [])]
        mentions = []
        for user_id in dict.fromkeys(user_ids):
            if user_id in self.users:
                mention = dict(self.users[user_id])
                member = self.members.get(guild_id or 0, {}).get(user_id)
                if member is not None:
                    mention["member"] = {k: v for k, v in member.items() if k != "user"}
                mentions.append(mention)
        roles = _ROLE_MENTION.findall(content)
        if parse is not None and "roles" not in parse:
            roles = [r for r in roles if r in map(str, allowed.get("roles") or [])]
        everyone = ("@everyone" in content or "@here" in content) and (
            parse is None or "everyone" in parse
        )
        return {"mentions": mentions, "mention_roles": roles, "mention_everyone": everyone}

    def _attachments(
        self, channel_id: int, body: dict[str, Any], files: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        described = {str(a.get("id")): a for a in body.get("attachments") or []}
        result = []
        for index, upload in enumerate(files):
            meta = described.get(str(index), {})
            attachment_id = self.ids()
            filename = meta.get("filename") or upload["filename"]
            self._files[attachment_id] = upload["data"]
            url = self.cdn_url(f"/attachments/{channel_id}/{attachment_id}/{filename}")
            result.append(
                {
                    "id": str(attachment_id),
                    "filename": filename,
                    "description": meta.get("description"),
                    "content_type": upload.get("content_type") or "application/octet-stream",
                    "size": upload["size"],
                    "url": url,
                    "proxy_url": url,
                    "flags": 0,
                }
            )
        return result

    @_locked
    def attachment(self, attachment_id: int) -> bytes | None:
        return self._files.get(attachment_id)

    def _build(
        self,
        channel_id: int,
        body: dict[str, Any],
        files: list[dict[str, Any]],
        author: dict[str, Any],
        **fields: Any,
    ) -> dict[str, Any]:
        """A message the bot sends, checked as Discord checks it."""
        error = p.check_message(body, files=len(files))
        if error:
            raise DiscordError.form(error)
        guild_id = self.guild_of(channel_id)
        content = str(body.get("content") or "")
        data = p.message(
            self.ids(),
            channel_id,
            author,
            content,
            embeds=[{"type": "rich", **e} for e in body.get("embeds") or []],
            components=body.get("components") or [],
            attachments=self._attachments(channel_id, body, files),
            flags=int(body.get("flags") or 0),
            tts=bool(body.get("tts")),
            **self._mentions(content, guild_id, body.get("allowed_mentions")),
            **fields,
        )
        if body.get("nonce") is not None:
            data["nonce"] = body["nonce"]
        if body.get("poll"):
            data["poll"] = body["poll"]
        reference = body.get("message_reference")
        if reference and reference.get("message_id"):
            self._reply(data, reference, body.get("allowed_mentions"))
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
            member = self.members[guild_id].get(int(author["id"]))
            if member is not None:
                data["member"] = {k: v for k, v in member.items() if k != "user"}
        return data

    def _reply(self, data: dict[str, Any], reference: dict[str, Any], allowed: Any) -> None:
        target = self._by_id.get(int(reference["message_id"]))
        if target is None:
            if reference.get("fail_if_not_exists", True) is False:
                return
            error = p.FormErrors()
            error.add(["message_reference"], "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
            raise DiscordError.form(error.body() or {})
        data["type"] = 19  # REPLY
        data["message_reference"] = {
            "type": 0,
            "message_id": target["id"],
            "channel_id": target["channel_id"],
            **({"guild_id": target["guild_id"]} if target.get("guild_id") else {}),
        }
        data["referenced_message"] = copy.deepcopy(target)
        pings = allowed is None or allowed.get("replied_user", False)
        if pings and all(m["id"] != target["author"]["id"] for m in data["mentions"]):
            data["mentions"].append(dict(target["author"]))

    @_locked
    def create_message(
        self, channel_id: int, body: dict[str, Any], files: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """``POST /channels/{id}/messages`` by the bot."""
        self.channel(channel_id)
        data = self._build(channel_id, body, files, self.bot_user)
        self._publish(data)
        return copy.deepcopy(data)

    def _publish(self, data: dict[str, Any]) -> None:
        """Store a message the bot made; echo it on the gateway as Discord does."""
        self._store(data)
        if self.echo_own_messages and not data["flags"] & p.FLAG_EPHEMERAL:
            guild = data.get("guild_id")
            self.emit("MESSAGE_CREATE", copy.deepcopy(data), int(guild) if guild else None)

    @_locked
    def edit_message(
        self,
        channel_id: int,
        message_id: int,
        body: dict[str, Any],
        files: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """``PATCH`` a message: only the bot's own, never left empty."""
        message = self._find(channel_id, message_id)
        if int(message["author"]["id"]) != self.bot_id:
            raise DiscordError(403, "Cannot edit a message authored by another user", 50005)
        return self._edit(message, body, files)

    def _edit(
        self, message: dict[str, Any], body: dict[str, Any], files: list[dict[str, Any]]
    ) -> dict[str, Any]:
        error = p.check_message(body, editing=True)
        if error:
            raise DiscordError.form(error)
        updated = dict(message)
        channel_id = int(message["channel_id"])
        guild_id = self.guild_of(channel_id)
        for key in ("content", "embeds", "components"):
            if key in body:
                updated[key] = (
                    body[key] if body[key] is not None else ([] if key != "content" else "")
                )
        if "embeds" in body:
            updated["embeds"] = [{"type": "rich", **e} for e in updated["embeds"]]
        if "flags" in body and body["flags"] is not None:
            updated["flags"] = int(body["flags"]) | (message["flags"] & p.FLAG_EPHEMERAL)
        updated["flags"] &= ~p.FLAG_LOADING
        if "attachments" in body:
            kept = {str(a.get("id")) for a in body.get("attachments") or []}
            updated["attachments"] = [a for a in message["attachments"] if a["id"] in kept]
        if files:
            updated["attachments"] = updated["attachments"] + self._attachments(
                channel_id, body, files
            )
        if "content" in body:
            updated.update(
                self._mentions(updated["content"], guild_id, body.get("allowed_mentions"))
            )
        if not (updated["content"] or updated["embeds"] or updated["components"]) and not (
            updated["attachments"] or updated.get("poll")
        ):
            raise DiscordError(400, "Cannot send an empty message", 50006)
        updated["edited_timestamp"] = p.timestamp()
        message.clear()
        message.update(updated)
        if self.echo_own_messages and not message["flags"] & p.FLAG_EPHEMERAL:
            self.emit("MESSAGE_UPDATE", copy.deepcopy(message), guild_id)
        return copy.deepcopy(message)

    @_locked
    def delete_message(self, channel_id: int, message_id: int) -> None:
        message = self._find(channel_id, message_id)
        guild_id = self.guild_of(channel_id)
        if (
            guild_id is not None
            and int(message["author"]["id"]) != self.bot_id
            and not self.bot_permissions & MANAGE_MESSAGES
        ):
            raise DiscordError(403, "Missing Permissions", 50013)
        self._forget(message_id)
        event = {"id": str(message_id), "channel_id": str(channel_id)}
        if guild_id is not None:
            event["guild_id"] = str(guild_id)
        self.emit("MESSAGE_DELETE", event, guild_id)

    @_locked
    def history(self, channel_id: int, query: dict[str, str]) -> list[dict[str, Any]]:
        """``GET /channels/{id}/messages``: newest first, ``before``/``after``/``around``."""
        self.channel(channel_id)
        limit = max(1, min(100, int(query.get("limit", "50"))))
        found = self._history.get(channel_id, [])
        if "around" in query:
            pivot, half = int(query["around"]), limit // 2
            older = [m for m in found if int(m["id"]) < pivot]
            older = older[len(older) - half :] if half else []
            chosen = older + [m for m in found if int(m["id"]) >= pivot][: limit - len(older)]
        elif "after" in query:
            chosen = [m for m in found if int(m["id"]) > int(query["after"])][:limit]
        else:
            before = int(query.get("before", 1 << 64))
            chosen = [m for m in found if int(m["id"]) < before][-limit:]
        return copy.deepcopy(list(reversed(chosen)))

    # -- threads and reactions -----------------------------------------------------------------
    @_locked
    def create_thread(
        self, channel_id: int, body: dict[str, Any], message_id: int | None = None
    ) -> dict[str, Any]:
        """Start a thread from a message (its id becomes the thread's) or without one."""
        parent = self.channel(channel_id)
        if parent["type"] not in (p.GUILD_TEXT, 5, p.GUILD_FORUM):
            raise DiscordError(400, "Cannot execute action on this channel type", 50024)
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            errors = p.FormErrors()
            errors.add(["name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
            raise DiscordError.form(errors.body() or {})
        guild_id = int(parent["guild_id"])
        archive = int(body.get("auto_archive_duration") or 1440)
        if message_id is not None:
            starter = self._find(channel_id, message_id)
            if starter.get("thread") or message_id in self.channels:
                raise DiscordError(
                    400, "A thread has already been created for this message", 160004
                )
            kind = 10 if parent["type"] == 5 else p.PUBLIC_THREAD
            data = p.thread(
                message_id,
                guild_id,
                channel_id,
                self.bot_id,
                name,
                kind=kind,
                auto_archive_duration=archive,
            )
            starter["thread"] = data
            starter["flags"] |= p.FLAG_HAS_THREAD
        else:
            kind = (
                p.PUBLIC_THREAD
                if parent["type"] == p.GUILD_FORUM
                else int(body.get("type") or p.PRIVATE_THREAD)
            )
            data = p.thread(
                self.ids(),
                guild_id,
                channel_id,
                self.bot_id,
                name,
                kind=kind,
                auto_archive_duration=archive,
            )
        self.channels[int(data["id"])] = data
        data["member"] = {
            "id": data["id"],
            "user_id": str(self.bot_id),
            "join_timestamp": p.timestamp(),
            "flags": 0,
        }
        self.emit("THREAD_CREATE", {**copy.deepcopy(data), "newly_created": True}, guild_id)
        result = copy.deepcopy(data)
        if parent["type"] == p.GUILD_FORUM and message_id is None:
            starter_body = dict(body.get("message") or {})
            message = self._build(int(data["id"]), starter_body, [], self.bot_user)
            message["id"] = data["id"]
            self._publish(message)
            result["message"] = copy.deepcopy(message)
        return result

    def _react(self, message_id: int, emoji: dict[str, Any], user_id: int, *, add: bool) -> None:
        message = self._by_id.get(message_id)
        if message is None:
            raise unknown_message()
        key = _emoji_key(emoji)
        users = self._reactors.setdefault((message_id, key), [])
        if add and user_id not in users:
            users.append(user_id)
        elif not add and user_id in users:
            users.remove(user_id)
        reactions = [r for r in message["reactions"] if _emoji_key(r["emoji"]) != key]
        if users:
            reactions.append(
                {
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "me": self.bot_id in users,
                    "me_burst": False,
                    "burst_colors": [],
                    "emoji": dict(emoji),
                }
            )
        message["reactions"] = reactions

    @_locked
    def react(
        self, channel_id: int, message_id: int, emoji: str, user_id: int, *, add: bool
    ) -> None:
        """Add (``PUT``) or remove (``DELETE``) a reaction by ``user_id``; emit the event."""
        message = self._find(channel_id, message_id)
        parsed = _parse_emoji(emoji)
        self._react(message_id, parsed, user_id, add=add)
        guild_id = self.guild_of(channel_id)
        event: dict[str, Any] = {
            "user_id": str(user_id),
            "channel_id": str(channel_id),
            "message_id": str(message_id),
            "emoji": parsed,
            "burst": False,
            "type": 0,
        }
        if guild_id is not None:
            event["guild_id"] = str(guild_id)
        if add:
            event["message_author_id"] = message["author"]["id"]
        self.emit("MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE", event, guild_id)

    @_locked
    def reactors(self, channel_id: int, message_id: int, emoji: str) -> list[dict[str, Any]]:
        self._find(channel_id, message_id)
        key = _emoji_key(_parse_emoji(emoji))
        return [self.users[u] for u in self._reactors.get((message_id, key), [])]


def _parse_emoji(text: str) -> dict[str, Any]:
    """An emoji of a reaction path: unicode, or custom as ``name:id`` (``:name:id``, ``a:name:id``
    too). Anything else is Discord's ``10014 Unknown Emoji``."""
    parts = text.strip(":").split(":")
    if len(parts) >= 2 and parts[-1].isdigit() and parts[-2]:
        return {"id": parts[-1], "name": parts[-2]}
    if not text or ":" in text or text.isascii():
        raise DiscordError(400, "Unknown Emoji", 10014)
    return {"id": None, "name": text}


def _emoji_key(emoji: dict[str, Any]) -> str:
    return f"{emoji['name']}:{emoji['id']}" if emoji.get("id") else str(emoji.get("name"))
