"""The built-in task plugins in plugins/, through the real CLI and the real WordLlama embedder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from botkit.core.bot import Bot
from botkit.core.message import Message
from botkit.errors import InputError
from botkit.loader import load_catalog
from botkit.testing import StubOpenAI

from .conftest import REPO, run_botkit, stub_model, write_gpt


def test_sentiment_gpt_and_command() -> None:
    result = run_botkit(
        "console", "--gpt", "sentiment",
        input="This update broke my workflow and support never answered.\nI love the new dashboard!\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    labels = [line.split(" (")[0] for line in result.stdout.splitlines()]
    assert labels == ["negative", "positive"]
    command = run_botkit(
        "console", "--gpt", "assistant", input="/sentiment The meeting is on Monday.\n"
    )
    assert command.stdout.startswith("neutral (")


def test_the_classifier_answers_only_with_its_labels() -> None:
    tickets = ["My card was charged twice", "The app freezes on start", "Where is my package?"]
    tickets.append("I forgot my password")
    result = run_botkit("console", "--gpt", "classifier", input="\n".join(tickets) + "\n")
    assert result.returncode == 0, result.stderr
    labels = [line.split(" (")[0] for line in result.stdout.splitlines()]
    assert labels == ["billing", "technical", "shipping", "account"]


def test_classify_needs_a_gpt_with_labels() -> None:
    result = run_botkit(
        "console", "--gpt", "assistant", input="!classify my card was charged twice\n"
    )
    assert result.returncode == 1
    assert "error: classification needs options GPT 'assistant' does not give" in result.stderr


def test_the_built_ins_are_listed_as_plugins() -> None:
    result = run_botkit("plugins")
    assert "classification" in result.stdout and "sentiment" in result.stdout


@pytest.fixture
async def translator(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> AsyncIterator[Bot]:
    write_gpt(config_dir, "chat", model=stub_model(openai_stub))
    write_gpt(
        config_dir,
        "to-german",
        model=stub_model(openai_stub),
        task={
            "plugin": "translation",
            "options": {"target": "de", "glossary": {"Vault": "Tresor"}},
        },
    )
    bot = Bot.from_config(config_dir, tmp_path / "home", (REPO / "plugins",))
    yield bot
    await bot.aclose()


def user_text(request: Any) -> str:
    return str(request.body["messages"][-1]["content"])


async def test_translate_protects_code_urls_mentions_and_placeholders(
    translator: Bot, openai_stub: StubOpenAI
) -> None:
    openai_stub.responder = lambda body: body["messages"][-1]["content"].upper()  # a "translation"
    text = "see `acme sync` at https://acme.example/help, ask @ana about {order_id}"
    reply = await translator.respond(Message(f"!translate fr {text}", "chat")).collect()
    sent = user_text(openai_stub.chat_requests[0])
    assert sent == "see ⟦0⟧ at ⟦1⟧, ask ⟦2⟧ about ⟦3⟧"  # the model never sees them
    assert "into French" in openai_stub.chat_requests[0].body["messages"][0]["content"]
    assert reply.text == "SEE `acme sync` AT https://acme.example/help, ASK @ana ABOUT {order_id}"
    assert reply.result is not None and reply.result.model_dump()["target"] == "French"


async def test_paragraphs_are_translated_one_by_one_with_the_glossary(
    translator: Bot, openai_stub: StubOpenAI
) -> None:
    openai_stub.reply("Erster Absatz ⟦0⟧.", "Zweiter Absatz.")
    reply = await translator.respond(
        Message("The Vault is ready.\n\nSecond paragraph.", "to-german")
    ).collect()
    assert [user_text(r) for r in openai_stub.chat_requests] == [
        "The ⟦0⟧ is ready.",
        "Second paragraph.",
    ]
    assert reply.text == "Erster Absatz Tresor.\n\nZweiter Absatz."


async def test_a_marker_the_model_drops_is_kept_anyway(
    translator: Bot, openai_stub: StubOpenAI
) -> None:
    openai_stub.reply("Bonjour")
    assert (
        await translator.reply_text(Message("!translate fr Hello @ana", "chat")) == "Bonjour @ana"
    )


async def test_unknown_languages_suggest_close_ones(translator: Bot) -> None:
    with pytest.raises(InputError, match=r"unknown language 'germn'; did you mean German\?"):
        await translator.reply_text(Message("!translate germn hello", "chat"))
    with pytest.raises(InputError, match="nothing to translate"):
        await translator.reply_text(Message("!translate fr", "chat"))


def test_support_qa_answers_extractively_with_its_source_on_the_embedded_default() -> None:
    result = run_botkit(
        "console", "--gpt", "support-qa",
        input="How long are password reset links valid?\nWhat is the capital of Peru?\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    # the answer itself, then the sentence it comes from and its source
    assert first.startswith(
        '30 minutes: "Password reset links expire after 30 minutes." [1: knowledge/acme/account/'
    )
    assert second.startswith("I don't know")


async def test_ask_generates_from_passages_on_other_models(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    (tmp_path / "knowledge").symlink_to(REPO / "knowledge")
    write_gpt(
        config_dir,
        "helpdesk",
        model=stub_model(openai_stub),
        knowledge={"sources": ["knowledge/acme/billing/*.md"]},
    )
    bot = Bot.from_config(config_dir, tmp_path / "home", (REPO / "plugins",))
    reply = await bot.respond(
        Message("!ask How many business days until a refund is issued?", "helpdesk")
    ).collect()
    assert reply.result is not None and reply.result.model_dump()["method"] == "generate"
    assert reply.text.startswith("echo: <reference_passages>")
    assert "[1: knowledge/acme/billing/refunds.md > Refunds > " in reply.text
    with pytest.raises(InputError, match="has no knowledge to answer from"):
        write_gpt(config_dir, "plain", model=stub_model(openai_stub))
        bot.catalog = load_catalog(config_dir, tasks=bot.registry.tasks)
        await bot.reply_text(Message("!ask anything", "plain"))
    await bot.aclose()


async def test_a_paragraph_longer_than_the_window_goes_in_sentence_groups(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    model = stub_model(openai_stub, context_window=260)  # ~52 tokens (~156 characters) a piece
    write_gpt(config_dir, "small", model=model)
    bot = Bot.from_config(config_dir, tmp_path / "home", (REPO / "plugins",))
    openai_stub.responder = lambda body: body["messages"][-1]["content"].upper()
    sentences = [f"Sentence number {n} is here to fill the small window up." for n in range(5)]
    reply = await bot.respond(Message("!translate de " + " ".join(sentences), "small")).collect()
    sent = [user_text(r) for r in openai_stub.chat_requests]
    assert len(sent) == 3 and " ".join(sent) == " ".join(sentences)
    assert reply.text == " ".join(sentences).upper()
    with pytest.raises(InputError, match=r"a sentence of \d+ tokens is too long for this model"):
        await bot.reply_text(Message("!translate de " + "word " * 100, "small"))
    await bot.aclose()


async def test_the_gpts_examples_are_earlier_turns_of_each_translation(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    examples = [{"user": "Thank you.", "assistant": "Merci."}]
    task = {"plugin": "translation", "options": {"target": "fr"}}
    write_gpt(config_dir, "to-french", model=stub_model(openai_stub), examples=examples, task=task)
    bot = Bot.from_config(config_dir, tmp_path / "home", (REPO / "plugins",))
    openai_stub.reply("Bonjour.")
    reply = await bot.respond(Message("Hello.", "to-french")).collect()
    sent = openai_stub.chat_requests[0].body["messages"]
    assert [(m["role"], m["content"]) for m in sent[1:]] == [
        ("user", "Thank you."),
        ("assistant", "Merci."),
        ("user", "Hello."),
    ]
    assert reply.result is not None and reply.result.prose and reply.text == "Bonjour."
    # another GPT's examples teach another job: `translate` there sends none of them
    write_gpt(
        config_dir,
        "mood",
        model=stub_model(openai_stub),
        examples=[{"user": "Great!", "assistant": "positive"}],
    )
    bot.catalog = load_catalog(config_dir, tasks=bot.registry.tasks)
    await bot.respond(Message("!translate fr Hello.", "mood")).collect()
    assert [m["role"] for m in openai_stub.chat_requests[1].body["messages"]] == ["system", "user"]
    await bot.aclose()


async def test_the_source_language_is_detected_and_text_already_in_the_target_is_kept(
    translator: Bot, openai_stub: StubOpenAI
) -> None:
    openai_stub.reply("Où est la gare ?")
    reply = await translator.respond(Message("!translate fr Wo ist der Bahnhof?", "chat")).collect()
    assert "from German into French" in openai_stub.chat_requests[0].body["messages"][0]["content"]
    assert reply.result is not None and reply.result.model_dump()["source"] == "German"
    french = "La réunion est déplacée à jeudi."
    same = await translator.respond(Message(f"!translate fr {french}", "chat")).collect()
    assert same.text == french and len(openai_stub.chat_requests) == 1
