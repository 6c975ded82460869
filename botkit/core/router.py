"""Which task plugin, if any, handles a message: a command word first, then the GPT's own task."""

from __future__ import annotations

from dataclasses import dataclass

from botkit.spec import GPTSpec


@dataclass(frozen=True)
class TaskRoute:
    plugin: str
    command: str  # the command word used, or "" when the GPT's task handles every message
    text: str  # what the task works on: the message without its command word


def route(text: str, spec: GPTSpec, commands: dict[str, str]) -> TaskRoute | None:
    """``commands`` maps each command word to the plugin offering it."""
    parts = text.split(maxsplit=1)
    word = parts[0].lower() if parts else ""
    if word in commands:
        return TaskRoute(commands[word], word, parts[1].strip() if len(parts) > 1 else "")
    if spec.task is not None:
        return TaskRoute(spec.task.plugin, "", text)
    return None
