"""Discord surface benchmark (issue: Discord). Figures are printed; nothing here is a pass/fail test.

N messages mentioning the bot, spread over C channels (N/C per channel), are dispatched at once
through StubDiscord's gateway to a real ``botkit serve`` (discord.py); the GPT's model is the stub
OpenAI server answering each request in 100 ms, in a child process. Measured: the time until
every message has its complete answer (text, then its 👍/👎), and that each message was answered
exactly once, with its own answer.

- ``channel`` mode (``open_threads: false``): each channel is one conversation, so its answers
  come one after the other (each needs the one before in its history); ideal: latency x N/C
  (100 ms x 10 = 1 s), channels in parallel.
- ``threads`` mode (the default deployment): each mention opens its own thread, so nothing is
  serialized; ideal: one latency (100 ms) plus the Discord calls.

Run: python bench/discord.py [--messages 1000] [--channels 100] [--latency 0.1] [--mode both]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

# This file is named discord.py: its folder goes last on the path, after discord.py the library.
sys.path.remove(str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent))
from _stub import stub_server

import botkit.adapters.discord as discord_surface
from botkit.adapters.discord.surface import DiscordSurfaceRunner
from botkit.deploy.loader import parse_bot
from botkit.serve import runner
from botkit.serve.runner import ServeOptions, serve
from botkit.settings import Settings
from botkit.testing import StubDiscord, route_discord_py

#: Seconds after which the benchmark gives up (something is wrong).
TIMEOUT = 300


def _with_discord() -> None:
    """Register the surface directly when the installed botkit predates its entry point."""
    real = runner.load_registry

    def load(plugin_dirs: Any = (), extra: Any = ()) -> Any:
        registry = real(plugin_dirs, extra)
        if "discord" not in registry.surfaces:
            registry = real(plugin_dirs, [*extra, discord_surface])
        return registry

    runner.load_registry = load  # type: ignore[assignment]


def project(home: Path, url: str, open_threads: bool) -> tuple[Settings, Any]:
    gpts = home / "configs" / "gpts"
    gpts.mkdir(parents=True, exist_ok=True)
    gpt = {
        "name": "bench",
        "model": {"provider": "openai", "name": "stub-model", "base_url": url, "max_retries": 0},
        "instructions": "You answer briefly.",
        "parameters": {"max_tokens": 64},
    }
    (gpts / "bench.yaml").write_text(yaml.safe_dump(gpt))
    deployment = {
        "name": "bench",
        "default_gpt": "bench",
        "rate_limit": None,  # one simulated user sends everything
        "surfaces": {"discord": {"enabled": True, "open_threads": open_threads}},
    }
    spec = parse_bot(yaml.safe_dump(deployment), "bench.yaml")
    return Settings(home / "configs", home / "data"), spec


class Progress:
    """Counts finished answers from the calls StubDiscord recorded (an answer ends with the call
    that shows its 👍/👎: the post of a whole answer, or the last edit of a streamed one),
    reading only the calls new since the last look."""

    def __init__(self, stub: StubDiscord) -> None:
        self.stub = stub
        self.seen = 0
        self.done = 0

    def count(self) -> int:
        requests = self.stub.requests
        new = requests[self.seen : len(requests)]
        self.seen += len(new)
        self.done += sum(
            1
            for r in new
            if r.method in ("POST", "PATCH")
            and isinstance(r.body, dict)
            and r.body.get("components")
        )
        return self.done


async def run(mode: str, url: str, home: Path, messages: int, channels: int) -> dict[str, Any]:
    open_threads = mode == "threads"
    settings, spec = project(home, url, open_threads)
    with StubDiscord(heartbeat_interval=5) as stub, route_discord_py(stub):
        os.environ["DISCORD_TOKEN"] = stub.token
        ids = [int(stub.add_channel(f"bench-{i}")["id"]) for i in range(channels)]
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        original = DiscordSurfaceRunner.start

        async def start(self: DiscordSurfaceRunner) -> None:
            await original(self)
            started.set_result(None)

        DiscordSurfaceRunner.start = start  # type: ignore[method-assign]
        stop = asyncio.Event()
        server = asyncio.create_task(
            serve(settings, spec, ServeOptions(only=("discord",), stop=stop))
        )
        await asyncio.wait_for(asyncio.shield(started), 60)
        DiscordSurfaceRunner.start = original  # type: ignore[method-assign]
        # warm-up: one answer, so the model client's connection and the GPT are ready
        stub.dispatch("MESSAGE_CREATE", stub.message_create("warm up", mention_bot=True))
        progress = Progress(stub)
        while progress.count() < 1:
            await asyncio.sleep(0.01)
        progress = Progress(stub)
        progress.seen = len(stub.requests)

        sent = [
            stub.message_create(f"question {n} in {c}", channel_id=ids[c], mention_bot=True)
            for n in range(messages // channels)
            for c in range(channels)
        ]

        def dispatch_all() -> None:
            for event in sent:
                stub.dispatch("MESSAGE_CREATE", event)

        t0, cpu0 = time.perf_counter(), _cpu()
        dispatching = asyncio.create_task(asyncio.to_thread(dispatch_all))
        while progress.count() < len(sent):
            if time.perf_counter() - t0 > TIMEOUT:
                raise SystemExit(f"only {progress.done}/{len(sent)} answered in {TIMEOUT} s")
            await asyncio.sleep(0.005)
        elapsed, cpu = time.perf_counter() - t0, _cpu() - cpu0
        await dispatching
        stop.set()
        code = await server
        answers = _check(stub, sent, ids, open_threads)
    return {"elapsed": elapsed, "cpu": cpu, "exit": code, **answers}


def _cpu() -> float:
    """CPU seconds this process used (the bot, discord.py and StubDiscord's thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _check(
    stub: StubDiscord, sent: list[dict[str, Any]], ids: list[int], open_threads: bool
) -> dict[str, Any]:
    """Each message answered exactly once, with the answer to its own question."""
    bot = str(stub.bot_id)
    answers: Counter[str] = Counter()
    right = 0
    questions = {m["id"]: m["content"].split("> ", 1)[1] for m in sent}
    places = [int(m["id"]) for m in sent] if open_threads else ids
    for place in places:
        for message in stub.messages(place):
            if message["author"]["id"] != bot or not message["components"]:
                continue
            asked = str(place) if open_threads else message["message_reference"]["message_id"]
            answers[asked] += 1
            right += message["content"] == f"echo: {questions.get(asked)}"
    return {
        "answered": sum(1 for m in sent if answers[m["id"]] >= 1),
        "twice": sum(1 for m in sent if answers[m["id"]] > 1),
        "right": right,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--mode", choices=["channel", "threads", "both"], default="both")
    args: Any = parser.parse_args()
    _with_discord()
    DiscordSurfaceRunner.GUILD_READY_TIMEOUT = 0.1  # one stub guild: no need to wait for more
    depth = args.messages // args.channels
    total = depth * args.channels
    modes = ["channel", "threads"] if args.mode == "both" else [args.mode]
    print(
        f"{total} mentions over {args.channels} channels ({depth} each), model stub answering "
        f"in {args.latency * 1000:.0f} ms (child process), StubDiscord in-process"
    )
    with tempfile.TemporaryDirectory() as tmp, stub_server(latency=args.latency) as url:
        for mode in modes:
            result = asyncio.run(run(mode, url, Path(tmp) / mode, total, args.channels))
            ideal = args.latency * (depth if mode == "channel" else 1)
            print(
                f"  {mode:<8} {result['elapsed']:6.2f} s for all   ideal {ideal:.2f} s "
                f"({'latency x depth' if mode == 'channel' else 'one latency'}) = "
                f"{result['elapsed'] / ideal:.2f} x; one at a time: {total * args.latency:.0f} s\n"
                f"           answered {result['answered']}/{total}, twice {result['twice']}, "
                f"with its own answer {result['right']}/{total}; CPU {result['cpu']:.2f} s "
                f"({result['cpu'] / total * 1000:.1f} ms a message); server exit {result['exit']}"
            )
    print(
        f"reproduce: python bench/discord.py --messages {args.messages} --channels {args.channels}"
    )


if __name__ == "__main__":
    main()
