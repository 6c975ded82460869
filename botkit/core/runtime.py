"""A GPT prepared once: its model, knowledge base and task plugin with validated options.

The bot makes one :class:`GPTRuntime` per GPT, the first time the GPT is needed (or up front when
a server starts), under a lock: every message after that goes straight through. :meth:`warm`
does the slow part (loading model weights, indexing knowledge that never was, building a task's
centroids) so that a server reports ready only when answering is fast. The runtime is also the
narrow :class:`~botkit.tasks.TaskContext` task plugins see instead of the whole bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from botkit.core.guard import Guard
from botkit.errors import BotkitError, InputError, KnowledgeError, PluginError
from botkit.loader import LoadedGPT
from botkit.spec import EmbedderSpec, GPTSpec, ModelSpec
from botkit.tasks import TaskPlugin, TaskRequest, TaskResult

if TYPE_CHECKING:
    from botkit.core.bot import Bot
    from botkit.core.message import Message
    from botkit.core.reply import Reply
    from botkit.core.router import TaskRoute
    from botkit.knowledge.base import KnowledgeBase
    from botkit.knowledge.embeddings import Embedder
    from botkit.models.base import ChatModel

log = logging.getLogger(__name__)


class GPTRuntime:
    def __init__(self, loaded: LoadedGPT, bot: Bot) -> None:
        self.loaded = loaded
        self.spec: GPTSpec = loaded.spec
        self._bot = bot
        self._knowledge: KnowledgeBase | None = None
        self._options: dict[str, BaseModel] = {}
        self._warm = asyncio.Lock()
        self._warmed = False
        self._watcher: asyncio.Task[None] | None = None
        self._guard: Guard | None = None
        self._model_spec: ModelSpec | None = None
        self.task: TaskPlugin | None = None
        if self.spec.task is not None:
            self.task = bot.task(self.spec.task.plugin)
            self._options[self.spec.task.plugin] = self._validate(self.task, self.spec.task.options)
        spec = self.spec.knowledge
        if spec is not None and spec.sources:
            self._knowledge = self._make_knowledge()

    @property
    def name(self) -> str:
        return self.spec.name

    # -- the task context plugins see ----------------------------------------------------------
    @property
    def data_dir(self) -> Path | None:
        return self._bot.data_dir

    @property
    def knowledge(self) -> KnowledgeBase | None:
        return self._knowledge

    def model(self) -> ChatModel:
        if self._model_spec is None:  # looked up once: a newly trained adapter needs a restart
            from botkit.models.local import with_trained_adapter

            self._model_spec = with_trained_adapter(self.spec.model, self.data_dir, self.name)
        return self._bot.model(self._model_spec)

    def embedder(self, spec: EmbedderSpec) -> Embedder:
        return self._bot.embedder(spec)

    @property
    def guard(self) -> Guard:
        """The GPT's moderation and redaction (its safety: over the deployment's), made once."""
        if self._guard is None:
            base = self._bot.policy.spec.safety if self._bot.policy else None
            self._guard = Guard.for_gpt(self.spec, base, self.model())
        return self._guard

    def answer(self, text: str) -> Reply:
        from botkit.models.base import ChatMessage

        return self._bot.complete(self.name, [ChatMessage(role="user", content=text)], tasks=False)

    # -- tasks ---------------------------------------------------------------------------------
    @property
    def options(self) -> BaseModel | None:
        """The validated options of the GPT's own task (None without one)."""
        return self._options.get(self.spec.task.plugin) if self.spec.task else None

    def request(
        self, route: TaskRoute, message: Message | None = None
    ) -> tuple[TaskPlugin, TaskRequest]:
        """The plugin and request for a routed message: the GPT's own options for its own task,
        the plugin's defaults for another plugin's command."""
        plugin = self._bot.task(route.plugin)
        if route.plugin not in self._options:
            self._options[route.plugin] = self._validate(plugin, {})
        options = self._options[route.plugin]
        return plugin, TaskRequest(route.text, self.spec, options, self, route.command, message)

    async def run_task(self, route: TaskRoute, message: Message | None = None) -> TaskResult:
        plugin, request = self.request(route, message)
        if not request.text.strip():
            usage = next(
                (f"{c.name} {c.usage}" for c in plugin.commands if c.name == route.command), ""
            )
            raise InputError(f"nothing to work on: {usage or 'write some text'}")
        try:
            return await plugin.run(request)
        except BotkitError:
            raise
        except Exception as exc:  # a broken plugin is named; the bot goes on
            raise PluginError(
                f"task plugin {route.plugin} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def _validate(self, plugin: TaskPlugin, given: dict[str, Any]) -> BaseModel:
        try:
            return plugin.Options.model_validate(given)
        except ValidationError as exc:
            detail = exc.errors()[0]["msg"]
            raise InputError(
                f"{plugin.name} needs options GPT {self.name!r} does not give ({detail}); "
                f"use a GPT whose task is {plugin.name}"
            ) from exc

    # -- getting ready -------------------------------------------------------------------------
    def _make_knowledge(self) -> KnowledgeBase:
        from botkit.knowledge.base import KnowledgeBase
        from botkit.knowledge.index import KnowledgeIndex

        assert self.spec.knowledge is not None
        if self._bot.data_dir is None:
            raise KnowledgeError("knowledge needs a data directory (set BOTKIT_HOME)")
        embedder = self._bot.embedder(self.spec.knowledge.embedder)
        index = KnowledgeIndex(
            self.name,
            self.spec.knowledge,
            self.loaded.path,
            self._bot.project_dir,
            self._bot.data_dir,
            embedder,
        )
        return KnowledgeBase(index)

    @property
    def ready(self) -> bool:
        return self._warmed

    async def warm(self) -> None:
        """Load the model's weights, index knowledge that never was (and look for changes in the
        background from then on), and let the task plugin build what it needs. Once."""
        async with self._warm:
            if self._warmed:
                return
            if self._knowledge is not None:
                await asyncio.to_thread(self._knowledge.open)
                assert self.spec.knowledge is not None
                if self.spec.knowledge.auto_refresh:
                    interval = self.spec.knowledge.refresh_interval
                    self._watcher = asyncio.create_task(self._knowledge.watch(interval))
            if self.task is None:
                await self.model().load()
            elif self.options is not None:  # the plugin knows what it needs (a model, centroids)
                await self.task.prepare(TaskRequest("", self.spec, self.options, self))
            self._warmed = True

    async def aclose(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
