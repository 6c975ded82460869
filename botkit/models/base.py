"""The one interface every model provider implements: async, streaming, with its own token counts."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Literal, Protocol, TypedDict, runtime_checkable

from botkit.spec import GenerationParams, ModelSpec

Role = Literal["system", "user", "assistant"]


class ChatMessage(TypedDict):
    role: Role
    content: str


#: Tokens a chat template adds around each message (role markers, separators), counted generously.
MESSAGE_OVERHEAD_TOKENS = 4


class ChatModel(ABC):
    """A chat model: created from a :class:`ModelSpec` by its provider's factory."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

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
    def stream(self, messages: list[ChatMessage], params: GenerationParams) -> AsyncIterator[str]:
        """Yield the reply as text chunks, as the model produces them."""

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


#: What a provider registers: turns a GPT's model section into a ready model.
ProviderFactory = Callable[[ModelSpec], ChatModel]
