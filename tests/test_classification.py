"""Classification and sentiment methods: structured outputs over real HTTP to the stub, multi-label,
"none of these", and the rendering every surface gets."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from botkit.core.bot import Bot
from botkit.core.message import Message
from botkit.errors import InputError, ModelResponseError
from botkit.render import as_json, discord_embed, slack_blocks
from botkit.testing import StubOpenAI

from .conftest import REPO, run_botkit, stub_model, write_gpt

LABELS = {
    "billing": {"description": "Charges and invoices", "examples": ["I was charged twice"]},
    "shipping": {"description": "Parcels and delivery", "examples": ["Where is my parcel?"]},
    "technical": "Bugs and crashes",
}


@pytest.fixture
async def bot(config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI) -> AsyncIterator[Bot]:
    model = stub_model(openai_stub)
    write_gpt(
        config_dir,
        "router",
        model=model,
        task={"plugin": "classification", "options": {"labels": LABELS}},
    )
    options = {"labels": LABELS, "multi_label": True}
    write_gpt(
        config_dir, "tagger", model=model, task={"plugin": "classification", "options": options}
    )
    options = {
        "labels": LABELS,
        "method": "embeddings",
        "none_label": "other",
        "min_confidence": 0.5,
        "min_similarity": 0.2,
    }
    write_gpt(
        config_dir, "gated", model=model, task={"plugin": "classification", "options": options}
    )
    write_gpt(config_dir, "chat", model=model)
    bot = Bot.from_config(config_dir, tmp_path / "home", (REPO / "plugins",))
    yield bot
    await bot.aclose()


def answers(stub: StubOpenAI, *objects: dict[str, Any]) -> None:
    stub.reply(*(json.dumps(o) for o in objects))


async def test_openai_models_answer_through_a_json_schema_of_the_labels(
    bot: Bot, openai_stub: StubOpenAI
) -> None:
    answers(openai_stub, {"label": "billing", "confidence": 0.9, "rationale": "a double charge"})
    reply = await bot.respond(Message("My card was charged twice", "router")).collect()
    result = reply.result.model_dump()  # type: ignore[union-attr]
    assert (result["label"], result["confidence"], result["method"]) == (
        "billing",
        0.9,
        "structured",
    )
    assert result["rationale"] == "a double charge"
    body = openai_stub.chat_requests[0].body
    schema = body["response_format"]["json_schema"]
    assert body["response_format"]["type"] == "json_schema" and schema["strict"] is True
    assert schema["schema"]["properties"]["label"]["enum"] == ["billing", "shipping", "technical"]
    assert "- billing: Charges and invoices" in body["messages"][0]["content"]


async def test_a_label_outside_the_set_is_retried_once_then_refused(
    bot: Bot, openai_stub: StubOpenAI
) -> None:
    answers(
        openai_stub,
        {"label": "refunds", "confidence": 0.8, "rationale": "?"},
        {"label": "billing", "confidence": 0.7, "rationale": "money"},
    )
    reply = await bot.respond(Message("Refund please", "router")).collect()
    assert reply.result.model_dump()["label"] == "billing"  # type: ignore[union-attr]
    retry = openai_stub.chat_requests[1].body["messages"]
    assert retry[-1]["content"].startswith("'refunds' is not one of the labels.")
    answers(openai_stub, *[{"label": "refunds", "confidence": 1, "rationale": "?"}] * 2)
    with pytest.raises(ModelResponseError, match="did not answer with a declared label twice"):
        await bot.respond(Message("Refund please", "router")).collect()


async def test_multi_label_answers_every_label_that_applies(
    bot: Bot, openai_stub: StubOpenAI
) -> None:
    answers(openai_stub, {"labels": ["billing", "shipping"], "confidence": 0.8, "rationale": "x"})
    reply = await bot.respond(Message("Charged for a parcel that never came", "tagger")).collect()
    assert reply.result.model_dump()["labels"] == ["billing", "shipping"]  # type: ignore[union-attr]
    assert reply.text == "billing, shipping (80%)"
    schema = openai_stub.chat_requests[0].body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["labels"]["items"]["enum"] == list(LABELS)


async def test_none_of_these_below_the_confidence_threshold(bot: Bot) -> None:
    unclear = await bot.respond(Message("The weather is lovely today", "gated")).collect()
    assert unclear.result.model_dump()["label"] == "other"  # type: ignore[union-attr]
    clear = await bot.respond(Message("!classify I was charged twice", "gated")).collect()
    assert clear.result.model_dump()["label"] == "billing"  # type: ignore[union-attr]


async def test_bad_input_is_refused_clearly(bot: Bot, openai_stub: StubOpenAI) -> None:
    with pytest.raises(InputError, match=r"nothing to work on: classify <text>"):
        await bot.respond(Message("!classify   ", "router")).collect()
    assert not openai_stub.chat_requests
    with pytest.raises(InputError, match="needs options"):
        await bot.respond(Message("!classify something", "chat")).collect()


def test_a_classifier_without_labels_is_a_config_error(config_dir: Path, tmp_path: Path) -> None:
    path = write_gpt(
        config_dir, "empty", task={"plugin": "classification", "options": {"labels": {}}}
    )
    plugins = str(REPO / "plugins")
    result = run_botkit(
        "--config-dir", str(config_dir), "--plugins-dir", plugins, "validate", str(path)
    )
    assert result.returncode == 1
    assert "empty.yaml:5:5: task.options: declare at least two labels" in result.stdout


async def test_every_surface_gets_the_same_result_to_render(
    bot: Bot, openai_stub: StubOpenAI
) -> None:
    answers(openai_stub, {"label": "technical", "confidence": 0.75, "rationale": "a crash"})
    result = (await bot.respond(Message("It crashes", "router")).collect()).result
    assert result is not None
    blocks = slack_blocks("classification", result)
    assert blocks[0]["text"]["text"] == "technical (75%)"
    assert {"type": "mrkdwn", "text": "*rationale*\na crash"} in blocks[1]["fields"]
    embed = discord_embed("classification", result)
    assert embed["title"] == "technical (75%)"
    assert {"name": "confidence", "value": "75%", "inline": True} in embed["fields"]
    payload = as_json("classification", result)
    assert payload["result"]["label"] == "technical" and json.dumps(payload)


class _TableEmbedder:
    """Fixed vectors for known texts: the geometry of a test, without a model."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        rows = np.array([self.table[t] for t in texts], dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


