"""What a Slack workspace keeps and how its Web API methods answer, behind :class:`StubSlack`.

:class:`SlackWorkspace` holds the team's identity, users, channels and messages (per channel, with
threads) and native streams, and answers the Web API methods on them as Slack does (the success
shapes real clients parse, and Slack's error codes). It knows nothing of HTTP, tokens or faults:
:class:`~botkit.testing.slack_stub.StubSlack` serves it.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botkit.testing.slack_payloads import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    USER_ID,
    new_ts,
    rich_text,
    ts_key,
)

Json = dict[str, Any]
_MAX_TEXT = 40_000  # chat.postMessage answers msg_too_long beyond this


@dataclass
class _Stream:
    state: str  # "streaming" or "stopped"
    started: float
    chunks: list[Json] = field(default_factory=list)


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def error(code: str, **extra: Any) -> Json:
    """Slack's answer to a failed call: ``{"ok": false, "error": code, ...}``."""
    return {"ok": False, "error": code, **extra}


def needed_scope(method: str, args: Json) -> str | None:
    """The bot scope ``method`` needs (for ``args``'s channel type), if any."""
    if method.startswith("chat."):
        return "chat:write"
    if method.startswith("assistant.threads."):
        return "assistant:write"
    kind = {"C": "channels", "G": "groups", "D": "im"}.get(str(args.get("channel", ""))[:1])
    return {
        "conversations.replies": f"{kind or 'channels'}:history",
        "conversations.info": f"{kind or 'channels'}:read",
        "users.info": "users:read",
        "reactions.add": "reactions:write",
    }.get(method)


