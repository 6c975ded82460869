"""Fuzzing every surface over its real transport: the OpenAI-compatible API over HTTP (uvicorn),
Slack's HTTP mode (signed and forged requests to slack-bolt), and Discord's gateway (events
dispatched by the stub to the real discord.py client).

Each surface starts once per test, in the test's event loop; hypothesis draws and sends its
examples from a worker thread (sync clients, the stubs' blocking waits), so the loop stays free
to serve them. What may happen: a well-formed answer, a short refusal, or nothing (an ack);
never a 500, a traceback in the logs, a hang, or a surface that stops answering.
``BOTKIT_FUZZ_EXAMPLES`` (see ``fuzzing.py``) sets how many examples each test draws.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from botkit.adapters.slack.surface import SlackSurface
from botkit.serve.surface import ServeContext
from botkit.testing import StubDiscord, StubOpenAI, StubSlack
from botkit.testing.slack_payloads import (
    CHANNEL_ID,
    DM_CHANNEL_ID,
    app_mention,
    block_actions,
    event_callback,
    message,
    message_shortcut,
    sign,
    slash_command,
    url_verification,
)

from ..adapters.conftest import deployment as discord_deployment
from ..adapters.conftest import register_discord
from ..adapters.conftest import serving as discord_serving
from ..conftest import stub_model, write_gpt
from ..serve.conftest import running
from .fuzzing import fuzz_settings

T = TypeVar("T")

#: Seconds one request (or one dispatched event's answer) may take before the test says it hung.
TIMEOUT = 15.0
KEY = "sk-fuzz-canary-7777"
AUTH = {"authorization": f"Bearer {KEY}"}


# -- what counts as a failure in the logs ------------------------------------------------------
class Tracebacks(logging.Handler):
    """Every ERROR record carrying an exception: something was raised that nothing handled."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self._lock_records = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            with self._lock_records:
                self.records.append(record)

    def mark(self) -> int:
        return len(self.records)

    def since(self, mark: int) -> list[logging.LogRecord]:
        with self._lock_records:
            return self.records[mark:]

    def check(self, mark: int, what: Any) -> None:
        found = self.since(mark)
        if found:
            shown = "\n".join(logging.Formatter().format(r) for r in found[:3])
            raise AssertionError(f"unhandled exception(s) in the logs after {what!r}:\n{shown}")


@pytest.fixture
def tracebacks() -> Iterator[Tracebacks]:
    handler = Tracebacks()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def wait_until(predicate: Callable[[], T | None], what: str, timeout: float = TIMEOUT) -> T:
    """Block (in the fuzzing thread) until ``predicate()`` is truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        found = predicate()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"hang: no {what} within {timeout:.0f} s")
        time.sleep(0.01)


def settled(context: ServeContext, what: Any) -> None:
    """Wait until no answer is in flight (a hang fails naming the example), twice: work the
    example started just before (a listener still reading names) then has started too."""
    for _ in range(2):
        wait_until(lambda: len(context.inflight) == 0 or None, f"end of the answers to {what!r}")
        time.sleep(0.03)


# -- JSON values -------------------------------------------------------------------------------
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.sampled_from([10**400, -(10**400), 2**63, -1, 0])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
weird_text = st.text(max_size=200) | st.sampled_from(
    ["", " ", "\x00", "\ud7ff\ufffe", "<@U0BOT00001>", "<!here>", "<#C1|x>", "@everyone", "🙂" * 50]
)


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# -- the HTTP API ------------------------------------------------------------------------------
API_DEPLOYMENT: dict[str, Any] = {
    "name": "fuzz",
    "default_gpt": "echo",
    "rate_limit": None,
    "max_input_chars": 2000,
    "surfaces": {"api": {"api_keys": [{"name": "fuzzer", "env": "FUZZ_KEY"}]}},
}


@pytest.fixture
def api_gpts(config_dir: Path, openai_stub: StubOpenAI, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FUZZ_KEY", KEY)
    monkeypatch.delenv("BOTKIT_API_KEYS", raising=False)
    write_gpt(config_dir, "echo", model=stub_model(openai_stub), parameters={"max_tokens": 50})
    return config_dir


def valid_chat() -> dict[str, Any]:
    return {"model": "echo", "messages": [{"role": "user", "content": "hello"}]}


@st.composite
def chat_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid request, then a few fields changed, removed, added or nested."""
    body: dict[str, Any] = valid_chat()
    body.update(
        draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "stream": st.booleans(),
                    "stream_options": st.just({"include_usage": True}) | json_values,
                    "temperature": st.floats(-1, 3) | scalars,
                    "top_p": st.floats(-1, 2) | scalars,
                    "max_tokens": st.integers(-5, 10**20) | scalars,
                    "max_completion_tokens": st.integers(-5, 10**20),
                    "stop": st.lists(st.text(max_size=5), max_size=6) | st.text(max_size=5),
                    "n": st.integers(-2, 3),
                    "user": st.text(max_size=300),
                    "tools": st.just([{"type": "function"}]) | st.just([]),
                    "response_format": json_values,
                    "seed": scalars,
                },
            )
        )
    )
    message_strategy = st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "system", "developer", "assistant", "tool", "x"]),
            "content": weird_text
            | st.lists(
                st.fixed_dictionaries(
                    {"type": st.sampled_from(["text", "image_url", ""])},
                    optional={"text": weird_text | scalars},
                ),
                max_size=3,
            )
            | scalars,
        },
        optional={"name": weird_text, "tool_calls": json_values},
    )
    if draw(st.booleans()):
        body["messages"] = draw(st.lists(message_strategy, max_size=4))
    for _ in range(draw(st.integers(0, 3))):
        field = draw(st.sampled_from([*body, "model", "messages", "extra"]))
        action = draw(st.sampled_from(["set", "delete", "nest"]))
        if action == "set":
            body[field] = draw(json_values)
        elif action == "delete":
            body.pop(field, None)
        else:
            body[field] = [[[{"x": [body.get(field)]}]]]
    return body


