"""Slash commands and their autocomplete -> the core.

A command is checked (a known GPT the user may use, text within Discord's option limit) and
refused at once, privately, when it cannot be answered; otherwise it is deferred (Discord wants
an answer within 3 seconds; the model may take longer) and answered in the deferred response.
``/gpt`` asks the named GPT; a task command (``/translate``) reaches the core as that command
with its inputs as the text (``translate`` + ``fr Hello``), on the channel's GPT or the one named.
Button clicks (👍/👎) are handled by :mod:`botkit.adapters.discord.feedback`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import discord
from discord import app_commands

from botkit.adapters.discord.commands import MAX_OPTION_TEXT, CommandTree, SlashCommand
from botkit.adapters.discord.places import place_of, roles_of
from botkit.adapters.discord.replies import Answers, InteractionTarget
from botkit.core.message import Message
from botkit.errors import AccessDenied, GPTNotFound
from botkit.serve.surface import ServeContext

SURFACE = "discord"
#: GPT names listed when the one asked for does not exist.
SUGGESTED = 10


class Interactions:
    """``on_interaction`` for one client."""

    def __init__(
        self,
        context: ServeContext,
        answers: Answers,
        tree: CommandTree,
        accepting: Callable[[], bool],
    ) -> None:
        self.context = context
        self.answers = answers
        self.tree = tree
        self.accepting = accepting

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.type == discord.InteractionType.autocomplete:
            await self._autocomplete(interaction)
        elif interaction.type == discord.InteractionType.application_command:
            if not self.accepting():
                await interaction.response.send_message(
                    "The bot is restarting: try again in a moment.", ephemeral=True
                )
                return
            self.context.inflight.start(
                self._command(interaction), name=f"discord-interaction-{interaction.id}"
            )

    # -- reading a command ---------------------------------------------------------------------
    def _meaning(
        self, interaction: discord.Interaction[Any]
    ) -> tuple[SlashCommand | None, dict[str, Any]]:
        data: dict[str, Any] = dict(interaction.data or {})
        values = {o["name"]: o.get("value") for o in data.get("options") or [] if "name" in o}
        return self.tree.commands.get(str(data.get("name"))), values

    def _message(
        self, interaction: discord.Interaction[Any], command: SlashCommand, values: dict[str, Any]
    ) -> Message:
        where = place_of(interaction.channel, interaction.guild_id, interaction.channel_id)
        named = str(values.get(command.gpt_option) or "").strip()
        text = " ".join(str(values[o]).strip() for o in command.inputs if values.get(o))
        return Message(
            text,
            named or self.context.policy.gpt_for(SURFACE, where.route),
            SURFACE,
            user_id=str(interaction.user.id),
            user_name=interaction.user.display_name,
            workspace=where.workspace,
            channel=where.channel,
            thread=where.thread,
            is_dm=where.is_dm,
            shared=self.context.policy.shared(where.is_dm),
            message_id=str(interaction.id),
            command=command.task_command,
            roles=roles_of(interaction.user),
        )

    def _usable(self, message: Message) -> list[str]:
        known = self.context.bot.catalog.gpts
        return [n for n in self.context.policy.usable(message) if n in known]

    def _refusal(self, message: Message, command: SlashCommand, values: dict[str, Any]) -> str:
        """Why the command cannot be answered as given ("" when it can)."""
        if message.gpt not in self.context.bot.catalog.gpts:
            return str(GPTNotFound(message.gpt, self._usable(message)[:SUGGESTED]))
        if not self.context.policy.may_use(message.gpt, message):
            return str(AccessDenied(message.gpt))
        for name in command.inputs:
            if len(str(values.get(name) or "")) > MAX_OPTION_TEXT:
                return f"{name} is too long: Discord allows {MAX_OPTION_TEXT:,} characters"
        return ""

    # -- answering -----------------------------------------------------------------------------
    async def _command(self, interaction: discord.Interaction[Any]) -> None:
        command, values = self._meaning(interaction)
        if command is None:
            await interaction.response.send_message(
                "This command is not served any more: reload Discord (Ctrl+R) for the current "
                "ones.",
                ephemeral=True,
            )
            return
        message = self._message(interaction, command, values)
        refusal = self._refusal(message, command, values)
        if refusal:
            await interaction.response.send_message(refusal, ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        await self.answers.answer(message, InteractionTarget(interaction))

    async def _autocomplete(self, interaction: discord.Interaction[Any]) -> None:
        command, _ = self._meaning(interaction)
        data: dict[str, Any] = dict(interaction.data or {})
        options: list[dict[str, Any]] = data.get("options") or []
        focused = next((o for o in options if o.get("focused")), None)
        if command is None or focused is None:
            await interaction.response.autocomplete([])
            return
        typed = str(focused.get("value") or "").strip().lower()
        if focused["name"] == command.gpt_option:
            message = self._message(interaction, command, {})
            gpts = self.context.bot.catalog.gpts
            found = [
                app_commands.Choice(name=_label(name, gpts[name].spec.description), value=name)
                for name in self._usable(message)
                if typed in name.lower()
            ]
        else:
            values = command.choices.get(focused["name"], ())
            found = [
                app_commands.Choice(name=v[:100], value=v[:100])
                for v in values
                if typed in v.lower()
            ]
        found.sort(key=lambda c: (not c.value.lower().startswith(typed), c.value))
        await interaction.response.autocomplete(found[:25])


def _label(name: str, description: str) -> str:
    label = f"{name} — {description}" if description else name
    return label if len(label) <= 100 else label[:99] + "…"