class SlackWorkspace:
    """A team with one app's bot in it: its users, channels, messages and streams.

    ``users``: the directory of ``users.info``, id -> ``name``, ``real_name``, ``display_name``
    (the bot user and :data:`USER_ID` are in it already). ``stream_ttl``: seconds a
    ``chat.startStream`` message stays in streaming state (Slack closes streams after about
    5 minutes; later appends answer ``message_not_in_streaming_state``). Thread-safe.
    """

    def __init__(
        self,
        *,
        team_id: str = TEAM_ID,
        team_name: str = "Botkit Test",
        team_domain: str = "botkit-test",
        app_id: str = APP_ID,
        bot_user_id: str = BOT_USER_ID,
        bot_id: str = BOT_ID,
        bot_name: str = "botkit",
        users: dict[str, dict[str, str]] | None = None,
        stream_ttl: float = 300.0,
    ) -> None:
        self.team_id, self.team_name, self.team_domain = team_id, team_name, team_domain
        self.app_id, self.bot_user_id, self.bot_id = app_id, bot_user_id, bot_id
        self.bot_name = bot_name
        self.stream_ttl = stream_ttl
        self.users: dict[str, Json] = {}
        self.channels: dict[str, Json] = {}
        self.ephemeral: list[Json] = []  # chat.postEphemeral messages (not in any history)
        self.lock = threading.RLock()
        self._messages: dict[str, list[Json]] = {}  # channel -> messages in ts order
        self._streams: dict[tuple[str, str], _Stream] = {}
        self.add_user(bot_user_id, bot_name, real_name=bot_name.title(), is_bot=True)
        self.add_user(USER_ID, "alice", real_name="Alice Example", display_name="alice")
        for uid, info in (users or {}).items():
            name = info.get("name", uid.lower())
            self.add_user(
                uid, name, real_name=info.get("real_name"), display_name=info.get("display_name")
            )

    # -- seeding and inspecting ------------------------------------------------------------------
    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        display_name: str | None = None,
        is_bot: bool = False,
        **extra: Any,
    ) -> Json:
        """Add (or replace) a user of ``users.info``; ``extra`` goes into the user object."""
        real, display = real_name or name, display_name if display_name is not None else name
        user = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "real_name": real,
            "tz": "Europe/London",
            "tz_label": "Greenwich Mean Time",
            "tz_offset": 0,
            "is_admin": False,
            "is_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
            "profile": {
                "real_name": real,
                "real_name_normalized": real,
                "display_name": display,
                "display_name_normalized": display,
                "team": self.team_id,
            },
            **extra,
        }
        if is_bot:
            user["profile"]["bot_id"] = self.bot_id if user_id == self.bot_user_id else ""
        with self.lock:
            self.users[user_id] = user
        return user

    def add_channel(self, channel_id: str, name: str = "", **extra: Any) -> Json:
        """Add (or replace) a channel of ``conversations.info``; unknown ids are made up too."""
        with self.lock:
            self.channels[channel_id] = {**self._channel(channel_id), "name": name, **extra}
            return self.channels[channel_id]

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = USER_ID,
        ts: str | None = None,
        thread_ts: str | None = None,
        **fields: Any,
    ) -> Json:
        """Seed a message someone posted (the one a mention event points at, a thread's history)."""
        message: Json = {"type": "message", "user": user, "text": text, "ts": ts or new_ts()}
        message.update(team=self.team_id, blocks=rich_text(text), **fields)
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
        with self.lock:
            self._store(channel, message)
        return dict(message)

    def messages(self, channel: str, thread_ts: str | None = None) -> list[Json]:
        """The messages of ``channel`` (oldest first), or of one thread: its parent, then replies."""
        with self.lock:
            if thread_ts is None:
                return [self._view(channel, m, True) for m in self._messages.get(channel, [])]
            parent, replies = self._thread_of(channel, thread_ts)
            found = ([parent] if parent else []) + replies
            return [self._view(channel, m, True) for m in found]

    def expire_streams(self) -> None:
        """End the streaming state of every open stream, as Slack's server-side timeout does."""
        with self.lock:
            for stream in self._streams.values():
                stream.state = "stopped"

    # -- the Web API -----------------------------------------------------------------------------
    def handles(self, method: str) -> bool:
        return method in self._methods()

    def answer(self, method: str, args: Json) -> Json:
        """Slack's answer to ``method`` called with ``args`` (the caller checked the token)."""
        with self.lock:
            return self._methods()[method](args)

    def _methods(self) -> dict[str, Callable[[Json], Json]]:
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.delete": self._delete,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.startStream": self._start_stream,
            "chat.appendStream": self._append_stream,
            "chat.stopStream": self._stop_stream,
            "conversations.replies": self._replies,
            "conversations.info": self._conversation_info,
            "users.info": self._user_info,
            "reactions.add": self._react,
            "assistant.threads.setStatus": self._assistant_ok,
            "assistant.threads.setSuggestedPrompts": self._suggested_prompts,
            "assistant.threads.setTitle": self._assistant_ok,
        }

    def _auth_test(self, args: Json) -> Json:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _bot_message(self, args: Json, ts: str) -> Json:
        text = args.get("text") or args.get("markdown_text") or ""
        message: Json = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": text,
            "ts": ts,
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": self.bot_name,
                "deleted": False,
                "team_id": self.team_id,
            },
            "blocks": args.get("blocks") or rich_text(text),
        }
        for key in ("attachments", "metadata"):
            if args.get(key):
                message[key] = args[key]
        if args.get("thread_ts"):
            message["thread_ts"] = str(args["thread_ts"])
        return message

    def _post_message(self, args: Json) -> Json:
        channel = str(args.get("channel") or "")
        if not self._known_channel(channel):
            return error("channel_not_found")
        if not any(args.get(k) for k in ("text", "blocks", "attachments", "markdown_text")):
            return error("no_text")
        if len(str(args.get("text") or args.get("markdown_text") or "")) > _MAX_TEXT:
            return error("msg_too_long")
        message = self._store(channel, self._bot_message(args, new_ts()))
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "message": self._view(channel, message),
        }

    def _own_message(self, args: Json, verb: str) -> tuple[str, Json] | Json:
        """The bot's message ``args`` points at, or the error Slack answers."""
        channel = str(args.get("channel") or "")
        if not self._known_channel(channel):
            return error("channel_not_found")
        found = self._find(channel, str(args.get("ts") or ""))
        if found is None:
            return error("message_not_found")
        if found.get("user") != self.bot_user_id:
            return error(f"cant_{verb}_message")
        return channel, found

    def _update(self, args: Json) -> Json:
        found = self._own_message(args, "update")
        if isinstance(found, dict):
            return found
        channel, message = found
        if "text" in args or "markdown_text" in args:
            message["text"] = args.get("text") or args.get("markdown_text") or ""
            message["blocks"] = args.get("blocks") or rich_text(message["text"])
        elif args.get("blocks"):
            message["blocks"] = args["blocks"]
        for key in ("attachments", "metadata"):
            if key in args:
                message[key] = args[key]
        message["edited"] = {"user": self.bot_user_id, "ts": new_ts()}
        view = self._view(channel, message)
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": view,
        }

    def _delete(self, args: Json) -> Json:
        found = self._own_message(args, "delete")
        if isinstance(found, dict):
            return found
        channel, message = found
        self._messages[channel].remove(message)
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    def _post_ephemeral(self, args: Json) -> Json:
        channel = str(args.get("channel") or "")
        if not self._known_channel(channel):
            return error("channel_not_found")
        if args.get("user") not in self.users:
            return error("user_not_in_channel")
        if not any(args.get(k) for k in ("text", "blocks", "attachments", "markdown_text")):
            return error("no_text")
        ts = new_ts()
        self.ephemeral.append(
            {**self._bot_message(args, ts), "channel": channel, "to": args["user"]}
        )
        return {"ok": True, "message_ts": ts}

    def _start_stream(self, args: Json) -> Json:
        channel = str(args.get("channel") or "")
        if not self._known_channel(channel):
            return error("channel_not_found")
        if not channel.startswith("D"):  # outside a DM Slack wants to know who reads the stream
            if not args.get("recipient_team_id"):
                return error("missing_recipient_team_id")
            if not args.get("recipient_user_id"):
                return error("missing_recipient_user_id")
        message = self._store(
            channel, self._bot_message({**args, "text": "", "markdown_text": ""}, new_ts())
        )
        stream = _Stream("streaming", time.monotonic())
        self._streams[channel, message["ts"]] = stream
        self._stream_in(message, stream, args)
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    def _streaming(self, args: Json) -> tuple[str, Json, _Stream] | Json:
        channel = str(args.get("channel") or "")
        if not self._known_channel(channel):
            return error("channel_not_found")
        message = self._find(channel, str(args.get("ts") or ""))
        stream = self._streams.get((channel, str(args.get("ts"))))
        if message is None:
            return error("message_not_found")
        if stream is None or stream.state != "streaming":
            return error("message_not_in_streaming_state")
        if time.monotonic() - stream.started > self.stream_ttl:
            stream.state = "stopped"
            return error("message_not_in_streaming_state")
        return channel, message, stream

    def _append_stream(self, args: Json) -> Json:
        found = self._streaming(args)
        if isinstance(found, dict):
            return found
        channel, message, stream = found
        self._stream_in(message, stream, args)
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    def _stop_stream(self, args: Json) -> Json:
        found = self._streaming(args)
        if isinstance(found, dict):
            return found
        channel, message, stream = found
        self._stream_in(message, stream, args)
        stream.state = "stopped"
        if args.get("blocks"):
            message["blocks"] = list(message["blocks"]) + list(args["blocks"])
        if args.get("metadata"):
            message["metadata"] = args["metadata"]
        view = self._view(channel, message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": view}

    def _stream_in(self, message: Json, stream: _Stream, args: Json) -> None:
        """Append ``markdown_text`` and the ``markdown_text`` chunks to the streamed text."""
        pieces = [str(args["markdown_text"])] if args.get("markdown_text") else []
        for chunk in args.get("chunks") or []:
            stream.chunks.append(chunk)
            if isinstance(chunk, dict) and chunk.get("type") == "markdown_text":
                pieces.append(str(chunk.get("text", "")))
        message["text"] += "".join(pieces)
        message["blocks"] = rich_text(message["text"])

    def _replies(self, args: Json) -> Json:
        channel = str(args.get("channel") or "")
        if not self._known_channel(channel):
            return error("channel_not_found")
        parent, replies = self._thread_of(channel, str(args.get("ts") or ""))
        if parent is None and not replies:
            return error("thread_not_found")
        inclusive = _truthy(args.get("inclusive"))
        for bound, keep in (("oldest", 1), ("latest", -1)):
            if args.get(bound):
                edge = ts_key(str(args[bound]))
                replies = [
                    m
                    for m in replies
                    if (ts_key(m["ts"]) > edge if keep == 1 else ts_key(m["ts"]) < edge)
                    or (inclusive and ts_key(m["ts"]) == edge)
                ]
        start = int(str(args.get("cursor") or "0").removeprefix("next_ts:") or 0)
        limit = int(args.get("limit") or 1000)
        page = replies[start : start + limit]
        more = start + limit < len(replies)
        metadata = _truthy(args.get("include_all_metadata"))
        found = ([parent] if parent else []) + page
        return {
            "ok": True,
            "messages": [self._view(channel, m, metadata) for m in found],
            "has_more": more,
            "response_metadata": {"next_cursor": f"next_ts:{start + limit}" if more else ""},
        }

    def _conversation_info(self, args: Json) -> Json:
        channel = str(args.get("channel") or "")
        if not self._known_channel(channel):
            return error("channel_not_found")
        return {"ok": True, "channel": self.channels.get(channel) or self._channel(channel)}

    def _user_info(self, args: Json) -> Json:
        user = self.users.get(str(args.get("user")))
        return {"ok": True, "user": user} if user else error("user_not_found")

    def _react(self, args: Json) -> Json:
        channel = str(args.get("channel") or "")
        if not self._known_channel(channel):
            return error("channel_not_found")
        message = self._find(channel, str(args.get("timestamp") or ""))
        if message is None:
            return error("message_not_found")
        name = str(args.get("name") or "").strip(":")
        if not name:
            return error("invalid_name")
        reactions: list[Json] = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        if self.bot_user_id in reaction["users"]:
            return error("already_reacted")
        reaction["users"].append(self.bot_user_id)
        reaction["count"] += 1
        return {"ok": True}

    def _assistant_ok(self, args: Json) -> Json:
        if not args.get("channel_id") or not args.get("thread_ts"):
            return error("invalid_arguments")
        return {"ok": True}

    def _suggested_prompts(self, args: Json) -> Json:
        prompts = args.get("prompts")
        if not args.get("channel_id") or not isinstance(prompts, list) or not prompts:
            return error("invalid_arguments")
        if len(prompts) > 4:
            return error("invalid_prompts")
        return {"ok": True}

    # -- the message store (callers hold self.lock) ----------------------------------------------
    def _known_channel(self, channel: str) -> bool:
        return channel in self.channels or (
            len(channel) >= 3 and channel[0] in "CDG" and channel.isalnum() and channel.isupper()
        )

    def _channel(self, channel: str) -> Json:
        kind = channel[:1]
        info: Json = {
            "id": channel,
            "created": int(time.time()),
            "is_archived": False,
            "is_channel": kind == "C",
            "is_group": kind == "G",
            "is_im": kind == "D",
            "is_mpim": False,
            "is_private": kind != "C",
            "is_member": True,
            "context_team_id": self.team_id,
        }
        if kind == "D":
            info.update(user=USER_ID, is_user_deleted=False)
        else:
            info.update(name=channel.lower(), is_general=False, topic={"value": ""})
        return info

    def _store(self, channel: str, message: Json) -> Json:
        found = self._messages.setdefault(channel, [])
        bisect.insort(found, message, key=lambda m: ts_key(m["ts"]))
        return message

    def _find(self, channel: str, ts: str) -> Json | None:
        return next((m for m in self._messages.get(channel, []) if m["ts"] == ts), None)

    def _thread_of(self, channel: str, ts: str) -> tuple[Json | None, list[Json]]:
        """The parent and the replies of the thread ``ts`` is the parent or a reply of."""
        found = self._find(channel, ts)
        root = str(found.get("thread_ts") or ts) if found else ts
        parent = self._find(channel, root)
        replies = [
            m
            for m in self._messages.get(channel, [])
            if m.get("thread_ts") == root and m["ts"] != root
        ]
        return parent, replies

    def _view(self, channel: str, message: Json, metadata: bool = False) -> Json:
        """``message`` as the API shows it; a thread parent with its reply counts."""
        view = {k: v for k, v in message.items() if metadata or k != "metadata"}
        if view.get("thread_ts") not in (None, view["ts"]):
            parent = self._find(channel, view["thread_ts"])
            view["parent_user_id"] = parent.get("user") if parent else None
            return view
        replies = self._thread_of(channel, view["ts"])[1]
        if replies:
            users = list(dict.fromkeys(str(m.get("user")) for m in replies))
            view.update(
                thread_ts=view["ts"],
                reply_count=len(replies),
                reply_users=users,
                reply_users_count=len(users),
                latest_reply=replies[-1]["ts"],
            )
        return view
