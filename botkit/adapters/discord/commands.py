"""The slash commands, generated from the GPTs and the task plugins, and kept in sync with Discord.

``/gpt name message`` asks any GPT the user may use (the name is autocompleted); each task
plugin's chat command becomes a command of its own (``/translate language text``,
``/classify text``...), its inputs typed from the command's usage, the values it declares as
choices (25 at most) or autocomplete, and an optional ``gpt`` to run it with. Everything is
built within Discord's rules (names, 25 options, descriptions of 1-100 characters, 100 commands,
4,000 characters a command), and synced only when Discord's copy differs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("botkit.discord")

#: Discord's name rule (``^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$``, lower case), for the
#: ASCII names botkit generates.
NAME = re.compile(r"^[-_a-z0-9]{1,32}$")
MAX_COMMANDS, MAX_OPTIONS, MAX_CHOICES = 100, 25, 25
MAX_DESCRIPTION, MAX_COMMAND_CHARS = 100, 4000
#: Discord's longest string option.
MAX_OPTION_TEXT = 6000
#: An input other than the last (a language, a label): short.
MAX_WORD = 100
STRING, CHAT_INPUT = 3, 1
#: Where commands may be used: servers (0) and the bot's DMs (1); installed to servers (0).
CONTEXTS, INTEGRATION_TYPES = [0, 1], [0]
GPT_COMMAND = "gpt"
_PLACEHOLDER = re.compile(r"<([^<>]+)>|\[([^\[\]]+)\]")


@dataclass(frozen=True)
class SlashCommand:
    """What an incoming slash command means for the core."""

    name: str
    #: the task command word (``translate``), or "" for ``/gpt`` (a chat message)
    task_command: str
    #: the options whose values, joined by spaces, are the message's text, in order
    inputs: tuple[str, ...]
    #: the option naming the GPT (required for /gpt, optional for tasks)
    gpt_option: str
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class CommandTree:
    """The commands as Discord receives them (``payload``), and what each one means."""

    payload: list[dict[str, Any]] = field(default_factory=list)
    commands: dict[str, SlashCommand] = field(default_factory=dict)


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _option_name(word: str) -> str:
    return re.sub(r"[^-_a-z0-9]+", "_", word.strip().lower()).strip("_")[:32]


def _string_option(
    name: str,
    description: str,
    *,
    required: bool,
    max_length: int,
    choices: Sequence[str] = (),
    autocomplete: bool = False,
) -> dict[str, Any]:
    option: dict[str, Any] = {
        "type": STRING,
        "name": name,
        "description": _cut(description, MAX_DESCRIPTION) or name,
        "required": required,
        "max_length": max_length,
    }
    if len(choices) > MAX_CHOICES or (autocomplete and not choices):
        option["autocomplete"] = True
    elif choices:
        option["choices"] = [
            {"name": _cut(c, 100), "value": c[:MAX_WORD]} for c in choices if c.strip()
        ]
    return option


def _gpt_command(text_limit: int) -> tuple[dict[str, Any], SlashCommand]:
    payload = {
        "type": CHAT_INPUT,
        "name": GPT_COMMAND,
        "description": "Ask a GPT of this server",
        "contexts": CONTEXTS,
        "integration_types": INTEGRATION_TYPES,
        "options": [
            _string_option(
                "name", "The GPT to ask", required=True, max_length=MAX_WORD, autocomplete=True
            ),
            _string_option("message", "What to ask it", required=True, max_length=text_limit),
        ],
    }
    return payload, SlashCommand(GPT_COMMAND, "", ("message",), "name")


def _task_command(
    command: Any, plugin: Any, text_limit: int
) -> tuple[dict[str, Any], SlashCommand]:
    """The slash command for a task plugin's chat command (a ``botkit.tasks.Command``)."""
    word = command.name.lower()
    declared: Mapping[str, tuple[str, ...]] = getattr(command, "choices", None) or {}
    found = [
        (m.group(1) or m.group(2), m.group(1) is not None)
        for m in _PLACEHOLDER.finditer(command.usage)
    ]
    inputs: list[tuple[str, bool, tuple[str, ...]]] = []
    for raw, required in found[: MAX_OPTIONS - 1]:
        name = _option_name(raw)
        if name and name != "gpt" and name not in (n for n, _, _ in inputs):
            inputs.append((name, required, tuple(declared.get(raw, declared.get(name, ())))))
    options = []
    for i, (name, required, choices) in enumerate(inputs):
        last = i == len(inputs) - 1
        # a required input after an optional one is made optional: Discord wants them first
        required = required and all(r for _, r, _ in inputs[:i])
        options.append(
            _string_option(
                name,
                f"The {name.replace('_', ' ')}",
                required=required,
                max_length=text_limit if last else MAX_WORD,
                choices=choices,
            )
        )
    options.append(
        _string_option(
            "gpt",
            "The GPT to use (default: this channel's)",
            required=False,
            max_length=MAX_WORD,
            autocomplete=True,
        )
    )
    description = command.help or getattr(plugin, "description", "") or f"{word} {command.usage}"
    payload = {
        "type": CHAT_INPUT,
        "name": word,
        "description": _cut(description, MAX_DESCRIPTION),
        "contexts": CONTEXTS,
        "integration_types": INTEGRATION_TYPES,
        "options": options,
    }
    meaning = SlashCommand(
        word,
        word,
        tuple(n for n, _, _ in inputs),
        "gpt",
        {n: c for n, _, c in inputs if c},
    )
    return payload, meaning


