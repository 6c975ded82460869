"""OpenAI's chat-completions wire format: the requests botkit accepts and the answers it gives.

Requests are validated (unknown fields are ignored, as OpenAI-compatible servers do, so any client
works); answers carry botkit's extras (citations, a task's typed result) in a ``botkit`` field that
OpenAI clients ignore. Errors have OpenAI's shape: ``{"error": {"message", "type", "param",
"code"}}``.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from botkit.core.reply import Reply
from botkit.models.base import ChatMessage
from botkit.render import as_json
from botkit.spec import GenerationParams


class ApiError(Exception):
    """An answer the API gives instead of a completion, in OpenAI's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class WireMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[_Part] | None = None

    def text(self) -> str:
        """The text of the message (text parts joined; an image part cannot be read here)."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        if any(part.type != "text" for part in self.content):
            kinds = sorted({p.type for p in self.content if p.type != "text"})
            raise ApiError(
                400,
                f"only text content is supported; this message has {', '.join(kinds)}",
                param="messages",
            )
        return "\n".join(part.text or "" for part in self.content)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[WireMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, gt=0)
    max_completion_tokens: int | None = Field(None, gt=0)
    stop: str | list[str] | None = None
    n: int | None = Field(None, ge=1)
    user: str | None = Field(None, max_length=256)
    tools: list[Any] | None = None
    functions: list[Any] | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("at most 4 stop sequences")
        return value

    def check_supported(self) -> None:
        if self.n not in (None, 1):
            raise ApiError(400, "n must be 1: botkit answers with one choice", param="n")
        if self.tools or self.functions:
            raise ApiError(
                400,
                "this GPT does not call tools: leave out tools and functions",
                param="tools",
                code="tools_not_supported",
            )

    def chat_messages(self) -> list[ChatMessage]:
        out: list[ChatMessage] = []
        for i, message in enumerate(self.messages):
            if message.role == "tool":
                raise ApiError(400, "tool messages are not supported", param=f"messages.{i}")
            role = "system" if message.role == "developer" else message.role
            out.append(ChatMessage(role=role, content=message.text()))
        return out

    def params(self) -> GenerationParams:
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        return GenerationParams(
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_completion_tokens or self.max_tokens,
            stop=stop,
        )


def load_object(raw: bytes) -> dict[str, Any]:
    """A request body's JSON object, or the :class:`ApiError` saying what is wrong with it."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # json's parser recurses once per level of nesting
        raise ApiError(400, "the body is not valid JSON: it is nested too deeply") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    if b"\\ud" in raw.lower():  # a \uD800-\uDFFF escape: text no model can read if unpaired
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(
                400,
                "the body holds an unpaired surrogate (\\ud800-\\udfff): "
                "send text as valid UTF-16 pairs or plain UTF-8",
            ) from None
    return data


def parse_request(raw: bytes) -> ChatRequest:
    """The request, or the :class:`ApiError` saying what is wrong with it."""
    data = load_object(raw)
    try:
        request = ChatRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ApiError(
            422, f"{where}: {first['msg']}", param=where or None, code="invalid_value"
        ) from exc
    request.check_supported()
    return request


def extras(reply: Reply) -> dict[str, Any]:
    """botkit's own part of an answer: citations and a task's typed result."""
    out: dict[str, Any] = {"request_id": reply.request_id}
    if reply.citations:
        out["citations"] = [
            {
                "number": c.number,
                "source": c.source,
                "title": c.title,
                "page": c.page,
                "snippet": c.snippet,
                "score": round(c.score, 4),
            }
            for c in reply.citations
        ]
    if reply.result is not None:
        task = type(reply.result).__name__.lower()
        out["result"] = as_json(task, reply.result)
        out["result"]["fields"] = reply.result.fields()
    return out


def usage(reply: Reply) -> dict[str, int]:
    used = reply.usage
    prompt, completion = (used.prompt_tokens, used.completion_tokens) if used else (0, 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def finish(reply: Reply) -> str:
    """OpenAI's finish reason for a reply (tasks and not-found answers ended normally)."""
    return (
        reply.finish_reason
        if reply.finish_reason in ("stop", "length", "content_filter")
        else "stop"
    )


def completion(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{reply.request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": finish(reply),
            }
        ],
        "usage": usage(reply),
        "botkit": extras(reply),
    }


def chunk(
    reply: Reply, model: str, delta: dict[str, Any], reason: str | None = None, **extra: Any
) -> str:
    """One server-sent event of a streamed completion."""
    data = {
        "id": f"chatcmpl-{reply.request_id}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
        **extra,
    }
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def error_event(error: ApiError) -> str:
    """The event that ends a stream which failed part-way (OpenAI clients raise on it)."""
    return f"data: {json.dumps(error.body())}\n\n"


def usage_chunk(reply: Reply, model: str) -> str:
    """The last event when the client asked for ``stream_options.include_usage``."""
    data = {
        "id": f"chatcmpl-{reply.request_id}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [],
        "usage": usage(reply),
    }
    return f"data: {json.dumps(data)}\n\n"


def api_error(exc: BaseException, request_id: str) -> ApiError:
    """The OpenAI-shaped answer for an error of botkit (no traceback, no secret in it)."""
    from botkit import errors

    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, (errors.GPTNotFound, errors.AccessDenied)):
        name = getattr(exc, "name", None) or getattr(exc, "gpt", "")
        return ApiError(
            404,
            f"the model {name!r} does not exist or you do not have access to it",
            param="model",
            code="model_not_found",
        )
    if isinstance(exc, errors.InputTooLong):
        return ApiError(413, str(exc), code="message_too_long")
    if isinstance(exc, errors.RateLimited):
        wait = str(max(1, round(exc.retry_after)))
        return ApiError(
            429, str(exc), "rate_limit_error", code="rate_limited", headers={"retry-after": wait}
        )
    if isinstance(exc, errors.InputError):
        return ApiError(400, str(exc))
    from botkit.core.guard import Blocked

    if isinstance(exc, Blocked):
        return ApiError(400, str(exc), code="content_filter")
    if isinstance(exc, errors.ModelError):
        return ApiError(502, f"the GPT's model failed: {exc}", "api_error", code="model_error")
    if isinstance(exc, errors.StorageError):
        return ApiError(503, f"{exc}; try again shortly", "api_error", code="storage_unavailable")
    if isinstance(exc, errors.BotkitError):
        return ApiError(500, str(exc), "api_error")
    return ApiError(
        500, f"internal error (request {request_id}); the server's log has the details", "api_error"
    )
