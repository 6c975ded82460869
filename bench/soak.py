"""Soak: every surface of one ``botkit serve`` at once, for minutes (issue: serve). Figures are
printed; nothing here is a pass/fail test.

One ``botkit serve`` child process, as a user runs it, serves the OpenAI-compatible API, Slack in
HTTP mode (signed events at ``/slack/events``, its Web API client pointed at StubSlack) and
Discord (discord.py pointed at StubDiscord's REST API and gateway), all on loopback; the GPT's
model is the stub OpenAI server in another child process, streaming a short reply (50 ms before
the first word, then 10 ms a word: about 120 ms). StubSlack and StubDiscord run in this process.

For ``--minutes`` (default 10), ``--clients`` clients per surface (default 4) each send one
message after another, waiting for its answer:

- api: a streamed ``/v1/chat/completions`` (latency: until ``[DONE]``);
- slack: a signed event (3 in 4 an @mention starting a thread of its own, natively streamed; 1 in
  4 a DM in a new DM channel, posted then edited); latency: from the POST to the answer's last
  Web API call (``chat.stopStream``, or the ``chat.update`` adding the buttons); the ack (the
  POST's own response time) is timed too;
- discord: a MESSAGE_CREATE mentioning the bot, dispatched through the gateway; latency: until the
  answer (with its 👍/👎 buttons) is posted in the thread opened for it.

A line per minute: requests finished per surface, errors, p99 latency per surface, the server's
resident memory (VmRSS from /proc). At the end: totals, throughput, errors (target 0; an error
is a failed or refused request, an answer that failed part-way or none within 30 s), p50/p99 per
surface, answers given twice (target 0), and the RSS slope after the first minute (least
squares over samples every 2 s; target flat, about 0 MB/min). Two cores shared with other
work here: latencies and throughput are noisy, the slope less so.

Run: python bench/soak.py [--minutes 10] [--clients 4] [--surfaces api,slack,discord]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serve import ServeProcess, write_project
from _stub import child_server

from botkit.testing import StubDiscord, StubSlack
from botkit.testing.slack_payloads import app_mention, event_callback, message

#: The stub OpenAI server in a child process: ``python -c STUB LATENCY CHUNK_DELAY``.
STUB = (
    "import sys, threading\n"
    "from botkit.testing import StubOpenAI\n"
    "stub = StubOpenAI(latency=float(sys.argv[1]), chunk_delay=float(sys.argv[2])).start()\n"
    "print(stub.url, flush=True)\n"
    "threading.Event().wait()\n"
)
#: ``botkit serve`` with discord.py pointed at StubDiscord (what ``route_discord_py`` does in a
#: test's own process): ``python -c SERVE DISCORD_API GATEWAY BOTKIT_ARGS...``.
SERVE = (
    "import sys, yarl\n"
    "from discord.gateway import DiscordWebSocket\n"
    "from discord.http import Route\n"
    "from botkit.adapters.discord.surface import DiscordSurfaceRunner\n"
    "Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = sys.argv[1], yarl.URL(sys.argv[2])\n"
    "DiscordSurfaceRunner.GUILD_READY_TIMEOUT = 0.1  # one stub server: no need to wait for more\n"
    "from botkit.cli import main\n"
    "main(sys.argv[3:])\n"
)
SURFACES = ("api", "slack", "discord")
#: Seconds a request may take before it counts as an error.
TIMEOUT = 30.0
#: Seconds between two samples of the server's memory.
SAMPLE = 2.0
#: Slack channels each Slack client spreads its mentions over (and Discord channels per client).
CHANNELS = 4


def project(model_url: str, slack_url: str, root: Path) -> Path:
    deployment = {
        "name": "soak",
        "rate_limit": None,  # a few simulated users send everything
        "surfaces": {
            "api": {"enabled": True, "host": "127.0.0.1"},
            "slack": {"enabled": True, "mode": "http", "api_url": slack_url},
            "discord": {"enabled": True, "open_threads": True},
        },
    }
    return write_project(root, model_url, deployment)


@dataclass
class Results:
    """What each surface's clients finished: (when, latency), errors, acks, answers twice."""

    started: float
    done: dict[str, list[tuple[float, float]]] = field(
        default_factory=lambda: {s: [] for s in SURFACES}
    )
    errors: dict[str, list[tuple[float, str]]] = field(
        default_factory=lambda: {s: [] for s in SURFACES}
    )
    acks: list[tuple[float, float]] = field(default_factory=list)
    twice: Counter[str] = field(default_factory=Counter)
    rss: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MB) of the server
    wall: float = 0.0  # seconds from the first request to the last answer

    def ok(self, surface: str, latency: float) -> None:
        self.done[surface].append((time.monotonic() - self.started, latency))

    def failed(self, surface: str, why: str) -> None:
        self.errors[surface].append((time.monotonic() - self.started, why))


