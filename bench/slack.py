"""Slack surface in HTTP mode under load (issue: Slack). Figures are printed; nothing here is a
pass/fail test.

``botkit serve slack`` runs in a child process in HTTP mode (the Events API posted to
``/slack/events``, every request signed), its Web API client pointed at StubSlack (in this
process, on its own thread); the GPT's model is the stub OpenAI server in another child process,
streaming a short reply (50 ms before the first word, then 10 ms a word: about 120 ms).

- N signed message events (default 500: 80 % @mentions spread over 50 channels, each in a thread
  of its own, answered with Slack's native streaming; 20 % direct messages, each in a DM channel
  of its own, answered with ``chat.postMessage`` then ``chat.update``), each from a distinct user,
  at most 50 in flight. Measured: the ack latency (the HTTP response time of the event's POST)
  p50/p99/max, target: every ack < 3 s (Slack's limit, after which it redelivers); that each
  event got exactly one answer, its own (replies N, duplicates 0, missing 0); the time from the
  first POST to the last answer, and events/s.
- A retry round: a sample of those events (default 100) delivered again as Slack redelivers them
  (the same ``event_id``, ``X-Slack-Retry-Num: 1``, ``X-Slack-Retry-Reason: http_timeout``).
  Target: none answered twice.

The machine's other work (2 shared cores here) makes the figures noisy; acks are timed by this
process, which also runs StubSlack, so they include some of its own waiting.

Run: python bench/slack.py [--events 500] [--concurrency 50] [--retries 100] [--dm-share 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

# This file is named slack.py, like slack_sdk's legacy ``slack`` package: its folder goes last.
sys.path.remove(str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parent))
from _serve import ServeProcess, serve_argv, write_project
from _stub import child_server

from botkit.testing import StubSlack
from botkit.testing.slack_payloads import app_mention, event_callback, message

#: The stub OpenAI server in a child process: ``python -c STUB LATENCY CHUNK_DELAY``.
STUB = (
    "import sys, threading\n"
    "from botkit.testing import StubOpenAI\n"
    "stub = StubOpenAI(latency=float(sys.argv[1]), chunk_delay=float(sys.argv[2])).start()\n"
    "print(stub.url, flush=True)\n"
    "threading.Event().wait()\n"
)
#: Seconds Slack waits for an ack before it redelivers the event.
ACK_LIMIT = 3.0
#: Seconds after which the benchmark gives up waiting for answers.
TIMEOUT = 300.0


def project(url: str, slack_url: str, root: Path) -> Path:
    slack = {"enabled": True, "mode": "http", "api_url": slack_url}
    return write_project(root, url, {"rate_limit": None, "surfaces": {"slack": slack}})


@dataclass
class Event:
    n: int
    payload: dict[str, Any]
    channel: str
    thread: str  # "" for a DM: the answer is a top-level message of its DM channel
    acks: list[float] = field(default_factory=list)
    posted: float = 0.0  # when its (first) delivery was posted (monotonic)
    answered: float | None = None  # when its answer finished (monotonic)


def events(stub: StubSlack, count: int, dm_share: float, channels: int) -> list[Event]:
    """``count`` message events, each from a distinct user; DMs every 1/dm_share events."""
    built = []
    every = round(1 / dm_share) if dm_share > 0 else 0
    for n in range(count):
        user = f"U{n:09d}"
        stub.add_user(user, f"user{n}")
        text = f"question number {n} please"
        if every and n % every == every - 1:
            dm = f"D{n:09d}"
            event = message(text, channel=dm, user=user)
            built.append(Event(n, event_callback(event), dm, ""))
        else:
            channel = f"C{n % channels:09d}"
            event = app_mention(text, channel=channel, user=user)
            built.append(Event(n, event_callback(event), channel, event["ts"]))
    return built


class Answers:
    """Watches the Web API calls StubSlack records and marks each event answered when its
    answer's last call arrives (``chat.stopStream``, or the ``chat.update`` that adds the
    buttons), reading only the calls new since the last look."""

    def __init__(self, stub: StubSlack, events: list[Event]) -> None:
        self.stub = stub
        self.places = {(e.channel, e.thread): e for e in events}
        self.seen = len(stub.api_calls)
        self.finished = 0  # answers finished, duplicates included
        self.failed = 0  # answers that ended with an error note instead of the buttons

    def look(self) -> None:
        calls = self.stub.api_calls
        new = calls[self.seen : len(calls)]
        self.seen += len(new)
        now = time.monotonic()
        for call in new:
            args = call.args
            last = call.method == "chat.stopStream" or (
                call.method == "chat.update" and isinstance(args.get("blocks"), list)
            )
            if not last:
                continue
            self.finished += 1
            if not isinstance(args.get("blocks"), list):
                self.failed += 1
            channel = str(args.get("channel"))
            shown = self.stub.messages(channel, str(args.get("ts")))
            thread = str(shown[0].get("thread_ts") or "") if shown else ""
            event = self.places.get((channel, thread))
            if event is not None and event.answered is None:
                event.answered = now

    async def wait(self, count: int, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while self.finished < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {self.finished}/{count} answers within {timeout:.0f} s")
            await asyncio.sleep(0.01)
            self.look()

    async def settle(self, quiet: float = 2.0) -> None:
        """Until no answer has finished for ``quiet`` seconds (late duplicates would show)."""
        last, since = self.finished, time.monotonic()
        while time.monotonic() - since < quiet:
            await asyncio.sleep(0.05)
            self.look()
            if self.finished != last:
                last, since = self.finished, time.monotonic()


async def deliver(
    session: aiohttp.ClientSession,
    url: str,
    stub: StubSlack,
    chosen: list[Event],
    width: int,
    retry: bool = False,
) -> tuple[list[float], int]:
    """POST each event signed, ``width`` at a time; the ack latencies and the non-200 answers."""
    gate = asyncio.Semaphore(width)
    latencies: list[float] = []
    refused = 0

    async def one(event: Event) -> None:
        nonlocal refused
        retries = {"retry_num": 1, "retry_reason": "http_timeout"} if retry else {}
        body, headers = stub.signed_request(event.payload, **retries)
        async with gate:
            if not event.posted:
                event.posted = time.monotonic()
            started = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError:
                status = 0
            took = time.perf_counter() - started
        latencies.append(took)
        event.acks.append(took)
        refused += status != 200

    await asyncio.gather(*(one(e) for e in chosen))
    return latencies, refused


def answers_of(stub: StubSlack, event: Event) -> list[dict[str, Any]]:
    """The bot's messages where ``event`` is answered: its thread, or its DM channel."""
    found = stub.messages(event.channel, event.thread or None)
    return [m for m in found if m.get("user") == stub.bot_user_id]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def ack_line(latencies: list[float]) -> str:
    over = sum(1 for x in latencies if x >= ACK_LIMIT)
    return (
        f"acks p50 {pct(latencies, 0.5):.1f} ms, p99 {pct(latencies, 0.99):.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms; {over} over {ACK_LIMIT:.0f} s (target 0)"
    )


