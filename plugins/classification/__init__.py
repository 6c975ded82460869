"""Classification and sentiment: the answer is always one of the declared labels, with a confidence.

Four methods, ``method: auto`` choosing by the GPT's model (bench/tasks.py has the measurements):

- ``structured``: OpenAI-compatible models answer JSON constrained to the labels (structured
  outputs), with a confidence and a rationale; an answer outside the labels is retried once.
- ``likelihood``: local models score each label as the continuation of a prompt holding the labels
  and examples (kept evaluated between texts), calibrated against the model's label-word bias.
  The choice for sentiment on local models: tone needs a language model (SST-2: 0.805 against
  0.609 for centroids, whose bags of words miss negation).
- ``trained``: a head trained on the GPT's labeled data with ``botkit finetune local``; ``auto``
  uses it whenever the GPT has one (CLINC150 0.945, SST-2 0.95 in bench/evaluate.py).
- ``embeddings``: the labels' nearest examples in embedding space (the mean similarity of each
  label's 3 most similar texts) and their TF-IDF centroids; the choice for topics and intents
  on local models (CLINC150, 150 labels: see bench/tasks.py) and for any model with more than
  ``MAX_LIKELIHOOD_LABELS`` labels.

``multi_label: true`` answers every label scoring at least ``label_threshold``. ``none_label``
answers "none of these" when the best label's confidence is below ``min_confidence`` (the labels
are too alike to choose) or, with embeddings, when the text's best similarity to a label (meaning
and wording mixed) is below ``min_similarity`` (it is like none of them). On CLINC150 that is the
better gate: ``min_similarity: 0.42``, chosen inside the training files, catches 0.89 of the
out-of-scope queries there at in-scope accuracy 0.885 (bench/tasks.py --tune);
``min_confidence`` catches fewer at the same in-scope accuracy.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

import botkit
from botkit.errors import InputError
from botkit.finetune import local_head
from botkit.finetune.local_head import INFO_FILE, Head, head_dir
from botkit.models.base import LabelScorer, StructuredOutput
from botkit.spec import EmbedderSpec
from botkit.tasks import Command, TaskPlugin, TaskRequest, TaskResult, TrainingPrompt

from . import structured
from .centroids import Centroids
from .likelihood import Likelihood, build_prefix, one_line
from .trained import Trained

#: Above this many labels, local models use embeddings (one forward pass scores few labels well).
MAX_LIKELIHOOD_LABELS = 10

Method = Literal["auto", "structured", "likelihood", "embeddings", "trained"]


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    examples: list[str] = Field(default_factory=list)


class ClassificationOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    labels: dict[str, Label | str] = Field(
        description="Label name -> a description, or {description, examples}."
    )
    method: Method = Field("auto", description="How to choose; auto picks by the GPT's model.")
    multi_label: bool = Field(False, description="Answer every label that applies.")
    label_threshold: float = Field(
        0.3, gt=0, le=1, description="With multi_label: the confidence a label needs."
    )
    none_label: str | None = Field(
        None, description="Answer this label when no label fits well enough (e.g. 'none')."
    )
    min_confidence: float = Field(0.0, ge=0, le=1, description="Below this, answer none_label.")
    min_similarity: float = Field(
        0.0, ge=-1, le=1, description="Embeddings: below this similarity, answer none_label."
    )
    embedder: EmbedderSpec = EmbedderSpec()

    @model_validator(mode="after")
    def _two_labels(self) -> ClassificationOptions:
        if len(self.labels) < 2:
            raise ValueError("declare at least two labels")
        if self.none_label in self.labels:
            raise ValueError(f"none_label {self.none_label!r} must not also be a declared label")
        return self

    @functools.cached_property
    def key(self) -> str:
        """These options as one string (to key what is built from them), made once."""
        return self.model_dump_json()

    def answers(self) -> list[str]:
        """Every label an answer may be: the declared ones and ``none_label``."""
        return [*self.labels, *([self.none_label] if self.none_label else [])]

    def label_specs(self) -> dict[str, Label]:
        return {
            name: Label(description=label) if isinstance(label, str) else label
            for name, label in self.labels.items()
        }

    def descriptions(self) -> dict[str, str]:
        return {name: spec.description for name, spec in self.label_specs().items()}

    def examples(self) -> dict[str, list[str]]:
        return {name: list(spec.examples) for name, spec in self.label_specs().items()}

    def label_texts(self) -> dict[str, list[str]]:
        """Each label's description (or name) and examples: what its centroid is made of."""
        return {
            name: [spec.description or name, *spec.examples]
            for name, spec in self.label_specs().items()
        }


