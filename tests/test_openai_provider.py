"""The OpenAI-compatible provider, through the real openai client, over real HTTP to the stub."""

from __future__ import annotations

import socket

import pytest

from botkit.errors import InputError, MissingAPIKey, ModelResponseError, ModelUnreachable
from botkit.models.base import ChatMessage, StreamEnd
from botkit.models.openai_compat import OpenAICompatModel
from botkit.spec import GenerationParams, ModelSpec
from botkit.testing import StubOpenAI

HELLO = [ChatMessage(role="user", content="hello there")]


def model(stub: StubOpenAI, **extra: object) -> OpenAICompatModel:
    fields = {"provider": "openai", "name": "stub-model", "base_url": stub.url, **extra}
    return OpenAICompatModel(ModelSpec.model_validate(fields))


async def collect(m: OpenAICompatModel, params: GenerationParams | None = None) -> list[str]:
    """The text chunks; the stream's end (finish reason and usage) must come last."""
    chunks = [c async for c in m.stream(HELLO, params or GenerationParams())]
    assert isinstance(chunks[-1], StreamEnd)
    assert all(isinstance(c, str) for c in chunks[:-1])
    return chunks[:-1]  # type: ignore[return-value]


async def test_streams_chunks_and_sends_the_generation_parameters(openai_stub: StubOpenAI) -> None:
    openai_stub.reply("Bonjour tout le monde")
    params = GenerationParams(temperature=0.2, max_tokens=20, top_p=0.5, stop=["\n\n"])
    chunks = [c async for c in model(openai_stub).stream(HELLO, params)]
    assert chunks == ["Bonjour ", "tout ", "le ", "monde", StreamEnd("stop", 2, 4)]
    (request,) = openai_stub.chat_requests
    body = request.body
    assert body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "hello there"}]
    assert (body["temperature"], body["max_tokens"], body["top_p"], body["stop"]) == (
        0.2,
        20,
        0.5,
        ["\n\n"],
    )


async def test_max_tokens_cutting_the_answer_is_the_finish_reason(
    openai_stub: StubOpenAI,
) -> None:
    openai_stub.reply("one two three four")
    chunks = [c async for c in model(openai_stub).stream(HELLO, GenerationParams(max_tokens=2))]
    assert chunks == ["one ", "two ", StreamEnd("length", 2, 2)]


async def test_openai_environment_variables_are_honoured(
    openai_stub: StubOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_stub.url)
    monkeypatch.setenv("OPENAI_ORG_ID", "org-botkit")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-botkit")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    m = OpenAICompatModel(ModelSpec(provider="openai", name="stub-model"))  # no base_url
    assert "".join(await collect(m)) == "echo: hello there"
    headers = {k.lower(): v for k, v in openai_stub.chat_requests[-1].headers.items()}
    assert headers["openai-organization"] == "org-botkit"
    assert headers["openai-project"] == "proj-botkit"
    await m.aclose()
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(MissingAPIKey, match="OPENAI_API_KEY"):  # OpenAI itself needs a key
        OpenAICompatModel(ModelSpec(provider="openai", name="gpt-4o-mini"))
    with_url = ModelSpec(provider="openai", name="stub-model", base_url=openai_stub.url)
    assert OpenAICompatModel(with_url).base_url == openai_stub.url  # the GPT file wins


async def test_retries_429_and_500_with_backoff_then_succeeds(openai_stub: StubOpenAI) -> None:
    openai_stub.fault("status", status=429, retry_after=0)
    openai_stub.fault("status", status=500)
    chunks = await collect(model(openai_stub, max_retries=2))
    assert "".join(chunks) == "echo: hello there"
    assert len(openai_stub.chat_requests) == 3


async def test_gives_up_after_max_retries_with_a_clear_error(openai_stub: StubOpenAI) -> None:
    openai_stub.fault("status", times=5, status=503)
    with pytest.raises(ModelResponseError, match=r"answered 503: stub fault 503"):
        await collect(model(openai_stub, max_retries=1))
    assert len(openai_stub.chat_requests) == 2


