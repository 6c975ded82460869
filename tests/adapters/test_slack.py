"""The Slack surface through the real slack-bolt code: `botkit serve` with its client pointed at a
local stub of the Slack Web API, events pushed over a Socket Mode stub or posted signed over HTTP.
Assertions are on what the stub Web API received."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from botkit.serve.surface import SurfaceError
from botkit.storage.sqlite_feedback import SQLiteFeedback
from botkit.testing import StubOpenAI, StubSlack
from botkit.testing.slack_payloads import (
    BOT_USER_ID,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    USER_ID,
    app_mention,
    assistant_thread_started,
    block_actions,
    event_callback,
    message,
    message_shortcut,
    slash_command,
)

from ..conftest import stub_model, write_gpt
from ..serve.conftest import Running, running

BOB = "U0USER0002"


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> StubSlack:
    stub = StubSlack(users={BOB: {"name": "bob", "display_name": "Bob"}}).start()
    monkeypatch.setenv("SLACK_BOT_TOKEN", stub.bot_token)
    monkeypatch.setenv("SLACK_APP_TOKEN", stub.app_token)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", stub.signing_secret)
    yield stub  # type: ignore[misc]
    stub.stop()


@pytest.fixture
def gpts(config_dir: Path, openai_stub: StubOpenAI) -> Path:
    write_gpt(
        config_dir,
        "assistant",
        model=stub_model(openai_stub),
        description="A helpful assistant.",
        starters=["What can you do?", "Plan my week"],
        instructions="You help {user}.",
    )
    write_gpt(config_dir, "secret", model=stub_model(openai_stub))
    return config_dir


def deployment(slack: StubSlack, **surface: Any) -> dict[str, Any]:
    return {
        "name": "team",
        "default_gpt": "assistant",
        "rate_limit": None,
        "surfaces": {
            "api": {"enabled": False},
            "slack": {"enabled": True, "api_url": slack.url, **surface},
        },
    }


@pytest.fixture
async def served(gpts: Path, tmp_path: Path, slack: StubSlack) -> AsyncIterator[Running]:
    async with running(gpts, tmp_path / "home", deployment(slack), only=("slack",)) as server:
        await slack.wait_connected_async()
        yield server


async def push(slack: StubSlack, event: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return await slack.push_async("events_api", event_callback(event, **kwargs))


async def answered(slack: StubSlack, method: str = "chat.stopStream", count: int = 1) -> list[Any]:
    return await slack.wait_for_async(method, count, timeout=10)


def streamed(slack: StubSlack) -> str:
    """The text of the (last) natively streamed answer."""
    texts = [c.get("markdown_text") or "" for c in slack.calls("chat.startStream")[-1:]]
    texts += [c.get("markdown_text") or "" for c in slack.calls("chat.appendStream")]
    return "".join(texts)


async def test_a_mention_is_answered_in_its_thread_by_native_streaming(
    served: Running, slack: StubSlack, openai_stub: StubOpenAI
) -> None:
    event = app_mention("what is <https://example.com|our site>?", channel=CHANNEL_ID)
    ack = await push(slack, event)
    assert "envelope_id" in ack
    (stop,) = await answered(slack)
    (start,) = slack.calls("chat.startStream")
    assert start["thread_ts"] == event["ts"] and start["channel"] == CHANNEL_ID
    assert (
        streamed(slack) == "echo: what is our site (https://example.com)?"
    )  # plain text for the model
    blocks = stop["blocks"] if isinstance(stop["blocks"], list) else []
    actions = next(b for b in blocks if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [
        "botkit_feedback_up",
        "botkit_feedback_down",
    ]
    system = openai_stub.chat_requests[-1].body["messages"][0]["content"]
    assert system == "You help alice."  # the speaker's name, resolved with users.info


async def test_a_thread_is_one_conversation_and_follow_ups_need_no_mention(
    served: Running, slack: StubSlack, openai_stub: StubOpenAI
) -> None:
    first = app_mention("plan lunch", channel=CHANNEL_ID)
    await push(slack, first)
    await answered(slack)
    await push(slack, message("I want pizza", channel=CHANNEL_ID, user=BOB, thread_ts=first["ts"]))
    await answered(slack, count=2)
    said = [
        m["content"] for m in openai_stub.chat_requests[-1].body["messages"] if m["role"] == "user"
    ]
    assert said == ["alice: plan lunch", "Bob: I want pizza"]
    await push(slack, message("unrelated", channel=CHANNEL_ID, user=BOB, thread_ts="1.000001"))
    await push(slack, message("top level chatter", channel=CHANNEL_ID, user=BOB))
    await asyncio.sleep(0.3)
    assert len(openai_stub.chat_requests) == 2  # not its thread, not for it


async def test_bots_itself_edits_and_deletions_are_ignored_and_retries_answered_once(
    served: Running, slack: StubSlack, openai_stub: StubOpenAI
) -> None:
    await push(slack, message("hi", channel=DM_CHANNEL_ID, bot_id="B0OTHER01"))
    await push(slack, message("hi", channel=DM_CHANNEL_ID, user=BOT_USER_ID))
    await push(
        slack, message("new", channel=DM_CHANNEL_ID, subtype="message_changed", previous_text="old")
    )
    await push(slack, message("", channel=DM_CHANNEL_ID, subtype="message_deleted"))
    event = message("hello there", channel=DM_CHANNEL_ID)
    await push(slack, event, event_id="Ev0SAME0001")
    await slack.push_async(
        "events_api",
        event_callback(event, event_id="Ev0SAME0001"),
        retry_attempt=1,
        retry_reason="timeout",
    )
    await slack.wait_for_async("chat.update", 1, timeout=10)
    await asyncio.sleep(0.3)
    assert len(openai_stub.chat_requests) == 1
    (posted,) = slack.calls("chat.postMessage")
    assert posted["channel"] == DM_CHANNEL_ID and not posted.get("thread_ts")  # a DM: no thread


async def test_without_native_streaming_one_message_is_edited_and_long_answers_split(
    served: Running, slack: StubSlack, openai_stub: StubOpenAI
) -> None:
    slack.unavailable("chat.startStream")
    code = "\n".join(f"line {i} = {i}" for i in range(300))
    openai_stub.reply(f"Here is **the code**:\n\n```python\n{code}\n```\nDone.")
    await push(slack, app_mention("code please", channel=CHANNEL_ID))
    for _ in range(200):
        updates = slack.calls("chat.update")
        if any(isinstance(u.get("blocks"), list) for u in updates):
            break
        await asyncio.sleep(0.05)
    posts = slack.calls("chat.postMessage")
    assert len(posts) >= 2  # split past Slack's length
    final = [m["text"] for m in slack.messages(CHANNEL_ID, posts[0]["thread_ts"])]
    assert final[0].startswith("Here is *the code*:")  # Markdown as mrkdwn
    for text in final:
        assert text.count("```") % 2 == 0 and len(text) <= 3000  # code blocks closed, reopened
    assert "line 299 = 299" in "".join(final) and final[-1].endswith("Done.")


async def test_a_model_failing_mid_stream_says_so_where_it_stopped(
    served: Running, slack: StubSlack, openai_stub: StubOpenAI
) -> None:
    openai_stub.reply("one two three four")
    openai_stub.fault("cut", after=2)
    await push(slack, app_mention("count", channel=CHANNEL_ID))
    (stop,) = await answered(slack)
    assert "one two" in streamed(slack)
    assert "the answer failed part-way" in stop["markdown_text"]


async def test_access_rules_and_rate_limits_tell_the_user_and_never_reach_the_model(
    gpts: Path, tmp_path: Path, slack: StubSlack, openai_stub: StubOpenAI
) -> None:
    spec = deployment(slack, channels={CHANNEL_ID: "secret"})
    spec["access"] = {"rules": [{"gpts": ["secret"], "users": [BOB]}]}
    spec["rate_limit"] = {"per_minute": 1, "burst": 1}
    async with running(gpts, tmp_path / "home", spec, only=("slack",)):
        await slack.wait_connected_async()
        await push(slack, app_mention("tell me the secret", channel=CHANNEL_ID))
        (told,) = await slack.wait_for_async("chat.postEphemeral", 1, timeout=10)
        assert told["user"] == USER_ID and "may not use GPT 'secret'" in told["text"]
        assert openai_stub.chat_requests == []
        await push(slack, message("one", channel=DM_CHANNEL_ID, user=BOB))
        await push(slack, message("two", channel=DM_CHANNEL_ID, user=BOB))
        told = (await slack.wait_for_async("chat.postEphemeral", 2, timeout=10))[-1]
        assert "too many messages" in told["text"]
        await slack.wait_for_async("chat.update", 1, timeout=10)  # "one" was answered
        assert len(openai_stub.chat_requests) == 1


async def test_slash_commands_help_list_ask_and_refuse_an_unknown_gpt(
    served: Running, slack: StubSlack, openai_stub: StubOpenAI
) -> None:
    def command(text: str) -> dict[str, Any]:
        return slash_command("/botkit", text, response_url=slack.response_url())

    ack = await slack.push_async("slash_commands", command("help"))
    assert "envelope_id" in ack
    await slack.push_async("slash_commands", command("gpts"))
    await slack.push_async("slash_commands", command("secret what is up"))
    await slack.push_async("slash_commands", command("nope hello"))
    for _ in range(100):
        if len(slack.responses) >= 4:
            break
        await asyncio.sleep(0.05)
    bodies = {r["body"]["text"]: r["body"] for r in slack.responses}
    texts = "\n".join(bodies)
    assert "`/botkit <gpt> <text>` asks a GPT" in texts and "`/botkit translate" in texts
    assert "*assistant* A helpful assistant." in texts
    answer = bodies["echo: what is up"]
    assert answer["response_type"] == "in_channel"
    assert "no GPT or command named 'nope'" in texts


async def test_a_thumbs_up_is_stored_with_the_exchange(
    served: Running, slack: StubSlack, tmp_path: Path
) -> None:
    await push(slack, app_mention("rate me", channel=CHANNEL_ID))
    (stop,) = await answered(slack)
    request_id = next(b for b in stop["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    await asyncio.sleep(1.2)  # the exchange is written in its batch
    click = block_actions("botkit_feedback_up", value=request_id, response_url=slack.response_url())
    await slack.push_async("interactive", click)
    for _ in range(100):
        if slack.responses:
            break
        await asyncio.sleep(0.05)
    assert slack.responses[-1]["body"]["text"] == "Thanks for the feedback."
    store = SQLiteFeedback(tmp_path / "home" / "feedback.sqlite3")
    (rated,) = await store.exchanges(only="up")
    assert (rated.gpt, rated.surface, rated.question) == ("assistant", "slack", "rate me")
    await store.aclose()


async def test_the_assistant_panel_suggests_the_starters_and_shows_thinking(
    served: Running, slack: StubSlack
) -> None:
    started = assistant_thread_started(channel=DM_CHANNEL_ID)
    await push(slack, started)
    (prompts,) = await slack.wait_for_async("assistant.threads.setSuggestedPrompts", 1, timeout=10)
    assert [p["message"] for p in prompts["prompts"]] == ["What can you do?", "Plan my week"]
    thread = started["assistant_thread"]["thread_ts"]
    await push(slack, message("hi", channel=DM_CHANNEL_ID, thread_ts=thread))
    (status,) = await slack.wait_for_async("assistant.threads.setStatus", 1, timeout=10)
    assert status["status"] == "is thinking…"
    await answered(slack)


async def test_a_thread_joined_late_is_read_first(
    served: Running, slack: StubSlack, openai_stub: StubOpenAI
) -> None:
    parent = slack.add_message(CHANNEL_ID, "Where shall we eat?", user=BOB)
    slack.add_message(CHANNEL_ID, "Somewhere with pizza", user=USER_ID, thread_ts=parent["ts"])
    await push(slack, app_mention("any idea?", channel=CHANNEL_ID, thread_ts=parent["ts"]))
    await answered(slack)
    said = [
        m["content"] for m in openai_stub.chat_requests[-1].body["messages"] if m["role"] == "user"
    ]
    assert said == ["Bob: Where shall we eat?", "alice: Somewhere with pizza", "alice: any idea?"]


async def test_the_translate_shortcut_answers_whoever_asked(
    served: Running, slack: StubSlack, openai_stub: StubOpenAI
) -> None:
    openai_stub.reply("Good morning")
    shortcut = message_shortcut(
        "botkit_translate", message_text="Bonjour à tous", response_url=slack.response_url()
    )
    await slack.push_async("interactive", shortcut)
    for _ in range(100):
        if slack.responses:
            break
        await asyncio.sleep(0.05)
    body = slack.responses[-1]["body"]
    assert body["text"] == "Good morning" and body["response_type"] == "ephemeral"
    prompt = openai_stub.chat_requests[-1].body["messages"]
    assert "into English" in prompt[0]["content"] and prompt[-1]["content"] == "Bonjour à tous"


async def test_slack_rate_limits_are_waited_out(
    served: Running, slack: StubSlack, openai_stub: StubOpenAI
) -> None:
    slack.unavailable("chat.startStream")
    slack.fault("chat.postMessage", status=429, retry_after=1)
    started = time.monotonic()
    await push(slack, app_mention("hello", channel=CHANNEL_ID))
    await slack.wait_for_async("chat.update", 1, timeout=15)
    assert time.monotonic() - started >= 1
    assert len([c for c in slack.calls("chat.postMessage")]) == 2  # refused once, then posted


async def test_missing_or_wrong_tokens_and_scopes_are_one_clear_startup_error(
    gpts: Path, tmp_path: Path, slack: StubSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botkit.adapters.slack.surface import SlackSurface
    from botkit.deploy.spec import BotSpec
    from botkit.deploy.spec import SlackSurface as Settings
    from botkit.serve.runner import build_context
    from botkit.settings import Settings as Project

    context = build_context(Project(gpts, tmp_path / "home"), BotSpec(name="x"))
    settings = Settings(enabled=True, api_url=slack.url)
    monkeypatch.delenv("SLACK_APP_TOKEN")
    with pytest.raises(SurfaceError, match=r"SLACK_APP_TOKEN is not set.*App-Level Tokens"):
        await SlackSurface(settings, context).start()
    monkeypatch.setenv("SLACK_APP_TOKEN", slack.app_token)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-wrong")
    with pytest.raises(SurfaceError, match=r"Slack refused SLACK_BOT_TOKEN \(invalid_auth\)"):
        await SlackSurface(settings, context).start()
    monkeypatch.setenv("SLACK_BOT_TOKEN", slack.bot_token)
    slack.scopes = ["chat:write"]
    with pytest.raises(
        SurfaceError, match=r"lacks scopes: app_mentions:read .*OAuth & Permissions"
    ):
        await SlackSurface(settings, context).start()
    await context.bot.aclose()


async def test_http_mode_answers_signed_events_and_refuses_forged_or_stale_ones(
    gpts: Path, tmp_path: Path, slack: StubSlack, openai_stub: StubOpenAI
) -> None:
    spec = deployment(slack, mode="http")
    async with (
        running(gpts, tmp_path / "home", spec, only=("slack",)) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        for _ in range(100):  # until the surface has started (before: 503, and Slack retries)
            if (await http.get("/readyz")).json()["surfaces"]["slack"] == "running":
                break
            await asyncio.sleep(0.05)
        body, headers = slack.signed_request(event_callback(app_mention("hi over http")))
        ok = await http.post("/slack/events", content=body, headers=headers)
        assert ok.status_code == 200
        await answered(slack)
        assert streamed(slack) == "echo: hi over http"
        forged = dict(headers, **{"x-slack-signature": "v0=" + "0" * 64})
        bad = await http.post("/slack/events", content=body, headers=forged)
        old_body, old = slack.signed_request(
            event_callback(app_mention("stale")), timestamp=int(time.time()) - 360
        )
        stale = await http.post("/slack/events", content=old_body, headers=old)
        assert (bad.status_code, stale.status_code) == (401, 401)
        await asyncio.sleep(0.3)
        assert len(openai_stub.chat_requests) == 1  # no GPT reached by either


def test_the_manifest_asks_for_what_the_surface_uses(gpts: Path, tmp_path: Path) -> None:
    import yaml as yamllib

    from botkit.adapters.slack.surface import SCOPES

    from ..conftest import run_botkit

    bots = gpts / "bots"
    bots.mkdir()
    (bots / "team.yaml").write_text(
        yamllib.safe_dump(
            {"name": "team", "surfaces": {"slack": {"enabled": True, "mode": "http"}}}
        )
    )
    result = run_botkit(
        "--config-dir", str(gpts), "slack", "manifest", "--bot", str(bots / "team.yaml"),
        "--request-url", "https://bots.example.com/slack/events",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = yamllib.safe_load(result.stdout)
    assert set(SCOPES) <= set(found["oauth_config"]["scopes"]["bot"])
    assert "app_mention" in found["settings"]["event_subscriptions"]["bot_events"]
    assert found["settings"]["socket_mode_enabled"] is False
    assert (
        found["settings"]["event_subscriptions"]["request_url"]
        == "https://bots.example.com/slack/events"
    )
    assert found["features"]["slash_commands"][0]["command"] == "/botkit"
    assert found["features"]["shortcuts"][0]["callback_id"] == "botkit_translate"
