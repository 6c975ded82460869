"""A stub Slack on real HTTP: the Web API and Socket Mode, for botkit's tests and plugin authors.

``StubSlack().url`` is a Web API base URL (``http://127.0.0.1:PORT/api/``) for slack_sdk's
``AsyncWebClient(base_url=...)``; ``apps.connections.open`` hands out a ``ws://`` URL of the same
server, where slack_sdk's Socket Mode client connects, gets ``hello`` and receives the envelopes a
test pushes with :meth:`StubSlack.push`. Every Web API call is recorded (:meth:`StubSlack.calls`);
messages are kept per channel and thread, so ``chat.update`` and ``conversations.replies`` see
what the bot posted and what a test seeded (:meth:`StubSlack.add_message`).

Blocking helpers (``push``, ``wait_connected``, ``wait_for``) are for tests whose Slack client runs
on another thread; from async code, where the client shares the test's event loop, use the
``*_async`` twins (a blocking call there would freeze the very loop that must answer).
"""

from __future__ import annotations

import asyncio
import bisect
import concurrent.futures
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

from botkit.testing.server import StubServer
from botkit.testing.slack_payloads import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    USER_ID,
    new_ts,
    rich_text,
    signed_request,
    ts_key,
)

Json = dict[str, Any]
T = TypeVar("T")

DEFAULT_SCOPES = (
    "app_mentions:read",
    "assistant:write",
    "channels:history",
    "channels:read",
    "chat:write",
    "commands",
    "groups:history",
    "groups:read",
    "im:history",
    "im:read",
    "im:write",
    "mpim:history",
    "reactions:write",
    "users:read",
)
_JSON_FIELDS = ("blocks", "attachments", "metadata", "chunks", "prompts", "loading_messages")
_MAX_TEXT = 40_000  # chat.postMessage answers msg_too_long beyond this


@dataclass
class SlackCall:
    """One Web API call: the method, the token it carried, its arguments (query, form or JSON)."""

    method: str
    token: str | None
    args: Json
    http_method: str = "POST"


@dataclass
class SlackFault:
    """The answer the next ``times`` calls of ``method`` get instead of the normal one.

    ``status`` 429 answers ``ratelimited`` with ``Retry-After: retry_after``; another status
    answers it with ``{"ok": false, "error": error}``; with only ``error``, HTTP 200 and
    ``{"ok": false, "error": error, **extra}`` (``extra``: ``needed="chat:write"``, say).
    ``times=None``: every call, for good. ``skip``: let this many calls through first.
    """

    method: str
    status: int = 200
    error: str = "fatal_error"
    retry_after: int | None = None
    times: int | None = 1
    skip: int = 0
    extra: Json = field(default_factory=dict)


@dataclass
class _Stream:
    state: str  # "streaming" or "stopped"
    started: float
    chunks: list[Json] = field(default_factory=list)


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def _decode(args: Json) -> Json:
    """Form-encoded JSON fields (``blocks``, ``metadata``...) decoded, as Slack reads them."""
    for key in _JSON_FIELDS:
        value = args.get(key)
        if isinstance(value, str) and value.startswith(("[", "{")):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(value)
    return args


def _error(error: str, **extra: Any) -> Json:
    return {"ok": False, "error": error, **extra}


