"""A stub Slack on real HTTP: the Web API and Socket Mode, for botkit's tests and plugin authors.

``StubSlack().url`` is a Web API base URL (``http://127.0.0.1:PORT/api/``) for slack_sdk's
``AsyncWebClient(base_url=...)``; ``apps.connections.open`` hands out a ``ws://`` URL of the same
server, where slack_sdk's Socket Mode client connects, gets ``hello`` and receives the envelopes a
test pushes with :meth:`StubSlack.push`. Every Web API call is recorded (:meth:`StubSlack.calls`);
messages are kept per channel and thread (:class:`~botkit.testing.slack_workspace.SlackWorkspace`),
so ``chat.update`` and ``conversations.replies`` see what the bot posted and what a test seeded
(:meth:`~botkit.testing.slack_workspace.SlackWorkspace.add_message`).

Blocking helpers (``push``, ``wait_connected``, ``wait_for``) are for tests whose Slack client runs
on another thread; from async code, where the client shares the test's event loop, use the
``*_async`` twins (a blocking call there would freeze the very loop that must answer).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import json
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

from botkit.testing.server import StubServer
from botkit.testing.slack_payloads import signed_request
from botkit.testing.slack_workspace import Json, SlackWorkspace, error, needed_scope

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


def _decode(args: Json) -> Json:
    """Form-encoded JSON fields (``blocks``, ``metadata``...) decoded, as Slack reads them."""
    for key in _JSON_FIELDS:
        value = args.get(key)
        if isinstance(value, str) and value.startswith(("[", "{")):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(value)
    return args


class StubSlack(StubServer, SlackWorkspace):
    """The Slack Web API at ``url`` and Socket Mode on the same server: a
    :class:`~botkit.testing.slack_workspace.SlackWorkspace` (its users, channels, messages and
    ``add_*`` seeding methods) served over HTTP.

    ``bot_token`` / ``app_token``: the only tokens accepted (an ``xapp-`` token where a bot token
    belongs answers ``not_allowed_token_type``, a wrong one ``invalid_auth``). ``scopes``: the
    bot token's scopes, sent in ``x-oauth-scopes``; a method needing one it lacks answers
    ``missing_scope``. ``signing_secret``: what :meth:`signed_request` signs with. The other
    arguments go to :class:`~botkit.testing.slack_workspace.SlackWorkspace`.
    """

    prefix = "/api/"
    name = "stub-slack"

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-0000000001-0000000002-botkitstubtoken",
        app_token: str = "xapp-1-A0APP00001-0000000003-botkitstubapptoken",
        signing_secret: str = "botkit-stub-signing-secret",
        scopes: Iterable[str] = DEFAULT_SCOPES,
        **workspace: Any,
    ) -> None:
        StubServer.__init__(self)
        SlackWorkspace.__init__(self, **workspace)
        self.bot_token, self.app_token, self.signing_secret = bot_token, app_token, signing_secret
        self.scopes = list(scopes)
        self.api_calls: list[SlackCall] = []
        self.envelopes: list[Json] = []  # sent over Socket Mode, oldest first
        self.acks: list[Json] = []  # what clients answered to them
        self.responses: list[Json] = []  # posts to response_url: {"url", "body"}
        self.connections = 0  # Socket Mode connections ever opened
        self._faults: list[SlackFault] = []
        self._changed = threading.Condition(threading.RLock())
        self._sockets: list[web.WebSocketResponse] = []
        self._tickets: set[str] = set()
        self._pending: dict[str, asyncio.Future[Json]] = {}
        self._hooks = 0

    # -- scripting -------------------------------------------------------------------------------
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
        with self._changed:
            self._faults.append(found)
        return found

    def unavailable(self, *methods: str, error: str = "unknown_method") -> None:
        """Make ``methods`` answer ``error`` for good: a workspace without a feature (streaming).

        Slack documents no dedicated error for that; ``unknown_method`` ("This method is currently
        not available") is what it answers for a method it does not offer.
        """
        for method in methods:
            self.fault(method, error=error, times=None)

    def calls(self, method: str | None = None) -> list[Json]:
        """The arguments of every recorded call of ``method`` (of every method: ``None``)."""
        with self._changed:
            return [c.args for c in self.api_calls if method is None or c.method == method]

    def reset_calls(self) -> None:
        with self._changed:
            self.api_calls.clear()

    def response_url(self, kind: str = "commands") -> str:
        """A fresh ``response_url`` on this server; what is posted there lands in ``responses``."""
        with self._changed:
            self._hooks += 1
            return f"http://{self.host}:{self.port}/hooks/{kind}/{self.team_id}/{self._hooks}"

    def signed_request(self, payload: Json, **kwargs: Any) -> tuple[bytes, dict[str, str]]:
        """:func:`~botkit.testing.slack_payloads.signed_request` with this stub's signing secret."""
        return signed_request(payload, self.signing_secret, **kwargs)

    # -- waiting (blocking: for tests whose client runs on another thread) -------------------------
    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Json]:
        """Block until ``method`` was called ``count`` times; the calls' arguments."""
        _no_running_loop("wait_for")
        self.wait_until(lambda: len(self.calls(method)) >= count, timeout, f"{count} x {method}")
        return self.calls(method)

    def wait_connected(self, timeout: float = 5.0, count: int = 1) -> None:
        """Block until ``count`` Socket Mode connections were opened and one is open now."""
        _no_running_loop("wait_connected")
        self.wait_until(
            lambda: self._connected(count), timeout, f"{count} Socket Mode connection(s)"
        )

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
        await self.wait_until_async(lambda: len(self.calls(method)) >= count, timeout, method)
        return self.calls(method)

    async def wait_connected_async(self, timeout: float = 5.0, count: int = 1) -> None:
        await self.wait_until_async(
            lambda: self._connected(count), timeout, "Socket Mode connection"
        )

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

    def wait_until(self, ready: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
        """Block until ``ready()`` (checked whenever the stub records something) is true."""
        _no_running_loop("wait_until")
        with self._changed:
            if not self._changed.wait_for(ready, timeout):
                raise TimeoutError(f"stub Slack: {what or ready} not reached within {timeout}s")

    async def wait_until_async(
        self, ready: Callable[[], bool], timeout: float = 5.0, what: str = ""
    ) -> None:
        """Wait until ``ready()`` is true (``lambda: stub.responses``, say)."""
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline:
                raise TimeoutError(f"stub Slack: {what or ready} not reached within {timeout}s")
            await asyncio.sleep(0.01)

    def _run(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        assert self._loop is not None, "the stub is not running"
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

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
        args = _decode(args)
        with self._changed:  # answered (messages stored) before recorded: wait_for sees both
            answer, status, headers = self._answer(method, token, args)
            self.api_calls.append(SlackCall(method, token, copy.deepcopy(args), request.method))
            self._changed.notify_all()
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
            return error(fault.error, **fault.extra), fault.status, headers
        if method != "apps.connections.open" and not self.handles(method):
            return error("unknown_method", req_method=method), 200, {}
        refused = self._refuse(method, token)
        needed = needed_scope(method, args)
        if refused is None and needed and needed not in self.scopes:
            refused = error("missing_scope", needed=needed, provided=",".join(self.scopes))
        if refused is not None:
            return refused, 200, {}
        if method == "apps.connections.open":
            return self._connections_open(), 200, {}
        answer = self.answer(method, copy.deepcopy(args))
        return answer, 200, {"x-accepted-oauth-scopes": needed or ""}

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
            return error("not_authed")
        wanted, other = (
            (self.app_token, "xox")
            if method == "apps.connections.open"
            else (self.bot_token, "xapp-")
        )
        if token == wanted:
            return None
        return error("not_allowed_token_type" if token.startswith(other) else "invalid_auth")

    def _connections_open(self) -> Json:
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        url = f"ws://{self.host}:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"
        return {"ok": True, "url": url}

    # -- Socket Mode and response_url ------------------------------------------------------------
    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self._tickets:
            return web.json_response(error("invalid_ticket"), status=401)
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
                if not isinstance(ack, dict) or "envelope_id" not in ack:
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
