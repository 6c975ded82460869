"""StubDiscord driven by the real discord.py: login, gateway, messages, interactions, faults."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from botkit.testing import StubDiscord, route_discord_py
from botkit.testing import discord_payloads as payloads

discord = pytest.importorskip("discord")
from discord import app_commands  # noqa: E402


@pytest.fixture
def stub() -> Iterator[StubDiscord]:
    with StubDiscord(heartbeat_interval=0.5) as running, route_discord_py(running):
        yield running
    assert not running.errors  # the stub's own handlers never failed


def message_intents() -> Any:
    intents = discord.Intents.default()
    intents.message_content = True
    return intents


@asynccontextmanager
async def online(client: Any, stub: StubDiscord) -> AsyncIterator[Any]:
    """Log ``client`` in, connect it in the background, wait for on_ready; close it after."""
    await client.login(stub.token)
    connecting = asyncio.create_task(client.connect())
    ready = asyncio.create_task(client.wait_until_ready())
    done, _ = await asyncio.wait({connecting, ready}, timeout=10, return_when="FIRST_COMPLETED")
    if connecting in done:
        ready.cancel()
        connecting.result()  # raises what stopped the connection
    assert ready in done, "the client never got ready"
    try:
        yield client
    finally:
        await client.close()
        await asyncio.wait_for(connecting, 10)


def new_client(**options: Any) -> Any:
    options.setdefault("intents", message_intents())
    return discord.Client(guild_ready_timeout=0.05, **options)


async def test_login_identify_ready_and_guild_create(stub: StubDiscord) -> None:
    client = new_client()
    async with online(client, stub):
        identify = await stub.wait_identified_async()
        assert identify["intents"] == message_intents().value
        assert client.user.id == stub.bot_id and client.application_id == stub.application_id
        assert client.application_flags.gateway_message_content_limited
        guild = client.get_guild(stub.guild_id)
        assert guild is not None and guild.me is not None
        assert {c.name for c in guild.text_channels} == {"general", "random"}
        assert guild.me.guild_permissions.create_public_threads
        await stub.wait_until_async(lambda: stub.gateway.heartbeats >= 1, what="a heartbeat")
    me = stub.calls("GET", "/users/@me")[0]
    assert me.headers["Authorization"] == f"Bot {stub.token}"
    assert stub.calls("GET", "/oauth2/applications/@me")
    assert stub.gateway.received[0]["op"] == 1  # discord.py beats at once on HELLO
    path, query = stub.gateway.connects[0]
    assert path == "/gateway" and query["v"] == "10" and query["encoding"] == "json"
    assert query["compress"] == "zlib-stream"  # the stub answers in zlib-stream binary frames
    # discord.py 2.7 asks for 1000 but aiohttp sends the 4000 of its reading task: resumable
    await stub.wait_until_async(lambda: stub.gateway.client_closes, what="the client's close")


async def test_message_create_is_answered(stub: StubDiscord) -> None:
    client = new_client()
    seen: list[Any] = []
    replied, echoed = asyncio.Event(), asyncio.Event()

    @client.event
    async def on_message(message: Any) -> None:
        seen.append(message)
        if message.author.id == client.user.id:
            echoed.set()
        elif client.user.mentioned_in(message):
            await message.reply(f"pong: {message.clean_content}")
            replied.set()

    async with online(client, stub):
        sent = stub.dispatch("MESSAGE_CREATE", stub.message_create("ping", mention_bot=True))
        call = await stub.wait_call_async("POST", f"/channels/{stub.channel_id}/messages")
        await asyncio.wait_for(replied.wait(), 5)
        await asyncio.wait_for(echoed.wait(), 5)
    assert call.body["content"] == "pong: @botkit ping"
    assert call.body["message_reference"]["message_id"] == int(sent["id"])
    history = stub.messages(stub.channel_id)
    assert [m["content"] for m in history] == [sent["content"], "pong: @botkit ping"]
    assert history[1]["type"] == 19 and history[1]["referenced_message"]["id"] == sent["id"]
    assert seen[1].author.id == stub.bot_id  # Discord echoes the bot's own messages


async def test_dm_and_thread_messages(stub: StubDiscord) -> None:
    client = new_client()
    channels: list[Any] = []
    threads: list[Any] = []
    answered = asyncio.Queue[None]()
    cached = asyncio.Event()

    @client.event
    async def on_thread_create(thread: Any) -> None:
        cached.set()

    @client.event
    async def on_message(message: Any) -> None:
        if message.author.bot:
            return
        channels.append(message.channel)
        if isinstance(message.channel, discord.DMChannel):
            await message.channel.send("dm answer")
        else:
            threads.append(await message.create_thread(name="talk"))
            await threads[0].send("in the thread")
        answered.put_nowait(None)

    async with online(client, stub):
        stub.dispatch("MESSAGE_CREATE", stub.message_create("hello", dm=True))
        await asyncio.wait_for(answered.get(), 5)
        stub.dispatch("MESSAGE_CREATE", stub.message_create("start a thread"))
        await asyncio.wait_for(answered.get(), 5)
        # THREAD_CREATE, which Discord sends the bot too, puts the thread in discord.py's cache
        await asyncio.wait_for(cached.wait(), 5)
        assert client.get_channel(threads[0].id) is not None
    dm, posted = stub.calls("POST", "/channels/*/messages")
    (thread_call,) = stub.calls("POST", "/channels/*/messages/*/threads")
    thread = threads[0]
    assert isinstance(channels[0], discord.DMChannel)
    assert isinstance(thread, discord.Thread) and thread.parent_id == stub.channel_id
    assert dm.body["content"] == "dm answer"
    assert thread_call.body["name"] == "talk"
    assert posted.path == f"/api/v10/channels/{thread.id}/messages"
    assert [m["content"] for m in stub.messages(thread.id)] == ["in the thread"]
    assert stub.messages()[0]["thread"]["id"] == str(thread.id)


async def test_reactions_history_typing_and_dm(stub: StubDiscord) -> None:
    client = new_client()
    async with online(client, stub):
        for text in ("one", "two", "three"):
            stub.dispatch("MESSAGE_CREATE", stub.message_create(text))
        channel = client.get_channel(stub.channel_id)
        newest = [m.content async for m in channel.history(limit=2)]
        oldest = [m.content async for m in channel.history(limit=10, oldest_first=True)]
        message = await channel.fetch_message(int(stub.messages()[0]["id"]))
        reacted = asyncio.ensure_future(client.wait_for("raw_reaction_add", timeout=5))
        async with channel.typing():
            await message.add_reaction("\N{THUMBS UP SIGN}")
            await message.add_reaction("<:gpt:1234>")
        await message.remove_reaction("<:gpt:1234>", client.user)
        user = await client.fetch_user(int(stub.user["id"]))
        dm = await user.send("hello in private")
        reaction = await reacted
    assert newest == ["three", "two"] and oldest == ["one", "two", "three"]
    first = stub.messages()[0]["id"]
    assert [m["content"] for m in stub.messages(after=first)] == ["two", "three"]
    assert stub.messages(after=stub.messages()[-1]["id"]) == []
    assert stub.calls("POST", "/channels/*/typing")
    assert stub.calls(
        "PUT", "/channels/*/messages/*/reactions/:gpt:1234/@me"
    )  # discord.py strips <>
    reactions = stub.message(message.id)["reactions"]
    assert [(r["emoji"]["name"], r["count"], r["me"]) for r in reactions] == [
        ("\N{THUMBS UP SIGN}", 1, True)
    ]
    assert reaction.user_id == stub.bot_id and reaction.emoji.name == "\N{THUMBS UP SIGN}"
    assert stub.message(dm.id)["content"] == "hello in private"
    assert stub.channels[dm.channel.id]["recipients"][0]["id"] == stub.user["id"]


async def test_slash_command_defer_followup_edit_and_sync(stub: StubDiscord) -> None:
    client = new_client()
    tree = app_commands.CommandTree(client)
    guild = discord.Object(stub.guild_id)
    done = asyncio.Event()

    @tree.command(name="ask", description="Ask the GPT", guild=guild)
    @app_commands.describe(question="What to ask")
    async def ask(interaction: Any, question: str) -> None:
        await interaction.response.defer(thinking=True)
        followup = await interaction.followup.send(f"thinking about {question}", wait=True)
        await followup.edit(content="42")
        await interaction.edit_original_response(content="done")
        done.set()

    async with online(client, stub):
        await tree.sync(guild=guild)
        synced = stub.synced_commands(stub.guild_id)
        assert [c["name"] for c in synced] == ["ask"]
        assert synced[0]["options"][0]["description"] == "What to ask"
        event = stub.slash_command_interaction("ask", {"question": "life"})
        assert event["data"]["guild_id"] == str(stub.guild_id)  # found among synced commands
        stub.dispatch("INTERACTION_CREATE", event)
        await asyncio.wait_for(done.wait(), 5)
    interaction = stub.interactions[int(event["id"])]
    assert interaction.callback_type == 5
    post = stub.calls("POST", f"/webhooks/{stub.application_id}/{event['token']}")
    assert post[0].body["content"] == "thinking about life"
    (followup_id,) = interaction.followup_ids
    assert stub.message(followup_id)["content"] == "42"
    original = stub.message(interaction.original_id or 0)
    assert original["content"] == "done" and not original["flags"] & payloads.FLAG_LOADING
    assert stub.calls("PATCH", "/webhooks/*/*/messages/@original")


def canonical(value: Any) -> Any:
    """A command's JSON without ids and empty or default values: what the user defined."""
    if isinstance(value, dict):
        # dm_permission (deprecated, true by default) is sent by discord.py, not read back
        skip = {"id", "application_id", "version", "guild_id", "dm_permission"}
        kept = {k: canonical(v) for k, v in value.items() if k not in skip}
        return {k: v for k, v in kept.items() if v not in (None, False, [], {})}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


