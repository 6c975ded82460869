"""Plugin discovery: entry points (botkit's own providers) and plugin folders, with isolation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from botkit.core.bot import Bot
from botkit.core.message import Message
from botkit.errors import ConfigError, InputError, PluginError
from botkit.loader import load_catalog
from botkit.plugins import load_registry
from botkit.spec import GPTSpec
from botkit.tasks import NoOptions, TaskRequest
from botkit.testing import StubOpenAI

from .conftest import run_botkit, stub_model, write_gpt

ECHO_PLUGIN = """
import botkit
from botkit.models.base import ChatModel


class Reverse(ChatModel):
    context_window = 1000

    async def count_tokens(self, text):
        return len(text.split())

    async def stream(self, messages, params):
        for word in messages[-1]["content"].split()[::-1]:
            yield word + " "


@botkit.hookimpl
def register_providers(register):
    register("reverse", Reverse)
"""


def test_builtin_providers_come_from_botkits_own_entry_points() -> None:
    registry = load_registry()
    assert {"openai", "local"} <= set(registry.providers)
    assert registry.sources["openai"].startswith("botkit ")
    assert registry.failures == []


async def test_a_folder_plugin_provides_a_model_and_broken_ones_are_reported(
    tmp_path: Path, config_dir: Path
) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "reverse.py").write_text(ECHO_PLUGIN)
    (plugins / "broken.py").write_text("import no_such_module_here\n")
    (plugins / "raises.py").write_text(
        "import botkit\n\n@botkit.hookimpl\ndef register_providers(register):\n"
        "    raise RuntimeError('boom')\n"
    )
    write_gpt(config_dir, "rev", model="reverse:any")
    bot = Bot.from_config(config_dir, None, (plugins,))
    failures = {f.plugin: f.error for f in bot.registry.failures}
    assert "No module named 'no_such_module_here'" in failures["broken"]
    assert failures["raises"] == "register_providers raised: boom"
    assert await bot.reply_text(Message("one two three", "rev")) == "three two one "
    result = run_botkit(
        "--plugins-dir",
        str(plugins),
        "--config-dir",
        str(config_dir),
        "console",
        "--gpt",
        "rev",
        input="a b\n",
    )
    assert result.stdout == "b a \n"
    assert (
        "warning: plugin broken failed to load: No module named 'no_such_module_here'"
        in result.stderr
    )


TASK_PLUGIN = """
import botkit
from botkit.tasks import Command, TaskPlugin, TaskResult


class Shout(TaskResult):
    loud: str


class ShoutTask(TaskPlugin):
    name = "shout"
    commands = (Command("shout", "<text>", "Say it louder"),)

    async def run(self, request):
        return Shout(loud=request.text.upper())


@botkit.hookimpl
def register_tasks(register):
    register("shout", ShoutTask)
"""


def test_botkit_plugins_lists_every_kind_with_its_source(tmp_path: Path) -> None:
    plugins = tmp_path / "mine"
    plugins.mkdir()
    (plugins / "shouting.py").write_text(TASK_PLUGIN)
    (plugins / "broken.py").write_text("raise RuntimeError('nope')\n")
    result = run_botkit("--plugins-dir", str(plugins), "plugins", "--json")
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    assert rows[("task", "shout")]["plugin"] == "shouting"
    assert rows[("task", "shout")]["source"] == str(plugins / "shouting.py")
    assert rows[("provider", "openai")]["source"].startswith("botkit ")
    assert ("embedder", "wordllama") in rows
    assert "warning: plugin broken failed to load: nope" in result.stderr


async def test_a_task_plugin_returns_a_typed_result(tmp_path: Path) -> None:
    plugins = tmp_path / "mine"
    plugins.mkdir()
    (plugins / "shouting.py").write_text(TASK_PLUGIN)
    registry = load_registry((plugins,))
    task = registry.tasks["shout"]()
    result = await task.run(
        TaskRequest("hi there", GPTSpec(name="g", instructions="x"), NoOptions(), None)
    )  # type: ignore[arg-type]
    assert result.model_dump() == {"loud": "HI THERE"}
    assert result.text() == "loud: HI THERE"
    assert task.commands[0].name == "shout"


@pytest.fixture
def shouting(tmp_path: Path, config_dir: Path, openai_stub: StubOpenAI) -> Bot:
    plugins = tmp_path / "mine"
    plugins.mkdir()
    (plugins / "shouting.py").write_text(TASK_PLUGIN)
    (plugins / "picky.py").write_text(CRASHING_PLUGIN)
    write_gpt(config_dir, "chat", model=stub_model(openai_stub))
    write_gpt(config_dir, "loud", model=stub_model(openai_stub), task={"plugin": "shout"})
    write_gpt(
        config_dir, "strict", model=stub_model(openai_stub), task={"plugin": "picky", "options": {}}
    )
    return Bot.from_config(config_dir, tmp_path / "home", (plugins,))


CRASHING_PLUGIN = """
import botkit
from botkit.tasks import Command, NoOptions, TaskPlugin


