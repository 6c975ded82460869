"""Question answering from a GPT's knowledge: ``ask <question>``, or ``task: {plugin: qa}``.

``generate`` answers with the GPT's model from the retrieved passages, with citations (the core's
knowledge path). ``extractive`` answers with the shortest span of the retrieved passages that
answers the question (a name, a date, a number, a phrase: ``extract.py``), with the sentence it
comes from and its source as context; a weak local model cannot invent anything that way. When no
span is likely enough (confidence below ``min_confidence``) it says it does not know, as when no
passage is relevant. ``auto`` (the default) is extractive for the embedded/local models and
generative for the rest. bench/qa.py measures both on SQuAD.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import botkit
from botkit.errors import InputError
from botkit.knowledge.embeddings import WordLlamaEmbedder
from botkit.tasks import Command, TaskPlugin, TaskRequest, TaskResult

from . import extract
from .extract import sentences

__all__ = ["Answer", "QAOptions", "QATask", "sentences"]


class QAOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["auto", "extractive", "generate"] = Field("auto")
    min_confidence: float = Field(
        extract.MIN_CONFIDENCE,
        ge=0,
        le=1,
        description="Extractive: below this confidence in the answer, say you do not know.",
    )


class Answer(TaskResult):
    prose = True
    answer: str
    sources: list[str]
    method: str
    #: Extractive: the sentence the answer comes from, quoted with it; and how sure (0-1).
    context: str = ""
    confidence: float | None = None

    def text(self) -> str:
        """One line: the answer (with the sentence it comes from), then its numbered sources."""
        quoted = f'{self.answer}: "{self.context}"' if self.context else self.answer
        return " ".join([quoted, *(f"[{n}: {s}]" for n, s in enumerate(self.sources, 1))])

    def prediction(self) -> str:
        return self.answer

    def details(self) -> dict[str, Any]:
        return {"sources": self.sources, "method": self.method, "confidence": self.confidence}


class QATask(TaskPlugin):
    name = "qa"
    description = (
        "Answer from the GPT's knowledge, with citations; extractive for small local models."
    )
    Options = QAOptions
    commands = (Command("ask", "<question>", "Answer from this GPT's documents"),)
    eval_kind = "qa"

    async def run(self, request: TaskRequest) -> TaskResult:
        options = request.options
        assert isinstance(options, QAOptions)
        knowledge = request.knowledge
        if knowledge is None:
            raise InputError(
                f"GPT {request.gpt.name!r} has no knowledge to answer from: ask a GPT that has"
            )
        mode = options.mode
        if mode == "auto":
            mode = "extractive" if request.gpt.model.provider == "local" else "generate"
        if mode == "generate":
            reply = await request.answer(request.text).collect()
            return Answer(
                answer=reply.text, sources=[c.where for c in reply.citations], method="generate"
            )
        passages = await knowledge.asearch(request.text)
        if not passages:
            assert request.gpt.knowledge is not None
            return Answer(answer=request.gpt.knowledge.not_found, sources=[], method="extractive")
        embedder = knowledge.index.embedder
        extractor = extract.Extractor(
            embedder=embedder if isinstance(embedder, WordLlamaEmbedder) else None
        )
        span = await asyncio.to_thread(extractor.best, request.text, [p.text for p in passages])
        if span is None or span.confidence < options.min_confidence:
            assert request.gpt.knowledge is not None
            return Answer(
                answer=request.gpt.knowledge.not_found,
                sources=[],
                method="extractive",
                confidence=span.confidence if span else None,
            )
        passage = passages[span.passage]
        where = f"{passage.source} > {passage.title}" if passage.title else passage.source
        context = span.sentence if span.sentence != span.answer else ""
        return Answer(
            answer=span.answer,
            sources=[where],
            method="extractive",
            context=context,
            confidence=span.confidence,
        )


@botkit.hookimpl
def register_tasks(register: Callable[[str, Any], None]) -> None:
    register("qa", QATask)