async def sync_if_changed(tree: Any, guild: Any) -> bool:
    """Sync ``guild``'s commands only when Discord's copy differs; whether it synced."""
    local = sorted((canonical(c.to_dict(tree)) for c in tree.get_commands(guild=guild)), key=str)
    remote = sorted(
        (canonical(c.to_dict()) for c in await tree.fetch_commands(guild=guild)), key=str
    )
    if local == remote:
        return False
    await tree.sync(guild=guild)
    return True


async def test_second_sync_is_skipped_when_nothing_changed(stub: StubDiscord) -> None:
    client = new_client()
    tree = app_commands.CommandTree(client)
    guild = discord.Object(stub.guild_id)

    @tree.command(name="translate", description="Translate text", guild=guild)
    @app_commands.choices(lang=[app_commands.Choice(name="French", value="fr")])
    async def translate(interaction: Any, text: str, lang: str | None = None) -> None:
        await interaction.response.send_message(text)

    async with online(client, stub):
        assert await sync_if_changed(tree, guild)
        assert not await sync_if_changed(tree, guild)
        translate.description = "Translate any text"
        assert await sync_if_changed(tree, guild)
    puts = stub.calls("PUT", f"/applications/{stub.application_id}/guilds/*/commands")
    assert len(puts) == 2
    assert stub.synced_commands(stub.guild_id)[0]["description"] == "Translate any text"