@st.composite
def chat_requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """Bytes and headers of a POST to /v1/chat/completions."""
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "random", "bytes", "special"]))
    if kind == "mutated":
        raw = json.dumps(draw(chat_bodies())).encode()
    elif kind == "random":
        raw = json.dumps(draw(json_values)).encode()
    elif kind == "bytes":
        good = json.dumps(valid_chat()).encode()
        at = draw(st.integers(0, len(good)))
        raw = good[:at] + draw(st.binary(min_size=1, max_size=8)) + good[at:]
    else:
        raw = draw(
            st.sampled_from(
                [
                    b"",
                    b"null",
                    b"\xff\xfe\xfa",
                    json.dumps(valid_chat()).encode("utf-16"),
                    nested(100_000),
                    b'{"model": "echo", "messages": ' + nested(50_000) + b"}",
                    b'{"model": "echo", "messages": [{"role": "user", "content": '
                    + json.dumps("x" * 900_000).encode()
                    + b"}]}",
                    b'{"model": "echo", "messages": [{"role": "user", "content": "'
                    + b"\\ud800" * 10
                    + b'"}]}',
                    b'{"model": "echo", "model": 1, "messages": []}',
                ]
            )
        )
    headers = {"content-type": draw(content_types)}
    headers.update(draw(auth_headers))
    return raw, headers


content_types = st.sampled_from(
    [
        "application/json",
        "application/json",
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "text/plain",
        "",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ]
)
auth_headers = st.sampled_from(
    [
        AUTH,
        AUTH,
        AUTH,
        {},
        {"authorization": "Bearer"},
        {"authorization": f"bearer {KEY}"},
        {"authorization": f"Basic {KEY}"},
        {"authorization": "Bearer sk-wrong"},
        {"authorization": f"Bearer  {KEY}"},
        {"authorization": "Bearer " + "k" * 10_000},
        {"authorization": f"{KEY}"},
    ]
) | st.builds(
    lambda token: {"authorization": f"Bearer {token}"},
    st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
)
extra_headers = st.fixed_dictionaries(
    {},
    optional={
        "x-request-id": st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=100),
        "accept": st.sampled_from(["text/event-stream", "*/*", "application/xml"]),
        "user-agent": st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=50),
    },
)


def openai_error(response: httpx.Response, what: Any) -> None:
    """A 4xx with OpenAI's error shape, no traceback, no key."""
    assert 400 <= response.status_code < 500, (
        f"{response.status_code} for {what!r}: {response.text[:500]}"
    )
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(
            f"a non-JSON {response.status_code} for {what!r}: {response.text[:300]}"
        ) from None
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict) and isinstance(error.get("message"), str), body
    assert set(error) >= {"message", "type", "param", "code"}, body
    assert "Traceback" not in response.text and KEY not in response.text