async def test_rate_limit_that_persists_says_to_try_later(openai_stub: StubOpenAI) -> None:
    openai_stub.fault("status", times=5, status=429, retry_after=0)
    with pytest.raises(ModelResponseError, match=r"rate limited .* try again later"):
        await collect(model(openai_stub, max_retries=1))


async def test_latency_beyond_the_timeout_is_reported_as_unreachable(
    openai_stub: StubOpenAI,
) -> None:
    openai_stub.latency = 1.0
    with pytest.raises(ModelUnreachable, match="timed out"):
        await collect(model(openai_stub, timeout=0.2, max_retries=0))


async def test_malformed_json_is_a_clear_error(openai_stub: StubOpenAI) -> None:
    openai_stub.fault("malformed")
    with pytest.raises(ModelResponseError, match="malformed answer"):
        await collect(model(openai_stub, max_retries=0))


async def test_a_stream_cut_midway_is_reported(openai_stub: StubOpenAI) -> None:
    openai_stub.reply("one two three four")
    openai_stub.fault("cut", after=2)
    m = model(openai_stub, max_retries=0)
    received: list[str] = []
    with pytest.raises(ModelUnreachable, match="cut off"):
        async for chunk in m.stream(HELLO, GenerationParams()):
            received.append(chunk)
    assert received == ["one ", "two "]


async def test_an_unknown_model_names_it(openai_stub: StubOpenAI) -> None:
    with pytest.raises(
        ModelResponseError, match=r"model 'gpt-9' was not found at http://127\.0\.0\.1"
    ):
        await collect(model(openai_stub, name="gpt-9"))


async def test_context_overflow_from_the_server_is_an_input_error(openai_stub: StubOpenAI) -> None:
    openai_stub.fault(
        "status", status=400, message="This model's maximum context length is 10 tokens"
    )
    with pytest.raises(InputError, match="too long for stub-model: This model's maximum context"):
        await collect(model(openai_stub, max_retries=0))


async def test_a_server_that_is_down_is_named() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    spec = ModelSpec(
        provider="openai", name="m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0
    )
    with pytest.raises(
        ModelUnreachable, match=rf"cannot reach the model server at http://127.0.0.1:{port}/v1"
    ):
        await collect(OpenAICompatModel(spec))


def test_a_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(MissingAPIKey, match=r"export OPENAI_API_KEY="):
        OpenAICompatModel(ModelSpec(provider="openai", name="gpt-4o-mini"))
    monkeypatch.delenv("GROQ_KEY", raising=False)
    with pytest.raises(MissingAPIKey, match=r"export GROQ_KEY="):
        OpenAICompatModel(
            ModelSpec(provider="openai", name="m", base_url="http://h/v1", api_key_env="GROQ_KEY")
        )


async def test_the_key_from_the_named_variable_is_sent(
    openai_stub: StubOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_KEY", "sk-test-123")
    await collect(model(openai_stub, api_key_env="MY_KEY"))
    assert openai_stub.chat_requests[0].headers["Authorization"] == "Bearer sk-test-123"


def test_context_window_comes_from_the_spec_or_the_model_family(openai_stub: StubOpenAI) -> None:
    assert model(openai_stub, context_window=1000).context_window == 1000
    assert model(openai_stub, name="gpt-4o-mini").context_window == 128_000


async def test_the_stub_serves_models_and_embeddings_to_the_real_client(
    openai_stub: StubOpenAI,
) -> None:
    import openai

    client = openai.AsyncOpenAI(api_key="x", base_url=openai_stub.url, max_retries=0)
    models = [m.id async for m in client.models.list()]
    assert models == ["stub-model"]
    result = await client.embeddings.create(model="stub-embed", input=["a", "b", "a"])
    vectors = [d.embedding for d in result.data]
    assert len(vectors) == 3 and len(vectors[0]) == openai_stub.embedding_dim
    assert vectors[0] == vectors[2] != vectors[1]
    assert abs(sum(x * x for x in vectors[0]) - 1) < 1e-9
    await client.close()
