"""The core: a platform-neutral message in, a stream of reply text out.

Adapters (console, Slack, Discord, HTTP) turn their platform's events into :class:`Message` objects,
call :meth:`Bot.respond`, and render what it yields. Nothing here knows which surface is asking.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from botkit.core.conversations import ConversationKey, ConversationStore
from botkit.core.message import Message
from botkit.core.prompt import fit_prompt
from botkit.core.reply import Citation, Reply
from botkit.core.router import TaskRoute, route
from botkit.errors import BotkitError, InputError, KnowledgeError, PluginError
from botkit.loader import Catalog, LoadedGPT, load_catalog
from botkit.models.base import ChatMessage, ChatModel
from botkit.plugins import Registry, load_registry
from botkit.spec import EmbedderSpec, GPTSpec, ModelSpec
from botkit.tasks import TaskPlugin, TaskRequest, TaskResult

if TYPE_CHECKING:
    from botkit.knowledge.base import KnowledgeBase
    from botkit.knowledge.embeddings import Embedder

#: The options of a command used in a GPT whose own task is another (one object, so it caches).
_NO_OPTIONS: dict[str, Any] = {}


class Bot:
    def __init__(
        self,
        catalog: Catalog,
        registry: Registry,
        store: ConversationStore | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.catalog = catalog
        self.registry = registry
        self.store = store
        self.data_dir = data_dir
        #: Knowledge source paths are relative to the folder holding the config folder.
        self.project_dir = catalog.config_dir.resolve().parent
        self._models: dict[ModelSpec, ChatModel] = {}
        self._embedders: dict[EmbedderSpec, Embedder] = {}
        self._knowledge: dict[str, KnowledgeBase] = {}
        self._tasks: dict[str, TaskPlugin] = {}
        #: (plugin, id of a GPT's options dict) -> (that dict, its validated options)
        self._validated: dict[tuple[str, int], tuple[dict[str, Any], BaseModel]] = {}

    @classmethod
    def from_config(
        cls,
        config_dir: Path,
        data_dir: Path | None = None,
        plugin_dirs: tuple[Path, ...] = (),
        extra_plugins: tuple[object, ...] = (),
    ) -> Bot:
        registry = load_registry(plugin_dirs, extra_plugins)
        catalog = load_catalog(config_dir, registry.providers.keys(), registry.tasks)
        store = ConversationStore(data_dir / "conversations.sqlite3") if data_dir else None
        return cls(catalog, registry, store, data_dir)

    def gpt(self, name: str) -> LoadedGPT:
        return self.catalog.get(name)

    def model(self, spec: ModelSpec) -> ChatModel:
        """The model for a GPT's model section: created once, then shared by every conversation."""
        if spec not in self._models:
            self._models[spec] = self.registry.create_model(spec)
        return self._models[spec]

    def respond(self, message: Message, tasks: bool = True) -> Reply:
        """Answer ``message`` in its conversation: iterate the reply for its text as it comes.

        With ``tasks=False`` the GPT's model answers even where a task plugin would (a plugin
        asking the model itself uses that).

        The exchange is saved when the reply ends, and also when it is stopped part-way (the
        conversation then holds what the user saw).
        """
        reply = Reply()
        reply._chunks = self._generate(message, reply, tasks)
        return reply

    async def reply_text(self, message: Message) -> str:
        """The whole reply at once, for callers that do not stream."""
        return (await self.respond(message).collect()).text

    async def _generate(
        self, message: Message, reply: Reply, tasks: bool = True
    ) -> AsyncGenerator[str, None]:
        text = message.text.strip()
        if not text:
            raise InputError("the message is empty: type something for the GPT to answer")
        spec = self.gpt(message.gpt).spec
        key = message.conversation
        task = route(text, spec, self.registry.commands) if tasks else None
        if task is not None:
            reply.result = await self._run_task(task, spec)
            reply.parts.append(reply.result.text())
            yield reply.text
            await self._save(key, text, reply.text)
            return
        model = self.model(spec.model)
        history = await self.history(key)
        knowledge = self.knowledge(spec.name)
        references: list[tuple[str, str]] | None = None
        if knowledge is not None:
            passages = await asyncio.to_thread(knowledge.search_fresh, text)
            if not passages:  # nothing relevant: say so rather than let the model invent
                assert spec.knowledge is not None
                reply.parts.append(spec.knowledge.not_found)
                yield spec.knowledge.not_found
                await self._save(key, text, reply.text)
                return
            reply.citations = [
                Citation(n, p.source, p.title, p.page, _snippet(p.text), p.relevance)
                for n, p in enumerate(passages, 1)
            ]
            references = [(c.where, p.text) for c, p in zip(reply.citations, passages, strict=True)]
        prompt, kept = await fit_prompt(spec, model, history, text, message.user, references)
        del reply.citations[kept:]
        try:
            async for chunk in model.stream(prompt, spec.parameters):
                reply.parts.append(chunk)
                yield chunk
        except asyncio.CancelledError:
            await asyncio.shield(self._save(key, text, reply.text))
            raise
        await self._save(key, text, reply.text)

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

    async def _run_task(self, task: TaskRoute, spec: GPTSpec) -> TaskResult:
        plugin = self.task(task.plugin)
        usage = next((f"{c.name} {c.usage}" for c in plugin.commands if c.name == task.command), "")
        if not task.text:
            raise InputError(f"nothing to work on: {usage or 'write some text'}")
        given = spec.task.options if spec.task and spec.task.plugin == task.plugin else _NO_OPTIONS
        options = self._options(task.plugin, plugin, given, spec.name)
        try:
            return await plugin.run(TaskRequest(task.text, spec, options, self, task.command))
        except BotkitError:
            raise
        except Exception as exc:  # a broken plugin is named; the bot goes on
            raise PluginError(
                f"task plugin {task.plugin} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def _options(self, name: str, plugin: TaskPlugin, given: dict[str, Any], gpt: str) -> BaseModel:
        """``given`` validated as the plugin's options, once per GPT file's options (the same
        dict until the catalog is loaded again), not once per message."""
        cached = self._validated.get((name, id(given)))
        if cached is not None and cached[0] is given:
            return cached[1]
        try:
            options = plugin.Options.model_validate(given)
        except ValidationError as exc:
            detail = exc.errors()[0]["msg"]
            raise InputError(
                f"{name} needs options GPT {gpt!r} does not give ({detail}); "
                f"use a GPT whose task is {name}"
            ) from exc
        self._validated[(name, id(given))] = (given, options)
        return options

    def knowledge(self, name: str) -> KnowledgeBase | None:
        """The knowledge base of GPT ``name``, or None when it has no knowledge sources."""
        loaded = self.gpt(name)
        spec = loaded.spec.knowledge
        if spec is None or not spec.sources:
            return None
        if name not in self._knowledge:
            from botkit.knowledge.base import KnowledgeBase
            from botkit.knowledge.index import KnowledgeIndex

            if self.data_dir is None:
                raise KnowledgeError("knowledge needs a data directory (set BOTKIT_HOME)")
            embedder = self.embedder(spec.embedder)
            index = KnowledgeIndex(
                name, spec, loaded.path, self.project_dir, self.data_dir, embedder
            )
            self._knowledge[name] = KnowledgeBase(index)
        return self._knowledge[name]

    async def history(self, key: ConversationKey) -> list[ChatMessage]:
        return await self.store.history(key) if self.store else []

    async def latest_thread(self, surface: str, user: str, gpt: str) -> str | None:
        """The thread of ``user``'s most recent conversation with ``gpt`` on ``surface``."""
        return await self.store.latest_thread(surface, user, gpt) if self.store else None

    async def reset(self, key: ConversationKey) -> None:
        if self.store:
            await self.store.reset(key)

    async def aclose(self) -> None:
        for model in self._models.values():
            await model.aclose()
        self._models.clear()
        if self.store:
            self.store.close()

    async def _save(self, key: ConversationKey, text: str, reply: str) -> None:
        if self.store and reply:
            await self.store.append(
                key, [{"role": "user", "content": text}, {"role": "assistant", "content": reply}]
            )


def _snippet(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"