def check_completion(response: httpx.Response, what: Any) -> None:
    """A 2xx completion (JSON or events) in OpenAI's shape, else an OpenAI-shaped 4xx."""
    if response.status_code >= 300:
        openai_error(response, what)
        return
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        events = [
            line[len("data: ") :] for line in response.text.split("\n") if line.startswith("data: ")
        ]
        assert events and events[-1] == "[DONE]", f"a stream without [DONE] for {what!r}"
        for event in events[:-1]:
            data = json.loads(event)
            assert data["object"] == "chat.completion.chunk", data
        return
    data = response.json()
    assert data["object"] == "chat.completion", data
    (choice,) = data["choices"]
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str)
    assert choice["finish_reason"] in ("stop", "length", "content_filter")
    assert set(data["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}


def post(http: httpx.Client, path: str, raw: bytes, headers: dict[str, str]) -> httpx.Response:
    try:
        return http.post(path, content=raw, headers=headers)
    except httpx.TimeoutException:
        raise AssertionError(
            f"hang: POST {path} with {raw[:200]!r} took over {TIMEOUT} s"
        ) from None


def still_answers(http: httpx.Client) -> None:
    ok = post(http, "/v1/chat/completions", json.dumps(valid_chat()).encode(), {
        **AUTH, "content-type": "application/json"
    })  # fmt: skip
    assert ok.status_code == 200, ok.text
    assert ok.json()["choices"][0]["message"]["content"] == "echo: hello"


async def test_chat_completions_fuzz(
    api_gpts: Path, tmp_path: Path, tracebacks: Tracebacks
) -> None:
    async with running(api_gpts, tmp_path / "home", API_DEPLOYMENT) as server:

        @fuzz_settings()
        @given(request=chat_requests(), more=extra_headers)
        def fuzz(request: tuple[bytes, dict[str, str]], more: dict[str, str]) -> None:
            raw, headers = request
            mark = tracebacks.mark()
            with httpx.Client(base_url=server.url, timeout=TIMEOUT) as http:
                response = post(http, "/v1/chat/completions", raw, {**headers, **more})
                check_completion(response, raw[:300])
            tracebacks.check(mark, raw[:300])

        await asyncio.to_thread(fuzz)
        with httpx.Client(base_url=server.url, timeout=TIMEOUT) as http:
            await asyncio.to_thread(still_answers, http)


routes = st.sampled_from(["models", "model", "feedback", "chat", "metrics", "page", "static"])


async def test_other_routes_fuzz(api_gpts: Path, tmp_path: Path, tracebacks: Tracebacks) -> None:
    async with running(api_gpts, tmp_path / "home", API_DEPLOYMENT) as server:

        @fuzz_settings()
        @given(
            route=routes,
            segment=st.text(max_size=30),
            body=json_values.map(lambda v: json.dumps(v).encode())
            | st.binary(max_size=40)
            | st.sampled_from([nested(100_000), b"", b"{}", b"[]", b'"up"']),
            feedback=st.fixed_dictionaries(
                {},
                optional={
                    "request_id": weird_text | scalars,
                    "rating": st.sampled_from(["up", "down", "UP", ""]) | scalars,
                    "correction": st.text(max_size=20) | scalars | st.just("c" * 10_001),
                },
            ),
            structured=st.booleans(),
            headers=auth_headers,
            kind=content_types,
        )
        def fuzz(
            route: str,
            segment: str,
            body: bytes,
            feedback: dict[str, Any],
            structured: bool,
            headers: dict[str, str],
            kind: str,
        ) -> None:
            mark = tracebacks.mark()
            what = (route, segment, body[:200], feedback)
            with httpx.Client(base_url=server.url, timeout=TIMEOUT) as http:
                try:
                    if route == "models":
                        response = http.get("/v1/models", headers=headers)
                    elif route == "model":
                        response = http.get(
                            f"/v1/models/{quote(segment, safe='')}", headers=headers
                        )
                    elif route in ("metrics", "page", "static"):
                        path = {"metrics": "/metrics", "page": "/"}.get(route)
                        response = http.get(path or f"/static/{quote(segment, safe='')}")
                    else:
                        raw = json.dumps(feedback).encode() if structured else body
                        path = "/v1/feedback" if route == "feedback" else "/v1/chat/completions"
                        response = post(http, path, raw, {**headers, "content-type": kind})
                except httpx.TimeoutException:
                    raise AssertionError(f"hang on {what!r}") from None
                assert response.status_code < 500, f"{response.status_code} for {what!r}"
                if route in ("models", "model", "feedback") and response.status_code >= 400:
                    openai_error(response, what)
                elif route == "models":
                    assert [m["id"] for m in response.json()["data"]] == ["echo"]
                elif route == "feedback":
                    assert response.json() == {"ok": True}
                elif route == "chat":
                    check_completion(response, what)
            tracebacks.check(mark, what)

        await asyncio.to_thread(fuzz)
        with httpx.Client(base_url=server.url, timeout=TIMEOUT) as http:
            await asyncio.to_thread(still_answers, http)


# -- Slack, HTTP mode --------------------------------------------------------------------------
@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubSlack]:
    stub = StubSlack().start()
    monkeypatch.setenv("SLACK_BOT_TOKEN", stub.bot_token)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", stub.signing_secret)
    yield stub
    stub.stop()


@contextlib.asynccontextmanager
async def slack_serving(config_dir: Path, home: Path, slack: StubSlack, **fields: Any) -> Any:
    """``botkit serve`` with Slack in HTTP mode; (its URL, the started surface)."""
    started: list[SlackSurface] = []
    original = SlackSurface.start

    async def start(self: SlackSurface) -> None:
        await original(self)
        started.append(self)

    spec = {
        "name": "fuzz",
        "default_gpt": "echo",
        "rate_limit": None,
        "max_input_chars": 2000,
        **fields,
        "surfaces": {
            "api": {"enabled": False},
            "slack": {"enabled": True, "api_url": slack.url, "mode": "http"},
        },
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SlackSurface, "start", start)
        async with running(config_dir, home, spec, only=("slack",)) as server:
            for _ in range(200):
                if started:
                    break
                await asyncio.sleep(0.05)
            assert started, "the Slack surface did not start"
            yield server.url, started[0]


@pytest.fixture
def slack_gpts(config_dir: Path, openai_stub: StubOpenAI) -> Path:
    write_gpt(config_dir, "echo", model=stub_model(openai_stub), starters=["Hi"])
    return config_dir


ids = st.sampled_from([CHANNEL_ID, DM_CHANNEL_ID, "G0GROUP001", "", "C" + "9" * 40]) | st.text(
    max_size=12
)
slack_text = weird_text | st.builds(
    lambda parts: " ".join(parts),
    st.lists(
        st.sampled_from(
            [
                "<@U0BOT00001>",
                "<@U0USER0001>",
                "<@UNKNOWN>",
                "<#C1|general>",
                "<!channel>",
                "<!subteam^S1|@team>",
                "<https://x.example|x>",
                "<mailto:a@b.c>",
                "&lt;b&gt;",
                "```code```",
                "*bold*",
                "hello",
                "<@",
                ">",
                "|",
            ]
        ),
        max_size=8,
    ),
)


def mutate(draw: st.DrawFn, payload: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """Up to three of ``keys`` (dotted paths) removed or replaced by another JSON value."""
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(keys)).split(".")
        parent: Any = payload
        for part in path[:-1]:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        if draw(st.booleans()):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(json_values)
    return payload


@st.composite
def slack_payloads(draw: st.DrawFn, slack: StubSlack) -> dict[str, Any]:
    """One delivery Slack could make to the app (events, interactions, commands), mutated; what
    slack-bolt itself matches listeners on (an event's or action's type and id, a command, a
    callback id) stays text, as Slack always sends it."""
    kind = draw(st.sampled_from(["mention", "message", "action", "command", "shortcut", "verify"]))
    text = draw(slack_text)
    thread = draw(st.none() | st.just("1700000000.000100") | st.text(max_size=8))
    if kind == "mention":
        event = app_mention(text, channel=draw(ids), thread_ts=thread)
        files = st.lists(json_values | st.fixed_dictionaries({}, optional={
            "name": weird_text, "mimetype": weird_text, "size": scalars,
        }), max_size=2)  # fmt: skip
        if draw(st.booleans()):
            event["files"] = draw(files | json_values)
        keys = ["text", "ts", "channel", "user", "thread_ts", "files", "blocks", "team"]
        return event_callback(mutate(draw, event, keys), event_id=draw(st.none() | st.text()))
    if kind == "message":
        event = message(
            text,
            channel=draw(ids),
            thread_ts=thread,
            channel_type=draw(st.none() | st.sampled_from(["im", "channel", "mpim", "x"])),
            subtype=draw(st.none() | st.sampled_from(["file_share", "thread_broadcast", "me"])),
        )
        if draw(st.booleans()):
            event["files"] = draw(json_values)
        keys = ["text", "ts", "channel", "user", "thread_ts", "channel_type", "subtype", "files"]
        envelope = event_callback(mutate(draw, event, keys), event_id=draw(st.none() | st.text()))
        if draw(st.booleans()):
            envelope["event"]["type"] = draw(st.sampled_from(["message", "app_mention", "x"]))
        return mutate(draw, envelope, ["team_id", "event_id", "authorizations"])
    if kind == "action":
        action = draw(st.sampled_from(["botkit_feedback_up", "botkit_feedback_down"]) | st.text())
        value = draw(weird_text)
        payload = block_actions(action, value=value, response_url=slack.response_url())
        keys = ["user", "user.id", "actions.0", "channel", "message", "container", "team"]
        payload = mutate(draw, payload, keys)
        payload["actions"][0] = mutate(draw, payload["actions"][0], ["value", "block_id"])
        return payload
    if kind == "command":
        command = slash_command(
            draw(st.sampled_from(["/botkit", "/botkit", "/other"])),
            draw(st.sampled_from(["", "help", "gpts", "echo ", "translate fr ", "nope "]))
            + draw(slack_text),
            channel=draw(ids),
            response_url=slack.response_url(),
        )
        for key in draw(st.lists(st.sampled_from(["channel_id", "user_id", "team_id", "text"]))):
            command.pop(key, None)
        return command
    if kind == "shortcut":
        payload = message_shortcut(
            draw(st.sampled_from(["botkit_translate", "other"])),
            message_text=text,
            response_url=slack.response_url(),
        )
        return mutate(draw, payload, ["message", "message.text", "user", "channel", "team"])
    payload = url_verification()
    return mutate(draw, payload, ["challenge", "token"])


def slack_said(slack: StubSlack, text: str, since: int = 0) -> bool:
    """Whether the bot said ``text`` anywhere (a post, an edit, a stream, an ephemeral note) in
    a Web API call after the first ``since``."""
    for call in slack.calls()[since:]:
        if any(text in str(call.get(k) or "") for k in ("text", "markdown_text")):
            return True
    return False


def ping_slack(http: httpx.Client, slack: StubSlack, context: ServeContext, n: int) -> None:
    """A direct message still gets its answer; then nothing is left in flight."""
    token = f"ping{n}x{time.monotonic_ns()}"
    body, headers = slack.signed_request(event_callback(message(token, channel=DM_CHANNEL_ID)))
    before = len(slack.calls())  # the calls grow with every example: read only the new ones
    response = post(http, "/slack/events", body, headers)
    assert response.status_code == 200, response.text
    wait_until(lambda: slack_said(slack, f"echo: {token}", before), "answer to a direct message")
    settled(context, token)


async def test_slack_signed_payloads_fuzz(
    slack_gpts: Path,
    tmp_path: Path,
    slack: StubSlack,
    openai_stub: StubOpenAI,
    tracebacks: Tracebacks,
) -> None:
    async with slack_serving(slack_gpts, tmp_path / "home", slack) as (url, surface):
        http = httpx.Client(base_url=url, timeout=TIMEOUT)
        await asyncio.to_thread(ping_slack, http, slack, surface.context, 0)
        count = iter(range(1, 1_000_000))

        @fuzz_settings()
        @given(data=st.data())
        def fuzz(data: st.DataObject) -> None:
            payload = data.draw(slack_payloads(slack))
            mark = tracebacks.mark()
            body, headers = slack.signed_request(payload)
            response = post(http, "/slack/events", body, headers)
            assert response.status_code < 500, f"{response.status_code} for {payload!r}"
            if payload.get("type") == "url_verification" and response.status_code == 200:
                assert response.json() == {"challenge": payload.get("challenge")} or not isinstance(
                    payload.get("challenge"), str
                )
            ping_slack(http, slack, surface.context, next(count))
            tracebacks.check(mark, payload)

        try:
            await asyncio.to_thread(fuzz)
        finally:
            http.close()


@st.composite
def forged(draw: st.DrawFn, slack: StubSlack) -> tuple[bytes, dict[str, str]]:
    """A delivery whose signature is missing, wrong, stale or garbled."""
    payload = draw(slack_payloads(slack))
    body, headers = slack.signed_request(payload)
    how = draw(st.sampled_from(["none", "no-ts", "no-sig", "other", "stale", "future", "garbled",
                                "body", "ts-text"]))  # fmt: skip
    if how == "none":
        headers = {"Content-Type": headers["Content-Type"]}
    elif how == "no-ts":
        headers.pop("X-Slack-Request-Timestamp")
    elif how == "no-sig":
        headers.pop("X-Slack-Signature")
    elif how == "other":
        headers.update(sign(body, draw(st.text(min_size=1, max_size=20))))
    elif how in ("stale", "future"):
        at = time.time() + (-1 if how == "stale" else 1) * draw(st.integers(301, 10**9))
        headers.update(sign(body, slack.signing_secret, at))
    elif how == "garbled":
        # HTTP clients refuse a header value with blanks at its ends (a proxy would trim them)
        garbled = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
        headers["X-Slack-Signature"] = draw(garbled.map(str.strip))
    elif how == "body":
        body = body + draw(st.binary(min_size=1, max_size=10))
    else:
        stamp = draw(st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=20))
        headers["X-Slack-Request-Timestamp"] = stamp
        headers["X-Slack-Signature"] = sign(body, slack.signing_secret)["X-Slack-Signature"]
    return body, headers


