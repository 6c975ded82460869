"""Classification and sentiment: the answer is always one of the declared labels, with a confidence.

Method (this first version): nearest label centroid in embedding space. Each label is the mean of
the embeddings of its description and examples; a text goes to the label whose centroid is most
similar, and the similarities, sharpened by a softmax, give the confidence. It needs no generation
at all, so it never answers with free text. bench/tasks.py will compare it with scoring each
label's likelihood under the embedded model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

import botkit
from botkit.spec import EmbedderSpec
from botkit.tasks import Command, TaskPlugin, TaskRequest, TaskResult

#: Softmax temperature over cosine similarities (which sit close together for short texts).
SHARPNESS = 20.0


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    examples: list[str] = Field(default_factory=list)


class ClassificationOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: dict[str, Label | str] = Field(
        description="Label name -> a description, or {description, examples}."
    )
    none_label: str | None = Field(
        None, description="Answer this label when no label is similar enough (e.g. 'none')."
    )
    min_confidence: float = Field(0.0, ge=0, le=1, description="Below this, answer none_label.")
    embedder: EmbedderSpec = EmbedderSpec()

    @model_validator(mode="after")
    def _two_labels(self) -> ClassificationOptions:
        if len(self.labels) < 2:
            raise ValueError("declare at least two labels")
        return self

    def label_texts(self) -> dict[str, list[str]]:
        out = {}
        for name, label in self.labels.items():
            spec = Label(description=label) if isinstance(label, str) else label
            out[name] = [t for t in (spec.description or name, *spec.examples) if t]
        return out


class Classification(TaskResult):
    label: str
    confidence: float
    scores: dict[str, float]

    def text(self) -> str:
        return f"{self.label} ({self.confidence:.0%})"


class ClassificationTask(TaskPlugin):
    name = "classification"
    description = "One of the GPT's declared labels, with a confidence."
    Options = ClassificationOptions
    commands = (Command("classify", "<text>", "Classify the text with this GPT's labels"),)

    def __init__(self) -> None:
        self._centroids: dict[tuple[str, str], tuple[list[str], Any]] = {}

    def options_for(self, request: TaskRequest) -> ClassificationOptions:
        assert isinstance(request.options, ClassificationOptions)
        return request.options

    async def run(self, request: TaskRequest) -> TaskResult:
        options = self.options_for(request)
        embedder = request.bot.embedder(options.embedder)
        names, centroids = self._centroids_for(options, embedder)
        vector = embedder.embed([request.text])[0]
        sims = centroids @ vector
        weights = np.exp(SHARPNESS * (sims - sims.max()))
        probs = weights / weights.sum()
        best = int(np.argmax(probs))
        label, confidence = names[best], float(probs[best])
        if options.none_label and confidence < options.min_confidence:
            label = options.none_label
        scores = {n: round(float(p), 4) for n, p in zip(names, probs, strict=True)}
        return Classification(label=label, confidence=round(confidence, 4), scores=scores)

    def _centroids_for(
        self, options: ClassificationOptions, embedder: Any
    ) -> tuple[list[str], Any]:
        key = (options.model_dump_json(), embedder.label)
        if key not in self._centroids:
            texts = options.label_texts()
            names = list(texts)
            rows = [embedder.embed(texts[n]).mean(axis=0) for n in names]
            matrix = np.vstack(rows)
            matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
            self._centroids[key] = (names, matrix)
        return self._centroids[key]


SENTIMENT_LABELS: dict[str, Label | str] = {
    "positive": Label(
        description="A happy, satisfied, enthusiastic or approving message.",
        examples=[
            "I love it, works perfectly!",
            "Great support, thank you so much.",
            "Best purchase this year.",
        ],
    ),
    "negative": Label(
        description="An angry, disappointed, frustrated or critical message.",
        examples=[
            "This update broke my workflow.",
            "Terrible service, I want a refund.",
            "It crashes all the time.",
        ],
    ),
    "neutral": Label(
        description="A factual message with no feeling either way.",
        examples=[
            "The release is on Tuesday.",
            "My order number is 4521.",
            "How do I change my password?",
        ],
    ),
}


class SentimentOptions(ClassificationOptions):
    labels: dict[str, Label | str] = Field(default_factory=lambda: dict(SENTIMENT_LABELS))


class SentimentTask(ClassificationTask):
    name = "sentiment"
    description = "Positive, negative or neutral (or your own labels), with a score."
    Options = SentimentOptions
    commands = (Command("sentiment", "<text>", "Tell the sentiment of the text"),)


@botkit.hookimpl
def register_tasks(register: Any) -> None:
    register("classification", ClassificationTask)
    register("sentiment", SentimentTask)