def _characters(command: dict[str, Any]) -> int:
    """What counts towards Discord's 4,000 characters a command: names, descriptions, values."""
    total = len(command["name"]) + len(command.get("description", ""))
    for option in command.get("options", []):
        total += _characters(option)
        for choice in option.get("choices", []):
            total += len(choice["name"]) + len(str(choice["value"]))
    return total


def build_tree(
    tasks: Mapping[str, Any], commands: Mapping[str, str], max_input_chars: int = MAX_OPTION_TEXT
) -> CommandTree:
    """The commands for the task plugins ``tasks`` (name -> plugin class) whose chat commands are
    ``commands`` (word -> plugin), and ``/gpt``. A command Discord would refuse (a name it does
    not allow, too large) is left out with a warning, so the others still sync."""
    text_limit = min(MAX_OPTION_TEXT, max_input_chars)
    tree = CommandTree()
    payload, meaning = _gpt_command(text_limit)
    tree.payload.append(payload)
    tree.commands[meaning.name] = meaning
    for word in sorted(commands):
        plugin = tasks.get(commands[word])
        command = next((c for c in getattr(plugin, "commands", ()) if c.name.lower() == word), None)
        if command is None:
            continue
        if not NAME.match(word) or word in tree.commands:
            log.warning("task command %r cannot be a Discord slash command: left out", word)
            continue
        payload, meaning = _task_command(command, plugin, text_limit)
        if _characters(payload) > MAX_COMMAND_CHARS:
            log.warning("task command %r is too large for Discord: left out", word)
            continue
        if len(tree.payload) >= MAX_COMMANDS:
            log.warning(
                "Discord allows %d slash commands: %r and later ones left out", MAX_COMMANDS, word
            )
            break
        tree.payload.append(payload)
        tree.commands[word] = meaning
    return tree


# -- sync --------------------------------------------------------------------------------------
#: What Discord adds to a command it stores (not part of what botkit defines).
_SERVER_KEYS = {"id", "application_id", "version", "guild_id", "dm_permission"}


def canonical(value: Any) -> Any:
    """A command as defined: without Discord's ids, and without empty or default values."""
    if isinstance(value, dict):
        kept = {k: canonical(v) for k, v in value.items() if k not in _SERVER_KEYS}
        return {k: v for k, v in kept.items() if v not in (None, False, [], {})}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def same_commands(local: Sequence[dict[str, Any]], remote: Sequence[dict[str, Any]]) -> bool:
    def key(command: dict[str, Any]) -> tuple[int, str]:
        return int(command.get("type") or CHAT_INPUT), str(command.get("name"))

    ours = sorted((canonical(c) for c in local), key=key)
    theirs = sorted((canonical(c) for c in remote), key=key)
    return ours == theirs


async def sync_commands(
    http: Any, application_id: int, tree: CommandTree, guild_id: int | None
) -> bool:
    """Make Discord's commands (of ``guild_id``, else global) ``tree``'s, only when they differ;
    whether they were replaced. ``http`` is discord.py's ``HTTPClient``."""
    if guild_id is not None:
        remote = await http.get_guild_commands(application_id, guild_id)
    else:
        remote = await http.get_global_commands(application_id)
    if same_commands(tree.payload, remote):
        return False
    if guild_id is not None:
        await http.bulk_upsert_guild_commands(application_id, guild_id, tree.payload)
    else:
        await http.bulk_upsert_global_commands(application_id, tree.payload)
    return True
