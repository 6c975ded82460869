"""A running ``botkit serve`` in the test's own event loop, on a free port."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from botkit.deploy.loader import parse_bot
from botkit.serve.runner import ServeOptions, serve
from botkit.settings import Settings
from botkit.testing import StubOpenAI

from ..conftest import stub_model, write_gpt


@dataclass
class Running:
    url: str
    stop: asyncio.Event
    task: asyncio.Task[int]

    @property
    def api(self) -> str:
        return f"{self.url}/v1"


@contextlib.asynccontextmanager
async def running(
    config_dir: Path, home: Path, deployment: dict[str, Any], only: tuple[str, ...] = ()
) -> AsyncIterator[Running]:
    """``botkit serve`` of ``deployment`` (a deployment file's content) until the block ends."""
    spec = parse_bot(yaml.safe_dump(deployment), "test.yaml")
    settings = Settings(config_dir, home)
    stop = asyncio.Event()
    bound: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def listening(host: str, port: int) -> None:
        bound.set_result(f"http://{host}:{port}")

    options = ServeOptions(only=only, port=0, on_listening=listening, stop=stop)
    task = asyncio.create_task(serve(settings, spec, options))
    done, _ = await asyncio.wait({task, bound}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        raise AssertionError(f"the server stopped at once with {task.result()}")
    server = Running(bound.result(), stop, task)
    try:
        yield server
    finally:
        stop.set()
        assert await asyncio.wait_for(task, 30) == 0


@pytest.fixture
def gpts(config_dir: Path, openai_stub: StubOpenAI) -> Path:
    """An echo GPT and a private one on the stub; the config folder."""
    write_gpt(
        config_dir,
        "echo",
        model=stub_model(openai_stub),
        description="echoes",
        starters=["Say hi"],
        parameters={"max_tokens": 100},
    )
    write_gpt(config_dir, "secret", model=stub_model(openai_stub), description="for admins")
    return config_dir
