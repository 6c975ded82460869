"""The OpenAI-compatible API, with the official openai client as the real client, over uvicorn."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from botkit.testing import StubOpenAI

from .conftest import running

KEYS = {"api_keys": [{"name": "alice", "env": "ALICE_KEY"}, {"name": "admin", "env": "ADMIN_KEY"}]}
DEPLOYMENT: dict[str, Any] = {
    "name": "team",
    "default_gpt": "echo",
    "rate_limit": None,
    "max_input_chars": 200,
    "access": {"rules": [{"gpts": ["secret"], "api_keys": ["admin"]}]},
    "surfaces": {"api": KEYS},
}


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALICE_KEY", "sk-alice-canary-4242")
    monkeypatch.setenv("ADMIN_KEY", "sk-admin-canary-9999")
    monkeypatch.delenv("BOTKIT_API_KEYS", raising=False)


def client(url: str, key: str = "sk-alice-canary-4242") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url, api_key=key, max_retries=0)


async def test_models_chat_and_stream_with_usage(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    async with running(gpts, tmp_path / "home", DEPLOYMENT) as server:
        api = client(server.api)
        models = await api.models.list()
        assert [m.id for m in models.data] == ["echo"]  # not 'secret': alice may not use it
        assert models.data[0].model_extra["starters"] == ["Say hi"]

        answer = await api.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "hello there"}]
        )
        assert answer.choices[0].message.content == "echo: hello there"
        assert answer.choices[0].finish_reason == "stop"
        assert answer.usage is not None and answer.usage.completion_tokens == 3
        assert answer.model_extra["botkit"]["request_id"]

        stream = await api.chat.completions.create(
            model="echo",
            messages=[
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "one"},
                {"role": "assistant", "content": "echo: one"},
                {"role": "user", "content": "two three"},
            ],
            stream=True,
            stream_options={"include_usage": True},
            temperature=0.5,
            max_tokens=500,
        )
        chunks = [c async for c in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "echo: two three"
        assert chunks[-2].choices[0].finish_reason == "stop"
        assert chunks[-1].choices == [] and chunks[-1].usage is not None
        sent = openai_stub.chat_requests[-1].body
        assert sent["temperature"] == 0.5 and sent["max_tokens"] == 100  # bounded by the GPT
        assert [m["content"] for m in sent["messages"]] == [
            "You are a test GPT.\n\nBe terse.",
            "one",
            "echo: one",
            "two three",
        ]
        await api.close()


async def test_errors_are_openai_shaped_and_the_server_keeps_serving(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    async with running(gpts, tmp_path / "home", DEPLOYMENT) as server:
        with pytest.raises(openai.AuthenticationError, match="incorrect API key"):
            await client(server.api, "sk-wrong").models.list()
        api = client(server.api)
        with pytest.raises(openai.NotFoundError) as missing:
            await api.chat.completions.create(
                model="nope", messages=[{"role": "user", "content": "x"}]
            )
        assert missing.value.body["code"] == "model_not_found"  # type: ignore[index]
        with pytest.raises(openai.NotFoundError):  # exists, but alice may not use it
            await api.chat.completions.create(
                model="secret", messages=[{"role": "user", "content": "x"}]
            )
        with pytest.raises(openai.APIStatusError) as too_long:
            await api.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "x" * 300}]
            )
        assert too_long.value.status_code == 413
        with pytest.raises(openai.UnprocessableEntityError):
            await api.chat.completions.create(model="echo", messages=[], temperature=9)
        with pytest.raises(openai.BadRequestError, match="n must be 1"):
            await api.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "x"}], n=2
            )
        with pytest.raises(openai.BadRequestError, match="does not call tools"):
            await api.chat.completions.create(
                model="echo",
                messages=[{"role": "user", "content": "x"}],
                tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
            )
        auth = {"authorization": "Bearer sk-alice-canary-4242"}
        async with httpx.AsyncClient(base_url=server.url) as http:
            bad = await http.post(
                "/v1/chat/completions",
                content=b"{not json",
                headers=auth | {"content-type": "application/json"},
            )
            assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
            form = await http.post(
                "/v1/chat/completions",
                content=b"model=echo",
                headers=auth | {"content-type": "text/plain"},
            )
            assert form.status_code == 415
            huge = await http.post(
                "/v1/chat/completions",
                content=b"x" * (2 << 20),
                headers=auth | {"content-type": "application/json"},
            )
            assert huge.status_code == 413
            nokey = await http.get("/v1/models")
            assert nokey.status_code == 401 and "Bearer" in nokey.json()["error"]["message"]
            lone = await http.post(
                "/v1/chat/completions",
                content=b'{"model": "echo", "messages": [{"role": "user", "content": "\\ud800"}]}',
                headers=auth | {"content-type": "application/json"},
            )
            assert lone.status_code == 400 and "surrogate" in lone.json()["error"]["message"]
            for path in ("/v1/models/a%2Fb", "/v1/nothing"):
                nowhere = await http.get(path, headers=auth)
                assert nowhere.status_code == 404 and nowhere.json()["error"]["code"] == "not_found"
            wrong = await http.delete("/v1/models", headers=auth)
            assert wrong.status_code == 405 and wrong.json()["error"]["message"]
            for response in (bad, form, huge, nokey, lone, nowhere, wrong):
                assert "canary" not in response.text and "Traceback" not in response.text
        answer = await api.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "still here"}]
        )
        assert answer.choices[0].message.content == "echo: still here"
        admin = client(server.api, "sk-admin-canary-9999")
        assert {m.id for m in (await admin.models.list()).data} == {"echo", "secret"}
        await api.close()
        await admin.close()


async def test_a_model_failing_mid_stream_ends_with_an_error_event_not_done(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    openai_stub.reply("one two three four five")
    openai_stub.fault("cut", after=2)
    async with running(gpts, tmp_path / "home", DEPLOYMENT) as server:
        api = client(server.api)
        stream = await api.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": "count"}], stream=True
        )
        got = []
        with pytest.raises(openai.APIError, match="the GPT's model failed"):
            async for part in stream:
                got.append(part.choices[0].delta.content or "")
        assert "".join(got) == "one two "
        async with httpx.AsyncClient(base_url=server.url) as http:
            openai_stub.reply("one two three")
            openai_stub.fault("cut", after=1)
            raw = await http.post(
                "/v1/chat/completions",
                json={
                    "model": "echo",
                    "messages": [{"role": "user", "content": "x"}],
                    "stream": True,
                },
                headers={"authorization": "Bearer sk-alice-canary-4242"},
            )
            assert '"error"' in raw.text and "[DONE]" not in raw.text
        await api.close()


async def test_a_client_that_goes_away_mid_stream_stops_the_model(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    openai_stub.reply(" ".join(f"w{i}" for i in range(200)))
    openai_stub.chunk_delay = 0.02
    async with running(gpts, tmp_path / "home", DEPLOYMENT) as server:
        async with (
            httpx.AsyncClient(base_url=server.url) as http,
            http.stream(
                "POST",
                "/v1/chat/completions",
                json={
                    "model": "echo",
                    "messages": [{"role": "user", "content": "x"}],
                    "stream": True,
                },
                headers={"authorization": "Bearer sk-alice-canary-4242"},
            ) as response,
        ):
            async for line in response.aiter_lines():
                if "w2" in line:
                    break  # the client leaves
        for _ in range(100):
            if openai_stub.aborted:
                break
            await asyncio.sleep(0.05)
        assert openai_stub.aborted == 1  # the model's stream was closed, not read to its end


async def test_rate_limits_answer_429_with_retry_after(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    limited = {**DEPLOYMENT, "rate_limit": {"per_minute": 1, "burst": 2}}
    async with running(gpts, tmp_path / "home", limited) as server:
        api = client(server.api)
        for _ in range(2):
            await api.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "x"}]
            )
        with pytest.raises(openai.RateLimitError) as refused:
            await api.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "x"}]
            )
        assert int(refused.value.response.headers["retry-after"]) >= 1
        other = await api.chat.completions.create(  # another user of the key has their own bucket
            model="echo", messages=[{"role": "user", "content": "x"}], user="bob"
        )
        assert other.choices[0].message.content == "echo: x"
        await api.close()


async def test_health_readiness_and_loopback_without_keys(
    gpts: Path,
    tmp_path: Path,
    openai_stub: StubOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    open_to_all = {"name": "open", "default_gpt": "echo", "surfaces": {"api": {"host": "0.0.0.0"}}}
    async with running(gpts, tmp_path / "home", open_to_all) as server:
        assert server.url.startswith("http://127.0.0.1:")  # no key: loopback only, and it says so
        assert "no API key is configured: listening on 127.0.0.1 only" in caplog.text
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.get("/healthz")).json()["status"] == "ok"
            for _ in range(100):
                ready = await http.get("/readyz")
                if ready.status_code == 200:
                    break
                await asyncio.sleep(0.05)
            assert ready.json() == {
                "ready": True,
                "surfaces": {"api": "running"},
                "gpts": {"echo": "ready", "secret": "ready"},
            }
            models = await http.get("/v1/models")  # no key needed when none is configured
            assert {m["id"] for m in models.json()["data"]} == {"echo", "secret"}


async def test_citations_and_task_results_ride_along_in_the_botkit_field(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    from ..conftest import stub_model, write_gpt

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text(
        "# Refunds\n\n## Timing\n\nRefunds are issued within 5 business days.\n"
    )
    write_gpt(
        config_dir,
        "help",
        model=stub_model(openai_stub),
        knowledge={"sources": ["docs"], "min_score": 0},
    )
    write_gpt(
        config_dir,
        "mood",
        task={
            "plugin": "classification",
            "options": {"labels": {"happy": "glad", "sad": "unhappy"}, "method": "embeddings"},
        },
    )
    async with running(
        config_dir, tmp_path / "home", {"name": "x", "default_gpt": "help"}
    ) as server:
        api = client(server.api, "unused")
        answer = await api.chat.completions.create(
            model="help", messages=[{"role": "user", "content": "How long do refunds take?"}]
        )
        (citation,) = answer.model_extra["botkit"]["citations"]
        assert citation["source"] == "docs/refunds.md" and citation["title"] == "Refunds > Timing"
        stream = await api.chat.completions.create(
            model="mood", messages=[{"role": "user", "content": "I am so glad today"}], stream=True
        )
        last = [c async for c in stream][-1]
        result = last.model_extra["botkit"]["result"]
        assert result["result"]["label"] == "happy"
        assert ["label", "happy"] in result["fields"]
        await api.close()


def test_raw_events_are_server_sent_events() -> None:
    from botkit.core.reply import Reply
    from botkit.serve.openai_format import chunk

    event = chunk(Reply(request_id="r1"), "echo", {"content": "hé"})
    assert event.startswith("data: ") and event.endswith("\n\n")
    assert json.loads(event[6:])["choices"][0]["delta"] == {"content": "hé"}
