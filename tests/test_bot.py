"""The core: prompts, conversations, trimming, through the real openai client to the stub server."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
from pathlib import Path

import pytest

from botkit.core.bot import Bot
from botkit.core.message import Attachment, Message
from botkit.core.prompt import SPEAKERS_RULE
from botkit.errors import GPTNotFound, InputError, ModelUnreachable, StorageError
from botkit.models.base import ChatMessage
from botkit.spec import GenerationParams
from botkit.testing import StubOpenAI

from .conftest import REPO, stub_model, write_gpt


@pytest.fixture
def bot(config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI) -> Bot:
    write_gpt(
        config_dir,
        "fr",
        model=stub_model(openai_stub),
        variables={"lang": "French"},
        instructions="Translate into {lang} for {user}.",
        examples=[{"user": "Hello", "assistant": "Bonjour"}],
        parameters={"temperature": 0.1, "max_tokens": 50},
    )
    return Bot.from_config(config_dir, tmp_path / "home")


def msg(text: str, thread: str = "t1", gpt: str = "fr") -> Message:
    return Message(text, gpt, surface="test", channel="c", thread=thread, user_id="ada")


def in_thread(text: str, user_id: str, name: str) -> Message:
    """A message in one Slack-like thread that everyone shares."""
    return Message(
        text, "fr", "slack", user_id, name, workspace="T1", channel="C1", thread="1.0", shared=True
    )


def contents(bot_request: dict[str, object], role: str = "user") -> list[str]:
    messages = bot_request["messages"]
    assert isinstance(messages, list)
    return [m["content"] for m in messages if m["role"] == role]


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


async def test_a_thread_is_one_conversation_and_the_model_knows_who_said_what(
    bot: Bot, openai_stub: StubOpenAI
) -> None:
    await bot.reply_text(in_thread("Hi", "U1", "Ada"))
    alone = openai_stub.chat_requests[-1].body
    assert contents(alone)[-1] == "Hi" and SPEAKERS_RULE not in contents(alone, "system")[0]
    await bot.reply_text(in_thread("Me too", "U2", "Bob"))
    await bot.reply_text(in_thread("And me", "U3", "Cy"))
    last = openai_stub.chat_requests[-1].body
    (system,) = contents(last, "system")
    assert system.startswith("Translate into French for Cy.") and SPEAKERS_RULE in system
    assert contents(last) == ["Hello", "Ada: Hi", "Bob: Me too", "Cy: And me"]
    turns = await bot.history(in_thread("", "U9", "Zed").conversation)
    assert [(t.role, t.speaker_id, t.speaker_name) for t in turns[::2]] == [
        ("user", "U1", "Ada"),
        ("user", "U2", "Bob"),
        ("user", "U3", "Cy"),
    ]


async def test_a_private_place_keeps_one_conversation_per_user(
    bot: Bot, openai_stub: StubOpenAI
) -> None:
    await bot.reply_text(Message("one", "fr", "test", "U1", channel="c", thread="t"))
    await bot.reply_text(Message("two", "fr", "test", "U2", channel="c", thread="t"))
    assert contents(openai_stub.chat_requests[-1].body) == ["Hello", "two"]


async def test_a_completed_reply_keeps_both_turns_and_reports_usage(
    bot: Bot, openai_stub: StubOpenAI
) -> None:
    openai_stub.reply("un deux trois")
    reply = await bot.respond(msg("one two three")).collect()
    assert reply.finish_reason == "stop"
    assert reply.usage is not None and not reply.usage.estimated
    assert reply.usage.completion_tokens == 3  # the stub counts a word a token
    assert reply.usage.prompt_tokens == 10  # 5 + 1 + 1 + 3 words
    assert reply.latency is not None and reply.first_token_latency is not None
    assert reply.model == "openai:stub-model"
    assert openai_stub.chat_requests[-1].body["stream_options"] == {"include_usage": True}
    turns = await bot.history(msg("").conversation)
    assert [(t.role, t.content, t.status) for t in turns] == [
        ("user", "one two three", "complete"),
        ("assistant", "un deux trois", "complete"),
    ]


async def test_a_server_refusing_stream_options_is_asked_again_without(
    bot: Bot, openai_stub: StubOpenAI
) -> None:
    openai_stub.reject_stream_options = True
    reply = await bot.respond(msg("hello")).collect()
    assert reply.text == "echo: hello"
    assert reply.usage is not None and reply.usage.estimated  # counted by botkit
    assert "stream_options" not in openai_stub.chat_requests[-1].body
    await bot.respond(msg("again")).collect()
    assert len(openai_stub.chat_requests) == 3  # remembered: no second refusal


async def read_two(bot: Bot, stub: StubOpenAI) -> None:
    stub.reply("one two three four five six")
    stub.chunk_delay = 0.05


async def test_a_reply_closed_part_way_keeps_what_was_shown_and_closes_the_stream(
    bot: Bot, openai_stub: StubOpenAI
) -> None:
    await read_two(bot, openai_stub)
    async with bot.respond(msg("count")) as reply:
        shown = [await reply.__anext__(), await reply.__anext__()]
    assert reply.finish_reason == "stopped"
    turns = await bot.history(msg("").conversation)
    assert [(t.role, t.content, t.status) for t in turns] == [
        ("user", "count", "complete"),
        ("assistant", "".join(shown), "stopped"),
    ]
    for _ in range(50):  # the server sees the connection go
        if openai_stub.aborted:
            break
        await asyncio.sleep(0.02)
    assert openai_stub.aborted == 1


async def test_breaking_out_of_the_loop_and_dropping_the_reply_saves_it(
    bot: Bot, openai_stub: StubOpenAI
) -> None:
    await read_two(bot, openai_stub)
    reply = bot.respond(msg("count"))
    async for chunk in reply:
        assert chunk == "one "
        break
    del reply, chunk
    gc.collect()
    for _ in range(50):
        turns = await bot.history(msg("").conversation)
        if len(turns) == 2:
            break
        await asyncio.sleep(0.02)
    assert [(t.content, t.status) for t in turns] == [("count", "complete"), ("one ", "stopped")]


async def test_cancelling_while_the_consumer_awaits_its_own_io_saves_what_was_shown(
    bot: Bot, openai_stub: StubOpenAI
) -> None:
    await read_two(bot, openai_stub)
    first = asyncio.Event()

    async def consumer() -> None:
        async with bot.respond(msg("count")) as reply:
            async for _chunk in reply:
                first.set()
                await asyncio.sleep(10)  # posting to a slow platform, say

    task = asyncio.create_task(consumer())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    turns = await bot.history(msg("").conversation)
    assert [(t.content, t.status) for t in turns] == [("count", "complete"), ("one ", "stopped")]


async def test_a_model_failing_part_way_keeps_the_question_not_the_half_answer(
    bot: Bot, openai_stub: StubOpenAI
) -> None:
    openai_stub.reply("one two three four")
    openai_stub.fault("cut", after=2)
    reply = bot.respond(msg("count"))
    with pytest.raises(ModelUnreachable, match="cut off"):
        await reply.collect()
    assert reply.text == "one two " and reply.finish_reason == "error"
    turns = await bot.history(msg("").conversation)
    assert [(t.content, t.status) for t in turns] == [("count", "complete"), ("one two ", "failed")]
    await bot.reply_text(msg("again"))
    assert contents(openai_stub.chat_requests[-1].body)[1:] == ["count", "again"]
    assert "one two " not in contents(openai_stub.chat_requests[-1].body, "assistant")


async def test_a_store_that_cannot_save_stops_the_reply_before_the_model_is_asked(
    bot: Bot, openai_stub: StubOpenAI, tmp_path: Path
) -> None:
    await bot.reply_text(msg("first"))
    db = sqlite3.connect(tmp_path / "home" / "conversations.sqlite3")
    db.execute("DROP TABLE turns")
    db.close()
    with pytest.raises(StorageError, match="could not"):
        await bot.reply_text(msg("second"))
    assert len(openai_stub.chat_requests) == 1


async def test_two_quick_messages_in_one_thread_are_answered_in_turn(
    bot: Bot, openai_stub: StubOpenAI
) -> None:
    openai_stub.latency = 0.1
    done: list[str] = []

    async def send(message: Message) -> None:
        await bot.reply_text(message)
        done.append(message.text)

    await asyncio.gather(
        send(in_thread("first", "U1", "Ada")),
        send(in_thread("second", "U1", "Ada")),
        send(msg("elsewhere")),
    )
    assert done.index("elsewhere") < done.index("second")  # another place did not wait
    thread_requests = [r.body for r in openai_stub.chat_requests if "first" in str(r.body)]
    assert contents(thread_requests[-1]) == ["Hello", "first", "second"]


async def test_a_stateless_call_applies_the_gpt_and_keeps_nothing(
    bot: Bot, openai_stub: StubOpenAI
) -> None:
    messages = [
        ChatMessage(role="system", content="Use a formal tone."),
        ChatMessage(role="user", content="Thanks"),
        ChatMessage(role="assistant", content="Merci"),
        ChatMessage(role="user", content="See you"),
    ]
    client = GenerationParams(max_tokens=500, temperature=0.7, stop=["\n\n"])
    reply = await bot.complete("fr", messages, client).collect()
    assert reply.text == "echo: See you" and reply.usage is not None
    body = openai_stub.chat_requests[-1].body
    assert body["messages"] == [
        {"role": "system", "content": "Translate into French for the user.\n\nUse a formal tone."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": "Thanks"},
        {"role": "assistant", "content": "Merci"},
        {"role": "user", "content": "See you"},
    ]
    assert (body["max_tokens"], body["temperature"], body["stop"]) == (50, 0.7, ["\n\n"])
    assert await bot.history(msg("").conversation) == []
    with pytest.raises(InputError, match="last message must be the user's"):
        await bot.complete("fr", messages[:3]).collect()


async def test_command_words_need_their_prefix_in_chat(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    write_gpt(config_dir, "assistant", model=stub_model(openai_stub))
    bot = Bot.from_config(config_dir, tmp_path / "home", (REPO / "plugins",))
    text = "Ask Bob whether the invoice went out"
    assert await bot.reply_text(Message(text, "assistant")) == f"echo: {text}"
    openai_stub.reply(*['{"label": "positive", "confidence": 0.9, "rationale": "glad"}'] * 2)
    reply = await bot.respond(Message("!sentiment I love it, thank you!", "assistant")).collect()
    assert reply.result is not None and reply.finish_reason == "task"
    same = await bot.respond(Message("I love it", "assistant", command="sentiment")).collect()
    assert same.result is not None
    with pytest.raises(InputError, match="unknown command 'nope'"):
        await bot.reply_text(Message("x", "assistant", command="nope"))
    await bot.aclose()


async def test_text_attachments_reach_the_model_others_do_not(
    bot: Bot, openai_stub: StubOpenAI
) -> None:
    files = (
        Attachment("notes.txt", "text/plain", 11, "hello world"),
        Attachment("photo.png", "image/png", 2048),
    )
    await bot.reply_text(Message("translate this", "fr", attachments=files))
    said = contents(openai_stub.chat_requests[-1].body)[-1]
    assert said == 'translate this\n\n<attachment name="notes.txt">\nhello world\n</attachment>'


async def test_conversations_are_separate_and_survive_a_restart(
    bot: Bot, config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    await bot.reply_text(msg("one", thread="a"))
    await bot.reply_text(msg("two", thread="b"))
    await bot.aclose()
    again = Bot.from_config(config_dir, tmp_path / "home")
    await again.reply_text(msg("three", thread="a"))
    assert contents(openai_stub.chat_requests[-1].body)[1:] == ["one", "three"]
    await again.aclose()


async def test_reset_forgets_the_conversation(bot: Bot, openai_stub: StubOpenAI) -> None:
    await bot.reply_text(msg("one"))
    await bot.reset(msg("").conversation)
    await bot.reply_text(msg("two"))
    assert contents(openai_stub.chat_requests[-1].body) == ["Hello", "two"]


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
