"""The OpenAI-compatible provider: OpenAI itself, or Ollama, vLLM, llama.cpp server, LM Studio via base_url.

Built on the official ``AsyncOpenAI`` client, which retries 408/409/429/5xx answers and dropped
connections with exponential backoff (honouring ``Retry-After``) up to ``max_retries`` times.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import TYPE_CHECKING, Any

from botkit.errors import InputError, MissingAPIKey, ModelResponseError, ModelUnreachable
from botkit.hookspecs import hookimpl
from botkit.models.base import ChatMessage, ChatModel, Chunk, ProviderFactory, StreamEnd
from botkit.spec import GenerationParams, ModelSpec

if TYPE_CHECKING:
    import openai

DEFAULT_KEY_ENV = "OPENAI_API_KEY"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_CONTEXT_WINDOW = 8192
#: Context windows of well-known model families, longest prefix first.
KNOWN_CONTEXT_WINDOWS = (
    ("gpt-4.1", 1_047_576),
    ("gpt-4o", 128_000),
    ("gpt-4-turbo", 128_000),
    ("gpt-4", 8_192),
    ("gpt-3.5-turbo", 16_385),
    ("o1", 200_000),
    ("o3", 200_000),
    ("o4", 200_000),
)
MODERATION_MODEL = "omni-moderation-latest"
#: The OpenAI chat API exposes no tokenizer; this many characters per token over-counts English.
CHARS_PER_TOKEN = 3


def endpoint(base_url: str | None, api_key_env: str | None) -> tuple[str, str]:
    """The server URL and API key to use, as the openai client would find them.

    The GPT file's ``base_url`` wins, then ``$OPENAI_BASE_URL``, then OpenAI. The key comes from
    ``api_key_env`` (default ``$OPENAI_API_KEY``); another server than OpenAI needs none unless
    the GPT names a key variable (local servers such as Ollama, vLLM or LM Studio accept any).
    """
    url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    key_env = api_key_env or DEFAULT_KEY_ENV
    key = os.environ.get(key_env)
    if not key:
        if url.rstrip("/") == DEFAULT_BASE_URL or api_key_env is not None:
            raise MissingAPIKey(key_env)
        key = "not-needed"
    return url, key


class OpenAICompatModel(ChatModel):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.base_url, self._key = endpoint(spec.base_url, spec.api_key_env)
        self._client: openai.AsyncOpenAI | None = None
        #: Whether to ask for token usage in streams (off once a server refuses stream_options).
        self._usage_in_stream = True

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The client, made on first use inside the event loop its aiohttp transport belongs to.

        aiohttp (the client's documented ``openai[aiohttp]`` transport) costs a fraction of the
        default transport's CPU per request, which is what bounds many concurrent conversations.
        """
        if self._client is None:
            import openai  # imported on first use: it takes a second, and embedded GPTs never need it

            self._client = openai.AsyncOpenAI(
                api_key=self._key,
                base_url=self.base_url,
                organization=os.environ.get("OPENAI_ORG_ID") or None,
                project=os.environ.get("OPENAI_PROJECT_ID") or None,
                timeout=self.spec.timeout,
                max_retries=self.spec.max_retries,
                http_client=openai.DefaultAioHttpClient(timeout=self.spec.timeout),
            )
        return self._client

    @property
    def context_window(self) -> int:
        if self.spec.context_window:
            return self.spec.context_window
        for prefix, window in KNOWN_CONTEXT_WINDOWS:
            if self.spec.name.startswith(prefix):
                return window
        return DEFAULT_CONTEXT_WINDOW

    async def count_tokens(self, text: str) -> int:
        return -(-len(text) // CHARS_PER_TOKEN)

    async def stream(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[Chunk, None]:
        import openai

        kwargs: dict[str, Any] = {k: v for k, v in params.model_dump().items() if v is not None}
        body = {"model": self.spec.name, "messages": messages, "stream": True, **kwargs}
        if self._usage_in_stream:
            body["stream_options"] = {"include_usage": True}
        started, finish = False, "stop"
        usage: dict[str, Any] = {}
        try:
            chunks = await self._open_stream(body)
            try:
                async for chunk in chunks:
                    if not isinstance(chunk, dict):
                        continue
                    started = True
                    usage = chunk.get("usage") or usage
                    choices = chunk.get("choices") or [{}]
                    finish = choices[0].get("finish_reason") or finish
                    text = (choices[0].get("delta") or {}).get("content")
                    if text:
                        yield text
            finally:  # a consumer that stops early closes the connection: the server stops
                await chunks.close()
        except (openai.APIError, ValueError) as exc:
            raise self._error(exc, started) from exc
        if not started:
            raise ModelResponseError(f"the model server at {self.base_url} sent no answer at all")
        yield StreamEnd(finish, usage.get("prompt_tokens"), usage.get("completion_tokens"))

    async def _open_stream(self, body: dict[str, Any]) -> Any:
        """The server's event stream for ``body``; a server that refuses ``stream_options`` is
        asked again without it (and never again with it)."""
        import openai

        try:
            # The client's generic ``post`` keeps its retries, timeouts, SSE parsing and error
            # types, and skips its typed-parameter transform and per-chunk model construction,
            # which cost more CPU than everything else botkit does per message (bench/core.py).
            return await self.client.post(
                "/chat/completions",
                body=body,
                cast_to=object,
                stream=True,
                stream_cls=openai.AsyncStream[object],  # raw dicts: no model construction
            )
        except openai.BadRequestError as exc:
            if "stream_options" not in body or "stream_options" not in str(exc):
                raise
            self._usage_in_stream = False
            return await self._open_stream({k: v for k, v in body.items() if k != "stream_options"})

    async def complete_json(
        self,
        messages: list[ChatMessage],
        params: GenerationParams,
        name: str,
        schema: dict[str, Any],
    ) -> Any:
        """One answer constrained to ``schema`` (structured outputs), parsed from its JSON."""
        import openai

        kwargs: dict[str, Any] = {k: v for k, v in params.model_dump().items() if v is not None}
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": True},
        }
        body = {"model": self.spec.name, "messages": messages, **kwargs}
        body["response_format"] = response_format
        try:
            answer = await self.client.post("/chat/completions", body=body, cast_to=object)
            content = answer["choices"][0]["message"]["content"]  # type: ignore[index]
            return json.loads(content)
        except (KeyError, IndexError, TypeError, json.JSONDecodeError) as exc:
            raise ModelResponseError(
                f"the model server at {self.base_url} did not answer with the JSON asked for "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        except (openai.APIError, ValueError) as exc:
            raise self._error(exc, started=False) from exc

    async def moderate(self, texts: Sequence[str]) -> list[list[str]]:
        """OpenAI's moderation endpoint: the categories flagged for each text."""
        import openai

        body = {"model": MODERATION_MODEL, "input": list(texts)}
        try:
            answer = await self.client.post("/moderations", body=body, cast_to=object)
            results = answer["results"]  # type: ignore[index]
            return [
                sorted(k for k, flagged in (r.get("categories") or {}).items() if flagged)
                for r in results
            ]
        except (KeyError, TypeError) as exc:
            raise ModelResponseError(
                f"the moderation endpoint at {self.base_url} answered something unexpected"
            ) from exc
        except (openai.APIError, ValueError) as exc:
            raise self._error(exc, started=False) from exc

    def _error(self, exc: Exception, started: bool) -> Exception:
        """The botkit error for an error of the client (or a malformed answer it could not read)."""
        import openai

        if isinstance(exc, openai.APIConnectionError):
            reason = connection_reason(exc)
            return ModelUnreachable(
                self.base_url, f"the answer was cut off: {reason}" if started else reason
            )
        if isinstance(exc, openai.APIStatusError):
            return self._status_error(exc)
        return ModelResponseError(
            f"the model server at {self.base_url} sent a malformed answer ({exc})"
        )

    def _status_error(self, exc: openai.APIStatusError) -> Exception:
        detail = api_message(exc)
        if exc.status_code == 401:
            env = self.spec.api_key_env or DEFAULT_KEY_ENV
            return ModelResponseError(
                f"the server at {self.base_url} rejected the API key in ${env}"
            )
        if exc.status_code == 404:
            return ModelResponseError(
                f"model {self.spec.name!r} was not found at {self.base_url} ({detail})"
            )
        if exc.status_code == 429:
            return ModelResponseError(
                f"rate limited by {self.base_url} after {self.spec.max_retries} retries; "
                f"try again later ({detail})"
            )
        if exc.status_code == 400 and "context" in detail.lower():
            return InputError(
                f"the conversation is too long for {self.spec.name}: {detail}; /reset it"
            )
        return ModelResponseError(f"{self.base_url} answered {exc.status_code}: {detail}")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def connection_reason(exc: openai.APIConnectionError) -> str:
    import openai

    return "timed out" if isinstance(exc, openai.APITimeoutError) else str(exc.__cause__ or exc)


def api_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return exc.message


@hookimpl
def register_providers(register: Callable[[str, ProviderFactory], None]) -> None:
    register("openai", OpenAICompatModel)
