"""The pytest fixtures of :mod:`botkit.testing` (registered through the ``pytest11`` entry point).

- ``openai_stub``: a running :class:`~botkit.testing.StubOpenAI`;
- ``slack_stub``: a running :class:`~botkit.testing.StubSlack` (Web API and Socket Mode);
- ``discord_stub``: a running :class:`~botkit.testing.StubDiscord` (heartbeats every 0.5 s);
- ``botkit_home``: a fresh ``BOTKIT_HOME`` for the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from botkit.testing.discord_stub import StubDiscord
from botkit.testing.openai_stub import StubOpenAI
from botkit.testing.slack_stub import StubSlack


@pytest.fixture
def openai_stub() -> Iterator[StubOpenAI]:
    with StubOpenAI() as stub:
        yield stub


@pytest.fixture
def slack_stub() -> Iterator[StubSlack]:
    with StubSlack() as stub:
        yield stub


@pytest.fixture
def discord_stub() -> Iterator[StubDiscord]:
    with StubDiscord(heartbeat_interval=0.5) as stub:
        yield stub


@pytest.fixture
def botkit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "botkit-home"
    monkeypatch.setenv("BOTKIT_HOME", str(home))
    return home
