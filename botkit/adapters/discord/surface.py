"""The Discord surface's lifecycle: log in, connect in the server's loop, sync the slash
commands, and stop cleanly.

Start: the token comes from the variable the deployment file names (``token_env``); discord.py
logs in, connects (``AutoShardedClient`` when ``sharded``) and reports ready; a refused token
or a Message Content Intent that is not enabled stops the start with what to change in the
Developer Portal. The slash commands are synced to the guild in ``guild_env`` when it is set
(they show at once: development), else globally, and only when Discord's copy differs.
Discord's rate limits (429s are waited out and retried) and reconnections (resumed, with the
events missed replayed) are discord.py's. Stop: new messages are ignored at once; the gateway
and HTTP session close after the replies in flight have finished (a closer of the server).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any, ClassVar

import discord

from botkit.adapters.discord.commands import build_tree, sync_commands
from botkit.adapters.discord.events import MessageEvents
from botkit.adapters.discord.feedback import rating_buttons
from botkit.adapters.discord.interactions import Interactions
from botkit.adapters.discord.replies import NO_PINGS, Answers
from botkit.adapters.logs import DropLines
from botkit.deploy.spec import DiscordSurface
from botkit.safety.secrets import secret_env
from botkit.serve.surface import ServeContext, Surface, SurfaceError

log = logging.getLogger("botkit.discord")

# discord.py warns at every start that voice needs PyNaCl and davey: botkit never speaks.
logging.getLogger("discord.client").addFilter(DropLines("voice will NOT be supported"))

PORTAL = "https://discord.com/developers/applications"


class DiscordSurfaceRunner(Surface):
    name: ClassVar[str] = "discord"
    settings: DiscordSurface

    #: Seconds to wait for the gateway to say the bot is ready.
    CONNECT_TIMEOUT: ClassVar[float] = 60.0
    #: discord.py waits this long after the last server arrives before it is ready.
    GUILD_READY_TIMEOUT: ClassVar[float] = 2.0
    #: Seconds between edits of a streaming answer.
    EDIT_INTERVAL: ClassVar[float] = 1.0
    #: Seconds without an answer after which "botkit is typing..." shows.
    THINKING_AFTER: ClassVar[float] = 0.5

    def __init__(self, settings: Any, context: ServeContext) -> None:
        super().__init__(settings, context)
        self.client: Any = None
        self.accepting = False
        self._connecting: asyncio.Task[None] | None = None
        spec = context.spec
        registry = context.bot.registry
        self.tree = build_tree(registry.tasks, registry.commands, spec.max_input_chars)
        self.buttons = rating_buttons(context.rate, log)
        self.answers = Answers(context, self.buttons, self.EDIT_INTERVAL, self.THINKING_AFTER)

    # -- start ---------------------------------------------------------------------------------
    async def start(self) -> None:
        token = secret_env(self.settings.token_env)
        if not token:
            raise SurfaceError(
                f"${self.settings.token_env} is not set: create a bot in the Discord Developer "
                f"Portal ({PORTAL} -> your application -> Bot -> Reset Token) and export "
                f"{self.settings.token_env}=<the token>"
            )
        self.client = client = self._new_client()
        try:
            await self._connect(client, token)
            self.accepting = True
            await self._sync(client)
        except BaseException:
            await self._close()
            raise
        self.context.closers.append(self._close)
        log.info("discord: connected as %s to %d server(s)", client.user, len(client.guilds))

    def _new_client(self) -> Any:
        intents = discord.Intents.default()
        intents.message_content = True  # privileged: enabled in the Developer Portal
        kind = discord.AutoShardedClient if self.settings.sharded else discord.Client
        client = kind(
            intents=intents,
            allowed_mentions=NO_PINGS,
            guild_ready_timeout=self.GUILD_READY_TIMEOUT,
            chunk_guilds_at_startup=False,
        )
        events = MessageEvents(
            self.context,
            self.answers,
            self.settings.open_threads,
            lambda: client.user,
            lambda: self.accepting and self.context.inflight.accepting,
        )
        interactions = Interactions(
            self.context,
            self.answers,
            self.tree,
            lambda: self.accepting and self.context.inflight.accepting,
        )
        client.event(events.on_message)
        client.event(interactions.on_interaction)
        client.add_dynamic_items(self.buttons.item)
        return client

    async def _connect(self, client: Any, token: str) -> None:
        env = self.settings.token_env
        try:
            await client.login(token)
        except discord.LoginFailure:
            raise SurfaceError(
                f"Discord refused the token in ${env}: copy a fresh one from the Developer "
                f"Portal ({PORTAL} -> your application -> Bot -> Reset Token)"
            ) from None
        except (discord.HTTPException, OSError) as exc:
            raise SurfaceError(f"cannot reach Discord to log in: {exc}") from None
        connecting = self._connecting = asyncio.create_task(client.connect(reconnect=True))
        ready = asyncio.ensure_future(client.wait_until_ready())
        done, _ = await asyncio.wait(
            {connecting, ready}, timeout=self.CONNECT_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if ready in done:
            connecting.add_done_callback(self._connection_ended)
            return
        ready.cancel()
        if connecting not in done:
            raise SurfaceError(
                f"the Discord gateway did not get ready within {self.CONNECT_TIMEOUT:.0f} s"
            )
        raise _start_error(connecting.exception(), env) from None

    def _connection_ended(self, task: asyncio.Task[None]) -> None:
        """The gateway stopped for good while serving (not a reconnection: those are internal)."""
        if task.cancelled() or task.exception() is None:
            return
        log.error(
            "discord: the gateway connection ended: %s",
            _start_error(task.exception(), self.settings.token_env),
        )

    async def _sync(self, client: Any) -> None:
        guild = os.environ.get(self.settings.guild_env, "").strip()
        if guild and not guild.isdigit():
            raise SurfaceError(
                f"${self.settings.guild_env} must be a server (guild) id, a number: right-click "
                "the server with Developer Mode on -> Copy Server ID"
            )
        guild_id = int(guild) if guild else None
        where = f"server {guild_id}" if guild_id else "all servers (global)"
        try:
            changed = await sync_commands(client.http, client.application_id, self.tree, guild_id)
        except discord.HTTPException as exc:  # mentions and DMs still work
            log.error(
                "discord: slash commands not synced to %s (%s): invite the bot with the "
                "applications.commands scope (botkit discord invite-url)",
                where,
                exc,
            )
            return
        state = "synced" if changed else "unchanged"
        log.info("discord: %d slash command(s) %s in %s", len(self.tree.payload), state, where)

    # -- stop ----------------------------------------------------------------------------------
    async def stop(self) -> None:
        """No new messages from now on; the client closes after the replies in flight."""
        self.accepting = False

    async def _close(self) -> None:
        self.accepting = False
        client, connecting = self.client, self._connecting
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
        if connecting is not None and not connecting.done():
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(connecting, 10)


def _start_error(error: BaseException | None, env: str) -> SurfaceError:
    """What to change when the gateway refused the bot."""
    if isinstance(error, discord.PrivilegedIntentsRequired):
        return SurfaceError(
            "Discord refused the connection (4014): enable the Message Content Intent in the "
            f"Developer Portal ({PORTAL} -> your application -> Bot -> Privileged Gateway "
            "Intents -> Message Content Intent), then start again"
        )
    if isinstance(error, discord.ConnectionClosed) and error.code == 4004:
        return SurfaceError(
            f"Discord refused the token in ${env} (4004): copy a fresh one from the Developer "
            f"Portal ({PORTAL} -> your application -> Bot -> Reset Token)"
        )
    return SurfaceError(f"the Discord gateway connection failed: {error}")
