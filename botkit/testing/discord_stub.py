"""A stub of Discord on real HTTP and websockets, for botkit's tests and plugin authors.

:class:`StubDiscord` serves Discord's REST API (v10) at :attr:`StubDiscord.url` and its gateway
at :attr:`StubDiscord.gateway_url`, on 127.0.0.1 at a free port, so a real discord.py client
logs in, receives events and answers them without Discord or the internet::

    with StubDiscord() as stub, route_discord_py(stub):
        ...  # client.start(stub.token) in the test's loop; then
        stub.wait_identified()
        stub.dispatch("MESSAGE_CREATE", stub.message_create("hi", mention_bot=True))
        reply = stub.wait_call("POST", "/channels/*/messages")

Every REST call is recorded (:meth:`calls`, :meth:`wait_call`; a call is recorded once the stub
has decided its answer, which the client may not have read yet: wait on the client for what the
client does). The world it acts on lives in :mod:`~botkit.testing.discord_world` (guilds,
channels, threads, messages, reactions), :mod:`~botkit.testing.discord_apps` (commands,
interactions) and :mod:`~botkit.testing.discord_events` (payload builders); the gateway in
:mod:`botkit.testing.discord_gateway`. Faults: :meth:`fault` (429 with Discord's rate-limit
headers and body, any status, a dropped connection), a wrong token (401 and close code 4004),
privileged intents missing from the "developer portal" (``portal_intents``: close code 4014),
:meth:`drop_connection` (the client resumes and gets what it missed).
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import BodyPartReader, web

from botkit.testing import discord_payloads as p
from botkit.testing.discord_events import DiscordEvents
from botkit.testing.discord_gateway import Gateway, GatewaySession
from botkit.testing.discord_world import BOT_PERMISSIONS, DiscordError
from botkit.testing.server import RecordedRequest, StubServer, drop

T = TypeVar("T")
_log = logging.getLogger(__name__)
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass
class DiscordFault:
    """What the stub answers instead, for the next ``times`` matching requests.

    kind: ``rate_limit`` (a 429 with ``retry_after`` seconds, Discord's ``X-RateLimit-*`` headers
    and ``global`` as given), ``status`` (``status`` with a Discord error body), ``drop`` (close
    the connection without answering). ``method`` and ``path`` (``*`` matches one path segment,
    e.g. ``/channels/*/messages``) choose the requests; ``skip`` lets that many through first.
    """

    kind: str
    times: int = 1
    method: str | None = None
    path: str | None = None
    status: int = 500
    retry_after: float = 0.05
    global_: bool = False
    message: str | None = None
    skip: int = 0


class StubDiscord(DiscordEvents, StubServer):
    """Discord's REST API and gateway for tests; ``url`` is the API base (``.../api/v10``).

    ``token``: the bot token it accepts; ``heartbeat_interval``: seconds, sent in HELLO
    (Discord's is 41.25); ``portal_intents``: the privileged intents switched on in the
    "developer portal" (asking for another one closes the gateway with 4014); ``shards``: what
    ``/gateway/bot`` recommends; ``interaction_timeout``: seconds to answer an interaction
    (Discord's 3); ``echo_own_messages``: send the bot's own messages back as MESSAGE_CREATE /
    MESSAGE_UPDATE, as Discord does; ``bot_permissions``: the bot role's permissions.
    """

    prefix = "/api/v10"
    name = "stub-discord"

    def __init__(
        self,
        *,
        token: str = "stub-token",
        bot_name: str = "botkit",
        heartbeat_interval: float = 1.0,
        portal_intents: int = p.PRIVILEGED_INTENTS,
        shards: int = 1,
        interaction_timeout: float = 3.0,
        echo_own_messages: bool = True,
        bot_permissions: int = BOT_PERMISSIONS,
    ) -> None:
        StubServer.__init__(self)
        self.heartbeat_interval = heartbeat_interval
        self.portal_intents = portal_intents
        self.shards = shards
        self.gateway = Gateway(self)
        self._faults: deque[DiscordFault] = deque()
        #: Exceptions the stub's own handlers raised (answered with a 503): a test should
        #: expect none.
        self.errors: list[BaseException] = []
        self._read_bodies: dict[int, tuple[Any, list[dict[str, Any]]]] = {}
        self._changes = threading.Condition()
        DiscordEvents.__init__(
            self,
            token=token,
            bot_name=bot_name,
            bot_permissions=bot_permissions,
            interaction_timeout=interaction_timeout,
            echo_own_messages=echo_own_messages,
        )

    # -- addresses -----------------------------------------------------------------------------
    @property
    def root(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def gateway_url(self) -> str:
        """Where ``/gateway/bot`` sends clients (discord.py adds ``?v=10&encoding=json``)."""
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        """The READY's ``resume_gateway_url``: RESUMEs arrive here, as on Discord."""
        return f"ws://{self.host}:{self.port}/gateway-resume"

    @property
    def application_flags(self) -> int:
        """The ``*_LIMITED`` flags of the privileged intents enabled in the portal."""
        flags = 0
        for intent, flag in (
            (p.GUILD_PRESENCES, p.APP_FLAG_PRESENCE_LIMITED),
            (p.GUILD_MEMBERS, p.APP_FLAG_GUILD_MEMBERS_LIMITED),
            (p.MESSAGE_CONTENT, p.APP_FLAG_MESSAGE_CONTENT_LIMITED),
        ):
            if self.portal_intents & intent:
                flags |= flag
        return flags

    def cdn_url(self, path: str) -> str:
        return self.root + path

    def route(self) -> Any:
        """:func:`route_discord_py` for this stub."""
        return route_discord_py(self)

    # -- for tests -----------------------------------------------------------------------------
    def fault(self, kind: str, times: int = 1, **kwargs: Any) -> DiscordFault:
        """Queue a :class:`DiscordFault` (``stub.fault("rate_limit", path="/channels/*/messages",
        method="POST", retry_after=0.2)``)."""
        fault = DiscordFault(kind, times, **kwargs)
        self._faults.append(fault)
        return fault

    def calls(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Recorded REST calls, oldest first; ``path`` with or without ``/api/v10``, ``*`` for a
        segment (``stub.calls("POST", "/channels/*/messages")``)."""
        return [
            r
            for r in list(self.requests)
            if (method is None or r.method == method.upper())
            and (path is None or self._matches(path, r.path))
        ]

    def dispatch(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        """Send gateway event ``event`` (MESSAGE_CREATE, INTERACTION_CREATE, THREAD_CREATE...)
        to every session that may see it, after updating the world (a dispatched message joins
        its channel's history, an interaction's 3 seconds start). Sessions that are
        disconnected get it when they resume. Returns ``data``."""
        guild = data.get("guild_id")

        def run() -> None:
            self.apply(event, data)
            self.gateway.broadcast(event, data, int(guild) if guild else None)
            self.changed()

        self._on_loop(run)
        return data

    def drop_connection(self, code: int | None = 4000) -> int:
        """Close the gateway connections from the server side with ``code`` (``None``: cut the
        TCP connection); sessions stay resumable. How many were open."""
        return self._on_loop(lambda: self.gateway.drop(code))

    def request_reconnect(self) -> int:
        """Send op 7 RECONNECT, as Discord does before moving a session."""
        return self._on_loop(lambda: self.gateway.send_op(7))

    def invalidate_session(self, resumable: bool = False) -> int:
        """Send op 9 INVALID_SESSION (``resumable``: the client may RESUME)."""
        return self._on_loop(lambda: self.gateway.send_op(9, resumable))

    def wait_until(
        self, predicate: Callable[[], T | None], timeout: float = 10.0, what: str = ""
    ) -> T:
        """Block until ``predicate()`` is truthy (checked whenever the stub receives something);
        return it. :class:`TimeoutError` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changes:
            while True:
                result = predicate()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.name}: no {what or 'change'} within {timeout}s")
                self._changes.wait(min(left, 0.5))

    async def wait_until_async(
        self, predicate: Callable[[], T | None], timeout: float = 10.0, what: str = ""
    ) -> T:
        """:meth:`wait_until` for async tests: waits in a worker thread, the loop runs on."""
        return await asyncio.to_thread(self.wait_until, predicate, timeout, what)

    def wait_call(
        self, method: str, path: str, count: int = 1, timeout: float = 10.0
    ) -> RecordedRequest:
        """The ``count``-th call matching ``method`` and ``path`` (see :meth:`calls`), once
        answered."""

        def found() -> RecordedRequest | None:
            matching = self.calls(method, path)
            return matching[count - 1] if len(matching) >= count else None

        return self.wait_until(found, timeout, f"{method} {path} (#{count})")

    async def wait_call_async(
        self, method: str, path: str, count: int = 1, timeout: float = 10.0
    ) -> RecordedRequest:
        return await asyncio.to_thread(self.wait_call, method, path, count, timeout)

    def wait_identified(self, timeout: float = 10.0, count: int = 1) -> dict[str, Any]:
        """The ``d`` of the ``count``-th accepted IDENTIFY (token, intents, shard...)."""
        identifies = self.gateway.identifies
        return self.wait_until(
            lambda: identifies[count - 1] if len(identifies) >= count else None,
            timeout,
            f"IDENTIFY #{count}",
        )

    async def wait_identified_async(self, timeout: float = 10.0, count: int = 1) -> dict[str, Any]:
        return await asyncio.to_thread(self.wait_identified, timeout, count)

    def wait_resumed(self, timeout: float = 10.0, count: int = 1) -> dict[str, Any]:
        """The ``d`` of the ``count``-th accepted RESUME."""
        resumes = self.gateway.resumes
        return self.wait_until(
            lambda: resumes[count - 1] if len(resumes) >= count else None,
            timeout,
            f"RESUME #{count}",
        )

    async def wait_resumed_async(self, timeout: float = 10.0, count: int = 1) -> dict[str, Any]:
        return await asyncio.to_thread(self.wait_resumed, timeout, count)

    # -- GatewayHost and the world's hooks ------------------------------------------------------
    def changed(self) -> None:
        with self._changes:
            self._changes.notify_all()

    def emit(self, event: str, data: dict[str, Any], guild_id: int | None) -> None:
        if self._loop is not None and threading.current_thread() is not self._thread:
            self._loop.call_soon_threadsafe(self.gateway.broadcast, event, data, guild_id)
        else:
            self.gateway.broadcast(event, data, guild_id)

    def ready_payload(self, session: GatewaySession) -> dict[str, Any]:
        with self._lock:
            guilds = [g for g in self.guilds if session.in_shard(g)]
        ready: dict[str, Any] = {
            "v": 10,
            "user": {**self.bot_user, "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(self.application_id), "flags": self.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "_trace": ['["stub-discord"]'],
        }
        if session.shard is not None:
            ready["shard"] = list(session.shard)
        return ready

    def guild_payloads(self, session: GatewaySession) -> list[dict[str, Any]]:
        everyone = bool(session.intents & p.GUILD_MEMBERS)
        with self._lock:
            guilds = [g for g in self.guilds if session.in_shard(g)]
            return [self.guild_payload(g, all_members=everyone) for g in guilds]

    def guild_members(self, guild_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self.members.get(guild_id, {}).values()))

    # -- plumbing ------------------------------------------------------------------------------
    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the stub's loop (where the world and the gateway live) and wait."""
        if self._loop is None or threading.current_thread() is self._thread:
            return fn()

        async def run() -> T:
            return fn()

        return self.call_soon(run())  # type: ignore[no-any-return]

    def _matches(self, pattern: str, path: str) -> bool:
        regex = re.escape(pattern).replace(r"\*", "[^/]*")
        relative = path[len(self.prefix) :] if path.startswith(self.prefix + "/") else path
        return bool(re.fullmatch(regex, path) or re.fullmatch(regex, relative))

    def _next_fault(self, request: web.Request) -> DiscordFault | None:
        for fault in list(self._faults):
            if fault.method is not None and fault.method.upper() != request.method:
                continue
            if fault.path is not None and not self._matches(fault.path, request.path):
                continue
            if fault.skip:
                fault.skip -= 1
                return None
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            return fault
        return None

    def _fault_response(self, fault: DiscordFault, request: web.Request) -> web.StreamResponse:
        if fault.kind == "drop":
            return drop(request)
        if fault.kind == "rate_limit":
            wait = fault.retry_after
            headers = {
                "Retry-After": str(math.ceil(wait)),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + wait:.3f}",
                "X-RateLimit-Reset-After": f"{wait:.3f}",
                "X-RateLimit-Scope": "global" if fault.global_ else "user",
                "Via": "1.1 google",  # discord.py takes a 429 without it for a Cloudflare ban
            }
            if fault.global_:
                headers["X-RateLimit-Global"] = "true"
            else:
                headers["X-RateLimit-Bucket"] = f"stub{abs(hash(request.path)) % 10**8:08d}"
            body = {
                "message": "You are being rate limited.",
                "retry_after": wait,
                "global": fault.global_,
            }
            return _json(body, status=429, headers=headers)
        reason = _REASONS.get(fault.status, "Error")
        message = fault.message or f"{fault.status}: {reason}"
        return _json({"message": message, "code": 0}, status=fault.status)

    async def _read(self, request: web.Request) -> tuple[Any, list[dict[str, Any]]]:
        """The body (``payload_json`` of a multipart one) and any uploaded files."""
        files: list[dict[str, Any]] = []
        if not request.content_type.startswith("multipart/"):
            raw = await request.read()
            try:
                return (json.loads(raw) if raw else None), files
            except ValueError:
                return raw.decode("utf-8", "replace"), files
        body: Any = None
        fields: dict[str, str] = {}
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.filename is not None:
                data = bytes(await part.read(decode=False))
                files.append(
                    {
                        "field": part.name,
                        "filename": part.filename,
                        "content_type": part.headers.get("Content-Type"),
                        "size": len(data),
                        "data": data,
                    }
                )
            elif part.name == "payload_json":
                body = json.loads(await part.text())
            elif part.name:
                fields[part.name] = await part.text()
        return (body if body is not None else fields), files

    def _body(self, request: web.Request) -> dict[str, Any]:
        """The JSON object the client sent (``payload_json`` for a multipart body)."""
        body = self._read_bodies[id(request)][0]
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise DiscordError(400, "The request body contains invalid JSON.", 50109)
        return body

    def _uploads(self, request: web.Request) -> list[dict[str, Any]]:
        return self._read_bodies[id(request)][1]

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        """Records each API call, then answers it: a queued fault, a 401 for a wrong token,
        the handler's answer, or Discord's error (404 for an unknown route)."""
        if not request.path.startswith(self.prefix + "/"):
            return await handler(request)  # type: ignore[no-any-return]
        body, files = await self._read(request)
        self._read_bodies[id(request)] = body, files
        try:
            unmatched = request.match_info.http_exception
            if unmatched is not None:
                raise unmatched  # an unknown route: Discord's 404 (or 405), whatever the token
            fault = self._next_fault(request)
            if fault is not None:
                return self._fault_response(fault, request)
            relative = request.path[len(self.prefix) :]
            public = relative.startswith(("/webhooks/", "/interactions/")) or relative == "/gateway"
            if not public and request.headers.get("Authorization") != f"Bot {self.token}":
                return _json({"message": "401: Unauthorized", "code": 0}, status=401)
            return await handler(request)  # type: ignore[no-any-return]
        except DiscordError as error:
            return _json(error.body, status=error.status)
        except web.HTTPNotFound:
            return _json({"message": "404: Not Found", "code": 0}, status=404)
        except web.HTTPMethodNotAllowed:
            body405 = {"message": "405: Method Not Allowed", "code": 0}
            return _json(body405, status=405)
        except Exception as error:  # a bug in the stub: answered at once, kept in ``errors``
            self.errors.append(error)
            _log.exception("%s failed on %s %s", self.name, request.method, request.path)
            message = f"stub error: {type(error).__name__}: {error}"
            return _json({"message": message, "code": 0}, status=503)  # discord.py: no retry
        finally:
            del self._read_bodies[id(request)]
            self.requests.append(
                RecordedRequest(
                    request.method,
                    request.path,
                    dict(request.headers),
                    body,
                    dict(request.query),
                    files,
                )
            )
            self.changed()

    # -- routes --------------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        app.middlewares.append(self._middleware)
        api = self.prefix
        add = app.router.add_route
        add("GET", "/gateway", self.gateway.handle)
        add("GET", "/gateway-resume", self.gateway.handle)
        add("GET", "/attachments/{channel_id}/{attachment_id}/{filename}", self._api_cdn)
        add("GET", api + "/gateway", self._api_gateway_info)
        add("GET", api + "/gateway/bot", self._api_gateway_info)
        add("GET", api + "/users/{user_id}", self._api_user)
        add("POST", api + "/users/@me/channels", self._api_open_dm)
        add("GET", api + "/oauth2/applications/@me", self._api_application)
        add("GET", api + "/applications/@me", self._api_application)
        add("GET", api + "/guilds/{guild_id}", self._api_guild)
        add("GET", api + "/guilds/{guild_id}/channels", self._api_guild_channels)
        add("GET", api + "/guilds/{guild_id}/members/{user_id}", self._api_member)
        channel = api + "/channels/{channel_id}"
        message = channel + "/messages/{message_id}"
        add("GET", channel, self._api_channel)
        add("GET", channel + "/messages", self._api_history)
        add("POST", channel + "/messages", self._api_create_message)
        add("GET", message, self._api_message)
        add("PATCH", message, self._api_edit_message)
        add("DELETE", message, self._api_delete_message)
        add("POST", channel + "/typing", self._api_no_content)
        add("POST", message + "/threads", self._api_thread)
        add("POST", channel + "/threads", self._api_thread)
        add("PUT", channel + "/thread-members/@me", self._api_no_content)
        add("DELETE", channel + "/thread-members/@me", self._api_no_content)
        add("PUT", message + "/reactions/{emoji}/@me", self._api_react)
        add("DELETE", message + "/reactions/{emoji}/{user_id}", self._api_react)
        add("GET", message + "/reactions/{emoji}", self._api_reactors)
        for commands in (
            api + "/applications/{app_id}/commands",
            api + "/applications/{app_id}/guilds/{guild_id}/commands",
        ):
            add("GET", commands, self._api_commands)
            add("PUT", commands, self._api_commands)
            add("POST", commands, self._api_commands)
            add("GET", commands + "/{command_id}", self._api_command)
            add("PATCH", commands + "/{command_id}", self._api_command)
            add("DELETE", commands + "/{command_id}", self._api_command)
        add("POST", api + "/interactions/{interaction_id}/{token}/callback", self._api_callback)
        add("POST", api + "/webhooks/{app_id}/{token}", self._api_followup)
        for method in ("GET", "PATCH", "DELETE"):
            add(method, api + "/webhooks/{app_id}/{token}/messages/{message_id}", self._api_webhook)

    async def on_stop(self) -> None:
        await self.gateway.close_all()

    def __enter__(self) -> StubDiscord:
        return self.start()  # type: ignore[no-any-return]

    # -- handlers ------------------------------------------------------------------------------
    async def _api_gateway_info(self, request: web.Request) -> web.StreamResponse:
        data: dict[str, Any] = {"url": self.gateway_url}
        if request.path.endswith("/bot"):
            data["shards"] = self.shards
            data["session_start_limit"] = {
                "total": 1000,
                "remaining": 1000 - len(self.gateway.identifies),
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            }
        return _json(data)

    async def _api_user(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["user_id"] == "@me":
            return _json({**self.bot_user, "verified": True, "mfa_enabled": False, "email": None})
        found = self.users.get(_id(request, "user_id"))
        if found is None:
            raise DiscordError(404, "Unknown User", 10013)
        return _json(found)

    async def _api_open_dm(self, request: web.Request) -> web.StreamResponse:
        recipient = self.users.get(int(self._body(request).get("recipient_id") or 0))
        if recipient is None:
            raise DiscordError(400, "Unknown User", 10013)
        return _json(self.dm_channel(recipient))

    async def _api_application(self, request: web.Request) -> web.StreamResponse:
        install = {
            "scopes": ["bot", "applications.commands"],
            "permissions": str(self.bot_permissions),
        }
        return _json(
            {
                "id": str(self.application_id),
                "name": self.bot_user["username"],
                "icon": None,
                "description": "",
                "summary": "",
                "type": None,
                "bot": self.bot_user,
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": self.application_flags,
                "owner": self.owner,
                "team": None,
                "tags": [],
                "redirect_uris": [],
                "interactions_endpoint_url": None,
                "install_params": install,
                "integration_types_config": {"0": {"oauth2_install_params": install}},
                "approximate_guild_count": len(self.guilds),
            }
        )

    def _guild_id(self, request: web.Request) -> int:
        guild_id = _id(request, "guild_id")
        if guild_id not in self.guilds:
            raise DiscordError(404, "Unknown Guild", 10004)
        return guild_id

    async def _api_guild(self, request: web.Request) -> web.StreamResponse:
        data = self.guild_payload(self._guild_id(request), all_members=False)
        for key in ("members", "channels", "threads", "presences", "voice_states"):
            data.pop(key)
        return _json(data)

    async def _api_guild_channels(self, request: web.Request) -> web.StreamResponse:
        data = self.guild_payload(self._guild_id(request), all_members=False)
        return _json(data["channels"])

    async def _api_member(self, request: web.Request) -> web.StreamResponse:
        member = self.members[self._guild_id(request)].get(_id(request, "user_id"))
        if member is None:
            raise DiscordError(404, "Unknown Member", 10007)
        return _json(member)

    async def _api_channel(self, request: web.Request) -> web.StreamResponse:
        return _json(self.channel(_id(request, "channel_id")))

    async def _api_history(self, request: web.Request) -> web.StreamResponse:
        return _json(self.history(_id(request, "channel_id"), dict(request.query)))

    async def _api_create_message(self, request: web.Request) -> web.StreamResponse:
        message = self.create_message(
            _id(request, "channel_id"), self._body(request), self._uploads(request)
        )
        return _json(message)

    async def _api_message(self, request: web.Request) -> web.StreamResponse:
        channel_id, message_id = _id(request, "channel_id"), _id(request, "message_id")
        return _json(self.channel_message(channel_id, message_id))

    async def _api_edit_message(self, request: web.Request) -> web.StreamResponse:
        channel_id, message_id = _id(request, "channel_id"), _id(request, "message_id")
        edited = self.edit_message(
            channel_id, message_id, self._body(request), self._uploads(request)
        )
        return _json(edited)

    async def _api_delete_message(self, request: web.Request) -> web.StreamResponse:
        self.delete_message(_id(request, "channel_id"), _id(request, "message_id"))
        return web.Response(status=204)

    async def _api_no_content(self, request: web.Request) -> web.StreamResponse:
        self.channel(_id(request, "channel_id"))
        return web.Response(status=204)

    async def _api_thread(self, request: web.Request) -> web.StreamResponse:
        message_id = _id(request, "message_id") if "message_id" in request.match_info else None
        created = self.create_thread(_id(request, "channel_id"), self._body(request), message_id)
        return _json(created, status=201)

    async def _api_react(self, request: web.Request) -> web.StreamResponse:
        user = request.match_info.get("user_id", "@me")
        user_id = self.bot_id if user == "@me" else _id(request, "user_id")
        channel_id, message_id = _id(request, "channel_id"), _id(request, "message_id")
        emoji = request.match_info["emoji"]
        self.react(channel_id, message_id, emoji, user_id, add=request.method == "PUT")
        return web.Response(status=204)

    async def _api_reactors(self, request: web.Request) -> web.StreamResponse:
        channel_id, message_id = _id(request, "channel_id"), _id(request, "message_id")
        return _json(self.reactors(channel_id, message_id, request.match_info["emoji"]))

    async def _api_commands(self, request: web.Request) -> web.StreamResponse:
        app_id = _id(request, "app_id")
        guild_id = _id(request, "guild_id") if "guild_id" in request.match_info else None
        if request.method == "PUT":
            sent = self._read_bodies[id(request)][0]
            if not isinstance(sent, list):
                raise DiscordError(400, "400: Bad Request", 50035)
            return _json(self.put_commands(app_id, guild_id, sent))
        if request.method == "POST":
            created, command = self.upsert_command(app_id, guild_id, self._body(request))
            return _json(command, status=201 if created else 200)
        self._scope(app_id, guild_id)  # 403 for another application or guild
        return _json(self.synced_commands(guild_id))

    async def _api_command(self, request: web.Request) -> web.StreamResponse:
        app_id, command_id = _id(request, "app_id"), _id(request, "command_id")
        guild_id = _id(request, "guild_id") if "guild_id" in request.match_info else None
        if request.method == "PATCH":
            edited = self.edit_command(app_id, guild_id, command_id, self._body(request))
            return _json(edited)
        if request.method == "DELETE":
            self.delete_command(app_id, guild_id, command_id)
            return web.Response(status=204)
        return _json(self.command(app_id, guild_id, command_id))

    async def _api_callback(self, request: web.Request) -> web.StreamResponse:
        answer = self.interaction_callback(
            _id(request, "interaction_id"),
            request.match_info["token"],
            self._body(request),
            self._uploads(request),
        )
        if request.query.get("with_response", "").lower() in ("1", "true"):
            return _json(answer)
        return web.Response(status=204)

    async def _api_followup(self, request: web.Request) -> web.StreamResponse:
        message = self.followup(
            _id(request, "app_id"),
            request.match_info["token"],
            self._body(request),
            self._uploads(request),
        )
        if request.query.get("wait", "").lower() in ("1", "true"):
            return _json(message)
        return web.Response(status=204)

    async def _api_webhook(self, request: web.Request) -> web.StreamResponse:
        args = (
            _id(request, "app_id"),
            request.match_info["token"],
            request.match_info["message_id"],
        )
        if request.method == "PATCH":
            return _json(
                self.edit_webhook_message(*args, self._body(request), self._uploads(request))
            )
        if request.method == "DELETE":
            self.delete_webhook_message(*args)
            return web.Response(status=204)
        return _json(self.webhook_message(*args))

    async def _api_cdn(self, request: web.Request) -> web.StreamResponse:
        data = self.attachment(_id(request, "attachment_id"))
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="application/octet-stream")


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer whose content type is exactly ``application/json``, as Discord's: discord.py
    parses a body as JSON only then (aiohttp's ``json_response`` adds ``; charset=utf-8``)."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def _id(request: web.Request, key: str) -> int:
    """A snowflake from the path; a malformed one is Discord's 404."""
    try:
        return int(request.match_info[key])
    except ValueError:
        raise web.HTTPNotFound() from None


@contextmanager
def route_discord_py(stub: StubDiscord) -> Iterator[StubDiscord]:
    """Point discord.py at ``stub`` while the block runs, then restore it.

    discord.py builds every REST URL from the class attribute ``discord.http.Route.BASE``
    (interaction webhooks included) and connects ``Client`` to the class attribute
    ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (``AutoShardedClient`` asks
    ``/gateway/bot`` instead); both are set here, so adapter code needs no test-only branch.
    Process-wide: one stub at a time.
    """
    import yarl
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    saved = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = stub.url
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(stub.gateway_url)
    try:
        yield stub
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved
