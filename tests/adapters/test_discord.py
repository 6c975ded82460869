"""The Discord surface under ``botkit serve``: the real discord.py, its REST calls and gateway
routed to StubDiscord, GPTs on the stub OpenAI server; assertions on what Discord received."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import discord
import pytest
import yaml

from botkit.adapters.discord.commands import MAX_OPTION_TEXT, NAME, build_tree
from botkit.adapters.discord.surface import DiscordSurfaceRunner
from botkit.deploy.loader import parse_bot
from botkit.serve.runner import ServeOptions, build_context, serve
from botkit.serve.surface import SurfaceError
from botkit.settings import Settings
from botkit.tasks import Command, TaskPlugin, TaskRequest, TaskResult
from botkit.testing import StubDiscord, StubOpenAI, route_discord_py
from botkit.testing import discord_payloads as payloads

from ..conftest import stub_model, write_gpt
from .conftest import deployment, serving

EPHEMERAL = payloads.FLAG_EPHEMERAL


# -- reading what Discord received ---------------------------------------------------------------
def by_bot(stub: StubDiscord, channel_id: int | None = None) -> list[dict[str, Any]]:
    return [m for m in stub.messages(channel_id) if m["author"]["id"] == str(stub.bot_id)]


def answered(
    stub: StubDiscord, channel_id: int | None = None, count: int = 1
) -> Callable[[], list[dict[str, Any]] | None]:
    """Until ``count`` answers are complete in the channel (an answer ends with its 👍/👎)."""

    def check() -> list[dict[str, Any]] | None:
        done = [m for m in by_bot(stub, channel_id) if m["components"]]
        return done if len(done) >= count else None

    return check


def said(stub: StubDiscord, text: str, channel_id: int | None = None) -> Callable[[], Any]:
    """Until the bot has said something containing ``text`` in the channel."""
    return lambda: [m for m in by_bot(stub, channel_id) if text in m["content"]]


def callbacks(stub: StubDiscord) -> list[dict[str, Any]]:
    return [c.body for c in stub.calls("POST", "/interactions/*/*/callback")]


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


def user_turn(openai_stub: StubOpenAI, n: int = -1) -> str:
    return str(openai_stub.chat_requests[n].body["messages"][-1]["content"])


# -- answering messages --------------------------------------------------------------------------
@pytest.fixture
def fast_edits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Edits of a streaming answer every 0.1 s (1 s in production), and "typing..." at once
    (after 0.5 s without an answer in production), for short tests."""
    monkeypatch.setattr(DiscordSurfaceRunner, "EDIT_INTERVAL", 0.1)
    monkeypatch.setattr(DiscordSurfaceRunner, "THINKING_AFTER", 0.0)


