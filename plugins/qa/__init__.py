"""Question answering from a GPT's knowledge: ``ask <question>``, or ``task: {plugin: qa}``.

``generate`` answers with the GPT's model from the retrieved passages, with citations (the core's
knowledge path). ``extractive`` answers with the single best sentence of the retrieved passages,
quoted and cited: a weak local model cannot invent anything that way. ``auto`` (the default) is
extractive for the embedded/local models and generative for the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

import botkit
from botkit.errors import InputError
from botkit.tasks import Command, TaskPlugin, TaskRequest, TaskResult

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_WORD = re.compile(r"\w+")


class QAOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["auto", "extractive", "generate"] = Field("auto")


class Answer(TaskResult):
    prose = True
    answer: str
    sources: list[str]
    method: str

    def text(self) -> str:
        """One line: the answer, then its numbered sources."""
        return " ".join([self.answer, *(f"[{n}: {s}]" for n, s in enumerate(self.sources, 1))])

    def prediction(self) -> str:
        return self.answer

    def details(self) -> dict[str, Any]:
        return {"sources": self.sources, "method": self.method}


def sentences(text: str) -> list[str]:
    """The prose sentences of a passage (headings, list markers and code fences dropped)."""
    lines = [
        ln
        for ln in text.splitlines()
        if ln.strip() and not ln.lstrip().startswith(("#", "```", "|"))
    ]
    flat = " ".join(ln.strip().lstrip("-*0123456789. ") for ln in lines)
    return [s.strip() for s in _SENTENCE.split(flat) if len(_WORD.findall(s)) >= 4]


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
        candidates = [(s, p) for p in passages for s in sentences(p.text)] or [
            (passages[0].text, passages[0])
        ]
        embedder = knowledge.index.embedder
        vectors = await embedder.aembed([request.text, *(s for s, _ in candidates)])
        question_words = {w.lower() for w in _WORD.findall(request.text) if len(w) > 3}
        scores = []
        for (sentence, passage), vector in zip(candidates, vectors[1:], strict=True):
            words = {w.lower() for w in _WORD.findall(sentence)}
            overlap = len(question_words & words) / (len(question_words) or 1)
            scores.append(float(vector @ vectors[0]) + 0.5 * overlap + 0.2 * passage.score)
        sentence, passage = candidates[int(np.argmax(scores))]
        where = f"{passage.source} > {passage.title}" if passage.title else passage.source
        return Answer(answer=sentence, sources=[where], method="extractive")


@botkit.hookimpl
def register_tasks(register: Callable[[str, Any], None]) -> None:
    register("qa", QATask)
