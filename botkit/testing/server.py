"""The base of every stub server in :mod:`botkit.testing`: an aiohttp app on real HTTP.

A stub runs its own event loop in a daemon thread, listens on 127.0.0.1 at a free port (port 0),
records every request it receives and can be used from synchronous or asynchronous tests alike, as
a context manager or with :meth:`StubServer.start` / :meth:`StubServer.stop`. No pytest needed.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    query: dict[str, str] = field(default_factory=dict)
    #: Files of a multipart body: ``{"field", "filename", "content_type", "size", "data"}``.
    files: list[dict[str, Any]] = field(default_factory=list)


class StubServer:
    """Subclasses add their routes in :meth:`routes`; ``url`` is set once the server listens."""

    #: The path prefix of ``url`` (``/v1`` for OpenAI, ``/api`` for Slack's Web API).
    prefix = ""
    name = "stub"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.url = ""
        self.host = "127.0.0.1"
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # -- to override ---------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        """Add the stub's routes to ``app``."""

    async def on_stop(self) -> None:
        """Close what the stub holds open (websockets, say) before the server stops."""

    # -- helpers for subclasses ----------------------------------------------------------------
    async def record(self, request: web.Request) -> Any:
        """Read and record ``request``; its body parsed as JSON, a form or text."""
        raw = await request.read()
        body: Any
        kind = request.content_type
        if kind == "application/x-www-form-urlencoded":
            body = dict((await request.post()).items())
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
        self.requests.append(
            RecordedRequest(
                request.method, request.path, dict(request.headers), body, dict(request.query)
            )
        )
        return body

    def call_soon(self, coro: Any) -> Any:
        """Run ``coro`` on the stub's loop from another thread and wait for its result."""
        assert self._loop is not None, "the stub is not running"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Any:
        app = web.Application(client_max_size=1 << 40)
        self.routes(app)
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            assert self._loop is not None and self._runner is not None
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._runner.setup())
                site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
                self._loop.run_until_complete(site.start())
                self.host, self.port = self._runner.addresses[0][:2]
                self.url = f"http://{self.host}:{self.port}{self.prefix}"
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                return
            finally:
                ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name=self.name, daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is None or self._runner is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._loop = None

    async def _shutdown(self) -> None:
        await self.on_stop()
        assert self._runner is not None
        await self._runner.cleanup()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def drop(request: web.Request) -> web.Response:
    """Close the connection: the client sees it dropped, without an answer."""
    assert request.transport is not None
    request.transport.close()
    return web.Response()
