"""Payload builders for tests: the gateway events a user's actions would make on Discord.

:meth:`~DiscordEvents.message_create` (guild channel, thread or DM; mentions, replies, another
bot, attachments the stub serves), :meth:`~DiscordEvents.slash_command_interaction` (options
typed from the synced command, subcommands, guild or DM),
:meth:`~DiscordEvents.autocomplete_interaction`, :meth:`~DiscordEvents.component_interaction`
(a click on a button the bot sent) and :meth:`~DiscordEvents.modal_submit_interaction`. Each
returns the event's data, for :meth:`~botkit.testing.StubDiscord.dispatch`.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Iterable, Iterator
from typing import Any

from botkit.testing import discord_payloads as p
from botkit.testing.discord_apps import DiscordApps
from botkit.testing.discord_world import EVERYONE_PERMISSIONS, StubInteraction, _locked

_OPTION_TYPES = {bool: 5, int: 4, float: 10, str: 3}


class DiscordEvents(DiscordApps):
    """The world, its applications, and the events tests dispatch into it."""

    # -- payload builders for tests ------------------------------------------------------------
    @_locked
    def message_create(
        self,
        /,
        content: str = "",
        *,
        channel_id: int | None = None,
        author: dict[str, Any] | None = None,
        author_bot: bool = False,
        mention_bot: bool = False,
        dm: bool = False,
        reply_to: int | None = None,
        attachments: Iterable[tuple[str, bytes]] = (),
        **fields: Any,
    ) -> dict[str, Any]:
        """A MESSAGE_CREATE from a user, to :meth:`dispatch`: in ``channel_id`` (a channel or
        thread; default :attr:`channel_id`) or the bot's DM with the author (``dm``), by
        ``author`` (default :attr:`user`; ``author_bot``: another bot), ``<@bot>`` first when
        ``mention_bot``, replying to ``reply_to``, with ``attachments`` (name, bytes) that the
        stub serves."""
        if author is None:
            author = self._other_bot() if author_bot else self.user
        if mention_bot:
            content = f"<@{self.bot_id}> {content}".rstrip()
        channel = self.dm_channel(author) if dm else self.channel(channel_id or self.channel_id)
        channel_id = int(channel["id"])
        guild_id = self.guild_of(channel_id)
        data = p.message(
            self.ids(), channel_id, author, content, **self._mentions(content, guild_id, None)
        )
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
            member = self.members[guild_id].get(int(author["id"]))
            if member is not None:
                data["member"] = {k: v for k, v in member.items() if k != "user"}
        if reply_to is not None:
            self._reply(data, {"message_id": reply_to}, None)
        files = [
            {"filename": name, "data": raw, "size": len(raw), "content_type": None}
            for name, raw in attachments
        ]
        data["attachments"] = self._attachments(channel_id, {}, files)
        data.update(fields)
        return data

    def _other_bot(self) -> dict[str, Any]:
        for user_data in self.users.values():
            if user_data.get("bot") and int(user_data["id"]) != self.bot_id:
                return user_data
        return self.add_user("otherbot", bot=True)

    def _interaction_base(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        channel_id: int | None,
        user: dict[str, Any] | None,
        dm: bool,
        message: dict[str, Any] | None = None,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        user = user or self.user
        channel = self.dm_channel(user) if dm else self.channel(channel_id or self.channel_id)
        guild_id = self.guild_of(int(channel["id"]))
        interaction_id, token = self.ids(), "itoken-" + secrets.token_urlsafe(24)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "channel_id": channel["id"],
            "channel": copy.deepcopy(channel),
            "token": token,
            "version": 1,
            "app_permissions": str(self.bot_permissions),
            "locale": locale,
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if guild_id is not None:
            member = copy.deepcopy(self.members[guild_id].get(int(user["id"])))
            if member is None:
                member = p.member(user, [], p.timestamp())
            member["permissions"] = str(EVERYONE_PERMISSIONS)
            payload.update(
                guild_id=str(guild_id),
                guild_locale="en-US",
                member=member,
                guild={"id": str(guild_id), "locale": "en-US", "features": []},
                authorizing_integration_owners={"0": str(guild_id)},
                context=0,
            )
        else:
            payload.update(user=user, authorizing_integration_owners={"0": "0"}, context=1)
        if message is not None:
            payload["message"] = copy.deepcopy(message)
        self.interactions[interaction_id] = StubInteraction(interaction_id, token, kind, payload)
        return payload

    def _command_data(
        self, name: str, options: dict[str, Any] | list[dict[str, Any]] | None, guild_id: int | None
    ) -> dict[str, Any]:
        """The ``data`` of a slash command: ``name`` may be ``"group sub"``; option types come
        from the synced command when there is one, else from the Python values."""
        root, *path = name.split()
        synced = None
        for scope in ([guild_id] if guild_id else []) + [None]:
            synced = next(
                (
                    c
                    for c in self.commands.get(scope, [])
                    if c["name"] == root and c.get("type", 1) == 1
                ),
                None,
            )
            if synced:
                break
        schema = (synced or {}).get("options") or []
        for part in path:
            schema = next((o.get("options") or [] for o in schema if o["name"] == part), [])
        if isinstance(options, list):
            built = options
        else:
            built = []
            for key, value in (options or {}).items():
                known = next((o for o in schema if o["name"] == key), None)
                kind = known["type"] if known else _OPTION_TYPES.get(type(value), 3)
                built.append({"name": key, "type": kind, "value": value})
        for depth, part in reversed(list(enumerate(path))):
            kind = 2 if depth < len(path) - 1 else 1
            built = [{"name": part, "type": kind, "options": built}]
        data: dict[str, Any] = {
            "id": synced["id"] if synced else str(self.ids()),
            "name": root,
            "type": 1,
        }
        if built:
            data["options"] = built
        if synced and synced.get("guild_id"):
            data["guild_id"] = synced["guild_id"]
        resolved = self._resolved(built)
        if resolved:
            data["resolved"] = resolved
        return data

    def _resolved(self, options: list[dict[str, Any]]) -> dict[str, Any]:
        """``resolved`` users and channels for user (6) and channel (7) options."""
        users: dict[str, Any] = {}
        channels: dict[str, Any] = {}
        for option in _walk(options):
            value = option.get("value")
            if option.get("type") == 6 and value is not None and int(value) in self.users:
                users[str(value)] = self.users[int(value)]
            if option.get("type") == 7 and value is not None and int(value) in self.channels:
                channel = self.channels[int(value)]
                channels[str(value)] = {**channel, "permissions": str(self.bot_permissions)}
        resolved: dict[str, Any] = {}
        if users:
            resolved["users"] = users
        if channels:
            resolved["channels"] = channels
        return resolved

    @_locked
    def slash_command_interaction(
        self,
        name: str,
        options: dict[str, Any] | list[dict[str, Any]] | None = None,
        *,
        channel_id: int | None = None,
        user: dict[str, Any] | None = None,
        dm: bool = False,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        """An INTERACTION_CREATE for ``/name`` (``"group sub"`` for a subcommand) with
        ``options`` ({name: value} or raw option objects), in a guild channel or the bot's DM."""
        guild_id = None if dm else self.guild_of(channel_id or self.channel_id)
        data = self._command_data(name, options, guild_id)
        return self._interaction_base(
            2, data, channel_id=channel_id, user=user, dm=dm, locale=locale
        )

    @_locked
    def autocomplete_interaction(
        self,
        name: str,
        options: dict[str, Any],
        focused: str,
        *,
        channel_id: int | None = None,
        user: dict[str, Any] | None = None,
        dm: bool = False,
    ) -> dict[str, Any]:
        """An autocomplete INTERACTION_CREATE: the user is typing option ``focused``."""
        guild_id = None if dm else self.guild_of(channel_id or self.channel_id)
        data = self._command_data(name, options, guild_id)
        for option in _walk(data.get("options") or []):
            if option["name"] == focused and "value" in option:
                option["focused"] = True
                option["value"] = str(option["value"])
        return self._interaction_base(4, data, channel_id=channel_id, user=user, dm=dm)

    @_locked
    def component_interaction(
        self,
        custom_id: str,
        *,
        message_id: int | None = None,
        values: list[str] | None = None,
        user: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A click on the button (or a choice in the select menu) ``custom_id``, on message
        ``message_id`` or else the latest message that carries it."""
        if message_id is None:
            candidates = list(reversed(self._by_id.values()))
        else:
            candidates = [self._by_id[message_id]] if message_id in self._by_id else []
        for message in candidates:
            component = next(
                (
                    c
                    for c in _walk(message.get("components") or [], "components")
                    if c.get("custom_id") == custom_id
                ),
                None,
            )
            if component is not None:
                break
        else:
            raise ValueError(f"no message carries a component with custom_id {custom_id!r}")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if values is not None or component["type"] != 2:
            data["values"] = values or []
        channel_id = int(message["channel_id"])
        channel = self.channels.get(channel_id, {})
        return self._interaction_base(
            3,
            data,
            channel_id=channel_id if channel.get("type") != p.DM else None,
            user=user,
            dm=channel.get("type") == p.DM,
            message=message,
        )

    @_locked
    def modal_submit_interaction(
        self,
        custom_id: str,
        fields: dict[str, str],
        *,
        channel_id: int | None = None,
        user: dict[str, Any] | None = None,
        dm: bool = False,
    ) -> dict[str, Any]:
        """A submitted modal ``custom_id`` whose text inputs hold ``fields`` ({custom_id: value})."""
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]}
            for key, value in fields.items()
        ]
        data = {"custom_id": custom_id, "components": rows}
        return self._interaction_base(5, data, channel_id=channel_id, user=user, dm=dm)


def _walk(items: list[dict[str, Any]], key: str = "options") -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from _walk(item.get(key) or [], key)
