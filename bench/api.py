"""The HTTP API under load (issue: serve). Figures are printed; nothing here is a pass/fail test.

A stub model answering in 100 ms runs in one child process, ``botkit serve api`` in another, and
this process drives both with the same lean aiohttp client (streaming, like chat UIs), so the
three never share a GIL:

- requests/s at 64 concurrent streaming clients, errors (target 0);
- the latency the API adds over calling the stub directly, p50 and p99, the two measured in the
  same run, alternating rounds (target: added p50 <= 5 ms);
- the server's resident memory sampled every 1,000 requests over 10,000 (target: flat);
- the time from starting ``botkit serve`` to its first answered request.

Run: python bench/api.py [--requests 10000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serve import ServeProcess, serve_argv, write_project
from _stub import stub_server

BODY = {
    "model": "bench",
    "messages": [{"role": "user", "content": "Where is the train station?"}],
    "stream": True,
}


def project(url: str, root: Path) -> Path:
    return write_project(root, url, {"rate_limit": None}, "You translate into French.")


async def one(session: aiohttp.ClientSession, url: str, body: dict[str, object]) -> float:
    started = time.perf_counter()
    async with session.post(url, json=body) as response:
        response.raise_for_status()
        done = False
        async for line in response.content:
            if line.startswith(b"data: [DONE]"):
                done = True
        if not done:
            raise RuntimeError("a stream without [DONE]")
    return time.perf_counter() - started


async def wave(
    session: aiohttp.ClientSession, url: str, body: dict[str, object], count: int, width: int
) -> tuple[list[float], int, float]:
    """``count`` requests, ``width`` at a time: their latencies, the errors, the wall time."""
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        nonlocal errors
        while not queue.empty():
            queue.get_nowait()
            try:
                latencies.append(await one(session, url, body))
            except Exception:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(width)))
    return latencies, errors, time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def main(requests: int, width: int) -> None:
    with stub_server(latency=0.1) as stub_url, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        configs = project(stub_url, root)
        server = ServeProcess(serve_argv(configs, "api"), root / "home", {})
        url, started = server.url, server.started
        try:
            api = f"{url}/v1/chat/completions"
            direct = f"{stub_url}/chat/completions"
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                first = None
                while first is None:
                    try:
                        await one(session, api, BODY)
                        first = time.perf_counter() - started
                    except aiohttp.ClientError:
                        await asyncio.sleep(0.05)
                print(f"botkit serve: start to first answered request {first:.2f} s")
                body = dict(BODY, model="stub-model")
                api_lat: list[float] = []
                direct_lat: list[float] = []
                errors = 0
                wall = 0.0
                memory = [server.rss_mb()]
                rounds = max(1, requests // 1000)
                for _ in range(rounds):  # alternate: the machine's noise hits both alike
                    lat, _, _ = await wave(session, direct, body, 1000 // 4, width)
                    direct_lat += lat
                    lat, err, took = await wave(session, api, BODY, 1000, width)
                    api_lat += lat
                    errors += err
                    wall += took
                    memory.append(server.rss_mb())
        finally:
            server.stop()
    count = len(api_lat) + errors
    print(f"{count} streamed requests at {width} concurrent clients, stub model at 100 ms")
    print(
        f"  throughput: {len(api_lat) / wall:.0f} requests/s (ideal {width / 0.1:.0f}), errors: {errors}"
    )
    print(
        f"  latency through the API: p50 {pct(api_lat, 0.5):.1f} ms, p99 {pct(api_lat, 0.99):.1f} ms"
    )
    direct_p50, direct_p99 = pct(direct_lat, 0.5), pct(direct_lat, 0.99)
    print(f"  latency calling the stub directly: p50 {direct_p50:.1f} ms, p99 {direct_p99:.1f} ms")
    print(f"  added by botkit: p50 {pct(api_lat, 0.5) - pct(direct_lat, 0.5):+.1f} ms, "
          f"p99 {pct(api_lat, 0.99) - pct(direct_lat, 0.99):+.1f} ms")  # fmt: skip
    print("  server memory (MB) every 1,000 requests: " + ", ".join(f"{m:.0f}" for m in memory))
    print(f"  memory growth over the last half: {memory[-1] - memory[len(memory) // 2]:+.1f} MB")
    print(f"(run: python bench/api.py --requests {requests} --concurrency {width})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency))
