"""``botkit discord invite-url``: the invitation, with the application id given or asked of
Discord (the stub) with the bot token."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from botkit.adapters.discord.invite import BOT_PERMISSIONS
from botkit.cli.app import cli
from botkit.errors import BotkitError
from botkit.testing import StubDiscord


def test_invite_url_asks_for_exactly_the_permissions_used(
    gpts: Path, discord_api: StubDiscord
) -> None:
    runner = CliRunner()
    given = runner.invoke(cli, ["discord", "invite-url", "--app-id", "42"])
    assert given.exit_code == 0, given.output
    assert given.stdout.strip() == (
        "https://discord.com/oauth2/authorize?client_id=42&scope=bot+applications.commands"
        f"&permissions={BOT_PERMISSIONS}"
    )
    assert BOT_PERMISSIONS == 309237730304
    asked = runner.invoke(cli, ["--config-dir", str(gpts), "discord", "invite-url"])
    assert asked.exit_code == 0, asked.output
    assert f"client_id={discord_api.application_id}&" in asked.stdout
    assert discord_api.calls("GET", "/oauth2/applications/@me")
    for line in ("View Channels", "Read Message History: reply to the message it answers"):
        assert line in asked.stderr


def test_invite_url_without_a_token_or_an_app_id(
    gpts: Path, discord_api: StubDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISCORD_TOKEN")
    result = CliRunner().invoke(cli, ["--config-dir", str(gpts), "discord", "invite-url"])
    assert isinstance(result.exception, BotkitError)
    assert re.search(r"--app-id.*\$DISCORD_TOKEN", str(result.exception))
