"""Task plugins: structured skills a GPT can use (translation, classification, sentiment, QA...).

A task plugin is a :class:`TaskPlugin` subclass registered through the ``register_tasks`` hook. It
declares its name, the options a GPT file may give it (a pydantic model, validated with the file's
line numbers like every other field), the chat commands it offers, and an async ``run`` that
returns a typed :class:`TaskResult`, which every surface renders in its own way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from botkit.core.message import Message
    from botkit.core.reply import Reply
    from botkit.knowledge.base import KnowledgeBase
    from botkit.knowledge.embeddings import Embedder
    from botkit.models.base import ChatMessage, ChatModel
    from botkit.spec import EmbedderSpec, GPTSpec

#: What ``botkit eval`` scores a task's predictions as.
EvalKind = Literal["classification", "translation", "qa", "chat"]


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskResult(BaseModel):
    """What a task returns. Subclasses add typed fields; ``text()`` is the plain rendering."""

    model_config = ConfigDict(frozen=True)
    #: The result is prose to read (a translation, an answer): surfaces show ``text()`` as the
    #: reply rather than a table of fields.
    prose: ClassVar[bool] = False

    def text(self) -> str:
        return ", ".join(f"{k}: {v}" for k, v in self.model_dump().items())

    def prediction(self) -> Any:
        """What ``botkit eval`` compares with the expected answer (default: ``text()``)."""
        return self.text()

    def details(self) -> dict[str, Any]:
        """What ``botkit eval`` stores beside the prediction (a confidence, the sources...)."""
        return {}

    def fields(self) -> list[tuple[str, str]]:
        """(name, shown value) pairs for tables, Slack fields and Discord embed fields."""
        return [(name, _shown(value)) for name, value in self.model_dump().items()]


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_shown(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_shown(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Command:
    """A chat command a task offers, e.g. ``Command("sentiment", "<text>", "Tell the sentiment")``.

    ``usage`` names the command's inputs in order (``<language> <text>``: the last one takes the
    rest of the line); ``choices`` the values an input is expected to take, for surfaces that
    offer them (Discord shows them as choices or autocomplete), e.g. ``{"language": (...)}``.
    """

    name: str
    usage: str = "<text>"
    help: str = ""
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class TrainingPrompt:
    """How a task asks its model for one answer: what fine-tuning the model trains on.

    Either chat ``messages`` (the model's chat template applies, and the answer is the assistant
    turn) or raw ``text``, pieces of prompt text each with whether special tokens in it count as
    such, which the ``answer`` continues directly (e.g. ``" positive"`` after ``Sentiment:``).
    """

    answer: str
    messages: tuple[ChatMessage, ...] = ()
    text: tuple[tuple[str, bool], ...] = ()


class TaskContext(Protocol):
    """What a task plugin may use of the GPT it runs for (botkit's GPT runtime provides it)."""

    @property
    def data_dir(self) -> Path | None:
        """A folder for files the plugin derives (trained heads, caches), or None."""

    @property
    def knowledge(self) -> KnowledgeBase | None:
        """The GPT's knowledge base, ready to search, or None when it has none."""

    def model(self) -> ChatModel:
        """The GPT's model (made once; a missing key or model file raises its error here)."""

    def embedder(self, spec: EmbedderSpec) -> Embedder:
        """The embedder for ``spec``, made once and shared."""

    def answer(self, text: str) -> Reply:
        """The GPT answering ``text`` with its model, instructions and knowledge, as a task-free
        chat with no history (what a plugin uses to let the model write)."""


@dataclass
class TaskRequest:
    """One piece of work for a task plugin."""

    text: str  # the message, with the command word removed when one was used
    gpt: GPTSpec
    options: BaseModel
    context: TaskContext
    command: str = ""  # the command word used ("translate"), or "" for a GPT's own task
    message: Message | None = field(default=None)  # the message it came from, when there is one

    @property
    def data_dir(self) -> Path | None:
        return self.context.data_dir

    @property
    def knowledge(self) -> KnowledgeBase | None:
        return self.context.knowledge

    def model(self) -> ChatModel:
        return self.context.model()

    def embedder(self, spec: EmbedderSpec) -> Embedder:
        return self.context.embedder(spec)

    def answer(self, text: str) -> Reply:
        return self.context.answer(text)


class TaskPlugin(ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions
    commands: ClassVar[tuple[Command, ...]] = ()
    #: How ``botkit eval`` scores this task's predictions.
    eval_kind: ClassVar[EvalKind] = "chat"

    def answers(self, options: BaseModel) -> tuple[str, ...]:
        """The answers a classification may give with these options (for checking eval data);
        empty when any answer is possible."""
        return ()

    async def prepare(self, request: TaskRequest) -> None:  # noqa: B027 - optional hook
        """Build what ``run`` needs for these options (centroids, a calibration) before the
        first message, so that a server is ready when it says so. Default: nothing."""

    @abstractmethod
    async def run(self, request: TaskRequest) -> TaskResult:
        """Do the task; raise ``botkit.InputError`` for input it cannot handle."""

    def fingerprint(self, request: TaskRequest) -> str:
        """What, besides the GPT file, decides this task's answers for this GPT (e.g. a trained
        head's data hash); ``botkit eval`` keys its cached predictions on it. Default: nothing."""
        return ""

    async def training_prompt(self, request: TaskRequest, answer: str) -> TrainingPrompt | None:
        """The prompt this task would give the GPT's model for ``request``, with ``answer`` as
        what the model should reply: local fine-tuning trains on exactly that. Default: None
        (the GPT's plain chat prompt is used)."""
        return None


TaskFactory = Callable[[], TaskPlugin]
