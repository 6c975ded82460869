"""The HTTP surface: an OpenAI-compatible API and the web chat page, on Starlette.

``GET /v1/models`` lists the GPTs the caller may use; ``POST /v1/chat/completions`` answers a
client's message list with a GPT (JSON, or server-sent events when ``stream`` is true), applying its
instructions, examples, knowledge and task, statelessly, as OpenAI does. ``/`` serves the chat page
(plain HTML, JS and CSS shipped in the package). Keys come in ``Authorization: Bearer ...`` and are
compared in constant time; with no key configured the server listens on loopback only.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from botkit.core.message import Message, new_request_id
from botkit.deploy.spec import ApiSurface
from botkit.hookspecs import hookimpl
from botkit.safety.secrets import remember, secret_env
from botkit.serve.openai_format import (
    ApiError,
    api_error,
    chunk,
    completion,
    error_event,
    extras,
    finish,
    load_object,
    parse_request,
    usage_chunk,
)
from botkit.serve.surface import ServeContext, Surface

#: Largest request body accepted (a long conversation fits; a pasted book does not).
MAX_BODY_BYTES = 1 << 20
LOOPBACK = ("127.0.0.1", "localhost", "::1")
WEB_FILES = {"app.js": "text/javascript", "style.css": "text/css"}


def load_api_keys(settings: ApiSurface, env: dict[str, str] | None = None) -> dict[str, str]:
    """Key -> its name, from the named keys and ``api_keys_env`` (``KEY`` or ``NAME=KEY``, comma
    separated; an unnamed key is called ``key-1``, ``key-2``...)."""
    env = dict(os.environ) if env is None else env
    keys: dict[str, str] = {}
    for named in settings.api_keys:
        value = secret_env(named.env, env)
        if value:
            keys[value] = named.name
    listed = env.get(settings.api_keys_env or "", "")
    for n, item in enumerate((i.strip() for i in listed.split(",") if i.strip()), 1):
        name, sep, value = item.partition("=")
        keys[remember(value.strip() if sep else item)] = name.strip() if sep else f"key-{n}"
    return keys


class ApiSurfaceRunner(Surface):
    name: ClassVar[str] = "api"
    settings: ApiSurface

    def __init__(self, settings: Any, context: ServeContext) -> None:
        super().__init__(settings, context)
        self.keys = load_api_keys(self.settings)

    # -- what the runner needs -----------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route("/v1/models", self.models, methods=["GET"]),
            Route("/v1/models/{model}", self.model, methods=["GET"]),
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/feedback", self.feedback, methods=["POST"]),
        ]
        if self.settings.metrics:
            routes.append(Route("/metrics", self.metrics, methods=["GET"]))
        if self.settings.web_page:
            routes += [
                Route("/", self.page, methods=["GET"]),
                Route("/static/{name}", self.static, methods=["GET"]),
            ]
        return routes

    def middleware(self) -> list[Any]:
        if not self.settings.cors_origins:
            return []
        from starlette.middleware import Middleware
        from starlette.middleware.cors import CORSMiddleware

        return [
            Middleware(
                CORSMiddleware,
                allow_origins=self.settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["authorization", "content-type"],
            )
        ]

    async def start(self) -> None:
        """Nothing to connect: the runner's HTTP server serves these routes."""

    async def stop(self) -> None:
        """The runner's HTTP server stops accepting; streams in flight finish."""

    # -- who is asking -------------------------------------------------------------------------
    def caller(self, request: Request, user: str | None = None) -> Message:
        """The caller as a message's who and where (its key's name; ``user`` when sent)."""
        key_name = ""
        if self.keys:
            given = request.headers.get("authorization", "")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise ApiError(
                    401,
                    "missing API key: send it as 'Authorization: Bearer KEY'",
                    "invalid_request_error",
                    code="invalid_api_key",
                )
            key_name = self._match(token.strip())
        who = user or key_name or "anonymous"
        return Message(
            "",
            "",
            "api",
            user_id=f"{key_name}:{who}" if key_name else who,
            user_name=user or "",
            api_key=key_name,
            request_id=request.headers.get("x-request-id", "")[:64] or new_request_id(),
        )

    def _match(self, token: str) -> str:
        """The name of the key ``token`` is, compared with every key in constant time."""
        found = ""
        for key, name in self.keys.items():
            if hmac.compare_digest(token.encode(), key.encode()):
                found = name
        if not found:
            raise ApiError(
                401, "incorrect API key", "invalid_request_error", code="invalid_api_key"
            )
        return found

    # -- endpoints -----------------------------------------------------------------------------
    async def models(self, request: Request) -> Response:
        try:
            caller = self.caller(request)
        except ApiError as exc:
            return _error(exc)
        return JSONResponse(
            {"object": "list", "data": [self._model(n) for n in self._usable(caller)]}
        )

    async def model(self, request: Request) -> Response:
        try:
            caller = self.caller(request)
            name = request.path_params["model"]
            if name not in self._usable(caller):
                raise api_error(_not_found(name), caller.request_id)
        except ApiError as exc:
            return _error(exc)
        return JSONResponse(self._model(name))

    def _usable(self, caller: Message) -> list[str]:
        catalog = self.context.bot.catalog.gpts
        return [n for n in self.context.policy.usable(caller) if n in catalog]

    def _model(self, name: str) -> dict[str, Any]:
        spec = self.context.bot.gpt(name).spec
        return {
            "id": name,
            "object": "model",
            "created": 0,
            "owned_by": "botkit",
            "description": spec.description,
            "starters": spec.starters,
            "task": spec.task.plugin if spec.task else None,
            "knowledge": bool(spec.knowledge and spec.knowledge.sources),
        }

    async def chat(self, request: Request) -> Response:
        request_id = new_request_id()
        try:
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                raise ApiError(415, "send the request as JSON (Content-Type: application/json)")
            raw = await _read_body(request)
            body = parse_request(raw)
            caller = self.caller(request, body.user)
            request_id = caller.request_id
            who = Message(
                "",
                body.model,
                "api",
                caller.user_id,
                caller.user_name,
                api_key=caller.api_key,
                request_id=request_id,
            )
            if body.model not in self.context.bot.catalog.gpts:
                raise api_error(_not_found(body.model), request_id)
            reply = self.context.bot.complete(
                body.model, body.chat_messages(), body.params(), message=who
            )
            if body.stream:
                include_usage = bool(body.stream_options and body.stream_options.include_usage)
                first = await _first_chunk(reply)  # errors before any text are plain errors
                return StreamingResponse(
                    self._events(reply, body.model, first, include_usage),
                    media_type="text/event-stream",
                    headers={"cache-control": "no-cache", "x-request-id": request_id},
                )
            await reply.collect()
        except Exception as exc:
            return _error(api_error(exc, request_id), exc, self.context)
        return JSONResponse(completion(reply, body.model), headers={"x-request-id": request_id})

    async def _events(
        self, reply: Any, model: str, first: str | None, include_usage: bool
    ) -> AsyncIterator[str]:
        """The reply as server-sent events; a failure part-way ends the stream with an error
        event (never a ``[DONE]`` after half an answer). A client that goes away cancels this
        generator, which stops the model."""
        async with reply:
            yield chunk(reply, model, {"role": "assistant", "content": ""})
            try:
                if first is not None:
                    yield chunk(reply, model, {"content": first})
                    async for piece in reply:
                        yield chunk(reply, model, {"content": piece})
            except Exception as exc:
                failure = api_error(exc, reply.request_id)
                self.context.log.warning("stream %s failed: %s", reply.request_id, exc)
                yield error_event(failure)
                return
            yield chunk(reply, model, {}, finish(reply), botkit=extras(reply))
            if include_usage:
                yield usage_chunk(reply, model)
            yield "data: [DONE]\n\n"

    async def feedback(self, request: Request) -> Response:
        """``{"request_id", "rating": "up"|"down", "correction"?}``: a rating of an answer."""
        try:
            caller = self.caller(request)
            data = load_object(await _read_body(request) or b"{}")
            request_id, rating = data.get("request_id"), data.get("rating")
            correction = data.get("correction") or ""
            if not isinstance(request_id, str) or rating not in ("up", "down"):
                raise ApiError(422, "send request_id and a rating of 'up' or 'down'")
            if not isinstance(correction, str) or len(correction) > 10_000:
                raise ApiError(422, "correction must be text of at most 10,000 characters")
            if not await self.context.rate(request_id, rating, caller.user_id, correction):
                raise ApiError(404, f"no answer {request_id!r} to rate", code="not_found")
        except ApiError as exc:
            return _error(exc)
        return JSONResponse({"ok": True})

    async def metrics(self, request: Request) -> Response:
        """Prometheus metrics (replies, latency, tokens, errors per GPT and surface)."""
        found = self.context.metrics
        if found is None:
            return Response("metrics are off", status_code=404)
        body, kind = found.exposition()
        return Response(body, media_type=kind)

    async def page(self, request: Request) -> Response:
        html = resources.files("botkit").joinpath("web/index.html").read_text("utf-8")
        return Response(html, media_type="text/html", headers=_NO_STORE)

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in WEB_FILES:
            return Response("not found", status_code=404)
        text = resources.files("botkit").joinpath(f"web/{name}").read_text("utf-8")
        return Response(text, media_type=WEB_FILES[name], headers=_NO_STORE)


_NO_STORE = {"cache-control": "no-store"}


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, f"the request is over {MAX_BODY_BYTES // 1024} KiB", code="too_large")
    body = b""
    async for piece in request.stream():
        body += piece
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(
                413, f"the request is over {MAX_BODY_BYTES // 1024} KiB", code="too_large"
            )
    return body


async def _first_chunk(reply: Any) -> str | None:
    """The first piece of text (None for an empty answer): what fails before any text fails as
    a plain error answer, not as a broken stream."""
    try:
        return str(await reply.__anext__())
    except StopAsyncIteration:
        return None


def _not_found(name: str) -> Exception:
    from botkit.errors import GPTNotFound

    return GPTNotFound(name, [])


def _error(
    error: ApiError, cause: BaseException | None = None, context: ServeContext | None = None
) -> Response:
    if context is not None and error.status >= 500:
        context.log.error(
            "request failed: %s", cause, exc_info=cause if error.status == 500 else None
        )
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


@hookimpl
def register_surfaces(register: Any) -> None:
    register("api", ApiSurfaceRunner)
