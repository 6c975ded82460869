"""The gateway half of :class:`~botkit.testing.StubDiscord`: Discord's websocket protocol (v10).

HELLO, IDENTIFY -> READY and GUILD_CREATE, heartbeats and their ACKs, RESUME (missed events are
replayed, then RESUMED), sequence numbers, REQUEST_GUILD_MEMBERS, the close codes Discord uses
(4004 bad token, 4014 privileged intent not enabled in the developer portal...), the events each
intent gates, and message content blanked for a session without the message-content intent.
JSON text frames, or ``zlib-stream`` binary frames when the client asks for them (as discord.py
does when the ``zstandard`` module is not installed; for ``zstd-stream`` the stub answers in plain
text, which clients accept).

It runs on the stub's event loop; :class:`GatewayHost` is what it needs from the stub.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import zlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from botkit.testing import discord_payloads as p

# Close codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
UNKNOWN_OPCODE = 4001
DECODE_ERROR = 4002
NOT_AUTHENTICATED = 4003
AUTHENTICATION_FAILED = 4004
ALREADY_AUTHENTICATED = 4005
INVALID_SHARD = 4010
INVALID_INTENTS = 4013
DISALLOWED_INTENTS = 4014


class GatewayHost(Protocol):
    """What the gateway asks of the stub it serves."""

    token: str
    heartbeat_interval: float
    portal_intents: int
    bot_id: int

    def ready_payload(self, session: GatewaySession) -> dict[str, Any]: ...

    def guild_payloads(self, session: GatewaySession) -> list[dict[str, Any]]: ...

    def guild_members(self, guild_id: int) -> list[dict[str, Any]]: ...

    def changed(self) -> None: ...


@dataclass
class GatewaySession:
    """One identified session: its events (kept for RESUME) and its current connection."""

    session_id: str
    identify: dict[str, Any]
    intents: int
    shard: tuple[int, int] | None
    seq: int = 0
    history: list[tuple[int, str]] = field(default_factory=list)
    connection: Connection | None = None
    resumes: int = 0

    def push(self, event: str, data: Any) -> int:
        """Give ``event`` the next sequence number, keep it and send it if connected."""
        self.seq += 1
        text = json.dumps({"op": 0, "t": event, "s": self.seq, "d": data})
        self.history.append((self.seq, text))
        if self.connection is not None:
            self.connection.send_text(text)
        return self.seq

    def in_shard(self, guild_id: int | None) -> bool:
        """Whether this session's shard gets events of ``guild_id`` (DMs go to shard 0)."""
        if self.shard is None:
            return True
        shard_id, count = self.shard
        if guild_id is None:
            return shard_id == 0
        return (guild_id >> 22) % count == shard_id


