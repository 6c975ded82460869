"""A complete botkit task plugin in one file: options, a command, a typed result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

import botkit


class ShoutOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    exclamation_marks: int = 1


class Shouted(botkit.TaskResult):
    text_in_capitals: str

    def text(self) -> str:
        return self.text_in_capitals


class ShoutTask(botkit.TaskPlugin):
    name = "shout"
    description = "Repeat the text in capitals."
    Options = ShoutOptions
    commands = (botkit.Command("shout", "<text>", "Say it louder"),)

    async def run(self, request: botkit.TaskRequest) -> botkit.TaskResult:
        assert isinstance(request.options, ShoutOptions)
        return Shouted(
            text_in_capitals=request.text.upper() + "!" * request.options.exclamation_marks
        )


@botkit.hookimpl
def register_tasks(register: Callable[[str, Any], None]) -> None:
    register("shout", ShoutTask)
