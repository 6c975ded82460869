"""``botkit serve``: one process, one event loop, every surface a deployment file names.

Start: the GPTs' parts are made, the surfaces start (one that fails is named with its reason and
the others keep running, unless the file says ``all_or_nothing``), the HTTP server (API, web page,
Slack's HTTP events, health) listens, and the GPTs are warmed in the background (``/readyz`` says
when they are). Stop (SIGTERM or SIGINT): nothing new is accepted, replies in flight get
``shutdown_grace`` seconds to finish, then the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from botkit.core.bot import Bot
from botkit.core.feedback import Exchange
from botkit.core.message import Message
from botkit.core.metering import ModelCall
from botkit.core.policy import Policy
from botkit.core.reply import Reply
from botkit.deploy.spec import BotSpec
from botkit.errors import BotkitError
from botkit.loader import load_catalog
from botkit.plugins import Registry, load_registry
from botkit.serve import metrics
from botkit.serve.openai_format import ApiError
from botkit.serve.record import Batcher
from botkit.serve.surface import ServeContext, Surface, SurfaceError
from botkit.settings import Settings
from botkit.storage import open_storage
from botkit.storage.sqlite_usage import SQLiteUsage
from botkit.usage import PriceTable

log = logging.getLogger("botkit.serve")
LOOPBACK = "127.0.0.1"


@dataclass
class ServeOptions:
    only: tuple[str, ...] = ()  # surfaces to run (default: the ones the file enables)
    host: str | None = None
    port: int | None = None
    #: called with the bound (host, port) once the HTTP server listens (tests, the CLI banner)
    on_listening: Any = None
    stop: asyncio.Event | None = None  # set it to stop the server (tests); signals do too


@dataclass
class Server:
    """A running server: its context, surfaces, and the state ``/readyz`` reports."""

    context: ServeContext
    surfaces: dict[str, Surface]
    failed: dict[str, str] = field(default_factory=dict)
    started_surfaces: set[str] = field(default_factory=set)
    not_ready: dict[str, str] = field(default_factory=dict)
    warming: bool = True
    started: float = field(default_factory=time.time)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "uptime": round(time.time() - self.started, 1)})

    async def readyz(self, request: Request) -> Response:
        """200 once every GPT is warm (its model loaded, its knowledge indexed); else 503."""
        surfaces = {
            name: "running" if name in self.started_surfaces else "starting"
            for name in self.surfaces
        }
        surfaces.update({name: f"failed: {why}" for name, why in self.failed.items()})
        gpts = {name: "warming" if self.warming else "ready" for name in self.context.policy.gpts}
        gpts.update({name: f"failed: {why}" for name, why in self.not_ready.items()})
        ready = not self.warming and not self.failed and not self.not_ready
        ready = ready and self.started_surfaces == set(self.surfaces)
        body = {"ready": ready, "surfaces": surfaces, "gpts": gpts}
        return JSONResponse(body, status_code=200 if ready else 503)


def build_context(
    settings: Settings, spec: BotSpec, registry: Registry | None = None
) -> ServeContext:
    registry = registry or load_registry(settings.all_plugin_dirs)
    for failure in registry.failures:
        log.warning("plugin %s %s", failure.plugin, failure.error)
    catalog = load_catalog(settings.require_config_dir(), registry.providers.keys(), registry.tasks)
    for path, problems in catalog.problems.items():
        log.warning("%s has %d problem(s) and is not served: %s", path, len(problems), problems[0])
    url = spec.storage
    if url == "sqlite" and os.environ.get("BOTKIT_REDIS_URL"):
        url = os.environ["BOTKIT_REDIS_URL"]
    storage = open_storage(settings.data_dir, url)
    policy = Policy(spec, catalog.gpts, storage.rates)
    bot = Bot(catalog, registry, storage, settings.data_dir, policy)
    context = ServeContext(bot, policy, spec, settings)
    bot.observers.append(_log_reply)
    context.metrics = metrics.attach(bot)
    context.closers += record_usage(bot, settings.data_dir, PriceTable(spec.prices))
    if storage.feedback is not None:
        exchanges: Batcher[Exchange] = Batcher(storage.feedback.record, "exchanges")
        bot.observers.append(lambda reply, message: _keep_exchange(exchanges, reply, message))
        context.closers.append(exchanges.aclose)
        context.exchanges = exchanges
    return context


def record_usage(
    bot: Bot, data_dir: Path, prices: PriceTable
) -> list[Callable[[], Awaitable[None]]]:
    """Record every model call of ``bot``, with its cost, in ``DATA_DIR/usage.sqlite3`` (written
    in batches, in the background); what to close when the server stops."""
    usage = SQLiteUsage(data_dir / "usage.sqlite3")
    calls: Batcher[tuple[ModelCall, float]] = Batcher(usage.record, "model calls")

    def sink(call: ModelCall) -> None:
        cost = prices.cost(call.provider, call.model, call.prompt_tokens, call.completion_tokens)
        calls.add((call, cost))

    bot.usage_sinks.append(sink)
    return [calls.aclose, usage.aclose]


def _log_reply(reply: Reply, message: Message | None) -> None:
    """One line per reply, with its request id (a JSON object a line with --log-format json)."""
    usage = reply.usage
    log.info(
        "reply %s %s: %s in %.0f ms",
        reply.gpt,
        message.surface if message else "-",
        reply.finish_reason,
        (reply.latency or 0) * 1000,
        extra={
            "request_id": reply.request_id,
            "gpt": reply.gpt,
            "surface": message.surface if message else "",
            "finish_reason": reply.finish_reason,
            "latency_ms": round((reply.latency or 0) * 1000, 1),
            "tokens_in": usage.prompt_tokens if usage else 0,
            "tokens_out": usage.completion_tokens if usage else 0,
        },
    )


def _keep_exchange(exchanges: Batcher[Exchange], reply: Reply, message: Message | None) -> None:
    """Keep what was shown, so a 👍/👎 given on it later can be stored with it."""
    if message is None or reply.finish_reason in (None, "error") or not reply.text.strip():
        return
    answer = reply.text
    if reply.result is not None:  # what evaluating compares: the label, the translation...
        prediction = reply.result.prediction()
        answer = prediction if isinstance(prediction, str) else json.dumps(prediction)
    exchanges.add(
        Exchange(
            reply.request_id,
            reply.gpt,
            message.surface,
            message.user_id,
            reply.question,
            answer,
            time.time(),
        )
    )


def surfaces_to_run(spec: BotSpec, only: tuple[str, ...], registry: Registry) -> dict[str, Any]:
    """Surface name -> its settings, for the surfaces to start."""
    chosen = {}
    for name in only or ("api", "slack", "discord"):
        settings = getattr(spec.surfaces, name, None)
        if not only and not getattr(settings, "enabled", False):
            continue
        if name not in registry.surfaces or settings is None:
            known = ", ".join(sorted(registry.surfaces)) or "none"
            raise BotkitError(f"no surface {name!r}; surfaces: {known}")
        chosen[name] = settings
    return chosen


async def serve(settings: Settings, spec: BotSpec, options: ServeOptions | None = None) -> int:
    """Run the server until stopped; the exit code (0 after a clean stop)."""
    options = options or ServeOptions()
    context = build_context(settings, spec)
    registry = context.bot.registry
    chosen = surfaces_to_run(spec, options.only, registry)
    server = Server(context, {})
    for name, surface_settings in chosen.items():
        server.surfaces[name] = registry.surfaces[name](surface_settings, context)
    stop = options.stop or asyncio.Event()
    _on_signals(stop)
    http = _http_server(server, spec, options)
    serving = asyncio.create_task(http.serve())
    try:
        await _listening(http, serving, options)
        if not await _start_surfaces(server, spec):
            return 1
        warming = asyncio.create_task(_warm(server))
        await stop.wait()
        log.info("stopping: no new messages; replies in flight get %s s", spec.shutdown_grace)
        warming.cancel()
        for surface in server.surfaces.values():
            with contextlib.suppress(Exception):
                await surface.stop()
        http.should_exit = True
        cancelled = await context.inflight.drain(spec.shutdown_grace)
        if cancelled:
            log.warning("%d reply(ies) did not finish within %s s", cancelled, spec.shutdown_grace)
        await serving
        return 0
    finally:
        for close in context.closers:
            with contextlib.suppress(Exception):
                await close()
        await context.bot.aclose()


async def _start_surfaces(server: Server, spec: BotSpec) -> bool:
    """Start each surface; False when the server must not go on (all-or-nothing, or none)."""
    for name, surface in list(server.surfaces.items()):
        try:
            await surface.start()
            server.started_surfaces.add(name)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, BotkitError) else f"{type(exc).__name__}: {exc}"
            log.error("surface %s failed to start: %s", name, reason)
            server.failed[name] = reason
            del server.surfaces[name]
            if spec.all_or_nothing:
                log.error("all_or_nothing: stopping")
                return False
    if not server.surfaces:
        log.error("no surface is running")
        return False
    log.info("serving: %s", ", ".join(server.surfaces))
    return True


async def _warm(server: Server) -> None:
    """Make every GPT ready (models loaded, knowledge indexed); failures are named, not fatal."""
    server.not_ready = await server.context.bot.prepare()
    for name, reason in server.not_ready.items():
        log.warning("GPT %s is not ready: %s", name, reason)
    server.warming = False
    log.info("ready: %d GPT(s)", len(server.context.policy.gpts) - len(server.not_ready))


async def _no_route(request: Request, exc: Exception) -> Response:
    """No route for this path or method (``/v1/models/a%2Fb``, ``DELETE /v1/models``): an
    OpenAI-shaped error, like every other answer of the API."""
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    path = request.url.path
    message = (
        f"no such route: {request.method} {path}"
        if status == 405
        else f"nothing at {path}: see /v1/models and /v1/chat/completions"
    )
    kind = "not_found" if status == 404 else "method_not_allowed"
    error = ApiError(status, message, code=kind, headers=headers)
    return JSONResponse(error.body(), status_code=status, headers=error.headers)


def _http_server(server: Server, spec: BotSpec, options: ServeOptions) -> Any:
    """The uvicorn server for every surface's routes and the health checks (always: a Slack or
    Discord bot alone still answers /healthz and /readyz)."""
    import uvicorn

    routes: list[BaseRoute] = [
        Route("/healthz", server.healthz, methods=["GET"]),
        Route("/readyz", server.readyz, methods=["GET"]),
    ]
    middleware: list[Middleware] = []
    for surface in server.surfaces.values():
        routes += surface.routes()
        middleware += surface.middleware()
    api = spec.surfaces.api
    host = options.host or api.host
    port = api.port if options.port is None else options.port
    api_surface = server.surfaces.get("api")
    if host not in ("127.0.0.1", "localhost", "::1") and not getattr(api_surface, "keys", True):
        log.warning(
            "no API key is configured: listening on %s only (set %s, or api_keys in the "
            "deployment file, to serve other machines)",
            LOOPBACK,
            api.api_keys_env or "api_keys",
        )
        host = LOOPBACK
    app = Starlette(
        routes=routes, middleware=middleware, exception_handlers={HTTPException: _no_route}
    )

    class Uvicorn(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the runner handles SIGTERM/SIGINT: it stops every surface, not just HTTP

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=int(spec.shutdown_grace) or None,
    )
    return Uvicorn(config)


async def _listening(http: Any, serving: asyncio.Task[Any], options: ServeOptions) -> None:
    while not http.started:
        if serving.done():
            serving.result()  # the port is taken, say: raise why
            raise SurfaceError("the HTTP server stopped before it started")
        await asyncio.sleep(0.01)
    sockets = [s for server in http.servers for s in server.sockets]
    host, port = sockets[0].getsockname()[:2] if sockets else ("?", 0)
    log.info("listening on http://%s:%s", host, port)
    if options.on_listening is not None:
        options.on_listening(host, port)


def _on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