async def test_a_mention_opens_a_thread_streams_the_answer_and_cites_its_sources(
    config_dir: Path,
    tmp_path: Path,
    openai_stub: StubOpenAI,
    discord_api: StubDiscord,
    fast_edits: None,
) -> None:
    stub = discord_api
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text(
        "# Refunds\n\n## Timing\n\nRefunds are issued within 5 business days.\n"
    )
    knowledge = {"sources": ["docs"], "min_score": 0, "search": "bm25"}
    write_gpt(config_dir, "help", model=stub_model(openai_stub), knowledge=knowledge)
    openai_stub.reply("Refunds take five business days [1].", "Yes, in the EU too.")
    openai_stub.chunk_delay = 0.1  # a model slower than the edits: the answer streams
    async with serving(config_dir, tmp_path / "home", deployment(default_gpt="help")):
        asked = stub.message_create("How long do refunds take? @everyone", mention_bot=True)
        stub.dispatch("MESSAGE_CREATE", asked)
        thread = int(asked["id"])  # a thread started from a message takes its id
        await stub.wait_until_async(answered(stub, thread))
        bob = stub.add_user("bob")  # another member continues in the thread, without a mention
        stub.dispatch(
            "MESSAGE_CREATE",
            stub.message_create("Do refunds take 5 days in the EU?", channel_id=thread, author=bob),
        )
        await stub.wait_until_async(answered(stub, thread, 2))

    (opened,) = stub.calls("POST", f"/channels/{stub.channel_id}/messages/{thread}/threads")
    assert stub.calls("POST", f"/channels/{stub.channel_id}/typing")  # while it thought
    assert opened.body["name"] == "How long do refunds take? @everyone"
    assert by_bot(stub, stub.channel_id) == []  # everything went into the thread
    first, second = by_bot(stub, thread)
    assert first["content"] == "Refunds take five business days [1]."
    posted = stub.calls("POST", f"/channels/{thread}/messages")[0].body
    assert posted["content"].endswith(" …")  # shown as it came, then edited in
    edits = [c.body for c in stub.calls("PATCH", f"/channels/{thread}/messages/{first['id']}")]
    shown = [e["content"] for e in edits if "content" in e]
    assert shown[-1] == first["content"] and all(s.endswith(" …") for s in shown[:-1])
    assert "content" not in edits[-1] and edits[-1]["components"]  # then sources and 👍/👎
    (sources,) = first["embeds"]
    assert sources["title"] == "Sources"
    assert "**[1]** docs/refunds.md > Refunds > Timing" in sources["description"]
    assert "Refunds are issued within 5 business days." in sources["description"]
    assert [i.split(":")[2] for i in custom_ids(first)] == ["up", "down"]
    sent = stub.calls("POST", "/channels/*/messages")
    assert all(c.body["allowed_mentions"] == {"parse": []} for c in sent)  # nothing pings
    # the thread is one conversation: bob's question was asked with alice's exchange before it
    history = [m["content"] for m in openai_stub.chat_requests[1].body["messages"]]
    assert any("How long do refunds take?" in m for m in history)
    assert "Refunds take five business days [1]." in history
    assert "in the EU?" in history[-1] and second["content"] == "Yes, in the EU too."
    # the bot's own messages, echoed by Discord in its thread, were not answered
    assert len(openai_stub.chat_requests) == 2


async def test_a_long_answer_is_split_at_2000_characters_with_code_blocks_intact(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI, discord_api: StubDiscord
) -> None:
    stub = discord_api
    code = [f"    print('line {i:02}')  # {'x' * 40}" for i in range(70)]
    answer = "\n".join(
        ["Here is the script:", "", "```python", "def main():", *code, "```", "", "Run it. " * 90]
    )
    openai_stub.reply(answer)
    async with serving(gpts, tmp_path / "home", deployment()):
        asked = stub.dispatch("MESSAGE_CREATE", stub.message_create("a script?", dm=True))
        dm = int(asked["channel_id"])
        await stub.wait_until_async(answered(stub, dm))
    parts = [m["content"] for m in by_bot(stub, dm)]
    assert len(parts) == 3 and all(len(p) <= 2000 for p in parts)
    for part in parts:  # every part opens and closes its code blocks
        assert sum(1 for line in part.split("\n") if line.startswith("```")) % 2 == 0
    assert parts[1].startswith("```python\n")  # the block continues, with its language
    lines = [ln for p in parts for ln in p.split("\n") if not ln.startswith("```")]
    assert lines == [ln for ln in answer.split("\n") if not ln.startswith("```")]
    assert [bool(m["components"]) for m in by_bot(stub, dm)] == [False, False, True]
    assert all(
        "message_reference" not in c.body for c in stub.calls("POST", "/channels/*/messages")
    )


async def test_a_model_failure_mid_stream_is_marked_and_the_bot_stays_up(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI, discord_api: StubDiscord
) -> None:
    stub = discord_api
    openai_stub.reply("one two three four five six", "still here")
    openai_stub.fault("cut", after=3)
    async with serving(gpts, tmp_path / "home", deployment({"open_threads": False})):
        stub.dispatch("MESSAGE_CREATE", stub.message_create("count", mention_bot=True))
        (failed,) = await stub.wait_until_async(said(stub, "⚠ the answer failed part-way"))
        stub.dispatch("MESSAGE_CREATE", stub.message_create("again", mention_bot=True))
        (fine,) = await stub.wait_until_async(answered(stub))
    assert failed["content"].startswith("one two three\n\n⚠ the answer failed part-way: ")
    assert failed["components"] == []  # a failed answer cannot be rated
    assert fine["content"] == "still here"


async def test_bots_the_bot_itself_and_unaddressed_messages_are_ignored(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI, discord_api: StubDiscord
) -> None:
    stub = discord_api
    async with serving(gpts, tmp_path / "home", deployment()):
        for ignored in (
            stub.message_create("hello bot", mention_bot=True, author_bot=True),
            stub.message_create("talking to myself", mention_bot=True, author=stub.bot_user),
            stub.message_create("just chatting among humans"),
        ):
            stub.dispatch("MESSAGE_CREATE", ignored)
        # events are handled in order: once this one is answered, the others were seen
        asked = stub.dispatch("MESSAGE_CREATE", stub.message_create("are you there?", dm=True))
        await stub.wait_until_async(answered(stub, int(asked["channel_id"])))
    assert [user_turn(openai_stub, i) for i in range(len(openai_stub.chat_requests))] == [
        "are you there?"
    ]
    assert stub.calls("POST", "/channels/*/messages/*/threads") == []


async def test_in_a_thread_people_started_the_bot_answers_once_mentioned(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI, discord_api: StubDiscord
) -> None:
    stub = discord_api
    write_gpt(gpts, "planner", model=stub_model(openai_stub), instructions="You plan things.")
    routed = {"channels": {str(stub.channel_id): "planner"}}  # the parent channel's GPT
    async with serving(gpts, tmp_path / "home", deployment(routed)):
        theirs = payloads.thread(
            stub.ids(), stub.guild_id, stub.channel_id, int(stub.user["id"]), "plans"
        )
        stub.dispatch("THREAD_CREATE", {**theirs, "newly_created": True})
        thread = int(theirs["id"])
        stub.dispatch("MESSAGE_CREATE", stub.message_create("among us", channel_id=thread))
        stub.dispatch(
            "MESSAGE_CREATE", stub.message_create("what now?", channel_id=thread, mention_bot=True)
        )
        await stub.wait_until_async(answered(stub, thread))
        stub.dispatch("MESSAGE_CREATE", stub.message_create("and then?", channel_id=thread))
        await stub.wait_until_async(answered(stub, thread, 2))
    assert [m["content"] for m in by_bot(stub, thread)] == ["echo: what now?", "echo: and then?"]
    assert stub.calls("POST", "/channels/*/messages/*/threads") == []  # no thread in a thread
    assert [r.body["messages"][0]["content"] for r in openai_stub.chat_requests] == [
        "You plan things."
    ] * 2  # the GPT routed for the thread's channel answered
    assert "echo: what now?" in [
        m["content"] for m in openai_stub.chat_requests[1].body["messages"]
    ]


async def test_a_replayed_delivery_is_answered_once(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI, discord_api: StubDiscord
) -> None:
    stub = discord_api
    openai_stub.reply("first", "second")
    async with serving(gpts, tmp_path / "home", deployment({"open_threads": False})):
        asked = stub.message_create("once", mention_bot=True)
        stub.dispatch("MESSAGE_CREATE", asked)
        stub.dispatch("MESSAGE_CREATE", asked)  # the same message id again
        stub.dispatch("MESSAGE_CREATE", stub.message_create("twice", mention_bot=True))
        await stub.wait_until_async(answered(stub, count=2))
    assert [m["content"] for m in by_bot(stub)] == ["first", "second"]
    assert [user_turn(openai_stub, i) for i in (0, 1)] == ["once", "twice"]


async def test_reconnects_and_rate_limits_lose_no_message(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI, discord_api: StubDiscord
) -> None:
    stub = discord_api
    stub.fault("rate_limit", method="POST", path="/channels/*/messages", retry_after=0.2)
    async with serving(gpts, tmp_path / "home", deployment({"open_threads": False})):
        assert stub.drop_connection() == 1
        stub.dispatch("MESSAGE_CREATE", stub.message_create("while away", mention_bot=True))
        await stub.wait_resumed_async()  # discord.py resumed; the stub replayed the message
        (reply,) = await stub.wait_until_async(answered(stub))
    assert reply["content"] == "echo: while away"
    first, retried = stub.calls("POST", f"/channels/{stub.channel_id}/messages")
    assert first.body["content"] == retried.body["content"]  # a 429, waited out and retried
    assert len(by_bot(stub)) == 1 and len(openai_stub.chat_requests) == 1


async def test_replies_in_flight_finish_when_the_server_stops(
    gpts: Path,
    tmp_path: Path,
    openai_stub: StubOpenAI,
    discord_api: StubDiscord,
    fast_edits: None,
) -> None:
    stub = discord_api
    openai_stub.reply("one two three four five")
    openai_stub.chunk_delay = 0.1
    async with serving(gpts, tmp_path / "home", deployment({"open_threads": False})) as served:
        stub.dispatch("MESSAGE_CREATE", stub.message_create("count", mention_bot=True))
        await stub.wait_call_async("POST", f"/channels/{stub.channel_id}/messages")
        served.stop.set()  # SIGTERM, as the runner sees it
    (reply,) = by_bot(stub)
    assert reply["content"] == "one two three four five" and reply["components"]
    assert stub.gateway.client_closes  # then the client closed the gateway


# -- the deployment file's rules -------------------------------------------------------------
async def test_access_rules_by_channel_and_role_never_reach_the_model(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI, discord_api: StubDiscord
) -> None:
    stub = discord_api
    random = next(c for c, data in stub.channels.items() if data.get("name") == "random")
    admins = stub.ids()
    stub.guilds[stub.guild_id]["roles"].append(payloads.role(admins, "admins", 0, position=2))
    bob = stub.add_user("bob")
    stub.members[stub.guild_id][int(bob["id"])]["roles"] = [str(admins)]
    rules = [
        {"gpts": ["echo"], "channels": [str(random)]},
        {"gpts": ["secret"], "roles": ["admins"]},
    ]
    spec = deployment({"open_threads": False}, access={"rules": rules})
    async with serving(gpts, tmp_path / "home", spec):
        stub.dispatch("MESSAGE_CREATE", stub.message_create("hi", mention_bot=True))
        (refused,) = await stub.wait_until_async(said(stub, "you may not use"))
        denied = stub.slash_command_interaction("gpt", {"name": "secret", "message": "hi"})
        stub.dispatch("INTERACTION_CREATE", denied)
        await stub.wait_call_async("POST", "/interactions/*/*/callback")
        assert openai_stub.chat_requests == []  # the model was never asked
        stub.dispatch(
            "MESSAGE_CREATE", stub.message_create("hi", mention_bot=True, channel_id=random)
        )
        await stub.wait_until_async(answered(stub, random))
        allowed = stub.slash_command_interaction(
            "gpt", {"name": "secret", "message": "x"}, user=bob
        )
        stub.dispatch("INTERACTION_CREATE", allowed)
        await stub.wait_until_async(
            lambda: (
                stub.message(stub.interactions[int(allowed["id"])].original_id or 0) or {}
            ).get("components")
        )
    assert refused["content"] == "you may not use GPT 'echo' here: ask the bot's owner for access"
    assert refused["message_reference"]["message_id"]  # a reply to the message refused
    no, yes = callbacks(stub)
    assert no["type"] == 4 and no["data"]["flags"] == EPHEMERAL  # at once, to bob alone
    assert (
        no["data"]["content"] == "you may not use GPT 'secret' here: ask the bot's owner for access"
    )
    assert yes["type"] == 5  # bob has the role: deferred, then answered
    assert [user_turn(openai_stub, i) for i in (0, 1)] == ["hi", "x"]


async def test_a_rate_limited_user_is_told_how_long_to_wait(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI, discord_api: StubDiscord
) -> None:
    stub = discord_api
    limited = deployment({"open_threads": False}, rate_limit={"per_minute": 1, "burst": 1})
    async with serving(gpts, tmp_path / "home", limited):
        stub.dispatch("MESSAGE_CREATE", stub.message_create("one", mention_bot=True))
        await stub.wait_until_async(answered(stub))
        stub.dispatch("MESSAGE_CREATE", stub.message_create("two", mention_bot=True))
        (wait,) = await stub.wait_until_async(said(stub, "wait"))
    assert wait["content"] == "too many messages: wait 60 s before sending another"
    assert len(openai_stub.chat_requests) == 1