async def test_slack_unsigned_or_forged_requests_get_401(
    slack_gpts: Path,
    tmp_path: Path,
    slack: StubSlack,
    openai_stub: StubOpenAI,
    tracebacks: Tracebacks,
) -> None:
    async with slack_serving(slack_gpts, tmp_path / "home", slack) as (url, surface):
        http = httpx.Client(base_url=url, timeout=TIMEOUT)

        @fuzz_settings()
        @given(request=forged(slack))
        def fuzz(request: tuple[bytes, dict[str, str]]) -> None:
            body, headers = request
            mark = tracebacks.mark()
            asked, called = len(openai_stub.chat_requests), len(slack.calls())
            response = post(http, "/slack/events", body, headers)
            assert response.status_code == 401, f"{response.status_code} for {request!r}"
            time.sleep(0.01)
            assert len(openai_stub.chat_requests) == asked, "a forged request reached the model"
            assert len(slack.calls()) == called, "a forged request made the app call Slack"
            tracebacks.check(mark, request)

        try:
            await asyncio.to_thread(fuzz)
            await asyncio.to_thread(ping_slack, http, slack, surface.context, 0)
        finally:
            http.close()


# -- Discord, through the gateway --------------------------------------------------------------
@pytest.fixture
def discord_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubDiscord]:
    from botkit.testing import route_discord_py

    with StubDiscord(heartbeat_interval=0.5) as stub, route_discord_py(stub):
        monkeypatch.setenv("DISCORD_TOKEN", stub.token)
        monkeypatch.delenv("BOTKIT_DISCORD_GUILD", raising=False)
        yield stub


