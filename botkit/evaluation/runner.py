"""Run a GPT over labeled examples: concurrently with a bound, one record per example.

A GPT with a task plugin is evaluated on the plugin's typed result (the label, the translation,
the answer), called directly so no message is routed to another plugin's command; a GPT without
one is free chat and its reply text is the prediction. Each example runs in a fresh conversation
(no history is kept), and one failing example is recorded with its error, never stopping the run;
only errors that would fail every example (a missing key or model file, a server that never
answered) stop it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from botkit.core.bot import Bot
from botkit.core.router import TaskRoute
from botkit.core.runtime import GPTRuntime
from botkit.errors import (
    BotkitError,
    InputError,
    MissingAPIKey,
    ModelFileNotFound,
    ModelUnreachable,
)
from botkit.evaluation.data import LabeledExample
from botkit.evaluation.metrics import Kind
from botkit.evaluation.scoring import judge
from botkit.evaluation.store import PredictionCache
from botkit.loader import LoadedGPT
from botkit.models.base import ChatMessage, complete_text
from botkit.spec import GenerationParams
from botkit.tasks import TaskPlugin, TaskRequest

#: Fields of a row that name the knowledge source answering it (for retrieval recall@k).
GOLD_SOURCE_FIELDS = ("source", "sources")

GRADER_SYSTEM = (
    "You grade an AI assistant's answer against a rubric. Score it from 1 (poor) to 5 "
    "(excellent). Reply with the score only: one digit."
)
_SCORE = re.compile(r"[1-5]")


@dataclass
class EvalTarget:
    """The GPT under evaluation, and what evaluating it means."""

    runtime: GPTRuntime
    kind: Kind
    labels: tuple[str, ...] = ()  # classification: the answers the GPT may give
    target: str = ""  # translation: the target language
    top_k: int = 0  # knowledge: passages retrieved per question

    @property
    def gpt(self) -> LoadedGPT:
        return self.runtime.loaded

    @property
    def name(self) -> str:
        return self.runtime.name

    @property
    def plugin(self) -> TaskPlugin | None:
        return self.runtime.task

    @property
    def options(self) -> BaseModel | None:
        return self.runtime.options

    def fingerprint(self) -> str:
        """The task's state beyond the GPT file (see :meth:`TaskPlugin.fingerprint`)."""
        if self.plugin is None or self.options is None:
            return ""
        request = TaskRequest("", self.gpt.spec, self.options, self.runtime)
        return self.plugin.fingerprint(request)

    def check(self, example: LabeledExample) -> str | None:
        """A problem with an example for this GPT (a label it cannot answer), or None."""
        if self.kind != "classification" or not self.labels:
            return None
        unknown = [a for a in example.answers if a not in self.labels]
        if unknown:
            return (
                f"label {unknown[0]!r} is not one of the labels of GPT {self.name!r} "
                f"({', '.join(self.labels)})"
            )
        return None


def evaluation_target(bot: Bot, name: str) -> EvalTarget:
    """What evaluating GPT ``name`` means, as its task plugin says (no plugin: free chat)."""
    runtime = bot.runtime_now(name)
    spec = runtime.spec
    top_k = spec.knowledge.top_k if spec.knowledge and spec.knowledge.sources else 0
    plugin, options = runtime.task, runtime.options
    if plugin is None or options is None:
        return EvalTarget(runtime, "chat", top_k=top_k)
    target = (
        str(getattr(options, "target", None) or "") if plugin.eval_kind == "translation" else ""
    )
    return EvalTarget(runtime, plugin.eval_kind, plugin.answers(options), target, top_k)


@dataclass
class RunSettings:
    concurrency: int = 8
    rubric: str | None = None
    grader: LoadedGPT | None = None


