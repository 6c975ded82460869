"""Application commands and interactions of :class:`~botkit.testing.StubDiscord`.

Bulk overwrites and single edits of commands (checked against Discord's limits; same-name
commands keep their id, and their version while unchanged), interaction responses (types 1-9, at
most one, within ``interaction_timeout``), followups (only once the interaction was answered) and
the interaction's webhook messages (``@original`` and followups: read, edit, delete).
"""

from __future__ import annotations

import copy
import time
from typing import Any

from botkit.testing import discord_payloads as p
from botkit.testing.discord_world import (
    DiscordError,
    DiscordWorld,
    StubInteraction,
    _locked,
    unknown_message,
)


def unknown_interaction() -> DiscordError:
    return DiscordError(404, "Unknown interaction", 10062)


def unknown_webhook() -> DiscordError:
    return DiscordError(404, "Unknown Webhook", 10015)


class DiscordApps(DiscordWorld):
    """The world with the application's commands and interactions."""

    # -- application commands ------------------------------------------------------------------
    def _scope(self, application_id: int, guild_id: int | None) -> list[dict[str, Any]]:
        if application_id != self.application_id:
            raise DiscordError(403, "Missing Access", 50001)
        if guild_id is not None and guild_id not in self.guilds:
            raise DiscordError(403, "Missing Access", 50001)
        return self.commands.setdefault(guild_id, [])

    def _stored_command(
        self, sent: dict[str, Any], guild_id: int | None, previous: dict[str, Any] | None
    ) -> dict[str, Any]:
        command: dict[str, Any] = {
            "type": 1,
            "description": "",
            "default_member_permissions": None,
            "nsfw": False,
            "contexts": None,
            "integration_types": None,
            "name_localizations": None,
            "description_localizations": None,
            **copy.deepcopy(sent),
        }
        if guild_id is None:
            command.setdefault("dm_permission", True)
            if command.get("integration_types") is None:  # Discord fills in the app's default
                command["integration_types"] = [0]
        else:
            command["guild_id"] = str(guild_id)
        command["id"] = previous["id"] if previous else str(self.ids())
        command["application_id"] = str(self.application_id)
        unchanged = previous is not None and _same_command(previous, command)
        command["version"] = previous["version"] if unchanged and previous else str(self.ids())
        return command

    @_locked
    def put_commands(
        self, application_id: int, guild_id: int | None, sent: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """A bulk overwrite: same-name commands keep their id (and version when unchanged)."""
        current = self._scope(application_id, guild_id)
        error = p.check_commands(sent)
        if error:
            raise DiscordError.form(error)
        by_name = {(c.get("type", 1), c["name"]): c for c in current}
        result = [
            self._stored_command(c, guild_id, by_name.get((c.get("type", 1), c.get("name"))))
            for c in sent
        ]
        self.commands[guild_id] = result
        return copy.deepcopy(result)

    @_locked
    def upsert_command(
        self, application_id: int, guild_id: int | None, sent: dict[str, Any]
    ) -> tuple[bool, dict[str, Any]]:
        """``POST`` one command: (whether it is new, the command)."""
        current = self._scope(application_id, guild_id)
        error = p.check_commands([sent])
        if error:
            raise DiscordError.form(error)
        key = (sent.get("type", 1), sent.get("name"))
        previous = next((c for c in current if (c.get("type", 1), c["name"]) == key), None)
        command = self._stored_command(sent, guild_id, previous)
        if previous is not None:
            current[current.index(previous)] = command
        else:
            current.append(command)
        return previous is None, copy.deepcopy(command)

    @_locked
    def command(self, application_id: int, guild_id: int | None, command_id: int) -> dict[str, Any]:
        for command in self._scope(application_id, guild_id):
            if int(command["id"]) == command_id:
                return command
        raise DiscordError(404, "Unknown application command", 10063)

    @_locked
    def edit_command(
        self, application_id: int, guild_id: int | None, command_id: int, sent: dict[str, Any]
    ) -> dict[str, Any]:
        command = self.command(application_id, guild_id, command_id)
        merged = {**command, **sent}
        error = p.check_commands([merged])
        if error:
            raise DiscordError.form(error)
        stored = self._stored_command(merged, guild_id, command)
        command.clear()
        command.update(stored)
        return copy.deepcopy(command)

    @_locked
    def delete_command(self, application_id: int, guild_id: int | None, command_id: int) -> None:
        command = self.command(application_id, guild_id, command_id)
        self.commands[guild_id].remove(command)

    # -- interactions --------------------------------------------------------------------------
    def _interaction(self, interaction_id: int, token: str) -> StubInteraction:
        interaction = self.interactions.get(interaction_id)
        if interaction is None or interaction.token != token:
            raise unknown_interaction()
        return interaction

    def _by_token(self, application_id: int, token: str) -> StubInteraction:
        if application_id != self.application_id:
            raise unknown_webhook()
        for interaction in self.interactions.values():
            if interaction.token == token:
                return interaction
        raise unknown_webhook()

    @_locked
    def interaction_callback(
        self, interaction_id: int, token: str, body: dict[str, Any], files: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """``POST /interactions/{id}/{token}/callback``: the answer with ``with_response``."""
        interaction = self._interaction(interaction_id, token)
        started = interaction.dispatched_at or interaction.created_at
        if interaction.callback is not None:
            raise DiscordError(400, "Interaction has already been acknowledged.", 40060)
        if time.monotonic() - started > self.interaction_timeout:
            raise unknown_interaction()
        kind = int(body.get("type") or 0)
        allowed = {2: (4, 5, 9), 3: (4, 5, 6, 7, 9), 4: (8,), 5: (4, 5, 6, 7)}
        if kind not in allowed.get(interaction.type, ()):
            errors = p.FormErrors()
            errors.add(["type"], "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid response type")
            raise DiscordError.form(errors.body() or {})
        data = dict(body.get("data") or {})
        resource: dict[str, Any] | None = None
        if kind in (4, 5):
            if kind == 4:
                message = self._build(
                    interaction.channel_id,
                    data,
                    files,
                    self.bot_user,
                    type=20 if interaction.type == 2 else 0,
                    webhook_id=str(self.application_id),
                    application_id=str(self.application_id),
                    interaction_metadata=self._metadata(interaction),
                )
            else:
                message = self._loading(interaction, int(data.get("flags") or 0) | p.FLAG_LOADING)
            interaction.original_id = int(message["id"])
            self._publish(message)
            resource = {"type": kind, "message": copy.deepcopy(message)}
        elif kind in (6, 7):
            target = interaction.payload.get("message") or {}
            interaction.original_id = int(target["id"]) if target else None
            stored = self._by_id.get(interaction.original_id or 0)
            if kind == 7 and stored is not None:
                resource = {"type": 7, "message": self._edit(stored, data, files)}
        elif kind == 8:
            choices = data.get("choices") or []
            if len(choices) > 25:
                errors = p.FormErrors()
                errors.too_long(["data", "choices"], choices, 25)
                raise DiscordError.form(errors.body() or {})
        interaction.callback = {"type": kind, "data": data}
        answer: dict[str, Any] = {
            "interaction": {
                "id": str(interaction.id),
                "type": interaction.type,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(int(data.get("flags") or 0) & p.FLAG_EPHEMERAL),
            }
        }
        if interaction.original_id is not None and kind in (4, 5, 7):
            answer["interaction"]["response_message_id"] = str(interaction.original_id)
        if resource is not None:
            answer["resource"] = resource
        return answer

    def _metadata(self, interaction: StubInteraction) -> dict[str, Any]:
        payload = interaction.payload
        user = payload.get("user") or (payload.get("member") or {}).get("user")
        metadata: dict[str, Any] = {
            "id": str(interaction.id),
            "type": interaction.type,
            "user": user,
            "authorizing_integration_owners": payload.get("authorizing_integration_owners", {}),
        }
        if interaction.type == 2:
            metadata["name"] = (payload.get("data") or {}).get("name")
            metadata["command_type"] = 1
        if interaction.type == 3 and payload.get("message"):
            metadata["interacted_message_id"] = payload["message"]["id"]
        return metadata

    def _loading(self, interaction: StubInteraction, flags: int) -> dict[str, Any]:
        """The message of a deferred response: empty, flagged LOADING, until it is edited."""
        data = p.message(
            self.ids(),
            interaction.channel_id,
            self.bot_user,
            "",
            flags=flags,
            type=20 if interaction.type == 2 else 0,
            webhook_id=str(self.application_id),
            application_id=str(self.application_id),
            interaction_metadata=self._metadata(interaction),
        )
        guild_id = self.guild_of(interaction.channel_id)
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
        return data

    @_locked
    def followup(
        self, application_id: int, token: str, body: dict[str, Any], files: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """``POST /webhooks/{app}/{token}``: a followup message (only after the response)."""
        interaction = self._by_token(application_id, token)
        if interaction.callback is None:
            raise unknown_webhook()
        message = self._build(
            interaction.channel_id,
            body,
            files,
            self.bot_user,
            webhook_id=str(self.application_id),
            application_id=str(self.application_id),
            interaction_metadata=self._metadata(interaction),
        )
        interaction.followup_ids.append(int(message["id"]))
        self._publish(message)
        return copy.deepcopy(message)

    def _webhook_message(self, application_id: int, token: str, message_id: str) -> dict[str, Any]:
        interaction = self._by_token(application_id, token)
        if message_id == "@original":
            wanted = interaction.original_id
        else:
            wanted = int(message_id)
            if wanted not in (interaction.original_id, *interaction.followup_ids):
                raise unknown_message()
        message = self._by_id.get(wanted or 0)
        if message is None:
            raise unknown_message()
        return message

    @_locked
    def webhook_message(self, application_id: int, token: str, message_id: str) -> dict[str, Any]:
        return copy.deepcopy(self._webhook_message(application_id, token, message_id))

    @_locked
    def edit_webhook_message(
        self,
        application_id: int,
        token: str,
        message_id: str,
        body: dict[str, Any],
        files: list[dict[str, Any]],
    ) -> dict[str, Any]:
        return self._edit(self._webhook_message(application_id, token, message_id), body, files)

    @_locked
    def delete_webhook_message(self, application_id: int, token: str, message_id: str) -> None:
        message = self._webhook_message(application_id, token, message_id)
        self._forget(int(message["id"]))
        guild = message.get("guild_id")
        event = {"id": message["id"], "channel_id": message["channel_id"]}
        if guild:
            event["guild_id"] = guild
        self.emit("MESSAGE_DELETE", event, int(guild) if guild else None)


def _same_command(old: dict[str, Any], new: dict[str, Any]) -> bool:
    skip = {"id", "version", "application_id"}
    return {k: v for k, v in old.items() if k not in skip} == {
        k: v for k, v in new.items() if k not in skip
    }
