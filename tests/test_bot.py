"""The core: prompts, conversations, trimming, through the real openai client to the stub server."""

from __future__ import annotations

from pathlib import Path

import pytest

from botkit.core.bot import Bot
from botkit.core.message import Message
from botkit.errors import GPTNotFound, InputError
from botkit.testing import StubOpenAI

from .conftest import stub_model, write_gpt


@pytest.fixture
def bot(config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI) -> Bot:
    write_gpt(
        config_dir,
        "fr",
        model=stub_model(openai_stub),
        variables={"lang": "French"},
        instructions="Translate into {lang} for {user}.",
        examples=[{"user": "Hello", "assistant": "Bonjour"}],
        parameters={"temperature": 0.1},
    )
    return Bot.from_config(config_dir, tmp_path / "home")


def msg(text: str, thread: str = "t1", gpt: str = "fr") -> Message:
    return Message(text, gpt, surface="test", channel="c", thread=thread, user="ada")


async def test_prompt_has_instructions_examples_as_turns_history_and_message(
    bot: Bot, openai_stub: StubOpenAI
) -> None:
    openai_stub.reply("Merci", "Au revoir")
    assert await bot.reply_text(msg("Thanks")) == "Merci"
    assert await bot.reply_text(msg("Goodbye")) == "Au revoir"
    second = openai_stub.chat_requests[1].body["messages"]
    assert second == [
        {"role": "system", "content": "Translate into French for ada."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": "Thanks"},
        {"role": "assistant", "content": "Merci"},
        {"role": "user", "content": "Goodbye"},
    ]
    assert openai_stub.chat_requests[1].body["temperature"] == 0.1


async def test_conversations_are_separate_and_survive_a_restart(
    bot: Bot, config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    await bot.reply_text(msg("one", thread="a"))
    await bot.reply_text(msg("two", thread="b"))
    await bot.aclose()
    again = Bot.from_config(config_dir, tmp_path / "home")
    await again.reply_text(msg("three", thread="a"))
    sent = openai_stub.chat_requests[-1].body["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"][1:] == ["one", "three"]
    await again.aclose()


async def test_reset_forgets_the_conversation(bot: Bot, openai_stub: StubOpenAI) -> None:
    await bot.reply_text(msg("one"))
    await bot.reset(msg("").conversation)
    await bot.reply_text(msg("two"))
    sent = openai_stub.chat_requests[-1].body["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["Hello", "two"]


async def test_history_is_trimmed_oldest_first_keeping_instructions_and_examples(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    # 3 characters a token: each 60-character turn costs 20 + 4 tokens of template overhead.
    write_gpt(
        config_dir,
        "small",
        model=stub_model(openai_stub, context_window=200),
        instructions="Be brief.",
        examples=[{"user": "ex-q", "assistant": "ex-a"}],
        parameters={"max_tokens": 40},
    )
    bot = Bot.from_config(config_dir, tmp_path / "home")
    openai_stub.responder = lambda body: "r" * 60
    for i in range(8):
        await bot.reply_text(msg(f"{i}" * 60, gpt="small"))
    sent = openai_stub.chat_requests[-1].body["messages"]
    assert sent[:3] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "ex-q"},
        {"role": "assistant", "content": "ex-a"},
    ]
    users = [m["content"][0] for m in sent[3:] if m["role"] == "user"]
    assert users == ["5", "6", "7"]  # the oldest turns went first
    assert sent[3]["role"] == "user"
    await bot.aclose()


async def test_a_message_longer_than_the_window_is_refused_clearly(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    write_gpt(config_dir, "tiny", model=stub_model(openai_stub, context_window=100))
    bot = Bot.from_config(config_dir, tmp_path / "home")
    with pytest.raises(InputError, match=r"too long for openai:stub-model: .* shorten the message"):
        await bot.reply_text(msg("x" * 1000, gpt="tiny"))
    assert openai_stub.chat_requests == []
    await bot.aclose()


async def test_empty_message_and_unknown_gpt(bot: Bot) -> None:
    with pytest.raises(InputError, match="empty"):
        await bot.reply_text(msg("   "))
    with pytest.raises(GPTNotFound, match="available: fr"):
        await bot.reply_text(msg("hi", gpt="nope"))
