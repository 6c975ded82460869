"""Plugin discovery: entry points (botkit's own providers) and plugin folders, with isolation."""

from __future__ import annotations

from pathlib import Path

from botkit.core.bot import Bot
from botkit.core.message import Message
from botkit.plugins import load_registry

from .conftest import run_botkit, write_gpt

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