class Watcher:
    """Resolves the future waiting for an answer once the stub records its last call, reading
    only the calls recorded since the last look; an answer nobody waits for any more, for a
    place already answered, counts as given twice."""

    def __init__(self, surface: str, results: Results) -> None:
        self.surface = surface
        self.results = results
        self.waiting: dict[Any, asyncio.Future[bool]] = {}
        self.answered: set[Any] = set()
        self.seen = 0

    def expect(self, key: Any) -> asyncio.Future[bool]:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.waiting[key] = future
        return future

    def finished(self, key: Any, ok: bool) -> None:
        future = self.waiting.pop(key, None)
        if key in self.answered:
            self.results.twice[self.surface] += 1
        self.answered.add(key)
        if future is not None and not future.done():
            future.set_result(ok)

    def new(self, recorded: list[Any]) -> list[Any]:
        found = recorded[self.seen : len(recorded)]
        self.seen += len(found)
        return found

    async def record(self, key: Any, future: asyncio.Future[bool], started: float) -> None:
        """Record how the answer awaited under ``key`` ended: well, part-way, or not within
        TIMEOUT (then no longer awaited)."""
        try:
            ok = await asyncio.wait_for(future, TIMEOUT)
        except asyncio.TimeoutError:
            self.waiting.pop(key, None)
            self.results.failed(self.surface, f"no answer within {TIMEOUT:.0f} s")
            return
        if ok:
            self.results.ok(self.surface, time.perf_counter() - started)
        else:
            self.results.failed(self.surface, "an answer failed part-way")


class SlackWatcher(Watcher):
    """Slack answers: the key is (channel, thread ts), "" for a DM's top-level answer."""

    def __init__(self, stub: StubSlack, results: Results) -> None:
        super().__init__("slack", results)
        self.stub = stub

    def look(self) -> None:
        for call in self.new(self.stub.api_calls):
            args = call.args
            blocks = isinstance(args.get("blocks"), list)
            if call.method != "chat.stopStream" and not (call.method == "chat.update" and blocks):
                continue
            channel = str(args.get("channel"))
            shown = self.stub.messages(channel, str(args.get("ts")))
            thread = str(shown[0].get("thread_ts") or "") if shown else ""
            self.finished((channel, thread), blocks)  # no buttons: it failed part-way


class DiscordWatcher(Watcher):
    """Discord answers: the key is the thread's id (the mention's id: threads start from it)."""

    PATH = re.compile(r"/channels/(\d+)/messages")

    def __init__(self, stub: StubDiscord, results: Results) -> None:
        super().__init__("discord", results)
        self.stub = stub

    def look(self) -> None:
        for request in self.new(self.stub.requests):
            body = request.body
            if request.method not in ("POST", "PATCH") or not isinstance(body, dict):
                continue
            found = self.PATH.search(request.path)
            if found and body.get("components"):
                failed = "failed part-way" in str(body.get("content", ""))
                self.finished(int(found.group(1)), not failed)


async def api_client(session: aiohttp.ClientSession, url: str, results: Results, n: int) -> None:
    body = {
        "model": "bench",
        "messages": [{"role": "user", "content": f"api question {n}"}],
        "stream": True,
        "user": f"api-user-{n % 10}",
    }
    started = time.perf_counter()
    try:
        async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(TIMEOUT)) as answer:
            if answer.status != 200:
                results.failed("api", f"HTTP {answer.status}")
                return
            done = False
            async for line in answer.content:
                done = done or line.startswith(b"data: [DONE]")
        if not done:
            results.failed("api", "a stream without [DONE]")
            return
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        results.failed("api", type(exc).__name__)
        return
    results.ok("api", time.perf_counter() - started)


async def slack_client(
    session: aiohttp.ClientSession,
    url: str,
    stub: StubSlack,
    watcher: SlackWatcher,
    results: Results,
    client: int,
    n: int,
) -> None:
    user = f"U0SOAK{client:02d}{n % 5}"
    text = f"slack question {n} from client {client}"
    if n % 4 == 3:
        channel = f"D{client:02d}{n:08d}"
        event = message(text, channel=channel, user=user)
        key = (channel, "")
    else:
        channel = f"CSOAK{client:02d}{n % CHANNELS:02d}"
        event = app_mention(text, channel=channel, user=user)
        key = (channel, event["ts"])
    body, headers = stub.signed_request(event_callback(event))
    future = watcher.expect(key)
    started = time.perf_counter()
    try:
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            status = response.status
    except aiohttp.ClientError as exc:
        watcher.waiting.pop(key, None)
        results.failed("slack", type(exc).__name__)
        return
    results.acks.append((time.monotonic() - results.started, time.perf_counter() - started))
    if status != 200:
        watcher.waiting.pop(key, None)
        results.failed("slack", f"ack HTTP {status}")
        return
    await watcher.record(key, future, started)