async def test_invalid_commands_are_refused_as_discord_does(stub: StubDiscord) -> None:
    client = new_client()
    tree = app_commands.CommandTree(client)

    @tree.command(name="long", description="x" * 101)  # discord.py does not check this
    async def long(interaction: Any) -> None: ...

    async with online(client, stub):
        with pytest.raises(app_commands.CommandSyncFailure) as failure:
            await tree.sync()
    assert failure.value.code == 50035
    assert stub.synced_commands() == []


async def test_buttons_autocomplete_and_interaction_errors(stub: StubDiscord) -> None:
    stub.interaction_timeout = 0.5
    client = new_client()
    tree = app_commands.CommandTree(client)
    clicked: list[str] = []
    errors: list[Exception] = []
    too_late = asyncio.Event()

    class Approve(discord.ui.View):
        def __init__(self) -> None:
            super().__init__(timeout=None)  # persistent: survives restarts with its custom_id

        @discord.ui.button(label="Approve", custom_id="gpt:approve")
        async def approve(self, interaction: Any, button: Any) -> None:
            clicked.append(button.custom_id)
            await interaction.response.edit_message(content="approved", view=None)

    async def languages(interaction: Any, current: str) -> list[Any]:
        return [app_commands.Choice(name=x, value=x) for x in ("fr", "de") if x.startswith(current)]

    @tree.command(name="slow", description="Answers too late")
    @app_commands.autocomplete(lang=languages)
    async def slow(interaction: Any, lang: str = "fr") -> None:
        await asyncio.sleep(0.7)
        try:
            await interaction.response.defer()
        except discord.HTTPException as error:
            errors.append(error)
        too_late.set()

    async with online(client, stub):
        client.add_view(Approve())
        channel = client.get_channel(stub.channel_id)
        message = await channel.send("Approve?", view=Approve())
        stub.dispatch("INTERACTION_CREATE", stub.component_interaction("gpt:approve"))
        await stub.wait_call_async("POST", "/interactions/*/*/callback")
        await tree.sync()
        stub.dispatch(
            "INTERACTION_CREATE", stub.autocomplete_interaction("slow", {"lang": "d"}, "lang")
        )
        await stub.wait_call_async("POST", "/interactions/*/*/callback", count=2)
        stub.dispatch("INTERACTION_CREATE", stub.slash_command_interaction("slow"))
        await asyncio.wait_for(too_late.wait(), 5)
    button, complete, late = stub.calls("POST", "/interactions/*/*/callback")
    assert late.body["type"] == 5  # refused: sent after interaction_timeout
    assert clicked == ["gpt:approve"]
    assert button.body["type"] == 7 and stub.message(message.id)["content"] == "approved"
    assert stub.message(message.id)["components"] == []
    assert complete.body == {"type": 8, "data": {"choices": [{"name": "de", "value": "de"}]}}
    assert isinstance(errors[0], discord.NotFound) and errors[0].code == 10062