class Classification(TaskResult):
    label: str
    labels: list[str]
    confidence: float
    scores: dict[str, float]
    method: str
    rationale: str = ""

    def text(self) -> str:
        return f"{', '.join(self.labels) or self.label} ({self.confidence:.0%})"

    def prediction(self) -> str | list[str]:
        return self.labels if len(self.labels) > 1 else self.label

    def details(self) -> dict[str, Any]:
        return {"confidence": self.confidence, "method": self.method}

    def fields(self) -> list[tuple[str, str]]:
        top = sorted(self.scores.items(), key=lambda kv: -kv[1])[:5]
        return [
            ("labels" if len(self.labels) > 1 else "label", ", ".join(self.labels)),
            ("confidence", f"{self.confidence:.0%}"),
            ("rationale", self.rationale),
            ("scores", ", ".join(f"{name} {score:.0%}" for name, score in top)),
            ("method", self.method),
        ]


class ClassificationTask(TaskPlugin):
    name = "classification"
    description = "One of the GPT's declared labels (or several), with a confidence."
    Options = ClassificationOptions
    commands = (Command("classify", "<text>", "Classify the text with this GPT's labels"),)
    #: How the likelihood prompt puts the question, and the word before each answer.
    question, answer_field = "Classify each text", "Label"
    #: What ``method: auto`` uses on local models (chosen by bench/tasks.py).
    local_method: ClassVar[str] = "embeddings"
    eval_kind = "classification"

    def __init__(self) -> None:
        self._methods: dict[tuple[str, ...], Any] = {}
        self._building: dict[tuple[str, ...], asyncio.Lock] = {}
        self._heads: dict[tuple[str, int], Head | None] = {}

    def answers(self, options: BaseModel) -> tuple[str, ...]:
        assert isinstance(options, ClassificationOptions)
        return tuple(options.answers())

    async def prepare(self, request: TaskRequest) -> None:
        """Choose the method for the GPT's options and build it (centroids, a calibration)."""
        options = request.options
        assert isinstance(options, ClassificationOptions)
        head = await self._head(request)
        model = self._model(request, options, head)
        if model is not None:
            await model.load()
        method = self._choose(options, model, head)
        if method != "structured":
            await self._scorer(method, options, model, request, head)

    async def run(self, request: TaskRequest) -> TaskResult:
        options = request.options
        assert isinstance(options, ClassificationOptions)
        if not request.text.strip():
            raise InputError(f"give the text to {request.command or 'classify'}")
        head = await self._head(request)
        model = self._model(request, options, head)
        method = self._choose(options, model, head)
        names = list(options.labels)
        rationale, fit = "", None
        if method == "structured":
            assert isinstance(model, StructuredOutput)
            descriptions = options.descriptions()
            if options.none_label:  # the model may say so itself
                descriptions[options.none_label] = "none of the other labels fits"
            system = structured.system_prompt(
                request.gpt.instructions, descriptions, options.examples(), options.multi_label
            )
            picked, confidence, rationale = await structured.classify(
                model, system, request.text, list(descriptions), options.multi_label
            )
            picked = [p for p in picked if p != options.none_label]
            scores = {n: (confidence if n in picked else 0.0) for n in names}
        else:
            scorer = await self._scorer(method, options, model, request, head)
            scores, fit = await scorer.scores(request.text)
            ranked = sorted(scores, key=scores.__getitem__, reverse=True)
            picked = (
                [n for n in ranked if scores[n] >= options.label_threshold] or ranked[:1]
                if options.multi_label
                else ranked[:1]
            )
            confidence = scores[picked[0]]
            rationale = _rationale(method, scores, ranked, fit)
        unlike_all = fit is not None and fit < options.min_similarity
        if options.none_label and (not picked or confidence < options.min_confidence or unlike_all):
            picked = []
        label = picked[0] if picked else options.none_label or ""
        return Classification(
            label=label,
            labels=picked or [label],
            confidence=round(confidence, 4),
            scores={n: round(v, 4) for n, v in scores.items()},
            method=method,
            rationale=rationale,
        )

    def _choose(self, options: ClassificationOptions, model: Any, head: Head | None) -> str:
        method = options.method
        if method == "trained" and head is None:
            raise InputError(
                "method 'trained' needs a trained head: run `botkit finetune local --gpt NAME "
                "--data FILE` first"
            )
        if method == "auto":
            if head is not None:
                return "trained"
            if isinstance(model, StructuredOutput):
                return "structured"
            # a model fine-tuned with `botkit finetune local --method lora` learnt likelihood
            tuned = getattr(getattr(model, "spec", None), "adapter", None) is not None
            if (
                (self.local_method == "likelihood" or tuned)
                and isinstance(model, LabelScorer)
                and len(options.labels) <= MAX_LIKELIHOOD_LABELS
            ):
                return "likelihood"
            return "embeddings"
        needs = {"structured": StructuredOutput, "likelihood": LabelScorer}.get(method)
        if needs is not None and not isinstance(model, needs):
            raise InputError(
                f"method {method!r} needs a model that supports it; this GPT's model "
                f"({model.spec.provider}) does not: use method auto or embeddings"
            )
        return method

    @staticmethod
    def _model(request: TaskRequest, options: ClassificationOptions, head: Head | None) -> Any:
        """The GPT's model, when the method needs one: a trained head or centroids need none
        (no key, no model file, no loading)."""
        needs_model = options.method not in ("embeddings", "trained") and not (
            options.method == "auto" and head is not None
        )
        return request.model() if needs_model else None

    async def _head(self, request: TaskRequest) -> Head | None:
        """The GPT's trained head if it has one whose labels it still declares (loaded once per
        training, in a worker thread)."""
        data_dir = request.data_dir
        if data_dir is None:
            return None
        folder = head_dir(data_dir, request.gpt.name)
        info = folder / INFO_FILE
        stamp = (str(folder), info.stat().st_mtime_ns if info.is_file() else 0)
        if stamp not in self._heads:
            self._heads[stamp] = await asyncio.to_thread(local_head.load, folder)
        head = self._heads[stamp]
        options = request.options
        assert isinstance(options, ClassificationOptions)
        if head is None or not set(head.labels) <= set(options.answers()):
            return None
        return head

    def fingerprint(self, request: TaskRequest) -> str:
        data_dir = request.data_dir
        if data_dir is None:
            return ""
        folder = head_dir(data_dir, request.gpt.name)
        return _stamp(local_head.load(folder)) if (folder / INFO_FILE).is_file() else ""

    async def training_prompt(self, request: TaskRequest, answer: str) -> TrainingPrompt | None:
        """The label-likelihood prompt (what local models are scored with), answered by the label.

        Fine-tuning a local model on it teaches exactly what scoring asks; a GPT whose model has
        such an adapter classifies by likelihood (``auto``), up to ``MAX_LIKELIHOOD_LABELS``.
        """
        options = request.options
        assert isinstance(options, ClassificationOptions)
        if len(options.labels) > MAX_LIKELIHOOD_LABELS:
            raise InputError(
                f"label likelihood scores up to {MAX_LIKELIHOOD_LABELS} labels and this GPT has "
                f"{len(options.labels)}: train a classifier head instead (--method head)"
            )
        prefix = build_prefix(
            self.question, self.answer_field, options.descriptions(), options.examples()
        )
        question = f"Text: {one_line(request.text)}\n{self.answer_field}:"
        return TrainingPrompt(answer=f" {answer}", text=((prefix, True), (question, False)))

    async def _scorer(
        self,
        method: str,
        options: ClassificationOptions,
        model: Any,
        request: TaskRequest,
        head: Head | None,
    ) -> Any:
        """The method's scorer for these options, built once (centroids, calibration) in a
        worker thread; concurrent first uses wait for the one being built."""
        key = (method, options.key, repr(request.gpt.model), _stamp(head))
        if key in self._methods:
            return self._methods[key]
        async with self._building.setdefault(key, asyncio.Lock()):
            if key not in self._methods:
                self._methods[key] = await self._build(method, options, model, request, head)
        return self._methods[key]

    async def _build(
        self,
        method: str,
        options: ClassificationOptions,
        model: Any,
        request: TaskRequest,
        head: Head | None,
    ) -> Any:
        if method == "trained":
            assert head is not None
            embedder = request.embedder(EmbedderSpec(**head.info["embedder"]))
            return Trained(head, embedder, options.answers())
        if method == "likelihood":
            return Likelihood(
                model, self.question, self.answer_field, options.descriptions(), options.examples()
            )
        embedder = request.embedder(options.embedder)
        return await asyncio.to_thread(Centroids, embedder, options.label_texts())


def _stamp(head: Head | None) -> str:
    """What tells one trained head from another: its data and when it was trained."""
    return head.info["data_hash"] + head.info["trained"] if head else ""


def _rationale(method: str, scores: dict[str, float], ranked: list[str], fit: float | None) -> str:
    best = ranked[0]
    runner_up = f", then {ranked[1]} {scores[ranked[1]]:.0%}" if len(ranked) > 1 else ""
    if method == "likelihood":
        how = "the model finds this label the likeliest"
    elif method == "trained":
        how = "the head trained on this GPT's data"
    else:
        how = f"closest to this label's description and examples (similarity {fit or 0:.2f})"
    return f"{how}: {best} {scores[best]:.0%}{runner_up}"


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
    question, answer_field = "Classify the sentiment of each text", "Sentiment"
    local_method = "likelihood"
    name = "sentiment"
    description = "Positive, negative or neutral (or your own labels), with a score."
    Options = SentimentOptions
    commands = (Command("sentiment", "<text>", "Tell the sentiment of the text"),)


@botkit.hookimpl
def register_tasks(register: Any) -> None:
    register("classification", ClassificationTask)
    register("sentiment", SentimentTask)