@pytest.fixture(autouse=True)
def _discord_surface(monkeypatch: pytest.MonkeyPatch) -> None:
    """As tests/adapters does: the Discord surface registered, ready at once."""
    from botkit.adapters.discord.surface import DiscordSurfaceRunner

    register_discord(monkeypatch)
    monkeypatch.setattr(DiscordSurfaceRunner, "THINKING_AFTER", 0.0)


snowflakes = st.integers(1, 2**63 - 1).map(str)
#: What Discord's JSON can hold (the gateway never sends NaN or Infinity).
finite_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)


@st.composite
def discord_users(draw: st.DrawFn, stub: StubDiscord) -> dict[str, Any]:
    user = dict(stub.user)
    user.update(
        draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "global_name": st.none() | weird_text,
                    "bot": st.booleans(),
                    "username": st.text(min_size=1, max_size=40),
                    "id": st.sampled_from([str(stub.bot_id), stub.user["id"]]) | snowflakes,
                },
            )
        )
    )
    return user


@st.composite
def discord_events(draw: st.DrawFn, stub: StubDiscord, buttons: list[str]) -> tuple[str, Any]:
    """A MESSAGE_CREATE or INTERACTION_CREATE, odd in a few places."""
    kind = draw(
        st.sampled_from(["message", "message", "command", "command", "autocomplete", "button"])
    )
    text = draw(weird_text | st.text(min_size=2001, max_size=4000))
    if kind == "message":
        data = stub.message_create(
            text,
            mention_bot=draw(st.booleans()),
            dm=draw(st.booleans()),
            author_bot=draw(st.booleans()),
        )
        attachment = st.fixed_dictionaries(
            {
                "id": snowflakes,
                "filename": st.text(min_size=1, max_size=30) | st.sampled_from(["a.md", "b.json"]),
                "size": st.integers(-1, 10**9),
                "url": st.sampled_from(
                    [
                        stub.cdn_url("/attachments/1/2/missing.txt"),
                        "http://127.0.0.1:9/x.txt",
                        "not a url",
                    ]
                ),
                "proxy_url": st.just("http://127.0.0.1:9/x"),
            },
            optional={"content_type": st.none() | weird_text},
        )
        data.update(
            draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "type": st.sampled_from([0, 19, 6, 7, 20, 21, 46]) | st.integers(0, 255),
                        "flags": st.integers(0, 2**16),
                        "attachments": st.lists(attachment, max_size=2),
                        "mention_roles": st.lists(snowflakes, max_size=2),
                        "mention_everyone": st.booleans(),
                        "author": discord_users(stub),
                        "message_reference": st.fixed_dictionaries(
                            {"message_id": snowflakes, "channel_id": snowflakes}
                        ),
                        "referenced_message": st.none(),
                        "nonce": st.text(max_size=25) | st.integers(0, 10**18),
                        "sticker_items": st.just([]),
                    },
                )
            )
        )
        for key in draw(st.lists(st.sampled_from(["member", "guild_id", "nonce", "flags"]))):
            data.pop(key, None)
        return "MESSAGE_CREATE", data
    if kind == "button":
        data = stub.component_interaction(draw(st.sampled_from(buttons)))
        data["data"]["custom_id"] = draw(
            st.sampled_from(buttons)
            | st.builds(
                lambda r, i: f"botkit:rate:{r}:{i}",
                st.sampled_from(["up", "down", "sideways"]),
                st.text(max_size=70),
            )
            | st.text(max_size=100)
        )
        return "INTERACTION_CREATE", data
    name = draw(st.sampled_from(["gpt", "gpt", "translate", "ask", "sentiment", "nope", ""]))
    option = st.fixed_dictionaries(
        {
            "name": st.sampled_from(
                ["name", "message", "text", "language", "gpt", "question", "x"]
            ),
            "type": st.sampled_from([3, 4, 5, 10]),
            "value": finite_scalars | weird_text | st.sampled_from(["echo", "nope", "x" * 7000]),
        },
        optional={"focused": st.booleans()},
    )
    options = draw(st.lists(option, max_size=4))
    dm = draw(st.booleans())
    if kind == "command":
        data = stub.slash_command_interaction(name or "gpt", options, dm=dm)
    else:
        data = stub.autocomplete_interaction(name or "gpt", {}, "name", dm=dm)
        data["data"]["options"] = options
    data["data"]["name"] = name
    if not draw(st.integers(0, 4)):
        data["data"].pop("options", None)
    return "INTERACTION_CREATE", data