async def run(args: Any) -> None:
    with (
        child_server("-c", STUB, str(args.latency), str(args.chunk_delay)) as model_url,
        StubSlack() as stub,
        tempfile.TemporaryDirectory() as tmp,
    ):
        configs = project(model_url, stub.url, Path(tmp))
        env = {"SLACK_BOT_TOKEN": stub.bot_token, "SLACK_SIGNING_SECRET": stub.signing_secret}
        child = ServeProcess(serve_argv(configs, "slack"), Path(tmp) / "home", env)
        code = None
        try:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                await child.ready(session)
                url = f"{child.url}/slack/events"
                mention = app_mention("warm up", channel="CWARMUP01")  # connections, GPT, bolt
                warm = [Event(-1, event_callback(mention), "CWARMUP01", mention["ts"])]
                answers = Answers(stub, warm)
                await deliver(session, url, stub, warm, 1)
                await answers.wait(1)
                await answers.settle(0.5)

                sent = events(stub, args.events, args.dm_share, args.channels)
                answers = Answers(stub, sent)
                started = time.monotonic()
                watching = asyncio.create_task(answers.wait(len(sent)))
                acks, refused = await deliver(session, url, stub, sent, args.concurrency)
                await watching
                wall = max(e.answered or 0.0 for e in sent) - started
                await answers.settle()
                counts = [len(answers_of(stub, e)) for e in sent]
                own = sum(
                    1
                    for e in sent
                    if any(f"number {e.n} please" in m.get("text", "") for m in answers_of(stub, e))
                )
                first_round = answers.finished
                latency = [e.answered - e.posted for e in sent if e.answered is not None]

                sample = sent[:: max(1, len(sent) // args.retries)][: args.retries]
                retry_acks, retry_refused = await deliver(
                    session, url, stub, sample, args.concurrency, retry=True
                )
                await answers.settle(3.0)
                twice = sum(1 for e in sample if len(answers_of(stub, e)) > 1)
                after = sum(len(answers_of(stub, e)) for e in sent)
                posts = len(stub.calls("chat.startStream")) + len(stub.calls("chat.postMessage"))
        finally:
            code = child.stop()

    dms = sum(1 for e in sent if not e.thread)
    print(
        f"{len(sent)} signed message events ({len(sent) - dms} mentions over {args.channels} "
        f"channels, a thread each, natively streamed; {dms} DMs, posted then edited), each from "
        f"its own user, {args.concurrency} in flight; model stub: {args.latency * 1000:.0f} ms, "
        f"then {args.chunk_delay * 1000:.0f} ms a word"
    )
    print(f"  {ack_line(acks)}; non-200: {refused}")
    replies = sum(1 for c in counts if c >= 1)
    print(
        f"  replies {replies}/{len(sent)} (its own answer: {own}), duplicates "
        f"{sum(1 for c in counts if c > 1)}, missing {sum(1 for c in counts if c == 0)}, "
        f"failed part-way {answers.failed}; answers finished: {first_round} "
        f"(Web API posts incl. warm-up: {posts})"
    )
    print(
        f"  answered (POST to answer's last call) p50 {pct(latency, 0.5):.0f} ms, "
        f"p99 {pct(latency, 0.99):.0f} ms; wall time {wall:.2f} s (first POST to last answer), "
        f"{len(sent) / wall:.0f} events/s"
    )
    print(
        f"retry round: {len(sample)} of them redelivered (same event_id, X-Slack-Retry-Num: 1, "
        f"X-Slack-Retry-Reason: http_timeout)"
    )
    print(f"  {ack_line(retry_acks)}; non-200: {retry_refused}")
    print(
        f"  retries answered twice: {twice} (target 0); answers now {after} for "
        f"{len(sent)} events; answers finished since the first round: "
        f"{answers.finished - first_round}"
    )
    print(f"server: exit code {code} after SIGTERM; warnings/errors logged: {len(child.problems)}")
    for line in child.problems[:10]:
        print(f"  {line}")
    print(
        f"(run: python bench/slack.py --events {args.events} --concurrency {args.concurrency} "
        f"--retries {args.retries} --dm-share {args.dm_share})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50, help="events in flight at most")
    parser.add_argument("--retries", type=int, default=100, help="events redelivered")
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--dm-share", type=float, default=0.2, help="the share of DMs")
    parser.add_argument("--latency", type=float, default=0.05, help="model stub: first word")
    parser.add_argument("--chunk-delay", type=float, default=0.01, help="then each word")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