class Runner:
    def __init__(
        self,
        bot: Bot,
        target: EvalTarget,
        cache: PredictionCache | None,
        settings: RunSettings,
        sink: Callable[[dict[str, Any]], None],
    ) -> None:
        self.bot = bot
        self.target = target
        self.cache = cache
        self.settings = settings
        self.sink = sink
        self.done = 0
        self.failed = 0
        self.cached = 0
        self._succeeded = 0
        self._fatal: BaseException | None = None

    async def run(self, examples: Iterable[LabeledExample]) -> None:
        """Evaluate every example; ``sink`` gets each record as soon as it is complete."""
        await self.bot.runtime(self.target.name)  # ready (model loaded, knowledge indexed) first
        width = max(1, self.settings.concurrency)
        queue: asyncio.Queue[LabeledExample | None] = asyncio.Queue(maxsize=width * 4)
        workers = [asyncio.ensure_future(self._work(queue)) for _ in range(width)]
        try:
            for example in examples:
                if self._fatal is not None:
                    break
                await queue.put(example)
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
        if self._fatal is not None:
            raise self._fatal

    async def _work(self, queue: asyncio.Queue[LabeledExample | None]) -> None:
        while (example := await queue.get()) is not None:
            if self._fatal is None:
                self.sink(await self._evaluate(example))

    async def _evaluate(self, example: LabeledExample) -> dict[str, Any]:
        started = time.perf_counter()
        record: dict[str, Any] = {
            "line": example.line,
            "input": example.input,
            "expected": example.expected,
            "prediction": None,
            "error": None,
            "cached": False,
        }
        hit = self.cache.get(example.input) if self.cache else None
        try:
            if hit is not None:
                prediction, details = hit["prediction"], dict(hit["details"])
                record["cached"] = True
                self.cached += 1
            else:
                prediction, details = await self._predict(example)
                if self.cache is not None:
                    self.cache.put(example.input, prediction, details)
            self._succeeded += 1
        except Exception as exc:
            self._note_failure(exc)
            record["error"] = _describe(exc)
            record["seconds"] = round(time.perf_counter() - started, 4)
            self.failed += 1
            self.done += 1
            return record
        record["prediction"] = prediction
        record["correct"], record["score"] = judge(self.target.kind, example.expected, prediction)
        gold = _gold_sources(example)
        if gold and "retrieved" in details:
            from botkit.evaluation.metrics import source_found

            details["retrieval_hit"] = source_found(gold, details["retrieved"])
        if self.settings.rubric and self.settings.grader is not None:
            try:
                details["rubric"] = await self._grade(example, str(prediction))
            except Exception as exc:  # a grading failure is shown, the prediction stays
                details["rubric_error"] = _describe(exc)
        record["details"] = details
        record["seconds"] = round(time.perf_counter() - started, 4)
        self.done += 1
        return record

    def _note_failure(self, exc: Exception) -> None:
        if isinstance(exc, (MissingAPIKey, ModelFileNotFound)) or (
            isinstance(exc, ModelUnreachable) and not self._succeeded
        ):
            self._fatal = self._fatal or exc

    async def _predict(self, example: LabeledExample) -> tuple[Any, dict[str, Any]]:
        target, runtime = self.target, self.target.runtime
        details: dict[str, Any] = {}
        if target.top_k and _gold_sources(example) and runtime.knowledge is not None:
            passages = await runtime.knowledge.asearch(example.input)
            details["retrieved"] = [p.source for p in passages]
        if target.plugin is None or runtime.spec.task is None:
            user = ChatMessage(role="user", content=example.input)
            reply = await self.bot.complete(target.name, [user], tasks=False).collect()
            if reply.citations:
                details["sources"] = [c.where for c in reply.citations]
            return reply.text, details
        result = await runtime.run_task(TaskRoute(runtime.spec.task.plugin, "", example.input))
        details.update(result.details())
        return result.prediction(), details

    async def _grade(self, example: LabeledExample, prediction: str) -> int:
        grader = self.settings.grader
        assert grader is not None and self.settings.rubric
        reference = " | ".join(example.answers)
        prompt = (
            f"Rubric: {self.settings.rubric}\n\nQuestion:\n{example.input}\n\n"
            f"Reference answer:\n{reference}\n\nAnswer to grade:\n{prediction}"
        )
        model = self.bot.model(grader.spec.model)
        messages: list[ChatMessage] = [
            {"role": "system", "content": GRADER_SYSTEM},
            {"role": "user", "content": prompt},
        ]
        answer = await complete_text(model, messages, GenerationParams(temperature=0, max_tokens=8))
        found = _SCORE.search(answer)
        if not found:
            raise InputError(
                f"the grader answered {answer.strip()[:40]!r}, not a score from 1 to 5"
            )
        return int(found.group())


def _gold_sources(example: LabeledExample) -> list[str]:
    for name in GOLD_SOURCE_FIELDS:
        value = example.extra.get(name)
        if isinstance(value, str) and value:
            return [value]
        if isinstance(value, list):
            return [str(v) for v in value if v]
    return []


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, BotkitError) else f"{type(exc).__name__}: {exc}"
