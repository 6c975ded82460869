"""Operations figures (issue 14). Printed; nothing here is a pass/fail test.

(1) Recording usage: the cost a model call pays for being recorded (the metering wrapper, the
    price lookup, the record handed to the batched SQLite writer, as ``botkit serve`` sets it up)
    against the same call unrecorded, on an instant in-process model so that nothing else is
    timed; rounds alternate, and the background writes happen during the timed calls.
    Target: <= 0.2 ms p50 a call.
(2) Scale-out: one ``botkit serve api`` worker against two, both on one Redis server (``storage:
    redis://...``: conversations, rate limits, feedback), 64 concurrent streaming clients spread
    round-robin over the workers as a load balancer would, the stub model answering in 100 ms in
    its own process. Throughput ratio (two cores here: the model stub, Redis, the client and the
    workers share them, so 2x is out of reach) and errors (target 0).

Run: python bench/scale.py [--calls 20000] [--requests 3000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncGenerator
from pathlib import Path

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serve import ServeProcess, serve_argv
from _stub import stub_server
from api import BODY, one, pct

from botkit.core.bot import Bot
from botkit.core.metering import CallContext, current_call, metered
from botkit.loader import Catalog
from botkit.models.base import ChatMessage, ChatModel, Chunk, StreamEnd
from botkit.plugins import Registry
from botkit.serve.runner import record_usage
from botkit.spec import GenerationParams, ModelSpec
from botkit.storage.sqlite_usage import SQLiteUsage
from botkit.usage import PriceTable

MESSAGES = [ChatMessage(role="user", content="Where is the train station?")]


class Instant(ChatModel):
    """A model that answers at once: what is left to time is botkit's."""

    context_window = 4096

    async def count_tokens(self, text: str) -> int:
        return len(text.split())

    async def stream(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[Chunk, None]:
        for piece in ("La ", "gare ", "est ", "là."):
            yield piece
        yield StreamEnd("stop", 12, 4)


async def timed(model: ChatModel, calls: int) -> list[float]:
    took = []
    params = GenerationParams()
    for _ in range(calls):
        started = time.perf_counter()
        async for _ in model.stream(MESSAGES, params):
            pass
        took.append(time.perf_counter() - started)
    return took


async def recording(calls: int) -> None:
    spec = ModelSpec(provider="openai", name="gpt-4o-mini", base_url="http://127.0.0.1:1")
    bare = Instant(spec)
    with tempfile.TemporaryDirectory() as tmp:
        bot = Bot(Catalog(Path(tmp)), Registry(), None, Path(tmp))
        closers = record_usage(bot, Path(tmp), PriceTable({}))
        recorded = metered(Instant(spec), bot.usage_sinks)
        current_call.set(CallContext("bench", "api", "u", "r1"))
        plain: list[float] = []
        metered_: list[float] = []
        await timed(recorded, 200)  # warm-up: the store opened, the writer started
        for _ in range(10):  # alternate: the machine's noise hits both alike
            plain += await timed(bare, calls // 10)
            metered_ += await timed(recorded, calls // 10)
        for close in closers:
            await close()
        store = SQLiteUsage(Path(tmp) / "usage.sqlite3")
        kept = sum(row["calls"] for row in store.summary())
        store.close()
    a, b = statistics.median(plain), statistics.median(metered_)
    print(f"(1) recording usage, {calls} calls each way, an instant model")
    print(f"    unrecorded p50 {a * 1e3:.3f} ms, recorded p50 {b * 1e3:.3f} ms: "
          f"added {(b - a) * 1e3:.3f} ms a call (target <= 0.2 ms)")  # fmt: skip
    mean_a, mean_b = statistics.fmean(plain), statistics.fmean(metered_)
    print(f"    means (background writes included): added {(mean_b - mean_a) * 1e3:.3f} ms; "
          f"{kept} calls in usage.sqlite3")  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def project(url: str, root: Path, storage: str) -> Path:
    gpts = root / "configs" / "gpts"
    gpts.mkdir(parents=True)
    model = {"provider": "openai", "name": "stub-model", "base_url": url, "max_retries": 0}
    gpt = {"name": "bench", "model": model, "instructions": "Answer briefly."}
    (gpts / "bench.yaml").write_text(yaml.safe_dump(gpt))
    deployment = {"name": "bench", "default_gpt": "bench", "rate_limit": None, "storage": storage}
    (root / "configs" / "bots").mkdir()
    (root / "configs" / "bots" / "default.yaml").write_text(yaml.safe_dump(deployment))
    return root / "configs"


async def load(urls: list[str], requests: int, width: int) -> tuple[float, int, list[float]]:
    """``requests`` streamed chats, ``width`` at a time, round-robin over ``urls``."""
    latencies: list[float] = []
    errors = 0
    queue = list(range(requests))

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while queue:
            n = queue.pop()
            try:
                latencies.append(await one(session, urls[n % len(urls)], BODY))
            except Exception:
                errors += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for url in urls:  # every worker answers before the clock starts
            await one(session, url, BODY)
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(width)))
    return time.perf_counter() - started, errors, latencies


async def scale_out(requests: int, width: int) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        print("(2) skipped: no redis-server here (apt-get install redis-server)")
        return
    port = free_port()
    redis = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    results = {}
    try:
        with stub_server(latency=0.1) as stub_url, tempfile.TemporaryDirectory() as tmp:
            configs = project(stub_url, Path(tmp), f"redis://127.0.0.1:{port}/0")
            for workers in (1, 2, 1, 2):  # twice each, alternating
                children = [
                    ServeProcess(serve_argv(configs, "api"), Path(tmp) / f"home{i}", {})
                    for i in range(workers)
                ]
                try:
                    urls = [f"{child.url}/v1/chat/completions" for child in children]
                    wall, errors, lat = await load(urls, requests, width)
                finally:
                    for child in children:
                        child.stop()
                results.setdefault(workers, []).append((requests / wall, errors, lat))
    finally:
        redis.terminate()
        redis.wait(10)
    print(
        f"(2) {requests} streamed chats at {width} concurrent clients, stub model at 100 ms, Redis"
    )
    for workers, runs in results.items():
        rate = statistics.median(r for r, _, _ in runs)
        errors = sum(e for _, e, _ in runs)
        lat = [x for _, _, values in runs for x in values]
        print(f"    {workers} worker(s): {rate:.0f} requests/s (median of {len(runs)} runs), "
              f"errors {errors}, p50 {pct(lat, 0.5):.0f} ms, p99 {pct(lat, 0.99):.0f} ms")  # fmt: skip
    one_rate = statistics.median(r for r, _, _ in results[1])
    two_rate = statistics.median(r for r, _, _ in results[2])
    print(f"    two workers / one: {two_rate / one_rate:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(recording(args.calls))
    asyncio.run(scale_out(args.requests, args.concurrency))
