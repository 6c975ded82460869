"""A real ``botkit serve`` with the Discord surface, in the test's loop, against StubDiscord."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import botkit.adapters.discord as discord_surface
from botkit.adapters.discord.surface import DiscordSurfaceRunner
from botkit.deploy.loader import parse_bot
from botkit.serve import runner
from botkit.serve.runner import ServeOptions, serve
from botkit.settings import Settings
from botkit.testing import StubDiscord, StubOpenAI, route_discord_py

from ..conftest import stub_model, write_gpt


@pytest.fixture
def discord_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubDiscord]:
    """StubDiscord with discord.py routed at it and ``DISCORD_TOKEN`` set to its token."""
    with StubDiscord(heartbeat_interval=0.5) as stub, route_discord_py(stub):
        monkeypatch.setenv("DISCORD_TOKEN", stub.token)
        monkeypatch.delenv("BOTKIT_DISCORD_GUILD", raising=False)
        yield stub
    assert not stub.errors  # the stub's own handlers never failed


@pytest.fixture(autouse=True)
def _discord_surface(monkeypatch: pytest.MonkeyPatch) -> None:
    register_discord(monkeypatch)


def register_discord(monkeypatch: pytest.MonkeyPatch) -> None:
    """The surface registered as its entry point will register it once botkit is reinstalled,
    and ready at once (discord.py's wait for more servers is for Discord's many)."""
    real = runner.load_registry

    def with_discord(plugin_dirs: Any = (), extra: Any = ()) -> Any:
        registry = real(plugin_dirs, extra)
        if "discord" not in registry.surfaces:
            registry = real(plugin_dirs, [*extra, discord_surface])
        return registry

    monkeypatch.setattr(runner, "load_registry", with_discord)
    monkeypatch.setattr(DiscordSurfaceRunner, "GUILD_READY_TIMEOUT", 0.05)


@pytest.fixture
def gpts(config_dir: Path, openai_stub: StubOpenAI) -> Path:
    """An echo GPT on the stub model; the config folder."""
    write_gpt(config_dir, "echo", model=stub_model(openai_stub), description="echoes")
    write_gpt(config_dir, "secret", model=stub_model(openai_stub), description="for admins")
    return config_dir


def deployment(discord: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A deployment file's content serving Discord (with ``discord`` settings)."""
    return {
        "name": "team",
        "default_gpt": "echo",
        **fields,
        "surfaces": {"discord": {"enabled": True, **(discord or {})}},
    }


@dataclass
class Served:
    surface: DiscordSurfaceRunner
    stop: asyncio.Event
    task: asyncio.Task[int]


@contextlib.asynccontextmanager
async def serving(
    config_dir: Path, home: Path, spec: dict[str, Any], only: tuple[str, ...] = ("discord",)
) -> AsyncIterator[Served]:
    """``botkit serve`` of ``spec`` until the block ends, once the Discord surface has started
    (connected, ready, commands synced); the server must then stop cleanly (exit code 0)."""
    started: asyncio.Future[DiscordSurfaceRunner] = asyncio.get_running_loop().create_future()
    original = DiscordSurfaceRunner.start

    async def start(self: DiscordSurfaceRunner) -> None:
        try:
            await original(self)
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            raise
        started.set_result(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DiscordSurfaceRunner, "start", start)
        stop = asyncio.Event()
        options = ServeOptions(only=only, port=0, stop=stop)
        bot = parse_bot(yaml.safe_dump(spec), "team.yaml")
        task = asyncio.create_task(serve(Settings(config_dir, home), bot, options))
        done, _ = await asyncio.wait({task, started}, timeout=30, return_when="FIRST_COMPLETED")
        if started not in done or started.exception() is not None:
            stop.set()
            code = await asyncio.wait_for(task, 30)
            why = started.exception() if started.done() else "no start within 30 s"
            raise AssertionError(f"the Discord surface did not start ({why}); exit code {code}")
        served = Served(started.result(), stop, task)
        try:
            yield served
        finally:
            stop.set()
            assert await asyncio.wait_for(task, 30) == 0
