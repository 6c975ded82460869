"""The core: a platform-neutral message in, a stream of reply text out.

Adapters (console, Slack, Discord, HTTP) turn their platform's events into :class:`Message`
objects, call :meth:`Bot.respond` (a conversation the bot remembers) or :meth:`Bot.complete` (a
stateless call with the client's message list, as the HTTP API makes), and render what the
:class:`Reply` yields. Nothing here knows which surface is asking.

How a reply ends decides what the conversation keeps:

- completed: the user's turn and the whole answer;
- stopped (``Reply.aclose()``, leaving ``async with``, cancellation, a consumer gone): the user's
  turn and what was shown, marked ``stopped``;
- failed (the model or a plugin raised): the user's turn, and any part of the answer marked
  ``failed`` (left out of later prompts); the error reaches the caller.

The user's turn is saved before the model is asked, so nothing the user wrote is lost; a store
that cannot save raises :class:`~botkit.errors.StorageError` to the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from botkit.core.conversations import ConversationKey, Turn, TurnStatus
from botkit.core.guard import Blocked
from botkit.core.message import Message, current_request_id, new_request_id
from botkit.core.metering import CallContext, UsageSink, current_call, metered
from botkit.core.policy import Policy
from botkit.core.prompt import fit_prompt
from botkit.core.reply import Citation, Reply, Usage
from botkit.core.router import DEFAULT_COMMAND_PREFIXES, TaskRoute, route
from botkit.core.runtime import GPTRuntime
from botkit.errors import InputError, StorageError
from botkit.loader import Catalog, LoadedGPT, load_catalog
from botkit.models.base import ChatMessage, ChatModel, StreamEnd
from botkit.plugins import Registry, load_registry
from botkit.spec import EmbedderSpec, GenerationParams, ModelSpec
from botkit.storage import Storage, open_storage
from botkit.tasks import TaskPlugin

if TYPE_CHECKING:
    from botkit.knowledge.embeddings import Embedder
    from botkit.settings import Settings

log = logging.getLogger(__name__)

#: Called once a reply has ended (usage recording, metrics): the reply, and the message or None.
ReplyObserver = Callable[[Reply, "Message | None"], None]


class Bot:
    def __init__(
        self,
        catalog: Catalog,
        registry: Registry,
        storage: Storage | None = None,
        data_dir: Path | None = None,
        policy: Policy | None = None,
    ) -> None:
        self.catalog = catalog
        self.registry = registry
        self.storage = storage
        self.data_dir = data_dir
        #: where, who, how often: asked before every message (None: anyone, any time)
        self.policy = policy
        self.command_prefixes = policy.command_prefixes if policy else DEFAULT_COMMAND_PREFIXES
        #: Knowledge source paths are relative to the folder holding the config folder.
        self.project_dir = catalog.config_dir.absolute().parent
        self.observers: list[ReplyObserver] = []
        #: get every model call (usage recording, metrics); see botkit.core.metering
        self.usage_sinks: list[UsageSink] = []
        self._models: dict[ModelSpec, ChatModel] = {}
        self._embedders: dict[EmbedderSpec, Embedder] = {}
        self._tasks: dict[str, TaskPlugin] = {}
        self._runtimes: dict[str, GPTRuntime] = {}

    @classmethod
    def from_settings(cls, settings: Settings, conversations: bool = True) -> Bot:
        registry = load_registry(settings.all_plugin_dirs)
        catalog = load_catalog(settings.config_dir, registry.providers.keys(), registry.tasks)
        storage = open_storage(settings.data_dir) if conversations else None
        return cls(catalog, registry, storage, settings.data_dir)

    @classmethod
    def from_config(
        cls,
        config_dir: Path,
        data_dir: Path | None = None,
        plugin_dirs: tuple[Path, ...] = (),
        extra_plugins: tuple[object, ...] = (),
    ) -> Bot:
        """A bot for the GPTs of ``config_dir`` (tests and scripts; the CLI uses Settings)."""
        registry = load_registry(plugin_dirs, extra_plugins)
        catalog = load_catalog(config_dir, registry.providers.keys(), registry.tasks)
        storage = open_storage(data_dir) if data_dir else None
        return cls(catalog, registry, storage, data_dir)

    # -- what GPTs are made of, made once and shared -------------------------------------------
    def gpt(self, name: str) -> LoadedGPT:
        return self.catalog.get(name)

    def model(self, spec: ModelSpec) -> ChatModel:
        """The model for a GPT's model section: created once, then shared by every conversation."""
        if spec not in self._models:
            model = self.registry.create_model(spec)
            model.data_dir = self.data_dir
            self._models[spec] = metered(model, self.usage_sinks)
        return self._models[spec]

    def embedder(self, spec: EmbedderSpec) -> Embedder:
        """The embedder for ``spec``, made once and shared (knowledge bases, task plugins)."""
        if spec not in self._embedders:
            self._embedders[spec] = self.registry.create_embedder(spec)
        return self._embedders[spec]

    def task(self, name: str) -> TaskPlugin:
        """The task plugin ``name``, made once per bot."""
        if name not in self._tasks:
            self._tasks[name] = self.registry.create_task(name)
        return self._tasks[name]

    async def runtime(self, name: str, warm: bool = True) -> GPTRuntime:
        """The prepared GPT ``name`` (made once; ``warm``: ready to answer fast, which loads its
        model, indexes its knowledge... once, however many messages arrive meanwhile)."""
        found = self.runtime_now(name)
        if warm and not found.ready:
            await found.warm()
        return found

    def runtime_now(self, name: str) -> GPTRuntime:
        """The GPT ``name`` with its parts made (model, knowledge base, task options), not yet
        warmed. Synchronous: concurrent callers on the event loop cannot interleave in it."""
        found = self._runtimes.get(name)
        if found is None:
            found = self._runtimes[name] = GPTRuntime(self.gpt(name), self)
        return found

    async def prepare(self, names: Sequence[str] | None = None) -> dict[str, str]:
        """Warm the GPTs ``names`` (default: all), concurrently; the ones that failed, with why."""
        names = list(self.catalog.gpts) if names is None else list(names)
        results = await asyncio.gather(*(self.runtime(n) for n in names), return_exceptions=True)
        return {
            name: str(result)
            for name, result in zip(names, results, strict=True)
            if isinstance(result, BaseException)
        }

    # -- answering -----------------------------------------------------------------------------
    def respond(self, message: Message, tasks: bool = True) -> Reply:
        """Answer ``message`` in its conversation: iterate the reply for its text as it comes
        (see the module's docstring for what is saved when). With ``tasks=False`` the GPT's
        model answers even where a task plugin would."""
        reply = Reply(gpt=message.gpt, request_id=message.request_id)
        reply._chunks = self._respond(message, reply, tasks)
        return reply

    def complete(
        self,
        gpt: str,
        messages: Sequence[ChatMessage],
        params: GenerationParams | None = None,
        tasks: bool = True,
        message: Message | None = None,
    ) -> Reply:
        """Answer a client-supplied message list (the last one the user's), without touching the
        conversation store: the GPT's instructions, examples, knowledge and task apply, and
        ``params`` are bounded by the GPT's own. ``message`` carries who and where (for access
        rules, usage and logs); its text is not used."""
        reply = Reply(gpt=gpt, request_id=message.request_id if message else new_request_id())
        reply._chunks = self._complete(gpt, list(messages), params, tasks, message, reply)
        return reply

    async def reply_text(self, message: Message) -> str:
        """The whole reply at once, for callers that do not stream."""
        return (await self.respond(message).collect()).text

    async def _respond(
        self, message: Message, reply: Reply, tasks: bool
    ) -> AsyncGenerator[str, None]:
        started = time.perf_counter()
        current_request_id.set(message.request_id)
        text = message.content().strip()
        reply.question = text
        if not text and not message.command:  # a command says itself what it is missing
            raise InputError("the message is empty: type something for the GPT to answer")
        if self.policy is not None:
            await self.policy.admit(message.gpt, message, text)
        runtime = await self.runtime(message.gpt)
        await self._guard_input(runtime, text, message)
        key = message.conversation
        store = self.storage.conversations if self.storage else None
        asked = self._route(runtime, message) if tasks else None
        said = Turn("user", text, message.user_id, message.speaker, message_id=message.message_id)
        async with store.lock(key) if store else contextlib.nullcontext():
            if asked is not None:
                await self._task_reply(runtime, asked, message, reply, started)
                await self._save(key, said, Turn("assistant", reply.text))
                yield reply.text
                return
            history = await store.history(key) if store else []
            prompt = await self._chat_prompt(runtime, history, text, message, reply, started)
            if prompt is None:  # no relevant knowledge: the not-found answer is in the reply
                await self._save(key, said, Turn("assistant", reply.text))
                yield reply.text
                return
            if store:
                await store.append(key, [said])  # kept whatever happens to the answer
            params = runtime.spec.parameters
            answer = self._stream(
                runtime, prompt, params, reply, started, message, key if store else None
            )
            async with contextlib.aclosing(answer):  # stopping this reply stops the model
                async for chunk in answer:
                    yield chunk

    async def _complete(
        self,
        gpt: str,
        messages: list[ChatMessage],
        params: GenerationParams | None,
        tasks: bool,
        message: Message | None,
        reply: Reply,
    ) -> AsyncGenerator[str, None]:
        started = time.perf_counter()
        current_request_id.set(reply.request_id)
        if not messages or messages[-1]["role"] != "user" or not messages[-1]["content"].strip():
            raise InputError("the last message must be the user's, and not empty")
        text = reply.question = messages[-1]["content"].strip()
        if self.policy is not None:
            await self.policy.admit(gpt, message or Message(text, gpt, surface="api"), text)
        runtime = await self.runtime(gpt)
        await self._guard_input(runtime, text, message)
        asked = (
            self._route(runtime, message or Message(text, gpt, surface="api"), text)
            if tasks
            else None
        )
        if asked is not None:
            await self._task_reply(runtime, asked, message, reply, started)
            yield reply.text
            return
        earlier = [m for m in messages[:-1] if m["role"] in ("user", "assistant")]
        client_system = "\n\n".join(m["content"] for m in messages[:-1] if m["role"] == "system")
        history = [Turn(m["role"], m["content"]) for m in earlier]
        prompt = await self._chat_prompt(
            runtime, history, text, message, reply, started, client_system
        )
        if prompt is None:
            yield reply.text
            return
        bounded = bounded_params(runtime.spec.parameters, params)
        answer = self._stream(runtime, prompt, bounded, reply, started, message, None)
        async with contextlib.aclosing(answer):  # stopping this reply stops the model
            async for chunk in answer:
                yield chunk

    async def _guard_input(self, runtime: GPTRuntime, text: str, message: Message | None) -> None:
        """Who the model calls of this reply are for (metered, redacted as the GPT says), and
        the user's message moderated."""
        guard = runtime.guard
        who, where = (message.user_id, message.surface) if message else ("", "")
        request_id = message.request_id if message else current_request_id.get()
        current_call.set(CallContext(runtime.name, where, who, request_id, guard.redact))
        await guard.check("in", text, runtime.name, who, where)

    def _route(self, runtime: GPTRuntime, message: Message, text: str = "") -> TaskRoute | None:
        text = text or message.content().strip()
        commands = self.registry.commands
        asked = route(text, runtime.spec, commands, self.command_prefixes, message.command)
        if message.command and asked is None:
            known = ", ".join(sorted(commands)) or "none"
            raise InputError(f"unknown command {message.command!r}; commands: {known}")
        return asked

    async def _task_reply(
        self,
        runtime: GPTRuntime,
        asked: TaskRoute,
        message: Message | None,
        reply: Reply,
        started: float,
    ) -> None:
        """Run the task; its result (and its text) go on the reply."""
        try:
            reply.result = await runtime.run_task(asked, message)
        except BaseException:
            reply.finish_reason = "error"
            self._finished(reply, message, started)
            raise
        reply.parts.append(reply.result.text())
        reply.finish_reason = "task"
        self._finished(reply, message, started)

    async def _chat_prompt(
        self,
        runtime: GPTRuntime,
        history: list[Turn],
        text: str,
        message: Message | None,
        reply: Reply,
        started: float,
        extra_instructions: str = "",
    ) -> list[ChatMessage] | None:
        """The prompt for a chat answer, with the knowledge passages and their citations on the
        reply; None (and the not-found answer in the reply) when no passage is relevant."""
        spec = runtime.spec
        model = runtime.model()
        reply.model = spec.model.label
        references: list[tuple[str, str]] | None = None
        knowledge = runtime.knowledge
        if knowledge is not None:
            passages = await knowledge.asearch(text)
            if not passages:  # nothing relevant: say so rather than let the model invent
                assert spec.knowledge is not None
                reply.parts.append(spec.knowledge.not_found)
                reply.finish_reason = "not_found"
                self._finished(reply, message, started)
                return None
            reply.citations = [
                Citation(n, p.source, p.title, p.page, _snippet(p.text), p.relevance)
                for n, p in enumerate(passages, 1)
            ]
            references = [(c.where, p.text) for c, p in zip(reply.citations, passages, strict=True)]
        user, speaker = (message.speaker, message.user_id) if message else ("", "")
        prompt, kept = await fit_prompt(
            spec, model, history, text, user, references, speaker, extra_instructions
        )
        del reply.citations[kept:]
        return prompt

    async def _stream(
        self,
        runtime: GPTRuntime,
        prompt: list[ChatMessage],
        params: GenerationParams,
        reply: Reply,
        started: float,
        message: Message | None,
        key: ConversationKey | None,
    ) -> AsyncGenerator[str, None]:
        """The model's answer, chunk by chunk; however it ends, the reply records how and the
        conversation (``key``) keeps the answer as shown."""
        model = runtime.model()
        guard = runtime.guard
        end = StreamEnd()
        status: TurnStatus = "complete"
        held = guard.safety.moderation.output == "block"  # shown only once checked
        who, where = (message.user_id, message.surface) if message else ("", "")
        try:
            async with contextlib.aclosing(model.stream(prompt, params)) as chunks:
                async for chunk in chunks:
                    if isinstance(chunk, StreamEnd):
                        end = chunk
                        continue
                    if reply.first_token_latency is None:
                        reply.first_token_latency = time.perf_counter() - started
                    reply.parts.append(chunk)
                    if not held:
                        yield chunk
            try:
                await guard.check("out", reply.text, runtime.name, who, where)
            except Blocked as exc:
                reply.parts[:] = [str(exc)]
                end = StreamEnd("content_filter", end.prompt_tokens, end.completion_tokens)
            if held:
                yield reply.text
        except (GeneratorExit, asyncio.CancelledError):
            status = "stopped"
            raise
        except BaseException:
            status = "failed"
            raise
        finally:
            reply.finish_reason = {"stopped": "stopped", "failed": "error"}.get(
                status, end.finish_reason
            )
            with contextlib.suppress(Exception):  # counting must not hide why the reply ended
                reply.usage = await _usage(model, prompt, reply.text, end)
            if key is not None and (reply.text or status == "complete"):
                turn = Turn("assistant", reply.text, status=status)
                saving = asyncio.ensure_future(self._store_turns(key, [turn]))
                if status == "complete":
                    await saving  # a failure reaches the caller: the exchange was not kept
                else:  # already leaving with another reason: the save must not replace it
                    with contextlib.suppress(Exception):
                        await asyncio.shield(saving)
            self._finished(reply, message, started)

    async def _save(self, key: ConversationKey, *turns: Turn) -> None:
        if self.storage is not None:
            await self._store_turns(key, list(turns))

    async def _store_turns(self, key: ConversationKey, turns: list[Turn]) -> None:
        assert self.storage is not None
        try:
            await self.storage.conversations.append(key, turns)
        except StorageError as exc:
            log.error("conversation %s not saved: %s", key, exc)
            raise

    def _finished(self, reply: Reply, message: Message | None, started: float) -> None:
        reply.latency = time.perf_counter() - started
        for observe in self.observers:
            try:
                observe(reply, message)
            except Exception:  # an observer's bug must never break a reply
                log.exception("reply observer failed")

    # -- conversations -------------------------------------------------------------------------
    async def history(self, key: ConversationKey) -> list[Turn]:
        return await self.storage.conversations.history(key) if self.storage else []

    async def latest_thread(self, surface: str, user: str, gpt: str) -> str | None:
        """The thread of ``user``'s most recent private conversation with ``gpt`` on ``surface``."""
        if self.storage is None:
            return None
        return await self.storage.conversations.latest_thread(surface, user, gpt)

    async def remember(self, key: ConversationKey, turns: list[Turn]) -> bool:
        """Give a conversation the history it had before botkit joined it (a thread read
        late): stored only when the conversation has none yet; whether it was."""
        if self.storage is None or not turns:
            return False
        store = self.storage.conversations
        async with store.lock(key):
            if await store.history(key, limit=1):
                return False
            await store.append(key, turns)
        return True

    async def reset(self, key: ConversationKey) -> None:
        if self.storage:
            await self.storage.conversations.reset(key)

    # -- closing -------------------------------------------------------------------------------
    def close(self) -> None:
        """Close what can be closed without an event loop (the SQLite store)."""
        if self.storage is not None:
            closer = getattr(self.storage.conversations, "close", None)
            if closer is not None:
                closer()
            self.storage = None

    async def aclose(self) -> None:
        """Close models, background work and storage. Models and GPT runtimes are made again if
        the bot is used afterwards, in another event loop (as ``botkit eval --all`` does); the
        storage is not."""
        for runtime in self._runtimes.values():
            await runtime.aclose()
        self._runtimes.clear()
        for model in self._models.values():
            await model.aclose()
        self._models.clear()
        if self.storage is not None:
            await self.storage.aclose()
            self.storage = None

    async def __aenter__(self) -> Bot:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def bounded_params(gpt: GenerationParams, client: GenerationParams | None) -> GenerationParams:
    """A client's generation parameters within the GPT's: ``max_tokens`` never above the GPT's,
    everything the client leaves out taken from the GPT."""
    if client is None:
        return gpt
    limits = [n for n in (gpt.max_tokens, client.max_tokens) if n is not None]
    return GenerationParams(
        temperature=client.temperature if client.temperature is not None else gpt.temperature,
        top_p=client.top_p if client.top_p is not None else gpt.top_p,
        max_tokens=min(limits) if limits else None,
        stop=client.stop if client.stop is not None else gpt.stop,
    )


async def _usage(model: ChatModel, prompt: list[ChatMessage], text: str, end: StreamEnd) -> Usage:
    """What the model reported, or botkit's own count where it reported nothing."""
    if end.prompt_tokens is not None and end.completion_tokens is not None:
        return Usage(end.prompt_tokens, end.completion_tokens)
    prompt_tokens = end.prompt_tokens
    if prompt_tokens is None:
        prompt_tokens = sum(await model.count_message_tokens(prompt))
    completion = end.completion_tokens
    if completion is None:
        completion = await model.count_tokens(text) if text else 0
    return Usage(prompt_tokens, completion, estimated=True)


def _snippet(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"