async def test_deferred_update_modal_and_ephemeral_answer(stub: StubDiscord) -> None:
    client = new_client()
    answered = asyncio.Event()

    class Ask(discord.ui.Modal, title="Ask the GPT"):
        question = discord.ui.TextInput(label="Question", custom_id="question")

        async def on_submit(self, interaction: Any) -> None:
            await interaction.response.send_message(f"asked: {self.question.value}", ephemeral=True)
            answered.set()

    class Buttons(discord.ui.View):
        def __init__(self) -> None:
            super().__init__(timeout=None)

        @discord.ui.button(label="Later", custom_id="later")
        async def later(self, interaction: Any, button: Any) -> None:
            await interaction.response.defer()  # type 6 for a component
            await interaction.followup.send("done later")

        @discord.ui.button(label="Ask", custom_id="ask")
        async def ask(self, interaction: Any, button: Any) -> None:
            await interaction.response.send_modal(Ask(custom_id="ask-modal"))

    async with online(client, stub):
        client.add_view(Buttons())
        await client.get_channel(stub.channel_id).send("Choose", view=Buttons())
        stub.dispatch("INTERACTION_CREATE", stub.component_interaction("later"))
        await stub.wait_call_async("POST", "/webhooks/*/*")
        stub.dispatch("INTERACTION_CREATE", stub.component_interaction("ask"))
        await stub.wait_call_async("POST", "/interactions/*/*/callback", count=2)
        submitted = stub.modal_submit_interaction("ask-modal", {"question": "why?"})
        stub.dispatch("INTERACTION_CREATE", submitted)
        await asyncio.wait_for(answered.wait(), 5)
    later, modal, answer = (c.body for c in stub.calls("POST", "/interactions/*/*/callback"))
    assert later == {"type": 6} and modal["type"] == 9
    assert modal["data"]["custom_id"] == "ask-modal"
    assert answer["type"] == 4 and answer["data"]["flags"] == payloads.FLAG_EPHEMERAL
    ephemeral = stub.message(stub.interactions[int(submitted["id"])].original_id or 0)
    assert ephemeral is not None and ephemeral["content"] == "asked: why?"
    assert [m["content"] for m in stub.messages()] == ["Choose", "done later"]  # not ephemeral


