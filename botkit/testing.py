"""Test kit for botkit and for plugin authors (a pytest plugin, active once botkit is installed).

:class:`StubOpenAI` is an OpenAI-compatible server on real HTTP (127.0.0.1, port 0), serving
``/v1/models``, ``/v1/chat/completions`` (JSON and SSE streaming) and ``/v1/embeddings``, with
scripted replies, recorded requests and injectable faults. Fixtures:

- ``openai_stub``: a running :class:`StubOpenAI`;
- ``botkit_home``: a fresh ``BOTKIT_HOME`` for the test.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

Responder = Callable[[dict[str, Any]], str]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Fault:
    """What the stub does instead of answering normally, for the next ``times`` requests.

    kind: ``status`` (answer ``status`` with an OpenAI-style error body), ``malformed`` (a 200
    whose body is not JSON), ``cut`` (stream ``after`` chunks, then drop the connection).
    """

    kind: str
    times: int = 1
    status: int = 500
    after: int = 1
    retry_after: float | None = None
    message: str | None = None


def echo(body: dict[str, Any]) -> str:
    """The default reply: the last user message, echoed."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    last = users[-1]["content"] if users else ""
    return f"echo: {last}"


@dataclass
class StubOpenAI:
    """An OpenAI-compatible server for tests; ``url`` is its base URL (ending in /v1)."""

    models: list[str] = field(default_factory=lambda: ["stub-model"])
    latency: float = 0.0
    #: seconds between streamed chunks, to test stopping an answer part-way
    chunk_delay: float = 0.0
    embedding_dim: int = 8
    responder: Responder = echo
    requests: list[RecordedRequest] = field(default_factory=list)
    url: str = ""
    _replies: deque[str] = field(default_factory=deque)
    _faults: deque[Fault] = field(default_factory=deque)

    # -- scripting ---------------------------------------------------------------------------
    def reply(self, *texts: str) -> None:
        """Queue replies: each chat completion takes the next; when none is left, ``responder``."""
        self._replies.extend(texts)

    def fault(self, kind: str, times: int = 1, **kwargs: Any) -> None:
        self._faults.append(Fault(kind, times, **kwargs))

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # -- serving -----------------------------------------------------------------------------
    def _next_fault(self) -> Fault | None:
        if not self._faults:
            return None
        fault = self._faults[0]
        fault.times -= 1
        if fault.times <= 0:
            self._faults.popleft()
        return fault

    async def _record(self, request: web.Request) -> Any:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.requests.append(
            RecordedRequest(request.method, request.path, dict(request.headers), body)
        )
        return body

    async def _models(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "stub"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self._next_fault()
        if fault and fault.kind == "status":
            headers = (
                {"retry-after": str(fault.retry_after)} if fault.retry_after is not None else {}
            )
            text = fault.message or f"stub fault {fault.status}"
            error = {"error": {"message": text, "type": "stub", "code": None}}
            return web.json_response(error, status=fault.status, headers=headers)
        if fault and fault.kind == "malformed":
            if isinstance(body, dict) and body.get("stream"):
                return web.Response(text="data: {not json\n\n", content_type="text/event-stream")
            return web.Response(text="{not json", content_type="application/json")
        if not isinstance(body, dict) or "messages" not in body:
            error = {
                "error": {"message": "'messages' is required", "type": "invalid_request_error"}
            }
            return web.json_response(error, status=400)
        if body.get("model") not in self.models:
            error = {"error": {"message": f"model {body.get('model')!r} not found", "type": "x"}}
            return web.json_response(error, status=404)
        text = self._replies.popleft() if self._replies else self.responder(body)
        if body.get("stream"):
            return await self._stream(request, body, text, fault)
        return web.json_response(
            {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    async def _stream(
        self, request: web.Request, body: dict[str, Any], text: str, fault: Fault | None
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        pieces = _pieces(text)
        for i, piece in enumerate(pieces):
            if fault and fault.kind == "cut" and i >= fault.after:
                assert request.transport is not None
                request.transport.close()  # drop the connection mid-stream
                return response
            chunk = {
                "id": "chatcmpl-stub",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        end = {
            "id": "chatcmpl-stub",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
        await response.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
        await response.write_eof()
        return response

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        inputs = body.get("input", []) if isinstance(body, dict) else []
        inputs = [inputs] if isinstance(inputs, str) else inputs
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": fake_embedding(str(t), self.embedding_dim),
            }
            for i, t in enumerate(inputs)
        ]
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model"),
                "usage": {"prompt_tokens": 0, "total_tokens": 0},
            }
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> StubOpenAI:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, access_log=None)
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
            self._loop.run_until_complete(site.start())
            host, port = self._runner.addresses[0][:2]
            self.url = f"http://{host}:{port}/v1"
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="stub-openai", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> StubOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pieces(text: str) -> list[str]:
    """Split a reply into stream chunks the way models do: a word (with its space) at a time."""
    pieces, current = [], ""
    for ch in text:
        current += ch
        if ch == " ":
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces or [""]


def fake_embedding(text: str, dim: int) -> list[float]:
    """A deterministic unit vector for ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    raw = [digest[i % len(digest)] / 255 - 0.5 for i in range(dim)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


@pytest.fixture
def openai_stub() -> Iterator[StubOpenAI]:
    with StubOpenAI() as stub:
        yield stub


@pytest.fixture
def botkit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "botkit-home"
    monkeypatch.setenv("BOTKIT_HOME", str(home))
    return home


def main(argv: list[str] | None = None) -> None:
    """``python -m botkit.testing``: run the stub server until interrupted; prints its URL first."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m botkit.testing", description=main.__doc__)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)
    stub = StubOpenAI(latency=args.latency).start()
    print(stub.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        stub.stop()


if __name__ == "__main__":
    main()
