"""Several `botkit serve` workers on one Redis: one conversation, one rate limit, a retried Slack
event answered once; and Redis going away and coming back."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import pytest
import yaml

from botkit.testing import StubOpenAI, StubSlack
from botkit.testing.slack_payloads import CHANNEL_ID, app_mention, event_callback, message

from ..conftest import RedisServer
from .test_runner import start

BOB = "U0USER0002"


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> StubSlack:
    stub = StubSlack(users={BOB: {"name": "bob", "display_name": "Bob"}}).start()
    monkeypatch.setenv("SLACK_BOT_TOKEN", stub.bot_token)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", stub.signing_secret)
    yield stub  # type: ignore[misc]
    stub.stop()


def deployment(gpts: Path, redis: RedisServer, slack: StubSlack) -> Path:
    bots = gpts / "bots"
    bots.mkdir(exist_ok=True)
    spec = {
        "name": "team",
        "default_gpt": "echo",
        "storage": redis.url,
        "rate_limit": {"per_minute": 1, "burst": 4},
        "surfaces": {"slack": {"enabled": True, "mode": "http", "api_url": slack.url}},
    }
    (bots / "team.yaml").write_text(yaml.safe_dump(spec))
    return bots / "team.yaml"


def post(url: str, slack: StubSlack, payload: dict[str, object], retry: int | None = None) -> int:
    body, headers = slack.signed_request(payload, **({"retry_num": retry} if retry else {}))
    return httpx.post(f"{url}/slack/events", content=body, headers=headers, timeout=30).status_code


def wait(ready: object, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def wait_ready(url: str) -> None:
    wait(lambda: httpx.get(f"{url}/readyz").json()["surfaces"]["slack"] == "running")


def test_two_workers_share_conversations_rate_limits_and_retries(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI, slack: StubSlack, redis_server: RedisServer
) -> None:
    bot_file = deployment(gpts, redis_server, slack)
    a, url_a = start(gpts, tmp_path / "a", "--bot", str(bot_file))
    b, url_b = start(gpts, tmp_path / "b", "--bot", str(bot_file))
    try:
        wait_ready(url_a)
        wait_ready(url_b)
        first = app_mention("plan lunch", channel=CHANNEL_ID)
        event = event_callback(first, event_id="Ev0LUNCH001")
        assert post(url_a, slack, event) == 200
        assert post(url_b, slack, event, retry=1) == 200  # Slack's retry, to the other worker
        wait(lambda: len(slack.calls("chat.stopStream")) == 1)
        follow_up = message("I want pizza", channel=CHANNEL_ID, user=BOB, thread_ts=first["ts"])
        assert post(url_b, slack, event_callback(follow_up)) == 200  # worker B, same thread
        wait(lambda: len(slack.calls("chat.stopStream")) == 2)
        said = [
            m["content"]
            for m in openai_stub.chat_requests[-1].body["messages"]
            if m["role"] == "user"
        ]
        assert said == ["alice: plan lunch", "Bob: I want pizza"]  # B read what A answered
        assert len(openai_stub.chat_requests) == 2  # the retry was not answered again
        for n in range(4):  # Bob's bucket holds 4, shared by both workers; the first was above
            url = (url_a, url_b)[n % 2]
            post(
                url,
                slack,
                event_callback(
                    message(f"more {n}", channel=CHANNEL_ID, user=BOB, thread_ts=first["ts"])
                ),
            )
        wait(lambda: len(slack.calls("chat.postEphemeral")) >= 1)
        assert "too many messages" in slack.calls("chat.postEphemeral")[-1]["text"]
        wait(lambda: len(openai_stub.chat_requests) == 5)
        time.sleep(0.5)
        assert len(openai_stub.chat_requests) == 5  # 4 in the bucket: 1 + 3 of the 4 more
    finally:
        for worker in (a, b):
            worker.send_signal(signal.SIGTERM)
        for worker in (a, b):
            assert worker.wait(30) == 0


def test_redis_going_away_is_a_clear_answer_and_its_return_needs_nothing(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI, slack: StubSlack, redis_server: RedisServer
) -> None:
    bot_file = deployment(gpts, redis_server, slack)
    worker, url = start(gpts, tmp_path / "w", "--bot", str(bot_file))
    try:
        wait_ready(url)
        first = app_mention("remember 42", channel=CHANNEL_ID)
        post(url, slack, event_callback(first))
        wait(lambda: len(slack.calls("chat.stopStream")) == 1)
        redis_server.stop()
        post(
            url,
            slack,
            event_callback(
                message("still there?", channel=CHANNEL_ID, user=BOB, thread_ts=first["ts"])
            ),
        )
        wait(lambda: slack.calls("chat.postEphemeral") or slack.calls("chat.postMessage"))
        told = (slack.calls("chat.postEphemeral") or slack.calls("chat.postMessage"))[-1]["text"]
        assert "Redis" in told and "does not answer" in told
        redis_server.start()
        post(
            url,
            slack,
            event_callback(
                message("and now?", channel=CHANNEL_ID, user=BOB, thread_ts=first["ts"])
            ),
        )
        wait(lambda: len(slack.calls("chat.stopStream")) == 2)
        said = [
            m["content"]
            for m in openai_stub.chat_requests[-1].body["messages"]
            if m["role"] == "user"
        ]
        assert (
            said[0] == "alice: remember 42" and said[-1] == "Bob: and now?"
        )  # nothing acknowledged was lost
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
        assert os.path.exists(redis_server.folder)
