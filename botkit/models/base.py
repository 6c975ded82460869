"""The one interface every model provider implements: async, streaming, with its own token counts."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, TypedDict, runtime_checkable

from botkit.spec import GenerationParams, ModelSpec

Role = Literal["system", "user", "assistant"]


class ChatMessage(TypedDict):
    role: Role
    content: str


#: Tokens a chat template adds around each message (role markers, separators), counted generously.
MESSAGE_OVERHEAD_TOKENS = 4


@dataclass(frozen=True)
class StreamEnd:
    """What a model may yield after its last text chunk: why it stopped, and the tokens it used.

    ``finish_reason`` is OpenAI's: ``stop`` (the model ended), ``length`` (``max_tokens`` cut it)
    or ``content_filter``. Token counts are ``None`` when the model did not report them (the
    core then estimates them with :meth:`ChatModel.count_tokens`).
    """

    finish_reason: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


#: What :meth:`ChatModel.stream` yields: text chunks, then optionally one :class:`StreamEnd`.
Chunk = str | StreamEnd


class ChatModel(ABC):
    """A chat model: created from a :class:`ModelSpec` by its provider's factory.

    ``data_dir`` is a folder where the model may keep files it derives (botkit sets it to its
    data directory after creating the model; ``None`` when there is none).
    """

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.data_dir: Path | None = None

    @property
    @abstractmethod
    def context_window(self) -> int:
        """How many tokens the prompt and the reply may take together."""

    @abstractmethod
    async def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` as this model counts them."""

    async def count_message_tokens(self, messages: list[ChatMessage]) -> list[int]:
        """Tokens each message takes in the prompt, template overhead included."""
        return [await self.count_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages]

    @abstractmethod
    def stream(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[Chunk, None]:
        """Yield the reply as text chunks, as the model produces them, then (optionally) one
        :class:`StreamEnd` with the finish reason and token counts.

        Leaving the iteration early (``aclose``, cancellation) must stop the generation and
        release what it holds (a connection, the model's lock).
        """

    async def load(self) -> Any:  # noqa: B027 - optional hook, remote models load nothing
        """Load what the model needs (weights of a local model) now rather than on first use."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most models hold nothing
        """Release connections or memory; the default has nothing to release."""


@runtime_checkable
class LabelScorer(Protocol):
    """A model that can score how likely each label is to follow a prompt (local models)."""

    async def score_labels(self, prefix: str, text: str, labels: Sequence[str]) -> list[float]:
        """Log-probability of each label right after ``prefix + text``.

        ``prefix`` is the same for many calls (instructions and examples), so implementations keep
        it evaluated and pay only for ``text`` and the labels.
        """
        ...


@runtime_checkable
class StructuredOutput(Protocol):
    """A model that can answer with JSON matching a schema (OpenAI structured outputs)."""

    async def complete_json(
        self,
        messages: list[ChatMessage],
        params: GenerationParams,
        name: str,
        schema: dict[str, Any],
    ) -> Any:
        """The model's answer parsed from JSON; the server constrains it to ``schema``."""
        ...


async def complete_text(
    model: ChatModel, messages: list[ChatMessage], params: GenerationParams
) -> str:
    """The model's whole answer as one string (for plugins that do not stream)."""
    parts: list[str] = []
    async with contextlib.aclosing(model.stream(messages, params)) as chunks:
        async for chunk in chunks:
            if isinstance(chunk, str):
                parts.append(chunk)
    return "".join(parts)


#: What a provider registers: turns a GPT's model section into a ready model.
ProviderFactory = Callable[[ModelSpec], ChatModel]