def discord_hang_report(
    loop: asyncio.AbstractEventLoop, stub: StubDiscord, served: Any, recent: list[Any]
) -> str:
    """What a hang left behind: the gateway's and discord.py's view of the connection, the work
    in flight with where it waits, and the last events dispatched before the hang."""

    async def state() -> list[str]:
        client, gateway = served.surface.client, stub.gateway
        lines = [
            f"gateway: {len(gateway.connections)} connection(s), {len(gateway.identifies)} "
            f"identify(s), {len(gateway.resumes)} resume(s), stub closes {gateway.closes[-5:]}, "
            f"client closes {gateway.client_closes[-5:]}, stub errors {stub.errors[-3:]}",
            *(f"session: seq {s.seq}" for s in gateway.sessions.values()),
            *(f"sender done: {c.sender.done()}" for c in gateway.connections),
            f"discord.py: closed={client.is_closed()} ready={client.is_ready()} "
            f"seq={getattr(client.ws, 'sequence', None)}",
            f"in flight: {len(served.surface.context.inflight)}",
        ]
        for task in asyncio.all_tasks():
            frames = task.get_stack(limit=6)
            where = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in reversed(frames))
            lines.append(f"task {task.get_name()}: {where}")
        return lines

    try:
        lines = asyncio.run_coroutine_threadsafe(state(), loop).result(5)
    except TimeoutError:
        lines = ["the serving loop did not answer within 5 s: something blocks it"]
    lines += [f"dispatched: {json.dumps(p, default=str)}" for p in recent]
    return "\n".join(lines)