class Picky(TaskPlugin):
    name = "picky"
    commands = (Command("crash", "<text>", "Always fails"),)

    class Options(NoOptions):
        level: int

    async def run(self, request):
        raise ZeroDivisionError("division by zero")


@botkit.hookimpl
def register_tasks(register):
    register("picky", Picky)
"""


async def test_a_command_word_runs_its_task_in_any_gpt(
    shouting: Bot, openai_stub: StubOpenAI
) -> None:
    reply = await shouting.respond(Message("!shout hello there", "chat")).collect()
    assert reply.result is not None and reply.result.model_dump() == {"loud": "HELLO THERE"}
    assert reply.text == "loud: HELLO THERE"
    assert openai_stub.chat_requests == []  # no model call
    assert await shouting.reply_text(Message("just chatting", "chat")) == "echo: just chatting"
    history = await shouting.history(Message("", "chat").conversation)
    assert [t.chat() for t in history[:2]] == [
        {"role": "user", "content": "!shout hello there"},
        {"role": "assistant", "content": "loud: HELLO THERE"},
    ]


async def test_a_task_gpt_sends_every_message_to_its_task(shouting: Bot) -> None:
    assert await shouting.reply_text(Message("quiet words", "loud")) == "loud: QUIET WORDS"


async def test_bad_task_input_and_broken_plugins_are_clear_errors(shouting: Bot) -> None:
    with pytest.raises(InputError, match="nothing to work on: shout <text>"):
        await shouting.reply_text(Message("!shout", "chat"))
    with pytest.raises(InputError, match="picky needs options GPT 'chat' does not give"):
        await shouting.reply_text(Message("!crash now", "chat"))
    with pytest.raises(
        ConfigError,
        match=r"strict.yaml:\d+:\d+: task.options.level: missing required field 'level'",
    ):
        await shouting.reply_text(Message("anything", "strict"))
    assert await shouting.reply_text(Message("!shout still works", "chat")) == "loud: STILL WORKS"


async def test_a_plugin_that_raises_is_named(shouting: Bot, config_dir: Path) -> None:
    write_gpt(config_dir, "ok", task={"plugin": "picky", "options": {"level": 1}})
    shouting.catalog = load_catalog(config_dir, tasks=shouting.registry.tasks)
    with pytest.raises(
        PluginError, match="task plugin picky failed: ZeroDivisionError: division by zero"
    ):
        await shouting.reply_text(Message("go", "ok"))


def test_the_console_answers_a_command_with_the_tasks_result(
    tmp_path: Path, config_dir: Path, openai_stub: StubOpenAI
) -> None:
    plugins = tmp_path / "mine"
    plugins.mkdir()
    (plugins / "shouting.py").write_text(TASK_PLUGIN)
    write_gpt(config_dir, "chat", model=stub_model(openai_stub))
    result = run_botkit(
        "--plugins-dir", str(plugins), "--config-dir", str(config_dir), "console", "--gpt", "chat",
        input="!shout hi\n/shout\nhello\n",
    )  # fmt: skip
    assert result.stdout == "loud: HI\n\necho: hello\n"
    assert "error: nothing to work on: shout <text>" in result.stderr


def test_task_plugins_and_their_options_are_checked_with_file_and_line(tmp_path: Path) -> None:
    plugins = tmp_path / "mine"
    plugins.mkdir()
    (plugins / "picky.py").write_text(CRASHING_PLUGIN)
    gpt = tmp_path / "g.yaml"
    gpt.write_text("name: g\ninstructions: x\ntask:\n  plugin: picky\n  options:\n    levl: 2\n")
    other = tmp_path / "h.yaml"
    other.write_text("name: h\ninstructions: x\ntask: {plugin: pickie}\n")
    result = run_botkit("--plugins-dir", str(plugins), "validate", str(gpt), str(other))
    assert result.returncode == 1
    assert f"{gpt}:6:5: task.options.level: missing required field 'level'" in result.stdout
    assert (
        f"{gpt}:6:5: task.options.levl: unknown field 'levl' (did you mean 'level'?); allowed here: level"
        in result.stdout
    )
    assert (
        f"{other}:3:16: task.plugin: unknown task plugin 'pickie' (did you mean 'picky'?)"
        in result.stdout
    )