async def discord_client(
    stub: StubDiscord, channels: list[int], watcher: DiscordWatcher, results: Results, n: int
) -> None:
    channel = channels[n % len(channels)]
    event = stub.message_create(f"discord question {n}", channel_id=channel, mention_bot=True)
    key = int(event["id"])
    future = watcher.expect(key)
    started = time.perf_counter()
    await asyncio.to_thread(stub.dispatch, "MESSAGE_CREATE", event)
    await watcher.record(key, future, started)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB), in MB a minute."""
    if len(samples) < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / len(samples)
    mean_m = sum(m for _, m in samples) / len(samples)
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    return cov / var * 60 if var else 0.0


def minute_line(results: Results, rss: list[tuple[float, float]], start: float, end: float) -> str:
    parts = []
    for surface in SURFACES:
        lat = [x for t, x in results.done[surface] if start <= t < end]
        errors = sum(1 for t, _ in results.errors[surface] if start <= t < end)
        ack = ""
        if surface == "slack":
            acks = [x for t, x in results.acks if start <= t < end]
            ack = f" ack p99 {pct(acks, 0.99):.0f} ms,"
        parts.append(f"{surface} {len(lat)} ({errors} err),{ack} p99 {pct(lat, 0.99):.0f} ms")
    memory = [m for t, m in rss if start <= t < end]
    return " | ".join(parts) + f" | RSS {memory[-1] if memory else 0:.1f} MB"


async def loop_clients(
    deadline: float, width: int, one: Callable[[int, int], Awaitable[None]]
) -> None:
    """``width`` clients, each sending one request after another until ``deadline``."""
    numbers = itertools.count()

    async def client(c: int) -> None:
        while time.monotonic() < deadline:
            await one(c, next(numbers))

    await asyncio.gather(*(client(c) for c in range(width)))


async def run(args: Any) -> None:
    with (
        child_server("-c", STUB, str(args.latency), str(args.chunk_delay)) as model_url,
        StubSlack() as slack,
        StubDiscord(heartbeat_interval=5) as discord,
        tempfile.TemporaryDirectory() as tmp,
    ):
        root = Path(tmp)
        project(model_url, slack.url, root)
        for client in range(args.clients):
            for k in range(5):
                slack.add_user(f"U0SOAK{client:02d}{k}", f"soak{client}-{k}")
        channels = [
            int(discord.add_channel(f"soak-{i}")["id"]) for i in range(args.clients * CHANNELS)
        ]
        env = {
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.signing_secret,
            "DISCORD_TOKEN": discord.token,
        }
        env_removed = os.environ.pop("BOTKIT_DISCORD_GUILD", None)  # commands synced globally
        began = time.monotonic()
        child = ServeProcess(
            [
                "-c",
                SERVE,
                discord.url,
                discord.gateway_url,
                "--config-dir",
                str(root / "configs"),
                "serve",
            ],
            root / "home",
            env,
            cwd=root,
        )
        code: int | None = None
        try:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                await child.ready(session)
                print(
                    f"botkit serve (pid {child.proc.pid}): api, slack (HTTP mode), discord ready "
                    f"in {time.monotonic() - began:.1f} s, RSS {child.rss_mb():.1f} MB; "
                    f"{args.clients} clients per surface ({args.surfaces}) for {args.minutes:g} "
                    f"min; model stub "
                    f"{args.latency * 1000:.0f} ms, then {args.chunk_delay * 1000:.0f} ms a word",
                    flush=True,
                )
                results = await soak(args, child, session, slack, discord, channels)
        finally:
            code = child.stop()
            if env_removed is not None:
                os.environ["BOTKIT_DISCORD_GUILD"] = env_removed
        report(args, results, code, child)


async def soak(
    args: Any,
    child: ServeProcess,
    session: aiohttp.ClientSession,
    slack: StubSlack,
    discord: StubDiscord,
    channels: list[int],
) -> Results:
    results = Results(time.monotonic())
    results.rss.append((0.0, child.rss_mb()))
    slack_watch = SlackWatcher(slack, results)
    slack_watch.seen = len(slack.api_calls)
    discord_watch = DiscordWatcher(discord, results)
    discord_watch.seen = len(discord.requests)
    duration = args.minutes * 60
    deadline = results.started + duration
    stopped = asyncio.Event()

    async def watch() -> None:
        while not stopped.is_set():
            slack_watch.look()
            discord_watch.look()
            await asyncio.sleep(0.01)

    async def sample() -> None:
        rss = results.rss
        minute = 1
        while not stopped.is_set():
            await asyncio.sleep(SAMPLE)
            now = time.monotonic() - results.started
            rss.append((now, child.rss_mb()))
            if now >= minute * 60 and minute * 60 <= duration:
                line = minute_line(results, rss, (minute - 1) * 60, minute * 60)
                print(f"  min {minute:>2}: {line}", flush=True)
                minute += 1

    api_url = f"{child.url}/v1/chat/completions"
    events_url = f"{child.url}/slack/events"
    background = [asyncio.create_task(watch()), asyncio.create_task(sample())]
    drivers: dict[str, Callable[[int, int], Awaitable[None]]] = {
        "api": lambda c, n: api_client(session, api_url, results, n),
        "slack": lambda c, n: slack_client(session, events_url, slack, slack_watch, results, c, n),
        "discord": lambda c, n: discord_client(discord, channels, discord_watch, results, n),
    }
    await asyncio.gather(
        *(loop_clients(deadline, args.clients, drivers[s]) for s in args.surfaces.split(","))
    )
    results.wall = time.monotonic() - results.started
    await asyncio.sleep(2)  # answers given twice would show by now
    stopped.set()
    for task in background:
        task.cancel()
    return results


def report(args: Any, results: Results, code: int | None, child: ServeProcess) -> None:
    wall, rss = results.wall, results.rss
    total = sum(len(v) for v in results.done.values())
    print(f"totals over {wall / 60:.2f} min ({wall:.0f} s):")
    for surface in SURFACES:
        lat = [x for _, x in results.done[surface]]
        errors = results.errors[surface]
        kinds = Counter(why for _, why in errors)
        extra = ""
        if surface == "slack":
            acks = [x for _, x in results.acks]
            extra = (
                f"; acks p50 {pct(acks, 0.5):.0f} ms, p99 {pct(acks, 0.99):.0f} ms, "
                f"max {pct(acks, 1.0):.0f} ms"
            )
        print(
            f"  {surface:<8} {len(lat):>6} answered, {len(lat) / wall:6.1f}/s, errors "
            f"{len(errors)}{' ' + str(dict(kinds)) if kinds else ''}, answered twice "
            f"{results.twice[surface]}; p50 {pct(lat, 0.5):.0f} ms, p99 {pct(lat, 0.99):.0f} ms, "
            f"max {pct(lat, 1.0):.0f} ms{extra}"
        )
    failures = sum(len(v) for v in results.errors.values())
    print(
        f"  all      {total:>6} answered, {total / wall:6.1f}/s, errors {failures} (target 0), "
        f"answered twice {sum(results.twice.values())} (target 0)"
    )
    after = [(t, m) for t, m in rss if t >= 60]
    growth = (
        f"{slope(after):+.2f} MB/min over {len(after)} samples"
        if len(after) >= 10
        else "n/a (too few samples: run 2 minutes or more)"
    )
    print(
        f"  server RSS: start {rss[0][1]:.1f} MB, at 1 min "
        f"{(after[0][1] if after else rss[-1][1]):.1f} MB, end {rss[-1][1]:.1f} MB, "
        f"max {max(m for _, m in rss):.1f} MB; slope after the first minute {growth} "
        f"(target ~0); over the whole run {slope(rss):+.2f} MB/min"
    )
    print(f"  server: exit code {code} after SIGTERM; warnings/errors logged {len(child.problems)}")
    for line in child.problems[:10]:
        print(f"    {line}")
    only = "" if args.surfaces == "api,slack,discord" else f" --surfaces {args.surfaces}"
    print(f"(run: python bench/soak.py --minutes {args.minutes:g} --clients {args.clients}{only})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4, help="clients per surface")
    parser.add_argument(
        "--surfaces",
        default="api,slack,discord",
        help="the surfaces driven (all three are served): to find which one a growth comes from",
    )
    parser.add_argument("--latency", type=float, default=0.05, help="model stub: first word")
    parser.add_argument("--chunk-delay", type=float, default=0.01, help="then each word")
    args = parser.parse_args()
    unknown = set(args.surfaces.split(",")) - set(SURFACES)
    if unknown:
        parser.error(f"no surface {', '.join(sorted(unknown))}: choose among {', '.join(SURFACES)}")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