async def test_discord_gateway_events_fuzz(
    config_dir: Path,
    tmp_path: Path,
    openai_stub: StubOpenAI,
    discord_api: StubDiscord,
    tracebacks: Tracebacks,
) -> None:
    stub = discord_api
    write_gpt(config_dir, "echo", model=stub_model(openai_stub))
    spec = discord_deployment({"open_threads": False}, rate_limit=None, max_input_chars=3000)
    async with discord_serving(config_dir, tmp_path / "home", spec) as served:
        context = served.surface.context
        count = iter(range(1_000_000))
        loop = asyncio.get_running_loop()
        recent: list[Any] = []
        first_hang: list[str] = []
        bot = str(stub.bot_id)

        def ping() -> list[str]:
            """A mention still gets its answer (with its buttons); nothing is left in flight."""
            token = f"ping{next(count)}x{time.monotonic_ns()}"
            asked = stub.dispatch("MESSAGE_CREATE", stub.message_create(token, mention_bot=True))
            try:
                answer = wait_until(
                    lambda: [
                        m
                        # only what came after the ping: the channel's whole history grows with
                        # every example, and copying it 100 times a second starved the bot
                        for m in stub.messages(stub.channel_id, after=asked["id"])
                        # "echo: Alice: ping…" once someone else has spoken in the channel
                        if m["author"]["id"] == bot and token in m["content"] and m["components"]
                    ],
                    "answer to a mention",
                )[0]
            except AssertionError as hang:
                # hypothesis shows the example it shrank to: keep what the first hang left
                if not first_hang:
                    first_hang.append(discord_hang_report(loop, stub, served, recent))
                raise AssertionError(f"{hang}; when it first hung:\n{first_hang[0]}") from None
            settled(context, token)
            return [c["custom_id"] for row in answer["components"] for c in row["components"]]

        buttons = await asyncio.to_thread(ping)

        @fuzz_settings()
        @given(data=st.data())
        def fuzz(data: st.DataObject) -> None:
            event, payload = data.draw(discord_events(stub, buttons))
            mark = tracebacks.mark()
            recent[:] = [*recent[-4:], payload]
            stub.dispatch(event, payload)
            ping()
            tracebacks.check(mark, payload)

        await asyncio.to_thread(fuzz)
        assert not stub.errors, stub.errors[:3]