class StubSlack(StubServer):
    """The Slack Web API at ``url`` and Socket Mode on the same server, for tests.

    ``scopes``: the bot token's scopes, sent in ``x-oauth-scopes``; a method needing one it lacks
    answers ``missing_scope``. ``users``: the directory of ``users.info``, id -> ``name``,
    ``real_name``, ``display_name`` (the bot user is added). ``stream_ttl``: seconds a
    ``chat.startStream`` message stays in streaming state (Slack closes streams after ~5 minutes;
    later appends answer ``message_not_in_streaming_state``).
    """

    prefix = "/api/"
    name = "stub-slack"

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-0000000001-0000000002-botkitstubtoken",
        app_token: str = "xapp-1-A0APP00001-0000000003-botkitstubapptoken",
        signing_secret: str = "botkit-stub-signing-secret",
        team_id: str = TEAM_ID,
        team_name: str = "Botkit Test",
        team_domain: str = "botkit-test",
        app_id: str = APP_ID,
        bot_user_id: str = BOT_USER_ID,
        bot_id: str = BOT_ID,
        bot_name: str = "botkit",
        scopes: Iterable[str] = DEFAULT_SCOPES,
        users: dict[str, dict[str, str]] | None = None,
        stream_ttl: float = 300.0,
    ) -> None:
        super().__init__()
        self.bot_token, self.app_token, self.signing_secret = bot_token, app_token, signing_secret
        self.team_id, self.team_name, self.team_domain = team_id, team_name, team_domain
        self.app_id, self.bot_user_id, self.bot_id, self.bot_name = (
            app_id,
            bot_user_id,
            bot_id,
            bot_name,
        )
        self.scopes = list(scopes)
        self.stream_ttl = stream_ttl
        self.api_calls: list[SlackCall] = []
        self.envelopes: list[Json] = []  # sent over Socket Mode, oldest first
        self.acks: list[Json] = []  # what clients answered to them
        self.responses: list[Json] = []  # posts to response_url: {"url", "body"}
        self.ephemeral: list[Json] = []  # chat.postEphemeral messages (not in any history)
        self.users: dict[str, Json] = {}
        self.channels: dict[str, Json] = {}
        self._messages: dict[str, list[Json]] = {}  # channel -> messages in ts order
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._faults: list[SlackFault] = []
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._sockets: list[web.WebSocketResponse] = []
        self._tickets: set[str] = set()
        self._pending: dict[str, asyncio.Future[Json]] = {}
        self.connections = 0  # Socket Mode connections ever opened
        self._hooks = 0
        self.add_user(bot_user_id, bot_name, real_name=bot_name.title(), is_bot=True)
        self.add_user(USER_ID, "alice", real_name="Alice Example", display_name="alice")
        for uid, info in (users or {}).items():
            name = info.get("name", uid.lower())
            self.add_user(
                uid, name, real_name=info.get("real_name"), display_name=info.get("display_name")
            )

    # -- scripting -------------------------------------------------------------------------------
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
        self.users[user_id] = user
        return user

    def add_channel(self, channel_id: str, name: str = "", **extra: Any) -> Json:
        """Add (or replace) a channel of ``conversations.info``; unknown ids are made up too."""
        with self._lock:
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
        with self._changed:
            self._store(channel, message)
        return dict(message)

    def messages(self, channel: str, thread_ts: str | None = None) -> list[Json]:
        """The messages of ``channel`` (oldest first), or of one thread: its parent, then replies."""
        with self._lock:
            if thread_ts is None:
                return [self._view(channel, m, True) for m in self._messages.get(channel, [])]
            parent, replies = self._thread_of(channel, thread_ts)
            found = ([parent] if parent else []) + replies
            return [self._view(channel, m, True) for m in found]

    def fault(
        self,
        method: str,
        *,
        status: int | None = None,
        error: str | None = None,
        retry_after: int | None = None,
        times: int | None = 1,
        skip: int = 0,
        **extra: Any,
    ) -> SlackFault:
        """Make ``method`` fail: ``fault("chat.postMessage", status=429, retry_after=1)`` (rate
        limited), ``fault("chat.startStream", error="missing_scope", needed="chat:write")``.
        ``times=None`` fails every call."""
        if status == 429:
            error, retry_after = error or "ratelimited", 1 if retry_after is None else retry_after
        elif status is None and error is None:
            raise ValueError("a fault needs a status, an error or both")
        found = SlackFault(
            method, status or 200, error or "fatal_error", retry_after, times, skip, extra
        )
        with self._lock:
            self._faults.append(found)
        return found

    def unavailable(self, *methods: str, error: str = "unknown_method") -> None:
        """Make ``methods`` answer ``error`` for good: a workspace without a feature (streaming).

        Slack documents no dedicated error for that; ``unknown_method`` ("This method is currently
        not available") is what it answers for a method it does not offer.
        """
        for method in methods:
            self.fault(method, error=error, times=None)

    def expire_streams(self) -> None:
        """End the streaming state of every open stream, as Slack's server-side timeout does."""
        with self._lock:
            for stream in self._streams.values():
                stream.state = "stopped"

    def calls(self, method: str | None = None) -> list[Json]:
        """The arguments of every recorded call of ``method`` (of every method: ``None``)."""
        with self._lock:
            return [c.args for c in self.api_calls if method is None or c.method == method]

    def reset_calls(self) -> None:
        with self._lock:
            self.api_calls.clear()

    def response_url(self, kind: str = "commands") -> str:
        """A fresh ``response_url`` on this server; what is posted there lands in ``responses``."""
        with self._lock:
            self._hooks += 1
            return f"http://{self.host}:{self.port}/hooks/{kind}/{self.team_id}/{self._hooks}"

    def signed_request(self, payload: Json, **kwargs: Any) -> tuple[bytes, dict[str, str]]:
        """:func:`~botkit.testing.slack_payloads.signed_request` with this stub's signing secret."""
        return signed_request(payload, self.signing_secret, **kwargs)

    # -- waiting (blocking: for tests whose client runs on another thread) -------------------------
    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Json]:
        """Block until ``method`` was called ``count`` times; the calls' arguments."""
        _no_running_loop("wait_for")
        self._wait(lambda: len(self.calls(method)) >= count, timeout, f"{count} x {method}")
        return self.calls(method)

    def wait_connected(self, timeout: float = 5.0, count: int = 1) -> None:
        """Block until ``count`` Socket Mode connections were opened and one is open now."""
        _no_running_loop("wait_connected")
        self._wait(lambda: self._connected(count), timeout, f"{count} Socket Mode connection(s)")

    def push(
        self,
        kind: str,
        payload: Json,
        *,
        timeout: float = 5.0,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> Json:
        """Send an envelope over Socket Mode and block until the client acks it; the ack.

        ``kind``: ``events_api`` (``payload`` from :func:`event_callback`), ``slash_commands``
        (:func:`slash_command`) or ``interactive`` (:func:`block_actions`...). The newest open
        connection gets it, as Slack sends each envelope to one of the app's connections.
        """
        _no_running_loop("push")
        coro = self._push(
            kind, payload, timeout, accepts_response_payload, retry_attempt, retry_reason
        )
        return self._run(coro).result(timeout + 5)

    def disconnect_clients(self, reason: str = "refresh_requested", *, hard: bool = False) -> None:
        """Ask every connected client to reconnect (Slack's ``disconnect`` message), or with
        ``hard`` close their sockets outright. Returns at once; ``wait_connected(count=...)``
        sees the new connection."""
        self._run(self._disconnect(reason, hard))

    # -- waiting (async: when the client runs on the caller's event loop) --------------------------
    async def wait_for_async(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Json]:
        await self._wait_async(lambda: len(self.calls(method)) >= count, timeout, method)
        return self.calls(method)

    async def wait_connected_async(self, timeout: float = 5.0, count: int = 1) -> None:
        await self._wait_async(lambda: self._connected(count), timeout, "Socket Mode connection")

    async def push_async(
        self,
        kind: str,
        payload: Json,
        *,
        timeout: float = 5.0,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> Json:
        coro = self._push(
            kind, payload, timeout, accepts_response_payload, retry_attempt, retry_reason
        )
        return await asyncio.wrap_future(self._run(coro))

    def _connected(self, count: int) -> bool:
        return self.connections >= count and any(not ws.closed for ws in self._sockets)

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        with self._changed:
            if not self._changed.wait_for(ready, timeout):
                raise TimeoutError(f"stub Slack: no {what} within {timeout}s")

    async def _wait_async(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"stub Slack: no {what} within {timeout}s")
            await asyncio.sleep(0.01)

    def _run(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        assert self._loop is not None, "the stub is not running"
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # -- serving ---------------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/link/", self._socket)
        app.router.add_post("/hooks/{tail:.*}", self._hook)

    async def on_stop(self) -> None:
        for future in self._pending.values():
            future.cancel()
        closing = [ws.close(code=1001, message=b"stub stopping") for ws in self._sockets]
        if closing:
            await asyncio.wait([asyncio.ensure_future(c) for c in closing], timeout=2)

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        body = await self.record(request)
        args: Json = dict(request.query)
        if isinstance(body, dict):
            args.update(body)
        bearer = request.headers.get("Authorization", "")
        token = bearer[7:] if bearer.startswith("Bearer ") else args.get("token")
        args.pop("token", None)
        with self._changed:
            self.api_calls.append(SlackCall(method, token, _decode(args), request.method))
            self._changed.notify_all()
            answer, status, headers = self._answer(method, token, args)
        headers["x-oauth-scopes"] = ",".join(self.scopes)
        return web.json_response(answer, status=status, headers=headers)

    def _answer(
        self, method: str, token: str | None, args: Json
    ) -> tuple[Json, int, dict[str, str]]:
        fault = self._take_fault(method)
        if fault is not None:
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            return _error(fault.error, **fault.extra), fault.status, headers
        handler = self._handlers().get(method)
        if handler is None:
            return _error("unknown_method", req_method=method), 200, {}
        refused = self._refuse(method, token)
        if refused is None:
            needed = self._needed_scope(method, args)
            if needed and needed not in self.scopes:
                refused = _error("missing_scope", needed=needed, provided=",".join(self.scopes))
        if refused is not None:
            return refused, 200, {}
        headers = {"x-accepted-oauth-scopes": self._needed_scope(method, args) or ""}
        return handler(args), 200, headers

    def _take_fault(self, method: str) -> SlackFault | None:
        for fault in self._faults:
            if fault.method != method:
                continue
            if fault.skip:
                fault.skip -= 1
                return None
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
            return fault
        return None

    def _refuse(self, method: str, token: str | None) -> Json | None:
        """The error of a call made with a missing, wrong or wrong-kind token."""
        if not token:
            return _error("not_authed")
        wanted, other = (
            (self.app_token, "xox")
            if method == "apps.connections.open"
            else (self.bot_token, "xapp-")
        )
        if token == wanted:
            return None
        return _error("not_allowed_token_type" if token.startswith(other) else "invalid_auth")

    def _needed_scope(self, method: str, args: Json) -> str | None:
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

    def _handlers(self) -> dict[str, Callable[[Json], Json]]:
        return {
            "auth.test": self._auth_test,
            "apps.connections.open": self._connections_open,
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

    # -- the methods -----------------------------------------------------------------------------
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

    def _connections_open(self, args: Json) -> Json:
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        url = f"ws://{self.host}:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"
        return {"ok": True, "url": url}

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
            return _error("channel_not_found")
        if not any(args.get(k) for k in ("text", "blocks", "attachments", "markdown_text")):
            return _error("no_text")
        if len(str(args.get("text") or args.get("markdown_text") or "")) > _MAX_TEXT:
            return _error("msg_too_long")
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
            return _error("channel_not_found")
        found = self._find(channel, str(args.get("ts") or ""))
        if found is None:
            return _error("message_not_found")
        if found.get("user") != self.bot_user_id:
            return _error(f"cant_{verb}_message")
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
            return _error("channel_not_found")
        if args.get("user") not in self.users:
            return _error("user_not_in_channel")
        if not any(args.get(k) for k in ("text", "blocks", "attachments", "markdown_text")):
            return _error("no_text")
        ts = new_ts()
        self.ephemeral.append(
            {**self._bot_message(args, ts), "channel": channel, "to": args["user"]}
        )
        return {"ok": True, "message_ts": ts}

    def _start_stream(self, args: Json) -> Json:
        channel = str(args.get("channel") or "")
        if not self._known_channel(channel):
            return _error("channel_not_found")
        if not channel.startswith("D"):  # outside a DM Slack wants to know who reads the stream
            if not args.get("recipient_team_id"):
                return _error("missing_recipient_team_id")
            if not args.get("recipient_user_id"):
                return _error("missing_recipient_user_id")
        message = self._store(channel, self._bot_message({**args, "text": ""}, new_ts()))
        stream = _Stream("streaming", time.monotonic())
        self._streams[channel, message["ts"]] = stream
        self._stream_in(message, stream, args)
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    def _streaming(self, args: Json) -> tuple[str, Json, _Stream] | Json:
        channel = str(args.get("channel") or "")
        if not self._known_channel(channel):
            return _error("channel_not_found")
        message = self._find(channel, str(args.get("ts") or ""))
        stream = self._streams.get((channel, str(args.get("ts"))))
        if message is None:
            return _error("message_not_found")
        if stream is None or stream.state != "streaming":
            return _error("message_not_in_streaming_state")
        if time.monotonic() - stream.started > self.stream_ttl:
            stream.state = "stopped"
            return _error("message_not_in_streaming_state")
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
            return _error("channel_not_found")
        parent, replies = self._thread_of(channel, str(args.get("ts") or ""))
        if parent is None and not replies:
            return _error("thread_not_found")
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
            return _error("channel_not_found")
        return {"ok": True, "channel": self.channels.get(channel) or self._channel(channel)}

    def _user_info(self, args: Json) -> Json:
        user = self.users.get(str(args.get("user")))
        return {"ok": True, "user": user} if user else _error("user_not_found")

    def _react(self, args: Json) -> Json:
        channel = str(args.get("channel") or "")
        if not self._known_channel(channel):
            return _error("channel_not_found")
        message = self._find(channel, str(args.get("timestamp") or ""))
        if message is None:
            return _error("message_not_found")
        name = str(args.get("name") or "").strip(":")
        if not name:
            return _error("invalid_name")
        reactions: list[Json] = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        if self.bot_user_id in reaction["users"]:
            return _error("already_reacted")
        reaction["users"].append(self.bot_user_id)
        reaction["count"] += 1
        return {"ok": True}

    def _assistant_ok(self, args: Json) -> Json:
        if not args.get("channel_id") or not args.get("thread_ts"):
            return _error("invalid_arguments")
        return {"ok": True}

    def _suggested_prompts(self, args: Json) -> Json:
        prompts = args.get("prompts")
        if not args.get("channel_id") or not isinstance(prompts, list) or not prompts:
            return _error("invalid_arguments")
        if len(prompts) > 4:
            return _error("invalid_prompts")
        return {"ok": True}

    # -- the message store (callers hold self._lock) ---------------------------------------------
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

    # -- Socket Mode and response_url ------------------------------------------------------------
    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self._tickets:
            return web.json_response(_error("invalid_ticket"), status=401)
        ws = web.WebSocketResponse(autoping=True, timeout=2.0)
        await ws.prepare(request)
        with self._changed:
            self._sockets.append(ws)
            self.connections += 1
            self._changed.notify_all()
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": sum(not s.closed for s in self._sockets),
                "debug_info": {"host": "applink-botkit-stub", "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
        )
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                try:
                    ack = json.loads(frame.data)
                except ValueError:
                    continue
                with self._changed:
                    self.acks.append(ack)
                    self._changed.notify_all()
                waiting = self._pending.get(str(ack.get("envelope_id")))
                if waiting is not None and not waiting.done():
                    waiting.set_result(ack)
        finally:
            with self._changed:
                self._sockets.remove(ws)
                self._changed.notify_all()
        return ws

    async def _push(
        self,
        kind: str,
        payload: Json,
        timeout: float,
        accepts_response_payload: bool | None,
        retry_attempt: int,
        retry_reason: str,
    ) -> Json:
        deadline = time.monotonic() + timeout
        while not (open_ := [ws for ws in self._sockets if not ws.closed]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"stub Slack: no Socket Mode client connected within {timeout}s")
            await asyncio.sleep(0.01)
        if accepts_response_payload is None:
            accepts_response_payload = kind == "slash_commands" or payload.get("type") in (
                "view_submission",
                "block_suggestion",
            )
        envelope: Json = {
            "envelope_id": str(uuid.uuid4()),
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if kind == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        waiting: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._pending[envelope["envelope_id"]] = waiting
        self.envelopes.append(envelope)
        try:
            await open_[-1].send_json(envelope)
            return await asyncio.wait_for(waiting, max(deadline - time.monotonic(), 0.01))
        except asyncio.TimeoutError:
            raise TimeoutError(f"stub Slack: no ack of {kind} within {timeout}s") from None
        finally:
            self._pending.pop(envelope["envelope_id"], None)

    async def _disconnect(self, reason: str, hard: bool) -> None:
        for ws in [ws for ws in self._sockets if not ws.closed]:
            if hard:
                await ws.close(code=1001, message=b"stub hang-up")
            else:
                debug = {"host": "applink-botkit-stub"}
                await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": debug})

    async def _hook(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        with self._changed:
            self.responses.append({"url": str(request.url), "body": body})
            self._changed.notify_all()
        return web.Response(text="ok", content_type="text/plain")


def _no_running_loop(name: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"StubSlack.{name}() blocks, which would freeze this event loop (and the Slack client on "
        f"it): use `await stub.{name}_async(...)` from async code"
    )
