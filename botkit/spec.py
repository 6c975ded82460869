"""The pydantic models of a GPT file (``configs/gpts/*.yaml``).

Every model forbids unknown keys, so a typo is an error with a suggestion, never a silently ignored
setting. Secrets never live in these files: only the *name* of the environment variable that holds one.
"""

from __future__ import annotations

import string
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
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
    adapter: str | None = Field(
        None,
        description="Local models: a GGUF LoRA adapter applied to the model for generation and "
        "label scoring (what `botkit finetune local --method lora` trains).",
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


class SourceSpec(_Strict):
    """A knowledge source with options: ``{path: faq.jsonl, text_field: answer}``."""

    path: str = Field(description="A file, folder or glob.")
    text_field: str = Field("text", description="For JSON and JSONL: the field holding the text.")


class EmbedderSpec(_Strict):
    """Which embedding model indexes and searches a GPT's knowledge."""

    provider: str = Field("wordllama", description="'wordllama' (embedded), 'openai', ...")
    name: str = Field("default", description="Model name for the provider.")
    base_url: str | None = None
    api_key_env: str | None = None
    batch_size: int = Field(256, gt=0, description="Texts per embedding request.")

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.name}"


def _embedder_shorthand(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    provider, _, name = value.strip().partition(":")
    return {"provider": provider, "name": name or "default"}


EmbedderField = Annotated[
    EmbedderSpec, BeforeValidator(_embedder_shorthand, json_schema_input_type=str | EmbedderSpec)
]


class KnowledgeSpec(_Strict):
    """Documents the GPT answers from: chunked, embedded, indexed in Chroma, cited in answers."""

    sources: list[str | SourceSpec] = Field(
        default_factory=list,
        description="Files, folders or globs (** for subfolders), relative to the project folder "
        "(the one holding configs/), or to the GPT file when they start with ./ or ../",
    )
    embedder: EmbedderField = EmbedderSpec()
    chunk_size: int = Field(200, ge=16, le=8192, description="Tokens per chunk.")
    chunk_overlap: int = Field(40, ge=0, description="Tokens a chunk shares with the previous one.")
    top_k: int = Field(4, gt=0, le=50, description="Passages put into the prompt.")
    min_score: float = Field(
        0.3, ge=0, le=1, description="Relevance below which a passage is not used (0-1)."
    )
    search: Literal["hybrid", "vector", "bm25"] = "hybrid"
    vector_weight: float = Field(
        0.15,
        ge=0,
        le=1,
        description="Hybrid search: share of the vector score (the rest is BM25). 0.15 measured "
        "best on SQuAD; raise it when questions rarely share words with the documents.",
    )
    chroma_url: str | None = Field(
        None, description="A Chroma server (default: $BOTKIT_CHROMA_URL, else embedded)."
    )
    auto_refresh: bool = Field(
        True, description="Look for changed files and re-index them in the background."
    )
    refresh_interval: float = Field(
        10.0, gt=0, description="With auto_refresh: seconds between two looks for changed files."
    )
    max_file_mb: float = Field(20, gt=0, description="Larger files are skipped with a warning.")
    allow_outside: bool = Field(
        False,
        description="Index files outside the project folder (and symlinks leading out of it); "
        "off, they are skipped with a warning.",
    )
    strip_instructions: bool = Field(
        True,
        description="Leave out sentences of retrieved passages that speak to the model "
        "('ignore your instructions', 'note to any AI reading this'...) before it reads them.",
    )
    not_found: str = Field(
        "I don't know: nothing in my documents answers that.",
        description="The answer when no passage is relevant enough.",
    )

    @model_validator(mode="after")
    def _overlap_fits(self) -> KnowledgeSpec:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size ({self.chunk_size})"
            )
        return self


class TaskSpec(_Strict):
    """The task plugin that gives this GPT a structured skill."""

    plugin: str = Field(description="A registered task plugin, e.g. 'sentiment'.")
    options: dict[str, Any] = Field(default_factory=dict)


Severity = Literal["off", "warn", "block"]


class ModerationSpec(_Strict):
    """What is checked, and what happens to a flagged message or answer."""

    input: Severity = Field(
        "off", description="Users' messages: warn (an audit line) or block (refused)."
    )
    output: Severity = Field(
        "off",
        description="Answers: warn (an audit line) or block (an answer is then shown only once "
        "checked, not streamed).",
    )
    provider: Literal["auto", "openai", "local"] = Field(
        "auto",
        description="auto: OpenAI's moderation endpoint for GPTs on OpenAI, else local rules.",
    )
    rules: dict[str, list[str]] = Field(
        default_factory=dict,
        description="More local rules: category -> regular expressions (case-insensitive).",
    )


class SafetySpec(_Strict):
    """Redaction and moderation. In a GPT file, the fields given override the deployment's."""

    redact: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Replace e-mails, phone, card and IBAN numbers and API keys before text goes to "
        "a model (auto: for models not on this machine); the user still sees their own text.",
    )
    moderation: ModerationSpec = ModerationSpec()

    def over(self, base: SafetySpec) -> SafetySpec:
        """These settings, with what they leave out taken from ``base``."""
        if "moderation" in self.model_fields_set and "moderation" in base.model_fields_set:
            mine = self.moderation.model_dump(exclude_unset=True)
            moderation = base.moderation.model_copy(update=mine)
        else:
            moderation = (
                self.moderation if "moderation" in self.model_fields_set else base.moderation
            )
        redact = self.redact if "redact" in self.model_fields_set else base.redact
        return SafetySpec(redact=redact, moderation=moderation)


class EvalSpec(_Strict):
    """A labeled data set ``botkit eval --all`` runs this GPT on, and the scores it must reach."""

    data: str = Field(
        description="JSONL or CSV file, relative to the project folder (the one holding configs/), "
        "or to the GPT file when it starts with ./ or ../"
    )
    input_field: str | None = Field(None, description="The input field (default: text or input).")
    expected_field: str | None = Field(
        None, description="The expected-output field (default: label or expected)."
    )
    limit: int | None = Field(None, gt=0, description="Evaluate only the first N rows.")
    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Minimum score per metric, e.g. {accuracy: 0.8, macro_f1: 0.7, bleu: 20}; "
        "per label as LABEL.f1 (or .precision, .recall).",
    )


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
    safety: SafetySpec | None = Field(
        None, description="Redaction and moderation (over the deployment file's safety:)."
    )
    evals: list[EvalSpec] = Field(
        default_factory=list, description="Labeled data sets and thresholds for `botkit eval`."
    )

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