# -- state that must stay bounded --------------------------------------------------------------
async def test_per_user_and_per_event_state_stays_bounded(
    slack_gpts: Path,
    tmp_path: Path,
    slack: StubSlack,
    openai_stub: StubOpenAI,
    tracebacks: Tracebacks,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Many distinct users, event ids and mentioned ids: the rate limiter's buckets, the seen
    event ids and the cache of user names keep at most their bound."""
    from botkit.adapters.slack import text as slack_text_module
    from botkit.core import limits

    monkeypatch.setattr(limits, "MEMORY_LIMIT", 40)
    monkeypatch.setattr(slack_text_module, "MAX_NAMES", 40)
    spec = {"rate_limit": {"per_minute": 600, "burst": 100}}
    async with slack_serving(slack_gpts, tmp_path / "home", slack, **spec) as (url, surface):
        http = httpx.Client(base_url=url, timeout=TIMEOUT)
        storage = surface.context.bot.storage
        assert storage is not None

        @fuzz_settings(2)
        @given(user=st.integers(0, 10**9), mentioned=st.lists(st.integers(0, 10**9), max_size=3))
        def fuzz(user: int, mentioned: list[int]) -> None:
            said = " ".join(f"<@U{m:09d}>" for m in mentioned) + f" hi {user}"
            event = message(said, channel=DM_CHANNEL_ID, user=f"U{user:09d}")
            body, headers = slack.signed_request(event_callback(event))
            response = post(http, "/slack/events", body, headers)
            assert response.status_code == 200

        try:
            await asyncio.to_thread(fuzz)
            await asyncio.to_thread(ping_slack, http, slack, surface.context, 0)
        finally:
            http.close()
        assert isinstance(storage.rates, limits.MemoryRateLimiter)
        assert isinstance(storage.events, limits.MemoryEventLog)
        buckets, seen = storage.rates._buckets, storage.events._seen
        names = surface.names._known
        assert 0 < len(buckets) <= 40 and 0 < len(seen) <= 40, (len(buckets), len(seen))
        assert len(names) <= 40, f"{len(names)} user names cached"
        assert not tracebacks.records