async def test_bad_input_gets_a_short_useful_reply(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI, discord_api: StubDiscord
) -> None:
    stub = discord_api
    spec = deployment({"open_threads": False}, max_input_chars=100)
    async with serving(gpts, tmp_path / "home", spec):
        stub.dispatch("MESSAGE_CREATE", stub.message_create("", mention_bot=True))
        await stub.wait_until_async(said(stub, "Ask me something"))
        photo = stub.message_create("", mention_bot=True, attachments=[("cat.png", b"\x89PNG")])
        stub.dispatch("MESSAGE_CREATE", photo)
        await stub.wait_until_async(said(stub, "I can only read text files"))
        stub.dispatch("MESSAGE_CREATE", stub.message_create("x" * 150, mention_bot=True))
        await stub.wait_until_async(said(stub, "too long"))
        notes = [("notes.md", b"# Notes\n\nThe launch is on Friday.")]
        stub.dispatch(
            "MESSAGE_CREATE", stub.message_create("", mention_bot=True, attachments=notes)
        )
        (read,) = await stub.wait_until_async(answered(stub))
        for options in (
            {"name": "nosuch", "message": "hi"},
            {"name": "echo", "message": "y" * 6001},
        ):
            stub.dispatch("INTERACTION_CREATE", stub.slash_command_interaction("gpt", options))
        await stub.wait_call_async("POST", "/interactions/*/*/callback", count=2)
    replies = [m["content"] for m in by_bot(stub)]
    assert replies[:3] == [
        "Ask me something: write your question after the mention.",
        "I can only read text files (.txt, .md, .csv, .json, code; up to 256 KB), and not cat.png: "
        "write your question, or attach it as a text file.",
        "the message is too long (150 characters; at most 100 here): shorten it",
    ]
    assert "The launch is on Friday." in user_turn(openai_stub)  # answered from the file
    assert read["content"].startswith('echo: <attachment name="notes.md">')
    unknown, too_long = (c["data"] for c in callbacks(stub))
    assert unknown["flags"] == too_long["flags"] == EPHEMERAL
    assert unknown["content"] == "no GPT named 'nosuch'; available: echo, secret"
    assert too_long["content"] == "message is too long: Discord allows 6,000 characters"
    assert len(openai_stub.chat_requests) == 1


# -- slash commands ------------------------------------------------------------------------------
PICK_PLUGIN = """
import botkit
from botkit.tasks import Command, TaskPlugin, TaskResult


class Picked(TaskResult):
    colour: str
    about: str
    confidence: float


class PickTask(TaskPlugin):
    name = "pick"
    commands = (
        Command("pick", "<colour> <text>", "Pick a colour",
                choices={"colour": tuple(f"colour-{i}" for i in range(40))}),
        Command("mood", "<mood> [note]", "Set a mood", choices={"mood": ("happy", "sad")}),
    )

    async def run(self, request):
        colour, _, about = request.text.partition(" ")
        return Picked(colour=colour, about=about, confidence=0.93)


@botkit.hookimpl
def register_tasks(register):
    register("pick", PickTask)
"""


