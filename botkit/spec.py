"""The pydantic models of a GPT file (``configs/gpts/*.yaml``).

Every model forbids unknown keys, so a typo is an error with a suggestion, never a silently ignored
setting. Secrets never live in these files: only the *name* of the environment variable that holds one.
"""

from __future__ import annotations

import string
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

#: Placeholders every GPT's instructions may use without declaring them under ``variables``.
BUILTIN_VARIABLES = ("date", "time", "gpt_name", "user")

#: ``model: embedded`` (or leaving ``model`` out) runs SmolLM2-135M-Instruct inside the process.
EMBEDDED_MODEL = "embedded"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Strict):
    """Which model a GPT runs on. Written either as a mapping or as ``provider:name`` shorthand."""

    provider: str = Field("local", description="A registered model provider: 'local' or 'openai'.")
    name: str = Field(
        EMBEDDED_MODEL,
        description="Model name for the provider: a model id for 'openai', a GGUF path or "
        "'embedded' for 'local'.",
    )
    base_url: str | None = Field(
        None, description="OpenAI-compatible server, e.g. http://localhost:11434/v1 for Ollama."
    )
    api_key_env: str | None = Field(
        None,
        description="Name of the environment variable holding the API key "
        "(default OPENAI_API_KEY; optional when base_url is set).",
    )
    context_window: int | None = Field(
        None, gt=0, description="Tokens the model can attend to (default: the model's own)."
    )
    timeout: float = Field(60.0, gt=0, description="Seconds to wait for the model per request.")
    max_retries: int = Field(
        2, ge=0, description="Retries with backoff on 429 and 5xx answers and dropped connections."
    )

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.name}"


def _model_shorthand(value: Any) -> Any:
    if value is None:
        return {}
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text == EMBEDDED_MODEL:
        return {"provider": "local", "name": EMBEDDED_MODEL}
    provider, sep, name = text.partition(":")
    if not sep or not provider or not name:
        raise ValueError(
            f"expected 'embedded', 'PROVIDER:NAME' (e.g. 'openai:gpt-4o-mini', "
            f"'local:/path/model.gguf') or a mapping, got {value!r}"
        )
    return {"provider": provider, "name": name}


ModelField = Annotated[
    ModelSpec, BeforeValidator(_model_shorthand, json_schema_input_type=str | ModelSpec)
]


class GenerationParams(_Strict):
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, gt=0, description="Most tokens one reply may have.")
    top_p: float | None = Field(None, gt=0, le=1)
    stop: list[str] | None = Field(None, description="Strings that end the reply.")

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Example(_Strict):
    """A few-shot example: rendered as a real user turn followed by an assistant turn."""

    user: str = Field(min_length=1)
    assistant: str = Field(min_length=1)


class KnowledgeSpec(_Strict):
    """Documents the GPT answers from (indexed by the knowledge subsystem)."""

    sources: list[str] = Field(default_factory=list, description="Files, folders or globs.")


class TaskSpec(_Strict):
    """The task plugin that gives this GPT a structured skill."""

    plugin: str = Field(description="A registered task plugin, e.g. 'sentiment'.")
    options: dict[str, Any] = Field(default_factory=dict)


class GPTSpec(_Strict):
    """One custom GPT."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, title="botkit GPT", json_schema_extra={"$id": "botkit-gpt"}
    )

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Lower-case id, e.g. 'translator'."
    )
    description: str = ""
    model: ModelField = ModelSpec()
    variables: dict[str, str] = Field(default_factory=dict)
    instructions: str = Field(min_length=1, description="The system prompt; may use {variables}.")
    examples: list[Example] = Field(default_factory=list)
    parameters: GenerationParams = GenerationParams()
    starters: list[str] = Field(default_factory=list, description="Conversation starters.")
    knowledge: KnowledgeSpec | None = None
    task: TaskSpec | None = None

    @field_validator("instructions")
    @classmethod
    def _placeholders_are_defined(cls, value: str, info: ValidationInfo) -> str:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
        except ValueError as exc:
            raise ValueError(f"{exc} (write a literal brace as {{{{ or }}}})") from exc
        known = set(info.data.get("variables") or {}) | set(BUILTIN_VARIABLES)
        for field in fields:
            if field not in known:
                raise ValueError(
                    f"unknown variable {{{field}}}: declare it under 'variables:' "
                    f"or use one of {', '.join(BUILTIN_VARIABLES)}"
                )
        return value


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a GPT file, for editors (yaml-language-server) and `botkit schema`."""
    schema = GPTSpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