class Connection:
    """One websocket: frames go out in order through a queue, closes included."""

    def __init__(
        self, ws: web.WebSocketResponse, request: web.Request, *, zlib_stream: bool
    ) -> None:
        self.ws = ws
        self.path = request.path
        self.query = dict(request.query)
        self.transport = request.transport
        self.session: GatewaySession | None = None
        self.closed_by_stub = False
        self._zlib = zlib.compressobj() if zlib_stream else None
        self._queue: asyncio.Queue[str | tuple[int, str]] = asyncio.Queue()
        self.sender = asyncio.get_running_loop().create_task(self._send_all())

    def send(self, op: int, data: Any = None) -> None:
        self.send_text(json.dumps({"op": op, "d": data, "s": None, "t": None}))

    def send_text(self, text: str) -> None:
        self._queue.put_nowait(text)

    def close(self, code: int, reason: str = "") -> None:
        """Close after what is already queued, with ``code`` (as Discord does)."""
        self.closed_by_stub = True
        self._queue.put_nowait((code, reason))

    def abort(self) -> None:
        """Cut the TCP connection without a close frame."""
        self.closed_by_stub = True
        if self.transport is not None:
            self.transport.close()

    async def _send_all(self) -> None:
        while True:
            item = await self._queue.get()
            if self.ws.closed:
                return
            try:
                if isinstance(item, tuple):
                    await self.ws.close(code=item[0], message=item[1].encode())
                    return
                if self._zlib is None:
                    await self.ws.send_str(item)
                else:
                    data = self._zlib.compress(item.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(data)
            except (ConnectionError, RuntimeError):  # the client went away meanwhile
                return


class Gateway:
    """Serves Discord's gateway at one or more paths of the stub; records what clients send."""

    def __init__(self, host: GatewayHost) -> None:
        self.host = host
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: list[Connection] = []
        #: Every payload clients sent, in order (``{"op": ..., "d": ...}``).
        self.received: list[dict[str, Any]] = []
        #: The ``d`` of every IDENTIFY and RESUME that was accepted.
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats = 0
        #: Close codes the stub sent (``drop_connection`` and protocol errors).
        self.closes: list[int] = []
        #: Close codes clients sent (``None``: the connection dropped without one).
        self.client_closes: list[int | None] = []
        #: Every websocket connection: its path (``/gateway`` or ``/gateway-resume``) and query.
        self.connects: list[tuple[str, dict[str, str]]] = []

    # -- serving -------------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = Connection(ws, request, zlib_stream=request.query.get("compress") == "zlib-stream")
        self.connections.append(conn)
        self.connects.append((conn.path, conn.query))
        conn.send(10, {"heartbeat_interval": int(self.host.heartbeat_interval * 1000)})
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    self._close(conn, DECODE_ERROR, "Error while decoding payload.")
                    continue
                self.received.append(payload)
                self._receive(conn, payload)
                self.host.changed()
        finally:
            self._detach(conn, ws.close_code)
        return ws

    def _detach(self, conn: Connection, code: int | None) -> None:
        if not conn.closed_by_stub:
            self.client_closes.append(code)
        session = conn.session
        if session is not None and session.connection is conn:
            session.connection = None
            if code in (1000, 1001) and not conn.closed_by_stub:
                # The client closed normally: Discord ends the session, no RESUME.
                self.sessions.pop(session.session_id, None)
        if not conn.sender.done():
            conn.sender.cancel()
        if conn in self.connections:
            self.connections.remove(conn)
        self.host.changed()

    def _close(self, conn: Connection, code: int, reason: str) -> None:
        self.closes.append(code)
        conn.close(code, reason)

    def _receive(self, conn: Connection, payload: Any) -> None:
        op = payload.get("op") if isinstance(payload, dict) else None
        data = payload.get("d") if isinstance(payload, dict) else None
        if op == 1:
            self.heartbeats += 1
            conn.send(11)
        elif op == 2:
            self._identify(conn, data if isinstance(data, dict) else {})
        elif op == 6:
            self._resume(conn, data if isinstance(data, dict) else {})
        elif op in (3, 4, 8):
            if conn.session is None:
                self._close(conn, NOT_AUTHENTICATED, "Not authenticated.")
            elif op == 8 and isinstance(data, dict):
                self._members_chunk(conn.session, data)
        else:
            self._close(conn, UNKNOWN_OPCODE, "Unknown opcode.")

    def _identify(self, conn: Connection, data: dict[str, Any]) -> None:
        if conn.session is not None:
            self._close(conn, ALREADY_AUTHENTICATED, "Already authenticated.")
            return
        if data.get("token") != self.host.token:
            self._close(conn, AUTHENTICATION_FAILED, "Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0:
            self._close(conn, INVALID_INTENTS, "Invalid intent(s).")
            return
        if intents & p.PRIVILEGED_INTENTS & ~self.host.portal_intents:
            self._close(conn, DISALLOWED_INTENTS, "Disallowed intent(s).")
            return
        shard: tuple[int, int] | None = None
        if data.get("shard") is not None:
            shard_id, count = (int(x) for x in data["shard"])
            if not 0 <= shard_id < count:
                self._close(conn, INVALID_SHARD, "Invalid shard.")
                return
            shard = (shard_id, count)
        session = GatewaySession(secrets.token_hex(16), data, intents, shard)
        self.sessions[session.session_id] = session
        self.identifies.append(data)
        conn.session, session.connection = session, conn
        session.push("READY", self.host.ready_payload(session))
        if intents & p.GUILDS:
            for guild in self.host.guild_payloads(session):
                session.push("GUILD_CREATE", guild)

    def _resume(self, conn: Connection, data: dict[str, Any]) -> None:
        if data.get("token") != self.host.token:
            self._close(conn, AUTHENTICATION_FAILED, "Authentication failed.")
            return
        session = self.sessions.get(str(data.get("session_id")))
        if session is None:
            conn.send(9, False)  # invalid session, not resumable: the client identifies anew
            return
        if session.connection is not None and session.connection is not conn:
            session.connection.close(4000, "Session resumed elsewhere.")
        conn.session, session.connection = session, conn
        after = data.get("seq") or 0
        for seq, text in session.history:
            if seq > after:
                conn.send_text(text)
        session.resumes += 1
        self.resumes.append(data)
        session.push("RESUMED", {})

    def _members_chunk(self, session: GatewaySession, data: dict[str, Any]) -> None:
        guild_id = int(data.get("guild_id") or 0)
        members = self.host.guild_members(guild_id)
        ids = {str(i) for i in data.get("user_ids") or []}
        query = str(data.get("query") or "").lower()
        if ids:
            members = [m for m in members if m["user"]["id"] in ids]
        elif query:
            members = [m for m in members if m["user"]["username"].lower().startswith(query)]
        limit = int(data.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk = {
            "guild_id": str(guild_id),
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        session.push("GUILD_MEMBERS_CHUNK", chunk)

    # -- used by the stub ----------------------------------------------------------------------
    def broadcast(self, event: str, data: dict[str, Any], guild_id: int | None) -> int:
        """Send ``event`` to every session whose shard and intents let it see it; how many did."""
        sent = 0
        for session in list(self.sessions.values()):
            if not session.in_shard(guild_id):
                continue
            needed = _intent_for(event, guild_id is not None)
            if needed and not session.intents & needed:
                continue
            session.push(event, self._visible(event, data, session, guild_id))
            sent += 1
        return sent

    def _visible(
        self, event: str, data: dict[str, Any], session: GatewaySession, guild_id: int | None
    ) -> dict[str, Any]:
        """``data`` as ``session`` sees it: without the message-content intent, a guild message
        that neither mentions the bot nor comes from it arrives with its content emptied."""
        if event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE") or guild_id is None:
            return data
        if session.intents & p.MESSAGE_CONTENT:
            return data
        bot = str(self.host.bot_id)
        author = (data.get("author") or {}).get("id")
        if author == bot or any(u.get("id") == bot for u in data.get("mentions") or []):
            return data
        blanked = {**data, "content": "", "embeds": [], "attachments": [], "components": []}
        blanked.pop("poll", None)
        return blanked

    def drop(self, code: int | None = 4000) -> int:
        """Close every connection from the server side (``None``: cut TCP, no close frame);
        sessions stay resumable. How many connections were dropped."""
        live = list(self.connections)
        for conn in live:
            if code is None:
                conn.abort()
            else:
                self._close(conn, code, "Dropped by the stub.")
        return len(live)

    def send_op(self, op: int, data: Any = None) -> int:
        """Send a non-dispatch opcode (7 RECONNECT, 9 INVALID_SESSION...) to every connection."""
        for conn in self.connections:
            conn.send(op, data)
        return len(self.connections)

    async def close_all(self) -> None:
        for conn in list(self.connections):
            if not conn.ws.closed:
                await conn.ws.close(code=1001, message=b"Stub stopping.")


def _intent_for(event: str, in_guild: bool) -> int:
    """The intent Discord requires before it sends ``event`` (0: none)."""
    if event.startswith("MESSAGE_REACTION_"):
        return p.GUILD_MESSAGE_REACTIONS if in_guild else p.DIRECT_MESSAGE_REACTIONS
    if event.startswith("MESSAGE_"):
        return p.GUILD_MESSAGES if in_guild else p.DIRECT_MESSAGES
    if event == "TYPING_START":
        return p.GUILD_MESSAGE_TYPING if in_guild else p.DIRECT_MESSAGE_TYPING
    if event in ("GUILD_MEMBER_ADD", "GUILD_MEMBER_UPDATE", "GUILD_MEMBER_REMOVE"):
        return p.GUILD_MEMBERS
    if event.startswith(("GUILD_", "CHANNEL_", "THREAD_")) and event != "GUILD_MEMBERS_CHUNK":
        return p.GUILDS
    return 0