async def test_slash_translate_is_deferred_at_once_then_answered(
    gpts: Path,
    tmp_path: Path,
    openai_stub: StubOpenAI,
    discord_api: StubDiscord,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stub = discord_api
    monkeypatch.setenv("BOTKIT_DISCORD_GUILD", str(stub.guild_id))
    openai_stub.reply("Bonjour à tous")
    async with serving(gpts, tmp_path / "home", deployment()):
        synced = {c["name"] for c in stub.synced_commands(stub.guild_id)}
        event = stub.slash_command_interaction(
            "translate", {"language": "French", "text": "Hello everyone"}
        )
        stub.dispatch("INTERACTION_CREATE", event)
        interaction = stub.interactions[int(event["id"])]
        await stub.wait_until_async(
            lambda: (stub.message(interaction.original_id or 0) or {}).get("components")
        )
        private = stub.slash_command_interaction("gpt", {"name": "echo", "message": "hi"}, dm=True)
        stub.dispatch("INTERACTION_CREATE", private)
        in_dm = stub.interactions[int(private["id"])]
        await stub.wait_until_async(
            lambda: (stub.message(in_dm.original_id or 0) or {}).get("components")
        )
    assert (stub.message(in_dm.original_id or 0) or {})["content"] == "echo: hi"  # in a DM too
    assert {"gpt", "translate", "classify", "sentiment", "ask"} <= synced
    assert stub.synced_commands() == []  # a development guild: nothing global
    assert interaction.callback_type == 5  # deferred (the stub refuses it after 3 s)
    original = stub.message(interaction.original_id or 0) or {}
    assert original["content"] == "Bonjour à tous"
    edits = stub.calls(
        "PATCH", f"/webhooks/{stub.application_id}/{event['token']}/messages/@original"
    )
    (whole,) = edits  # ready at once: posted whole, with its 👍/👎, in one call
    assert whole.body["content"] == "Bonjour à tous" and whole.body["components"]
    system, user = (m["content"] for m in openai_stub.chat_requests[0].body["messages"])
    assert len(openai_stub.chat_requests) == 2
    assert "into French" in system and user == "Hello everyone"


async def test_task_results_are_embeds_and_choices_are_offered(
    gpts: Path,
    tmp_path: Path,
    openai_stub: StubOpenAI,
    discord_api: StubDiscord,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stub = discord_api
    monkeypatch.setenv("BOTKIT_DISCORD_GUILD", str(stub.guild_id))
    plugins = tmp_path / "plugins"  # the project's own plugins folder
    plugins.mkdir()
    (plugins / "pick.py").write_text(PICK_PLUGIN)
    spec = deployment(access={"rules": [{"gpts": ["secret"], "users": ["nobody"]}]})
    async with serving(gpts, tmp_path / "home", spec):
        commands = {c["name"]: c for c in stub.synced_commands(stub.guild_id)}
        for typed, focus in (({"name": "e"}, "name"), ({"colour": "colour-1"}, "colour")):
            stub.dispatch(
                "INTERACTION_CREATE",
                stub.autocomplete_interaction(
                    commands["gpt" if focus == "name" else "pick"]["name"], typed, focus
                ),
            )
        await stub.wait_call_async("POST", "/interactions/*/*/callback", count=2)
        event = stub.slash_command_interaction("pick", {"colour": "colour-7", "text": "the sea"})
        stub.dispatch("INTERACTION_CREATE", event)
        interaction = stub.interactions[int(event["id"])]
        await stub.wait_until_async(
            lambda: (stub.message(interaction.original_id or 0) or {}).get("components")
        )
    pick, mood = (commands[n]["options"] for n in ("pick", "mood"))
    assert [(o["name"], o.get("required", False)) for o in pick] == [
        ("colour", True),
        ("text", True),
        ("gpt", False),
    ]
    assert pick[0]["autocomplete"] and "choices" not in pick[0]  # 40 values: autocomplete
    assert [c["value"] for c in mood[0]["choices"]] == ["happy", "sad"]  # a few: choices
    assert mood[1]["name"] == "note" and not mood[1].get("required")
    gpts_offered, colours = (c["data"]["choices"] for c in callbacks(stub)[:2])
    assert gpts_offered == [{"name": "echo — echoes", "value": "echo"}]  # not 'secret'
    assert [c["value"] for c in colours][:3] == ["colour-1", "colour-10", "colour-11"]
    assert len(colours) == 11
    result = stub.message(interaction.original_id or 0) or {}
    (embed,) = result["embeds"]
    assert embed["title"] == "colour: colour-7, about: the sea, confidence: 0.93"
    assert {f["name"]: f["value"] for f in embed["fields"]} == {
        "colour": "colour-7",
        "about": "the sea",
        "confidence": "0.93",
    }
    assert embed["footer"]["text"] == "botkit · pick"
    assert openai_stub.chat_requests == []  # the task answered without the model


async def test_a_thumbs_up_is_stored_as_feedback(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI, discord_api: StubDiscord
) -> None:
    stub = discord_api
    home = tmp_path / "home"
    async with serving(gpts, home, deployment({"open_threads": False})):
        stub.dispatch("MESSAGE_CREATE", stub.message_create("how are you?", mention_bot=True))
        (answer,) = await stub.wait_until_async(answered(stub))
        assert len(stub.calls("POST", "/channels/*/messages")) == 1  # posted whole, once
        assert stub.calls("PATCH") == [] and stub.calls("POST", "/channels/*/typing") == []
        up, _ = custom_ids(answer)
        stub.dispatch("INTERACTION_CREATE", stub.component_interaction(up))
        await stub.wait_call_async("POST", "/interactions/*/*/callback")
        stale = stub.create_message(stub.channel_id, {"content": "old", "components": [
            {"type": 1, "components": [
                {"type": 2, "style": 2, "custom_id": "botkit:rate:down:0123456789ab", "label": "x"}
            ]}
        ]}, [])  # fmt: skip
        click = stub.component_interaction("botkit:rate:down:0123456789ab")
        assert int(click["message"]["id"]) == int(stale["id"])
        stub.dispatch("INTERACTION_CREATE", click)
        await stub.wait_call_async("POST", "/interactions/*/*/callback", count=2)
    marked, unknown = callbacks(stub)
    assert marked["type"] == 7  # the click acknowledged by updating the message
    styles = [c["style"] for c in marked["data"]["components"][0]["components"]]
    assert styles == [3, 2]  # 👍 shown chosen
    assert unknown["type"] == 4 and unknown["data"]["flags"] == EPHEMERAL
    assert unknown["data"]["content"] == "This answer can no longer be rated."
    with sqlite3.connect(home / "feedback.sqlite3") as db:
        rows = db.execute("SELECT rating, rated_by, question, answer, surface FROM exchanges")
        assert rows.fetchall() == [
            ("up", stub.user["id"], "how are you?", "echo: how are you?", "discord")
        ]


# -- the command tree ------------------------------------------------------------------------
class _Many(TaskPlugin):
    name = "many"
    description = "d" * 300
    commands = (
        *(Command(f"cmd{i:03}", "<style> <text>", "h" * 150, {"style": ("a", "b")}) for i in range(120)),
        Command("Not Valid!", "<text>"),
        Command("a-many-inputs", " ".join(f"<w{i}>" for i in range(40))),
    )  # fmt: skip

    async def run(self, request: TaskRequest) -> TaskResult:
        raise NotImplementedError


def _check_rules(tree: list[dict[str, Any]]) -> None:
    """Discord's rules for chat-input commands, as documented."""
    assert len(tree) <= 100
    for command in tree:
        assert NAME.match(command["name"]) and 1 <= len(command["description"]) <= 100
        options = command.get("options", [])
        assert len(options) <= 25
        required = [o.get("required", False) for o in options]
        assert required == sorted(required, reverse=True)  # required ones first
        for option in options:
            assert NAME.match(option["name"]) and 1 <= len(option["description"]) <= 100
            assert len(option.get("choices", [])) <= 25
            assert not (option.get("choices") and option.get("autocomplete"))
            assert option.get("max_length", 0) <= MAX_OPTION_TEXT
    assert payloads.check_commands(tree) is None  # and as the stub checks them


def test_the_command_tree_follows_discords_rules() -> None:
    from botkit.plugins import load_registry

    registry = load_registry()
    tree = build_tree(registry.tasks, registry.commands, 8000)
    _check_rules(tree.payload)
    names = [c["name"] for c in tree.payload]
    assert names[0] == "gpt" and {"translate", "classify", "sentiment", "ask"} <= set(names)
    assert tree.commands["translate"].inputs == ("language", "text")
    many = {"many": _Many}
    commands = {c.name.lower(): "many" for c in _Many.commands}
    big = build_tree(many, commands, 500)
    _check_rules(big.payload)
    assert len(big.payload) == 100 and "not valid!" not in big.commands
    options = {c["name"]: c["options"] for c in big.payload}
    assert len(options["a-many-inputs"]) == 25 and options["a-many-inputs"][-1]["name"] == "gpt"
    assert options["cmd000"][1]["max_length"] == 500  # the deployment's max_input_chars
    assert len(next(c for c in big.payload if c["name"] == "cmd000")["description"]) == 100


async def test_commands_are_synced_only_when_they_changed(
    gpts: Path,
    tmp_path: Path,
    openai_stub: StubOpenAI,
    discord_api: StubDiscord,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stub = discord_api
    monkeypatch.setenv("BOTKIT_DISCORD_GUILD", str(stub.guild_id))
    path = f"/applications/{stub.application_id}/guilds/{stub.guild_id}/commands"
    for spec in (deployment(), deployment(), deployment(max_input_chars=500)):
        async with serving(gpts, tmp_path / "home", spec):
            pass
    assert len(stub.calls("GET", path)) == 3
    assert len(stub.calls("PUT", path)) == 2  # the second start changed nothing
    message = stub.synced_commands(stub.guild_id)[0]["options"][1]
    assert message["max_length"] == 500


# -- starting ------------------------------------------------------------------------------------
async def _start(config_dir: Path, home: Path, **discord_settings: Any) -> DiscordSurfaceRunner:
    spec = parse_bot(yaml.safe_dump(deployment(discord_settings)), "team.yaml")
    context = build_context(Settings(config_dir, home), spec)
    surface = DiscordSurfaceRunner(spec.surfaces.discord, context)
    try:
        await surface.start()
    finally:
        await context.bot.aclose()
    return surface


async def test_a_missing_token_stops_the_start_naming_the_variable(
    gpts: Path,
    tmp_path: Path,
    discord_api: StubDiscord,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("DISCORD_TOKEN")
    with pytest.raises(SurfaceError) as missing:
        await _start(gpts, tmp_path / "home")
    assert str(missing.value).startswith("$DISCORD_TOKEN is not set: create a bot in the Discord")
    assert "Bot -> Reset Token" in str(missing.value)
    spec = parse_bot(yaml.safe_dump(deployment({"token_env": "TEAM_DISCORD"})), "team.yaml")
    options = ServeOptions(only=("discord",), port=0)
    assert await serve(Settings(gpts, tmp_path / "home"), spec, options) == 1
    assert "surface discord failed to start: $TEAM_DISCORD is not set" in caplog.text
    assert discord_api.calls() == []  # nothing was asked of Discord


async def test_a_refused_token_and_a_missing_intent_say_what_to_change(
    gpts: Path, tmp_path: Path, discord_api: StubDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "not-the-token")
    with pytest.raises(SurfaceError, match=r"Discord refused the token in \$DISCORD_TOKEN"):
        await _start(gpts, tmp_path / "home")
    with StubDiscord(portal_intents=0) as portal, route_discord_py(portal):
        monkeypatch.setenv("DISCORD_TOKEN", portal.token)
        with pytest.raises(SurfaceError) as intents:
            await _start(gpts, tmp_path / "home")
    assert "enable the Message Content Intent in the Developer Portal" in str(intents.value)
    assert "Bot -> Privileged Gateway Intents -> Message Content Intent" in str(intents.value)
    assert portal.gateway.closes == [4014]


async def test_auto_sharded_when_configured(
    gpts: Path,
    tmp_path: Path,
    openai_stub: StubOpenAI,
    discord_api: StubDiscord,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stub = discord_api
    stub.shards = 2

    async def no_identify_wait(self: Any, shard_id: Any, *, initial: bool = False) -> None:
        """discord.py waits 5 s between shards' IDENTIFYs (Discord's limit); the stub has none."""

    monkeypatch.setattr(discord.AutoShardedClient, "before_identify_hook", no_identify_wait)
    async with serving(gpts, tmp_path / "home", deployment({"sharded": True})) as served:
        assert isinstance(served.surface.client, discord.AutoShardedClient)
        stub.dispatch("MESSAGE_CREATE", stub.message_create("hi", mention_bot=True, dm=True))
        await stub.wait_until_async(lambda: answered(stub, _dm(stub))())
    assert sorted(tuple(i["shard"]) for i in stub.gateway.identifies) == [(0, 2), (1, 2)]


def _dm(stub: StubDiscord) -> int:
    return int(stub.dm_channel(stub.user)["id"])