async def test_drop_connection_resumes_without_losing_events(stub: StubDiscord) -> None:
    client = new_client()
    resumed = asyncio.Event()

    @client.event
    async def on_resumed() -> None:
        resumed.set()

    answered = asyncio.Event()

    @client.event
    async def on_message(message: Any) -> None:
        if not message.author.bot:
            await message.channel.send(f"got {message.content}")
            answered.set()

    async with online(client, stub):
        assert stub.drop_connection() == 1
        stub.dispatch("MESSAGE_CREATE", stub.message_create("after the drop"))
        await asyncio.wait_for(resumed.wait(), 10)
        await asyncio.wait_for(answered.wait(), 5)
        call = stub.calls("POST", "/channels/*/messages")[0]
    assert call.body["content"] == "got after the drop"
    assert len(stub.gateway.identifies) == 1 and len(stub.gateway.resumes) == 1
    assert stub.gateway.closes == [4000]
    assert stub.gateway.connects[1][0] == "/gateway-resume"  # READY's resume_gateway_url


async def test_reconnect_request_and_invalid_session(stub: StubDiscord) -> None:
    client = new_client()
    client.before_identify_hook = no_identify_wait
    async with online(client, stub):
        stub.request_reconnect()  # op 7: discord.py resumes
        await stub.wait_resumed_async()
        stub.invalidate_session(resumable=False)  # op 9 false: it identifies anew
        await stub.wait_identified_async(count=2)
        stub.dispatch("MESSAGE_CREATE", stub.message_create("still here"))
        arrived = await client.wait_for("message", timeout=5)
    assert arrived.content == "still here"


async def no_identify_wait(shard_id: int | None, *, initial: bool = False) -> None:
    """discord.py's own hook sleeps 5 s before every IDENTIFY but the first (Discord allows one
    per 5 s with max_concurrency 1); the stub has no such limit."""


async def test_gateway_refuses_a_wrong_token(stub: StubDiscord) -> None:
    client = new_client()
    await client.login(stub.token)
    stub.token = "rotated"  # the token changed between login and IDENTIFY
    with pytest.raises(discord.ConnectionClosed) as closed:
        await asyncio.wait_for(client.connect(reconnect=False), 10)
    await client.close()
    assert closed.value.code == 4004 and stub.gateway.closes == [4004]


async def test_rate_limit_is_waited_out_and_retried(stub: StubDiscord) -> None:
    stub.fault("rate_limit", method="POST", path="/channels/*/messages", retry_after=0.3)
    client = new_client()
    async with online(client, stub):
        started = time.monotonic()
        await client.get_channel(stub.channel_id).send("once")
        elapsed = time.monotonic() - started
    first, second = stub.calls("POST", "/channels/*/messages")
    assert first.body == second.body and elapsed >= 0.3
    assert [m["content"] for m in stub.messages()] == ["once"]


async def test_server_error_is_retried(stub: StubDiscord) -> None:
    stub.fault("status", status=500, path="/channels/*")
    client = new_client()
    async with online(client, stub):
        channel = await client.fetch_channel(stub.channel_id)
    assert channel.name == "general" and len(stub.calls("GET", "/channels/*")) == 2


