"""Which task plugin, if any, handles a message.

In order: a command the platform named (a Slack or Discord slash command), a command word behind
the deployment's prefix (``!translate fr Hello``; the console also takes ``/translate``), then the
GPT's own task, which takes every other message as its input. Anything else is chat: "Ask Bob
whether the invoice went out" reaches the model, not the ``ask`` command.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from botkit.spec import GPTSpec

#: Prefixes that mark a command word in chat surfaces unless the deployment file says otherwise.
DEFAULT_COMMAND_PREFIXES = ("!",)


@dataclass(frozen=True)
class TaskRoute:
    plugin: str
    command: str  # the command word used, or "" when the GPT's task handles every message
    text: str  # what the task works on: the message without its command word


def route(
    text: str,
    spec: GPTSpec,
    commands: Mapping[str, str],
    prefixes: Sequence[str] = DEFAULT_COMMAND_PREFIXES,
    command: str = "",
) -> TaskRoute | None:
    """``commands`` maps each command word to the plugin offering it; ``command`` is a command
    the platform named explicitly (``text`` is then its whole input)."""
    if command:
        word = command.lower()
        return TaskRoute(commands[word], word, text.strip()) if word in commands else None
    for prefix in prefixes:
        if prefix and text.startswith(prefix):
            parts = text[len(prefix) :].split(maxsplit=1)
            word = parts[0].lower() if parts else ""
            if word in commands:
                return TaskRoute(commands[word], word, parts[1].strip() if len(parts) > 1 else "")
    if spec.task is not None:
        return TaskRoute(spec.task.plugin, "", text)
    return None
