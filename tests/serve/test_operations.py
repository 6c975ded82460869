"""Operating a server: usage and cost, Prometheus metrics, the feedback loop into eval, and
safety (redaction with canary secrets, moderation), through the real API and the stub model."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from botkit.storage.sqlite_usage import SQLiteUsage
from botkit.testing import StubOpenAI

from ..conftest import run_botkit, stub_model, write_gpt
from .conftest import running

CANARY = "sk-canary-5f1e2d3c4b5a69788796a5b4"
EMAIL = "ada.canary@example.com"


def api(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0)


async def chat(url: str, model: str, text: str) -> Any:
    client = api(url)
    try:
        return await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": text}]
        )
    finally:
        await client.close()


@pytest.fixture
def stub_paid(openai_stub: StubOpenAI) -> StubOpenAI:
    openai_stub.models.append("gpt-4o-mini")
    return openai_stub


async def test_every_model_call_is_recorded_with_its_cost_and_shown_by_botkit_usage(
    config_dir: Path, tmp_path: Path, stub_paid: StubOpenAI
) -> None:
    write_gpt(config_dir, "paid", model=stub_model(stub_paid, name="gpt-4o-mini"))
    write_gpt(config_dir, "free", model=stub_model(stub_paid))
    home = tmp_path / "home"
    deployment = {"name": "x", "default_gpt": "paid", "prices": {"stub-model": [1000, 1000]}}
    async with running(config_dir, home, deployment) as server:
        for _ in range(3):
            await chat(server.api, "paid", "one two three")
        await chat(server.api, "free", "four")
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"{server.url}/metrics")).text
    assert 'botkit_replies_total{finish_reason="stop",gpt="paid",surface="api"} 3.0' in metrics
    assert 'botkit_tokens_total{direction="out",gpt="paid",model="openai:gpt-4o-mini"}' in metrics
    assert "botkit_reply_seconds_bucket" in metrics
    store = SQLiteUsage(home / "usage.sqlite3")  # written in batches; the stop flushed them
    rows = {r["gpt"]: r for r in store.summary(by="gpt")}
    store.close()
    assert rows["paid"]["calls"] == 3 and rows["paid"]["tokens_out"] == 12
    paid, free = rows["paid"], rows["free"]
    assert paid["cost_usd"] == pytest.approx((paid["tokens_in"] * 0.15 + 12 * 0.60) / 1e6)
    assert free["cost_usd"] == pytest.approx((free["tokens_in"] + free["tokens_out"]) * 1000 / 1e6)
    result = run_botkit("--config-dir", str(config_dir), "usage", "--by", "model", "--json",
                        env={"BOTKIT_HOME": str(home)})  # fmt: skip
    models = {r["model"]: r for r in json.loads(result.stdout)}
    assert models["openai:gpt-4o-mini"]["calls"] == 3
    assert run_botkit("--config-dir", str(config_dir), "usage", "--since", "soon",
                      env={"BOTKIT_HOME": str(home)}).stderr.startswith("error: --since 'soon'")  # fmt: skip


async def test_feedback_exported_as_jsonl_is_what_eval_reads(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    write_gpt(config_dir, "echo", model=stub_model(openai_stub))
    home = tmp_path / "home"
    async with running(config_dir, home, {"name": "x", "default_gpt": "echo"}) as server:
        good = await chat(server.api, "echo", "Say hello")
        bad = await chat(server.api, "echo", "Say bye")
        unrated = await chat(server.api, "echo", "Say nothing")
        async with httpx.AsyncClient(base_url=server.url) as http:
            for answer, rating, correction in ((good, "up", ""), (bad, "down", "Goodbye!")):
                request_id = answer.model_extra["botkit"]["request_id"]
                sent = await http.post("/v1/feedback", json={"request_id": request_id, "rating": rating,
                                                             "correction": correction})  # fmt: skip
                assert sent.json() == {"ok": True}
            missing = await http.post("/v1/feedback", json={"request_id": "nope", "rating": "up"})
            assert missing.status_code == 404
    assert unrated.choices[0].message.content
    env = {"BOTKIT_HOME": str(home)}
    summary = run_botkit("--config-dir", str(config_dir), "feedback", "--json", env=env)
    assert json.loads(summary.stdout) == [
        {"gpt": "echo", "rated": 2, "up": 1, "down": 1, "up_rate": 0.5, "corrections": 1}
    ]
    data = tmp_path / "feedback.jsonl"
    exported = run_botkit("--config-dir", str(config_dir), "feedback", "export", "--gpt", "echo",
                          "--out", str(data), env=env)  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    assert [(r["input"], r["expected"]) for r in rows] == [
        ("Say hello", "echo: Say hello"),
        ("Say bye", "Goodbye!"),
    ]
    evaluated = run_botkit(
        "--config-dir",
        str(config_dir),
        "eval",
        "--gpt",
        "echo",
        "--data",
        str(data),
        "--json",
        env=env,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["metrics"]["exact_match"] == 0.5


async def test_secrets_never_reach_the_model_nor_the_logs_and_the_user_reads_their_own_text(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    write_gpt(config_dir, "safe", model=stub_model(openai_stub), safety={"redact": "on"})
    home = tmp_path / "home"
    caplog.set_level(logging.DEBUG)
    async with running(config_dir, home, {"name": "x", "default_gpt": "safe"}) as server:
        said = f"my key is {CANARY}, mail me at {EMAIL} or call +44 20 7946 0958"
        answer = await chat(server.api, "safe", said)
        assert answer.choices[0].message.content == f"echo: {said}"  # restored for the user
        client = api(server.api)
        stream = await client.chat.completions.create(
            model="safe", messages=[{"role": "user", "content": said}], stream=True
        )
        streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert streamed == f"echo: {said}"
        await client.close()
    sent = json.dumps([r.body for r in openai_stub.requests])
    assert CANARY not in sent and EMAIL not in sent and "7946" not in sent
    assert "[secret 1]" in sent and "[email 2]" in sent
    assert CANARY not in caplog.text and EMAIL not in caplog.text
    for database in home.glob("*.sqlite3"):
        if database.name != "feedback.sqlite3":  # exchanges keep what the user saw, by design
            assert CANARY.encode() not in database.read_bytes(), database


async def test_moderation_blocks_or_warns_with_an_audit_line_that_holds_no_content(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    rules = {"spam": ["buy now"]}
    write_gpt(config_dir, "strict", model=stub_model(openai_stub),
              safety={"moderation": {"input": "block", "output": "block", "rules": rules}})  # fmt: skip
    write_gpt(config_dir, "lenient", model=stub_model(openai_stub),
              safety={"moderation": {"input": "warn", "rules": rules}})  # fmt: skip
    write_gpt(config_dir, "remote", model=stub_model(openai_stub),
              safety={"moderation": {"input": "block", "provider": "openai"}})  # fmt: skip
    openai_stub.flagged = {"hateful words"}
    caplog.set_level(logging.INFO)
    async with running(
        config_dir, tmp_path / "home", {"name": "x", "default_gpt": "strict"}
    ) as server:
        with pytest.raises(
            openai.BadRequestError, match=r"blocked by the moderation rules \(spam\)"
        ):
            await chat(server.api, "strict", "Buy now, only 9.99")
        assert openai_stub.chat_requests == []
        openai_stub.reply("buy now cheap pills")
        answer = await chat(server.api, "strict", "recommend something")
        assert (
            answer.choices[0].message.content
            == "this answer was blocked by the moderation rules (spam)"
        )
        assert answer.choices[0].finish_reason == "content_filter"
        warned = await chat(server.api, "lenient", "buy now!")
        assert warned.choices[0].message.content == "echo: buy now!"
        with pytest.raises(openai.BadRequestError, match="harassment"):
            await chat(server.api, "remote", "some hateful words here")
        assert openai_stub.requests[-1].path == "/v1/moderations"
    audit = [r for r in caplog.records if r.name == "botkit.audit"]
    assert [r.audit for r in audit] == ["blocked", "blocked", "flagged", "blocked"]  # type: ignore[attr-defined]
    assert all(
        "buy" not in r.getMessage().lower() and "hateful" not in r.getMessage() for r in audit
    )
    assert "blocked a message to GPT strict: user anonymous on api (spam)" in audit[0].getMessage()


def test_the_shipped_price_table_knows_openais_models_and_local_ones_are_free() -> None:
    from botkit.usage import PriceTable

    prices = PriceTable({"llama3": (0.1, 0.1)})
    assert prices.cost("openai", "openai:gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(
        0.15
    )
    assert prices.cost("local", "local:embedded", 10**9, 10**9) == 0
    assert prices.cost("openai", "openai:llama3.1", 1_000_000, 1_000_000) == pytest.approx(0.2)


async def test_recording_never_slows_a_reply_when_the_store_is_down(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    from botkit.serve.record import Batcher

    failures: list[int] = []

    async def broken(items: list[int]) -> None:
        failures.append(len(items))
        raise OSError("disk full")

    batcher: Batcher[int] = Batcher(broken, "things", interval=0.01)
    for i in range(5):
        batcher.add(i)
    await asyncio.sleep(0.1)
    await batcher.aclose()
    assert failures and failures[-1] == 5  # kept and retried, not lost on the first failure