async def test_message_limits_and_files(stub: StubDiscord) -> None:
    client = new_client()
    async with online(client, stub):
        channel = client.get_channel(stub.channel_id)
        with pytest.raises(discord.HTTPException) as too_long:
            await channel.send("x" * 2001)
        embed = discord.Embed(title="t", description="d" * 4097)
        with pytest.raises(discord.HTTPException) as big_embed:
            await channel.send(embed=embed)
        sent = await channel.send("notes", file=discord.File(io.BytesIO(b"hello"), "notes.txt"))
        downloaded = await sent.attachments[0].read()
    assert too_long.value.code == 50035 and "2000 or fewer" in str(too_long.value)
    assert big_embed.value.code == 50035
    upload = stub.calls("POST", "/channels/*/messages")[-1]
    assert upload.body["content"] == "notes" and upload.files[0]["data"] == b"hello"
    assert downloaded == b"hello"


async def test_content_is_empty_without_the_message_content_intent(stub: StubDiscord) -> None:
    client = new_client(intents=discord.Intents.default())
    contents: list[str] = []
    three = asyncio.Event()

    @client.event
    async def on_message(message: Any) -> None:
        contents.append(message.content)
        if len(contents) == 3:
            three.set()

    async with online(client, stub):
        stub.dispatch("MESSAGE_CREATE", stub.message_create("unseen"))
        stub.dispatch("MESSAGE_CREATE", stub.message_create("seen", mention_bot=True))
        stub.dispatch("MESSAGE_CREATE", stub.message_create("a dm", dm=True))
        await asyncio.wait_for(three.wait(), 5)
    assert contents == ["", f"<@{stub.bot_id}> seen", "a dm"]


async def test_privileged_intent_not_enabled_in_the_portal() -> None:
    with StubDiscord(portal_intents=0) as stub, route_discord_py(stub):
        client = new_client()
        with pytest.raises(discord.PrivilegedIntentsRequired):
            await asyncio.wait_for(client.start(stub.token), 10)
        await client.close()
    assert stub.gateway.closes == [4014]


async def test_wrong_token_fails_login(stub: StubDiscord) -> None:
    client = new_client()
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()
    assert stub.calls("GET", "/users/@me")


async def test_auto_sharded_client(stub: StubDiscord) -> None:
    stub.shards = 2
    client = discord.AutoShardedClient(intents=message_intents(), guild_ready_timeout=0.05)
    client.before_identify_hook = no_identify_wait
    async with online(client, stub):
        assert client.shard_count == 2 and client.get_guild(stub.guild_id) is not None
    assert sorted(tuple(i["shard"]) for i in stub.gateway.identifies) == [(0, 2), (1, 2)]


def test_synchronous_test_with_the_client_in_its_own_thread(stub: StubDiscord) -> None:
    """The stub's blocking API from a plain test; the bot runs its loop in another thread."""
    loop = asyncio.new_event_loop()
    client = new_client()

    @client.event
    async def on_message(message: Any) -> None:
        if not message.author.bot:
            await message.channel.send(message.content.upper())

    runner = threading.Thread(target=loop.run_forever)
    runner.start()
    started = asyncio.run_coroutine_threadsafe(client.start(stub.token), loop)
    try:
        assert stub.wait_identified()["intents"] == message_intents().value
        asyncio.run_coroutine_threadsafe(client.wait_until_ready(), loop).result(10)
        stub.dispatch("MESSAGE_CREATE", stub.message_create("shout"))
        assert stub.wait_call("POST", "/channels/*/messages").body["content"] == "SHOUT"
    finally:
        asyncio.run_coroutine_threadsafe(client.close(), loop).result(10)
        started.result(10)
        loop.call_soon_threadsafe(loop.stop)
        runner.join(10)
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()

        async def settle() -> None:
            await asyncio.gather(*pending, return_exceptions=True)

        loop.run_until_complete(settle())
        loop.close()


def test_unknown_route_and_gateway_url_without_a_client(stub: StubDiscord) -> None:
    request = urllib.request.Request(stub.url + "/nowhere", headers={"Authorization": "Bot x"})
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(request, timeout=5)
    assert missing.value.code == 404
    assert json.loads(missing.value.read()) == {"message": "404: Not Found", "code": 0}
    with urllib.request.urlopen(stub.url + "/gateway", timeout=5) as answer:
        assert json.loads(answer.read())["url"] == stub.gateway_url
