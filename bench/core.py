"""Core benchmarks (issue: core). Figures are printed; nothing here is a pass/fail test.

(a) Latency botkit's dispatch adds over a direct openai-client call to the same stub server, calls
    interleaved in one run, p50 and p95. Target: <= 1 ms added at p50. Two direct baselines:
    - "same call": the client and request botkit's provider makes (aiohttp transport, raw chunks);
    - "typed create": ``chat.completions.create`` on a default client, what most code writes.
(b) 200 concurrent conversations against a stub that answers in 200 ms: wall time for all of them.
    Target: <= 1.5 x 200 ms. Shown beside the same 200 calls made directly with the openai client,
    and with bare aiohttp (the floor: the HTTP work alone, no SDK).

The stub server runs in a child process, so it does not compete for this process's GIL.
Run: python bench/core.py [--requests 400] [--conversations 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import openai
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stub import stub_server

from botkit import Bot, Message

INSTRUCTIONS = "You translate into French. Reply with the translation only."
QUESTION = "Where is the station?"
MESSAGES = [
    {"role": "system", "content": INSTRUCTIONS},
    {"role": "user", "content": "Good morning"},
    {"role": "assistant", "content": "Bonjour"},
    {"role": "user", "content": QUESTION},
]


def make_bot(url: str, home: Path) -> Bot:
    gpts = home / "configs" / "gpts"
    gpts.mkdir(parents=True, exist_ok=True)
    gpt = {
        "name": "bench",
        "model": {"provider": "openai", "name": "stub-model", "base_url": url, "max_retries": 0},
        "instructions": INSTRUCTIONS,
        "examples": [{"user": "Good morning", "assistant": "Bonjour"}],
        "parameters": {"temperature": 0.1, "max_tokens": 64},
    }
    (gpts / "bench.yaml").write_text(yaml.safe_dump(gpt))
    return Bot.from_config(home / "configs", home / "data")


class Callers:
    """The ways of asking the stub the same question, each one awaitable call."""

    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        self.bot = make_bot(url, home)
        self.same = openai.AsyncOpenAI(
            api_key="x", base_url=url, max_retries=0, http_client=openai.DefaultAioHttpClient()
        )
        self.typed = openai.AsyncOpenAI(api_key="x", base_url=url, max_retries=0)
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self.n = 0

    async def botkit(self) -> None:
        self.n += 1
        async for _ in self.bot.respond(Message(QUESTION, "bench", "bench", thread=str(self.n))):
            pass

    async def same_call(self) -> None:
        body = {
            "model": "stub-model",
            "messages": MESSAGES,
            "stream": True,
            "temperature": 0.1,
            "max_tokens": 64,
        }
        stream = await self.same.post(
            "/chat/completions",
            body=body,
            cast_to=object,
            stream=True,
            stream_cls=openai.AsyncStream[object],
        )
        async for _ in stream:
            pass

    async def typed_create(self) -> None:
        stream = await self.typed.chat.completions.create(
            model="stub-model",
            messages=MESSAGES,
            stream=True,
            temperature=0.1,
            max_tokens=64,  # type: ignore[arg-type]
        )
        async for _ in stream:
            pass

    async def bare_aiohttp(self) -> None:
        body = {"model": "stub-model", "messages": MESSAGES, "stream": True}
        async with self.session.post(f"{self.url}/chat/completions", json=body) as response:
            async for _ in response.content:
                pass

    async def close(self) -> None:
        await self.bot.aclose()
        await self.same.close()
        await self.typed.close()
        await self.session.close()


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


async def added_latency(url: str, home: Path, requests: int) -> None:
    callers = Callers(url, home)
    timed: dict[str, Callable[[], Awaitable[None]]] = {
        "through botkit": callers.botkit,
        "direct, same call": callers.same_call,
        "direct, typed create": callers.typed_create,
    }
    ms: dict[str, list[float]] = {name: [] for name in timed}
    for i in range(requests + 20):
        for name, call in timed.items():
            t0 = time.perf_counter()
            await call()
            if i >= 20:  # warm-up: connections, imports, the model cache
                ms[name].append((time.perf_counter() - t0) * 1000)
    print(f"(a) one streamed answer, {requests} calls of each kind interleaved (ms)")
    for name, values in ms.items():
        print(f"    {name:<22} p50 {pct(values, 50):6.2f}   p95 {pct(values, 95):6.2f}")
    bot, same = ms["through botkit"], ms["direct, same call"]
    print(
        f"    added by botkit        p50 {pct(bot, 50) - pct(same, 50):6.2f}   "
        f"p95 {pct(bot, 95) - pct(same, 95):6.2f}   (vs the same call; target p50 <= 1.00)"
    )
    await callers.close()


async def concurrency(url: str, home: Path, conversations: int, latency: float) -> None:
    callers = Callers(url, home)
    runs: dict[str, Callable[[], Awaitable[None]]] = {
        "through botkit": callers.botkit,
        "direct, same call": callers.same_call,
        "direct, typed create": callers.typed_create,
        "bare aiohttp (floor)": callers.bare_aiohttp,
    }
    print(f"(b) {conversations} concurrent conversations, stub answers in {latency * 1000:.0f} ms")
    for name, call in runs.items():
        walls = []
        for _ in range(3):  # the first round also opens the connections
            t0 = time.perf_counter()
            await asyncio.gather(*(call() for _ in range(conversations)))
            walls.append((time.perf_counter() - t0) * 1000)
        best = min(walls[1:])
        print(
            f"    {name:<22} {best:6.0f} ms = {best / (latency * 1000):.2f} x latency "
            f"(first round, opening connections: {walls[0]:.0f} ms)   target <= 1.50"
        )
    await callers.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--conversations", type=int, default=200)
    args: Any = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with stub_server() as url:
            asyncio.run(added_latency(url, Path(tmp) / "a", args.requests))
        with stub_server(latency=0.2) as url:
            asyncio.run(concurrency(url, Path(tmp) / "b", args.conversations, 0.2))


if __name__ == "__main__":
    main()
