"""Model and dependency faults through the stub servers: timeouts, 429s, 500s, malformed answers,
streams cut or never ending, a Chroma server that goes away and comes back. Each surface says
something short and useful, never shows a half answer as whole, and keeps serving."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from botkit.core.bot import Bot
from botkit.core.message import Message
from botkit.errors import ModelResponseError, ModelUnreachable, StoreUnreachable
from botkit.testing import StubOpenAI

from ..conftest import stub_model, write_gpt
from ..serve.conftest import running


def ask(url: str, text: str = "hi", stream: bool = False) -> Any:
    client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
    return client.chat.completions.create(
        model="flaky", messages=[{"role": "user", "content": text}], stream=stream
    )


@pytest.fixture
def flaky(config_dir: Path, openai_stub: StubOpenAI) -> Path:
    write_gpt(config_dir, "flaky", model=stub_model(openai_stub, timeout=1.0, max_retries=1))
    return config_dir


async def test_a_model_that_answers_too_late_is_retried_then_a_short_error(
    flaky: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    async with running(flaky, tmp_path / "home", {"name": "x", "default_gpt": "flaky"}) as server:
        openai_stub.latency = 2.0
        with pytest.raises(openai.APIStatusError) as failed:
            await ask(server.api)
        assert failed.value.status_code == 502 and "timed out" in failed.value.message
        assert len(openai_stub.chat_requests) == 2  # retried once
        openai_stub.latency = 0
        answer = await ask(server.api, "back")
        assert answer.choices[0].message.content == "echo: back"  # it recovered by itself


async def test_429_with_retry_after_and_500s_are_retried(
    flaky: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    async with running(flaky, tmp_path / "home", {"name": "x", "default_gpt": "flaky"}) as server:
        openai_stub.fault("status", status=429, retry_after=0.2)
        started = time.monotonic()
        assert (await ask(server.api)).choices[0].message.content == "echo: hi"
        assert time.monotonic() - started >= 0.2  # Retry-After honoured
        openai_stub.fault("status", status=500)
        assert (await ask(server.api)).choices[0].message.content == "echo: hi"
        openai_stub.fault("status", status=503, times=2)
        with pytest.raises(openai.APIStatusError, match="answered 503"):
            await ask(server.api)
        openai_stub.fault("malformed")
        with pytest.raises(openai.APIStatusError, match="malformed"):
            await ask(server.api, stream=True)
        assert (await ask(server.api, "still")).choices[0].message.content == "echo: still"


async def test_a_stream_that_never_ends_is_cut_by_the_timeout_and_says_so(
    flaky: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    openai_stub.reply("one two three four five")
    openai_stub.fault("hang", after=2)
    async with running(flaky, tmp_path / "home", {"name": "x", "default_gpt": "flaky"}) as server:
        async with httpx.AsyncClient(timeout=30) as http:
            started = time.monotonic()
            raw = await http.post(
                f"{server.api}/chat/completions",
                json={
                    "model": "flaky",
                    "messages": [{"role": "user", "content": "x"}],
                    "stream": True,
                },
            )
            assert time.monotonic() - started < 10
        assert '"error"' in raw.text and "[DONE]" not in raw.text  # never a half answer as whole
        assert '"content": "one "' in raw.text and '"content": "two "' in raw.text


async def test_the_core_names_each_fault_in_one_line(
    flaky: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    bot = Bot.from_config(flaky, tmp_path / "home")
    openai_stub.fault("drop", times=2)
    with pytest.raises(
        ModelUnreachable, match=r"cannot reach the model server at http://127\.0\.0\.1"
    ):
        await bot.reply_text(Message("x", "flaky"))
    openai_stub.fault("malformed")
    with pytest.raises(ModelResponseError, match="malformed"):
        await bot.reply_text(Message("x", "flaky"))
    assert await bot.reply_text(Message("fine", "flaky")) == "echo: fine"
    await bot.aclose()


def _start_chroma(path: Path, port: int) -> subprocess.Popen[bytes]:
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert chroma, "the chroma command comes with chromadb"
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).close()
            return proc
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "chroma run did not start"
            time.sleep(0.1)


async def test_a_chroma_server_that_goes_away_is_a_clear_error_and_its_return_needs_nothing(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text("# Refunds\n\nRefunds are issued within 5 business days.\n")
    url = f"http://127.0.0.1:{port}"
    write_gpt(config_dir, "flaky", model=stub_model(openai_stub),
              knowledge={"sources": ["docs"], "min_score": 0, "chroma_url": url})  # fmt: skip
    chroma = _start_chroma(tmp_path / "chroma", port)
    try:
        bot = Bot.from_config(config_dir, tmp_path / "home")
        assert "Refunds are issued" in await _prompt_of(bot, openai_stub)
        chroma.terminate()
        chroma.wait(10)
        with pytest.raises(StoreUnreachable, match=f"cannot reach the Chroma server at {url}"):
            await bot.reply_text(Message("How long do refunds take?", "flaky"))
        chroma = _start_chroma(tmp_path / "chroma", port)
        assert "Refunds are issued" in await _prompt_of(bot, openai_stub)
        await bot.aclose()
    finally:
        chroma.terminate()
        chroma.wait(10)


async def _prompt_of(bot: Bot, stub: StubOpenAI) -> str:
    await bot.reply_text(Message("How long do refunds take?", "flaky"))
    content: str = stub.chat_requests[-1].body["messages"][-1]["content"]
    await asyncio.sleep(0)
    return content