async def test_embeddings_go_by_the_nearest_examples_not_the_mean_of_all() -> None:
    from plugins.classification.centroids import Centroids

    # "weather" has two ways of being asked; their mean points between them, nearer "travel"
    table = {
        "weather": [0, 0, 1], "is it raining": [1, 0, 0.1], "forecast for tomorrow": [1, 0, 0.1],
        "umbrella needed": [1, 0, 0.1], "how hot is it": [0, 1, 0], "temperature today": [0, 1, 0],
        "heat outside": [0, 1, 0], "travel": [0.7, 0.7, 0.2], "book a trip": [0.7, 0.7, 0.2],
        "plan a journey": [0.7, 0.7, 0.2], "fly somewhere": [0.7, 0.7, 0.2], "rainy": [1, 0, 0],
        "misc": [-1, 0, 0.3],
    }  # fmt: skip
    labels = {
        "weather": ["weather", "is it raining", "forecast for tomorrow", "umbrella needed",
                    "how hot is it", "temperature today", "heat outside"],
        "travel": ["travel", "book a trip", "plan a journey", "fly somewhere"],
    }  # fmt: skip
    labels = {name: texts * 3 for name, texts in labels.items()}  # enough for nearest texts
    scorer = Centroids(_TableEmbedder(table), labels)
    scores, fit = await scorer.scores("rainy")
    assert max(scores, key=scores.__getitem__) == "weather"
    assert 0 < fit < 1
    # many labels: only the nearest centroids' examples are searched, with the same answer
    many = {**labels, **{f"other{n}": ["misc"] * 12 for n in range(20)}}
    scores, _ = await Centroids(_TableEmbedder(table), many).scores("rainy")
    assert max(scores, key=scores.__getitem__) == "weather"
