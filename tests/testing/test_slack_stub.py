"""StubSlack speaks Slack well enough for the real slack_sdk and slack_bolt code paths.

slack_sdk's AsyncWebClient against the Web API; a real AsyncApp over Socket Mode (slack_sdk's
aiohttp client, bolt's default) and over HTTP (bolt's Starlette adapter under uvicorn), fed with
really signed requests. Everything listens on 127.0.0.1 at port 0.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from botkit.testing import (
    StubSlack,
    app_mention,
    assistant_thread_started,
    block_actions,
    event_callback,
    message,
    sign,
    signed_request,
    slash_command,
    url_verification,
)
from botkit.testing.slack_payloads import CHANNEL_ID, DM_CHANNEL_ID, TEAM_ID, USER_ID

pytest.importorskip("slack_bolt")
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp, AsyncAssistant
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient


def client(stub: StubSlack, token: str | None = None) -> AsyncWebClient:
    return AsyncWebClient(token=token or stub.bot_token, base_url=stub.url)


def bolt_app(stub: StubSlack, **kwargs: Any) -> AsyncApp:
    """A real AsyncApp whose Web API client talks to the stub."""
    kwargs.setdefault("signing_secret", stub.signing_secret)
    return AsyncApp(client=client(stub, kwargs.pop("token", None)), **kwargs)


@pytest.fixture
async def socket_app(slack_stub: StubSlack) -> AsyncIterator[AsyncApp]:
    """An AsyncApp connected to the stub over Socket Mode (listeners are added by the test)."""
    app = bolt_app(slack_stub)
    handler = AsyncSocketModeHandler(app, slack_stub.app_token)
    await handler.connect_async()
    await slack_stub.wait_connected_async()
    yield app
    await handler.close_async()


# -- the Web API through slack_sdk ---------------------------------------------------------------
async def test_auth_test_answers_like_slack(slack_stub: StubSlack) -> None:
    answer = await client(slack_stub).auth_test()
    assert answer["user_id"] == slack_stub.bot_user_id and answer["bot_id"] == slack_stub.bot_id
    assert answer["team_id"] == slack_stub.team_id
    assert "chat:write" in answer.headers["x-oauth-scopes"].split(",")
    for token, error in (
        ("xoxb-wrong", "invalid_auth"),
        (slack_stub.app_token, "not_allowed_token_type"),
    ):
        with pytest.raises(SlackApiError) as failed:
            await client(slack_stub, token).auth_test()
        assert failed.value.response["error"] == error
    with pytest.raises(SlackApiError) as failed:
        await client(slack_stub).apps_connections_open(app_token=slack_stub.bot_token)
    assert failed.value.response["error"] == "not_allowed_token_type"
    tokens = [c.token for c in slack_stub.api_calls]
    assert tokens == [
        slack_stub.bot_token,
        "xoxb-wrong",
        slack_stub.app_token,
        slack_stub.bot_token,
    ]


async def test_messages_threads_and_edits(slack_stub: StubSlack) -> None:
    web = client(slack_stub)
    question = slack_stub.add_message(CHANNEL_ID, "what is botkit?", user=USER_ID)
    posted = await web.chat_postMessage(
        channel=CHANNEL_ID, text="thinking…", thread_ts=question["ts"]
    )
    assert posted["message"]["thread_ts"] == question["ts"] and posted["ts"] > question["ts"]
    await web.chat_update(channel=CHANNEL_ID, ts=posted["ts"], text="A framework.")
    second = await web.chat_postMessage(channel=CHANNEL_ID, text="More?", thread_ts=question["ts"])
    assert second["ts"] > posted["ts"]

    thread = (await web.conversations_replies(channel=CHANNEL_ID, ts=question["ts"]))["messages"]
    assert [m["text"] for m in thread] == ["what is botkit?", "A framework.", "More?"]
    assert thread[0]["reply_count"] == 2 and thread[0]["latest_reply"] == second["ts"]
    assert thread[1]["parent_user_id"] == USER_ID and "edited" in thread[1]
    assert thread[1]["user"] == slack_stub.bot_user_id and thread[1]["bot_id"] == slack_stub.bot_id
    assert slack_stub.calls("chat.update") == [
        {"channel": CHANNEL_ID, "ts": posted["ts"], "text": "A framework."}
    ]

    await web.chat_delete(channel=CHANNEL_ID, ts=second["ts"])
    assert [m["text"] for m in slack_stub.messages(CHANNEL_ID, question["ts"])][
        -1
    ] == "A framework."
    wrong = {
        "cant_update_message": lambda: web.chat_update(
            channel=CHANNEL_ID, ts=question["ts"], text="x"
        ),
        "message_not_found": lambda: web.chat_update(channel=CHANNEL_ID, ts="1.000001", text="x"),
        "no_text": lambda: web.api_call("chat.postMessage", json={"channel": CHANNEL_ID}),
        "channel_not_found": lambda: web.chat_postMessage(channel="#nowhere", text="x"),
        "thread_not_found": lambda: web.conversations_replies(channel=CHANNEL_ID, ts="1.000001"),
        "unknown_method": lambda: web.api_call("chat.unknownThing"),
    }
    for error, call in wrong.items():
        with pytest.raises(SlackApiError) as failed:
            await call()
        assert failed.value.response["error"] == error


async def test_users_conversations_reactions_ephemeral(slack_stub: StubSlack) -> None:
    slack_stub.add_user("U0BOB00001", "bob", real_name="Bob Builder", display_name="bobby")
    web = client(slack_stub)
    bob = (await web.users_info(user="U0BOB00001"))["user"]
    assert (bob["name"], bob["real_name"], bob["profile"]["display_name"]) == (
        "bob",
        "Bob Builder",
        "bobby",
    )
    assert (await web.users_info(user=slack_stub.bot_user_id))["user"]["is_bot"] is True
    with pytest.raises(SlackApiError, match="user_not_found"):
        await web.users_info(user="U0NOBODY01")
    dm = (await web.conversations_info(channel=DM_CHANNEL_ID))["channel"]
    assert dm["is_im"] is True and dm["user"] == USER_ID
    slack_stub.add_channel(CHANNEL_ID, "general", is_general=True)
    assert (await web.conversations_info(channel=CHANNEL_ID))["channel"]["name"] == "general"

    seen = slack_stub.add_message(CHANNEL_ID, "look")
    await web.reactions_add(channel=CHANNEL_ID, name="eyes", timestamp=seen["ts"])
    with pytest.raises(SlackApiError, match="already_reacted"):
        await web.reactions_add(channel=CHANNEL_ID, name="eyes", timestamp=seen["ts"])
    assert slack_stub.messages(CHANNEL_ID)[0]["reactions"][0]["count"] == 1

    quiet = await web.chat_postEphemeral(channel=CHANNEL_ID, user=USER_ID, text="only you")
    assert slack_stub.ephemeral[0]["ts"] == quiet["message_ts"]
    assert len(slack_stub.messages(CHANNEL_ID)) == 1  # ephemeral messages are in no history


async def test_scopes_and_faults(slack_stub: StubSlack) -> None:
    narrow = StubSlack(scopes=["chat:write"]).start()
    try:
        with pytest.raises(SlackApiError) as failed:
            await client(narrow).users_info(user=USER_ID)
        assert failed.value.response["needed"] == "users:read"
        assert failed.value.response["provided"] == "chat:write"
    finally:
        narrow.stop()

    web = client(slack_stub)
    slack_stub.fault("chat.postMessage", error="not_in_channel", skip=1)
    await web.chat_postMessage(channel=CHANNEL_ID, text="first passes")
    with pytest.raises(SlackApiError, match="not_in_channel"):
        await web.chat_postMessage(channel=CHANNEL_ID, text="second fails")
    await web.chat_postMessage(channel=CHANNEL_ID, text="then it works again")
    slack_stub.fault("chat.update", status=503)
    with pytest.raises(SlackApiError) as failed:
        await web.chat_update(channel=CHANNEL_ID, ts="1.000001", text="x")
    assert failed.value.response.status_code == 503


async def test_rate_limit_retry_after_is_honoured(slack_stub: StubSlack) -> None:
    slack_stub.fault("chat.postMessage", status=429, retry_after=1)
    plain = client(slack_stub)
    with pytest.raises(SlackApiError) as failed:
        await plain.chat_postMessage(channel=CHANNEL_ID, text="hi")
    assert failed.value.response.status_code == 429
    assert failed.value.response["error"] == "ratelimited"
    assert failed.value.response.headers["Retry-After"] == "1"

    slack_stub.fault("chat.postMessage", status=429, retry_after=1)
    patient = client(slack_stub)
    patient.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    started = time.monotonic()
    answer = await patient.chat_postMessage(channel=CHANNEL_ID, text="hi again")
    assert answer["ok"] and time.monotonic() - started >= 1.0  # waited Retry-After (+ jitter)
    assert [c["text"] for c in slack_stub.calls("chat.postMessage")] == [
        "hi",
        "hi again",
        "hi again",
    ]


# -- native streaming ----------------------------------------------------------------------------
async def test_streaming_methods_and_the_chat_stream_helper(slack_stub: StubSlack) -> None:
    web = client(slack_stub)
    question = slack_stub.add_message(CHANNEL_ID, "stream please")
    who = {"recipient_team_id": TEAM_ID, "recipient_user_id": USER_ID}
    started = await web.chat_startStream(
        channel=CHANNEL_ID, thread_ts=question["ts"], markdown_text="Hel", **who
    )
    await web.chat_appendStream(channel=CHANNEL_ID, ts=started["ts"], markdown_text="lo")
    stopped = await web.chat_stopStream(channel=CHANNEL_ID, ts=started["ts"], markdown_text="!")
    assert stopped["message"]["text"] == "Hello!"
    with pytest.raises(SlackApiError, match="message_not_in_streaming_state"):
        await web.chat_appendStream(channel=CHANNEL_ID, ts=started["ts"], markdown_text="late")

    # slack_sdk's helper buffers, then sends markdown_text *chunks*, not markdown_text
    stream = await web.chat_stream(
        channel=CHANNEL_ID, thread_ts=question["ts"], buffer_size=8, **who
    )
    for piece in ("Streaming ", "is ", "native."):
        await stream.append(markdown_text=piece)
    await stream.stop()
    assert stream.ts is not None
    assert slack_stub.messages(CHANNEL_ID, question["ts"])[-1]["text"] == "Streaming is native."
    assert slack_stub.calls("chat.startStream")[-1]["chunks"] == [
        {"type": "markdown_text", "text": "Streaming "}
    ]
    assert [c.method for c in slack_stub.api_calls][-3:] == [
        "chat.startStream",
        "chat.appendStream",
        "chat.stopStream",
    ]

    # outside a DM Slack needs the recipient; in a DM it does not
    with pytest.raises(SlackApiError, match="missing_recipient_team_id"):
        await web.chat_startStream(channel=CHANNEL_ID, thread_ts=question["ts"], markdown_text="x")
    dm = slack_stub.add_message(DM_CHANNEL_ID, "hi")
    await web.chat_startStream(channel=DM_CHANNEL_ID, thread_ts=dm["ts"], markdown_text="x")


async def test_stream_expiry_and_a_workspace_without_streaming(slack_stub: StubSlack) -> None:
    web = client(slack_stub)
    question = slack_stub.add_message(DM_CHANNEL_ID, "long job")
    stream = await web.chat_stream(channel=DM_CHANNEL_ID, thread_ts=question["ts"], buffer_size=1)
    await stream.append(markdown_text="step 1…")
    slack_stub.expire_streams()  # Slack closes a stream after ~5 minutes
    with pytest.raises(SlackApiError, match="message_not_in_streaming_state"):
        await stream.append(markdown_text="step 2")
    assert stream.ts is not None  # the documented way out: chat.update the streamed message
    await web.chat_update(channel=DM_CHANNEL_ID, ts=stream.ts, text="step 1… step 2")
    assert slack_stub.messages(DM_CHANNEL_ID, question["ts"])[-1]["text"] == "step 1… step 2"

    slack_stub.unavailable("chat.startStream", "chat.appendStream", "chat.stopStream")
    for _ in range(2):
        with pytest.raises(SlackApiError, match="unknown_method"):
            await web.chat_startStream(channel=DM_CHANNEL_ID, thread_ts=question["ts"])
    slack_stub.fault("chat.postMessage", error="missing_scope", needed="chat:write")
    with pytest.raises(SlackApiError) as failed:
        await web.chat_postMessage(channel=DM_CHANNEL_ID, text="x")
    assert failed.value.response["needed"] == "chat:write"


# -- a real bolt AsyncApp over Socket Mode -------------------------------------------------------
async def test_socket_mode_app_mention_gets_a_reply(
    slack_stub: StubSlack, socket_app: AsyncApp
) -> None:
    @socket_app.event("app_mention")
    async def answer(event: dict[str, Any], say: Any) -> None:
        await say(text=f"hello <@{event['user']}>", thread_ts=event["ts"])

    mention = slack_stub.add_message(CHANNEL_ID, f"<@{slack_stub.bot_user_id}> hi")
    payload = event_callback(app_mention("hi", ts=mention["ts"]))
    ack = await slack_stub.push_async("events_api", payload)
    assert ack == {"envelope_id": slack_stub.envelopes[-1]["envelope_id"]}
    assert slack_stub.envelopes[-1]["accepts_response_payload"] is False

    [reply] = await slack_stub.wait_for_async("chat.postMessage")
    assert reply == {
        "channel": CHANNEL_ID,
        "text": f"hello <@{USER_ID}>",
        "thread_ts": mention["ts"],
        "team_id": TEAM_ID,  # bolt's per-request client adds the event's team to every call
    }
    assert [c.method for c in slack_stub.api_calls] == [
        "apps.connections.open",
        "auth.test",
        "chat.postMessage",
    ]
    thread = slack_stub.messages(CHANNEL_ID, mention["ts"])
    assert thread[-1]["text"] == f"hello <@{USER_ID}>"


async def test_socket_mode_reconnects_and_exposes_retries(
    slack_stub: StubSlack, socket_app: AsyncApp
) -> None:
    retries: list[tuple[Any, Any]] = []

    @socket_app.event("message")
    async def on_message(body: dict[str, Any], context: Any, say: Any) -> None:
        retries.append((body["event_id"], context.get("retry_num")))
        await say("got it")

    @socket_app.middleware
    async def note_retry(req: Any, next: Any) -> Any:  # bolt exposes retries only as headers
        req.context["retry_num"] = req.headers.get("x-slack-retry-num", [None])[0]
        return await next()

    first = event_callback(message("one", channel=DM_CHANNEL_ID))
    await slack_stub.push_async("events_api", first)
    await slack_stub.push_async("events_api", first, retry_attempt=1, retry_reason="timeout")
    await slack_stub.wait_for_async("chat.postMessage", count=2)
    # Socket Mode envelopes always carry retry_attempt (0 first), so the header is "0", not absent
    assert retries == [(first["event_id"], "0"), (first["event_id"], "1")]

    slack_stub.disconnect_clients()  # Slack's "disconnect": the client opens a new connection
    await slack_stub.wait_connected_async(count=2)
    await slack_stub.push_async("events_api", event_callback(message("two", channel=DM_CHANNEL_ID)))
    slack_stub.disconnect_clients(hard=True)  # the socket just closes: the client reconnects too
    await slack_stub.wait_connected_async(count=3)
    await slack_stub.push_async(
        "events_api", event_callback(message("three", channel=DM_CHANNEL_ID))
    )
    await slack_stub.wait_for_async("chat.postMessage", count=4)
    assert len(slack_stub.calls("apps.connections.open")) == 3
    assert len(slack_stub.calls("auth.test")) == 1  # once, on the first event, then cached


async def test_socket_mode_commands_and_buttons(
    slack_stub: StubSlack, socket_app: AsyncApp
) -> None:
    @socket_app.command("/ask")
    async def ask(ack: Any, command: dict[str, Any], respond: Any) -> None:
        await ack(f"Asking: {command['text']}")
        await respond("Here is the answer.")

    @socket_app.action("retry")
    async def retry(ack: Any, body: dict[str, Any], say: Any) -> None:
        await ack()
        await say(f"retrying {body['actions'][0]['value']}")

    hook = slack_stub.response_url()
    ack = await slack_stub.push_async(
        "slash_commands", slash_command("/ask", "why?", response_url=hook)
    )
    assert ack["payload"] == {"text": "Asking: why?"}
    assert slack_stub.envelopes[-1]["accepts_response_payload"] is True
    await slack_stub.wait_until_async(lambda: bool(slack_stub.responses))
    assert slack_stub.responses[0]["url"] == hook
    assert slack_stub.responses[0]["body"]["text"] == "Here is the answer."

    ack = await slack_stub.push_async("interactive", block_actions("retry", value="42"))
    assert ack == {"envelope_id": slack_stub.envelopes[-1]["envelope_id"]}
    [said] = await slack_stub.wait_for_async("chat.postMessage")
    assert said["text"] == "retrying 42" and said["channel"] == CHANNEL_ID


async def test_bolt_with_a_revoked_token_answers_with_an_apology(slack_stub: StubSlack) -> None:
    app = bolt_app(slack_stub, token="xoxb-revoked")

    @app.event("app_mention")
    async def answer(say: Any) -> None:
        await say("never")

    handler = AsyncSocketModeHandler(app, slack_stub.app_token)
    await handler.connect_async()
    try:
        ack = await slack_stub.push_async("events_api", event_callback(app_mention("hi")))
    finally:
        await handler.close_async()
    assert "apologize" in ack["payload"]["text"]  # bolt acks with a user-facing error text
    assert [c.method for c in slack_stub.api_calls] == ["apps.connections.open", "auth.test"]


async def test_assistant_middleware_through_the_stub(
    slack_stub: StubSlack, socket_app: AsyncApp
) -> None:
    assistant = AsyncAssistant()

    @assistant.thread_started
    async def started(say: Any, set_suggested_prompts: Any) -> None:
        await say("How can I help?")
        await set_suggested_prompts(prompts=[{"title": "Translate", "message": "Translate this"}])

    @assistant.user_message
    async def asked(
        payload: dict[str, Any], set_status: Any, get_thread_context: Any, say: Any
    ) -> None:
        await set_status("is thinking…")
        context = await get_thread_context()
        await say(f"You were in {context.channel_id}: {payload['text']}")

    socket_app.use(assistant)
    opened = assistant_thread_started(context_channel=CHANNEL_ID)
    thread_ts = opened["assistant_thread"]["thread_ts"]
    slack_stub.add_message(DM_CHANNEL_ID, "", ts=thread_ts)  # the thread's root
    await slack_stub.push_async("events_api", event_callback(opened))
    await slack_stub.wait_for_async("assistant.threads.setSuggestedPrompts")
    [greeting] = slack_stub.calls("chat.postMessage")
    assert greeting["metadata"] == {
        "event_type": "assistant_thread_context",
        "event_payload": {"channel_id": CHANNEL_ID, "team_id": TEAM_ID, "enterprise_id": None},
    }

    question = message("translate hello", channel=DM_CHANNEL_ID, thread_ts=thread_ts)
    await slack_stub.push_async("events_api", event_callback(question))
    await slack_stub.wait_for_async("chat.postMessage", count=2)
    assert slack_stub.calls("assistant.threads.setStatus") == [
        {
            "channel_id": DM_CHANNEL_ID,
            "thread_ts": thread_ts,
            "status": "is thinking…",
            "team_id": TEAM_ID,
        }
    ]
    # get_thread_context reads the context back from the greeting's metadata, and say() reads
    # it again to put it on its own message: two conversations.replies per answer
    replies = slack_stub.calls("conversations.replies")
    assert [(r["ts"], r["include_all_metadata"]) for r in replies] == [(thread_ts, "1")] * 2
    assert slack_stub.calls("chat.postMessage")[1]["text"] == (
        f"You were in {CHANNEL_ID}: translate hello"
    )


async def test_say_stream_in_bolt_streams_natively(
    slack_stub: StubSlack, socket_app: AsyncApp
) -> None:
    @socket_app.event("app_mention")
    async def answer(say_stream: Any) -> None:
        stream = await say_stream(buffer_size=4)
        for piece in ("native ", "stream"):
            await stream.append(markdown_text=piece)
        await stream.stop()

    mention = slack_stub.add_message(CHANNEL_ID, "<@U0BOT00001> go")
    await slack_stub.push_async("events_api", event_callback(app_mention("go", ts=mention["ts"])))
    await slack_stub.wait_for_async("chat.stopStream")
    [start] = slack_stub.calls("chat.startStream")
    assert (start["thread_ts"], start["recipient_team_id"], start["recipient_user_id"]) == (
        mention["ts"],
        TEAM_ID,
        USER_ID,
    )
    assert slack_stub.messages(CHANNEL_ID, mention["ts"])[-1]["text"] == "native stream"


def test_blocking_helpers_from_a_plain_thread() -> None:
    """A test without an event loop drives the stub with the blocking helpers."""
    with StubSlack() as stub:
        replies: list[str] = []

        async def run_app() -> None:
            app = bolt_app(stub)

            @app.event("app_mention")
            async def answer(say: Any) -> None:
                await say("pong")

            handler = AsyncSocketModeHandler(app, stub.app_token)
            await handler.connect_async()
            while not replies:
                await asyncio.sleep(0.01)
            await handler.close_async()

        thread = threading.Thread(target=lambda: asyncio.run(run_app()))
        thread.start()
        stub.wait_connected(timeout=5)
        stub.push("events_api", event_callback(app_mention("ping")))
        [reply] = stub.wait_for("chat.postMessage")
        replies.append(reply["text"])
        thread.join(5)
        assert reply["text"] == "pong"


async def test_blocking_helpers_refuse_to_freeze_a_running_loop(slack_stub: StubSlack) -> None:
    with pytest.raises(RuntimeError, match="push_async"):
        slack_stub.push("events_api", event_callback(app_mention("hi")))


# -- a real bolt AsyncApp over HTTP (Starlette + uvicorn) ----------------------------------------
@pytest.fixture
async def http_app(slack_stub: StubSlack) -> AsyncIterator[tuple[AsyncApp, str]]:
    pytest.importorskip("starlette")
    uvicorn = pytest.importorskip("uvicorn")
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    app = bolt_app(slack_stub)
    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    web = Starlette(routes=[Route("/slack/events", endpoint=events, methods=["POST"])])
    config = uvicorn.Config(web, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield app, f"http://127.0.0.1:{port}/slack/events"
    server.should_exit = True
    await serving


async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=body, headers=headers) as r,
    ):
        return r.status, await r.text()


async def test_http_mode_signed_event_gets_a_reply(
    slack_stub: StubSlack, http_app: tuple[AsyncApp, str]
) -> None:
    app, url = http_app
    gate = asyncio.Event()

    @app.event("app_mention")
    async def answer(event: dict[str, Any], say: Any) -> None:
        await gate.wait()
        await say(text="over HTTP", thread_ts=event["ts"])

    status, text = await post(url, *slack_stub.signed_request(url_verification("c-123")))
    assert (status, text) == (200, '{"challenge": "c-123"}')
    status, _ = await post(url, *slack_stub.signed_request(event_callback(app_mention("hi"))))
    # bolt (process_before_response=False) acks an event at once and runs the listener after
    assert status == 200 and slack_stub.calls("chat.postMessage") == []
    gate.set()
    [reply] = await slack_stub.wait_for_async("chat.postMessage")
    assert reply["text"] == "over HTTP"


async def test_http_mode_refuses_bad_signatures_and_old_timestamps(
    slack_stub: StubSlack, http_app: tuple[AsyncApp, str]
) -> None:
    app, url = http_app

    @app.event("app_mention")
    async def answer(say: Any) -> None:
        await say("must not happen")

    payload = event_callback(app_mention("hi"))
    body, headers = signed_request(payload, "not-the-secret")
    assert (await post(url, body, headers))[0] == 401
    six_minutes_ago = time.time() - 360
    body, headers = slack_stub.signed_request(payload, timestamp=six_minutes_ago)
    assert (await post(url, body, headers))[0] == 401
    body, headers = slack_stub.signed_request(payload)
    assert (await post(url, body + b" ", headers))[0] == 401  # a body that is not the one signed
    assert slack_stub.api_calls == []  # not even auth.test: verification comes first


def test_sign_matches_slack_sdks_verifier() -> None:
    body = b'{"type":"event_callback"}'
    headers = sign(body, "s3cret", timestamp=1_700_000_000)

    class Later(Clock):
        def now(self) -> float:
            return 1_700_000_100

    verifier = SignatureVerifier("s3cret", clock=Later())
    assert verifier.is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    assert not verifier.is_valid(
        body + b"x", headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
