"""A stub OpenAI-compatible server on real HTTP, for botkit's tests and plugin authors.

``/v1/models``, ``/v1/chat/completions`` (JSON and SSE streaming, with usage), ``/v1/embeddings``,
``/v1/moderations``, ``/v1/files`` and ``/v1/fine_tuning/jobs`` (with events and cancel), with
scripted replies, scripted fine-tuning progress, recorded requests and injectable faults.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from botkit.testing.server import RecordedRequest, StubServer, drop

Responder = Callable[[dict[str, Any]], str]


@dataclass
class Fault:
    """What the stub does instead of answering normally, for the next ``times`` requests.

    kind: ``status`` (answer ``status`` with an OpenAI-style error body), ``malformed`` (a 200
    whose body is not JSON), ``cut`` (stream ``after`` chunks, then drop the connection), ``hang``
    (stream ``after`` chunks, then nothing, ever), ``drop`` (close the connection without
    answering). ``path``: only requests whose path contains it;
    ``skip``: let this many of them through first.
    """

    kind: str
    times: int = 1
    status: int = 500
    after: int = 1
    retry_after: float | None = None
    message: str | None = None
    path: str | None = None
    skip: int = 0


@dataclass
class StubFile:
    """An uploaded file, kept on disk (uploads are streamed, never held in memory)."""

    id: str
    filename: str
    purpose: str
    path: Path
    bytes: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": int(time.time()),
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }


@dataclass
class StubJob:
    """A fine-tuning job: each retrieval moves it to the next of ``states``."""

    job: dict[str, Any]
    states: deque[str]
    error: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    steps: int = 0


def echo(body: dict[str, Any]) -> str:
    """The default reply: the last user message, echoed."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    last = users[-1]["content"] if users else ""
    return f"echo: {last}"


class StubOpenAI(StubServer):
    """An OpenAI-compatible server for tests; ``url`` is its base URL (ending in /v1).

    ``latency``: seconds before each answer; ``chunk_delay``: seconds between streamed chunks (to
    stop an answer part-way); ``responder``: the reply when none is queued with :meth:`reply`;
    ``fine_tune_states``: the states each new fine-tuning job goes through, one per retrieval (a
    job whose last state is ``failed`` fails with ``fine_tune_error``); ``flagged``: words that
    make ``/v1/moderations`` flag an input.
    """

    prefix = "/v1"
    name = "stub-openai"

    def __init__(
        self,
        models: list[str] | None = None,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        embedding_dim: int = 8,
        responder: Responder = echo,
    ) -> None:
        super().__init__()
        self.models = models or ["stub-model"]
        self.latency = latency
        self.chunk_delay = chunk_delay
        self.embedding_dim = embedding_dim
        self.responder = responder
        self.fine_tune_states = ["validating_files", "running", "running", "succeeded"]
        self.fine_tune_error: dict[str, Any] = {
            "code": "invalid_training_file",
            "message": "The job failed due to an invalid training file.",
            "param": "training_file",
        }
        self.flagged: set[str] = set()
        #: answer 400 to a chat request asking for ``stream_options`` (as some servers do)
        self.reject_stream_options = False
        #: streams whose client went away before the end
        self.aborted = 0
        self.files: dict[str, StubFile] = {}
        self.jobs: dict[str, StubJob] = {}
        self._replies: deque[str] = deque()
        self._faults: deque[Fault] = deque()
        self._ids = 0

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
    def _next_fault(self, path: str) -> Fault | None:
        fault = next((f for f in self._faults if f.path is None or f.path in path), None)
        if fault is None:
            return None
        if fault.skip:
            fault.skip -= 1
            return None
        fault.times -= 1
        if fault.times <= 0:
            self._faults.remove(fault)
        return fault

    async def _models(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "stub"} for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self._next_fault(request.path)
        if fault and fault.kind == "status":
            return _status_fault(fault)
        if fault and fault.kind == "drop":
            return drop(request)
        if fault and fault.kind == "malformed":
            if isinstance(body, dict) and body.get("stream"):
                return web.Response(text="data: {not json\n\n", content_type="text/event-stream")
            return web.Response(text="{not json", content_type="application/json")
        if not isinstance(body, dict) or "messages" not in body:
            return _error(400, "'messages' is required", "invalid_request_error")
        if body.get("model") not in self.models:
            return _error(404, f"model {body.get('model')!r} not found", "not_found")
        if self.reject_stream_options and "stream_options" in body:
            message = "Unrecognized request argument supplied: stream_options"
            return _error(400, message, "invalid_request_error")
        text = self._replies.popleft() if self._replies else self.responder(body)
        pieces, finish = _pieces(text), "stop"
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if isinstance(limit, int) and len(pieces) > limit:
            pieces, finish = pieces[:limit], "length"
        usage = _usage(body, pieces)
        if body.get("stream"):
            return await self._stream(request, body, pieces, finish, usage, fault)
        return web.json_response(
            {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(pieces)},
                        "finish_reason": finish,
                    }
                ],
                "usage": usage,
            }
        )

    async def _stream(
        self,
        request: web.Request,
        body: dict[str, Any],
        pieces: list[str],
        finish: str,
        usage: dict[str, int],
        fault: Fault | None,
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            data = {
                "id": "chatcmpl-stub",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body["model"],
                "choices": choices,
                **extra,
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        try:
            for i, piece in enumerate(pieces):
                if fault and fault.kind in ("cut", "hang") and i >= fault.after:
                    if fault.kind == "hang":  # a stream that never ends
                        await asyncio.sleep(3600)
                    assert request.transport is not None
                    request.transport.close()  # drop the connection mid-stream
                    return response
                delta = {"content": piece}
                await response.write(chunk([{"index": 0, "delta": delta, "finish_reason": None}]))
                if self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
            await response.write(chunk([{"index": 0, "delta": {}, "finish_reason": finish}]))
            if (body.get("stream_options") or {}).get("include_usage"):
                await response.write(chunk([], usage=usage))
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            self.aborted += 1  # the client went away part-way
            raise
        return response

    async def _moderations(self, request: web.Request) -> web.StreamResponse:
        """Flags an input holding any of ``flagged`` (as category ``harassment``)."""
        body = await self.record(request)
        faulted = self._faulted(request)
        if faulted is not None:
            return faulted
        inputs = body.get("input", []) if isinstance(body, dict) else []
        inputs = [inputs] if isinstance(inputs, str) else inputs
        results = []
        for text in inputs:
            hit = any(word.lower() in str(text).lower() for word in self.flagged)
            results.append(
                {
                    "flagged": hit,
                    "categories": {"harassment": hit},
                    "category_scores": {"harassment": 0.99 if hit else 0.01},
                }
            )
        return web.json_response(
            {"id": "modr-stub", "model": "stub-moderation", "results": results}
        )

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
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

    # -- files and fine-tuning ---------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._ids}"

    def _faulted(self, request: web.Request) -> web.StreamResponse | None:
        """The answer a queued fault gives instead of the normal one (``None``: no fault)."""
        fault = self._next_fault(request.path)
        if fault is None:
            return None
        if fault.kind == "drop":
            return drop(request)
        if fault.kind == "malformed":
            return web.Response(text="{not json", content_type="application/json")
        return _status_fault(fault)

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/files``: the multipart body is streamed to disk, a chunk at a time."""
        faulted = self._faulted(request)
        if faulted is not None:
            return faulted
        fields: dict[str, str] = {}
        stored: StubFile | None = None
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "file":
                file_id = self._new_id("file")
                path = self._upload_dir / file_id
                size = 0
                with path.open("wb") as out:
                    while chunk := await part.read_chunk():
                        out.write(chunk)
                        size += len(chunk)
                stored = StubFile(file_id, part.filename or "upload", "", path, size)
            elif part.name:
                fields[part.name] = await part.text()
        body: dict[str, Any] = {**fields, "filename": stored.filename if stored else None}
        body["bytes"] = stored.bytes if stored else 0
        self.requests.append(RecordedRequest("POST", request.path, dict(request.headers), body))
        if stored is None or not fields.get("purpose"):
            return _error(400, "'file' and 'purpose' are required", "invalid_request_error")
        stored.purpose = fields["purpose"]
        self.files[stored.id] = stored
        return web.json_response(stored.as_json())

    async def _list_files(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        return web.json_response(
            {"object": "list", "data": [f.as_json() for f in self.files.values()]}
        )

    async def _get_file(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        found = self.files.get(request.match_info["file_id"])
        if found is None:
            return _error(404, f"no such file: {request.match_info['file_id']}", "not_found")
        return web.json_response(found.as_json())

    async def _delete_file(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        found = self.files.pop(request.match_info["file_id"], None)
        if found is None:
            return _error(404, f"no such file: {request.match_info['file_id']}", "not_found")
        found.path.unlink(missing_ok=True)
        return web.json_response({"id": found.id, "object": "file", "deleted": True})

    async def _create_job(self, request: web.Request) -> web.StreamResponse:
        body = await self.record(request)
        faulted = self._faulted(request)
        if faulted is not None:
            return faulted
        if not isinstance(body, dict) or not body.get("model") or not body.get("training_file"):
            return _error(400, "'model' and 'training_file' are required", "invalid_request_error")
        upload = self.files.get(body["training_file"])
        if upload is None or upload.purpose != "fine-tune":
            message = f"invalid training_file: {body['training_file']}"
            return _error(400, message, "invalid_request_error", "training_file")
        job_id = self._new_id("ftjob")
        method = body.get("method") or {"type": "supervised"}
        given = (method.get("supervised") or {}).get("hyperparameters") or body.get(
            "hyperparameters", {}
        )
        defaults = {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.0}
        hyper = {k: v if given.get(k, "auto") == "auto" else given[k] for k, v in defaults.items()}
        job = {
            "id": job_id,
            "object": "fine_tuning.job",
            "created_at": int(time.time()),
            "model": body["model"],
            "training_file": upload.id,
            "validation_file": body.get("validation_file"),
            "hyperparameters": hyper,
            "method": method,
            "suffix": body.get("suffix"),
            "status": "queued",
            "fine_tuned_model": None,
            "finished_at": None,
            "error": None,
            "organization_id": "org-botkit",
            "result_files": [],
            "seed": body.get("seed") or 42,
            "trained_tokens": None,
        }
        states = deque(self.fine_tune_states)
        self.jobs[job_id] = StubJob(job, states, dict(self.fine_tune_error))
        self._event(self.jobs[job_id], f"Created fine-tuning job: {job_id}")
        return web.json_response(job)

    def _event(self, job: StubJob, message: str, level: str = "info", **data: Any) -> None:
        job.events.append(
            {
                "id": self._new_id("ftevent"),
                "object": "fine_tuning.job.event",
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "type": "metrics" if data else "message",
                "data": data or None,
            }
        )

    def _advance(self, job: StubJob) -> None:
        """Move ``job`` to its next scripted state, with the events OpenAI sends for it."""
        if not job.states or job.job["status"] in ("succeeded", "failed", "cancelled"):
            return
        state = job.states.popleft()
        previous, job.job["status"] = job.job["status"], state
        if state == "validating_files":
            self._event(job, f"Validating training file: {job.job['training_file']}")
        elif state == "running" and previous != "running":
            self._event(job, "Fine-tuning job started")
        elif state == "running":
            job.steps += 1
            loss = round(1.0 / (job.steps + 1), 4)
            self._event(job, f"Step {job.steps}: training loss={loss}", step=job.steps, loss=loss)
        elif state == "succeeded":
            suffix = job.job["suffix"] or ""
            model = f"ft:{job.job['model']}:botkit:{suffix}:{job.job['id']}"
            job.job.update(fine_tuned_model=model, trained_tokens=1000 * (job.steps + 1))
            self.models.append(model)
            self._event(job, f"New fine-tuned model created: {model}")
            self._event(job, "The job has successfully completed")
        elif state == "failed":
            job.job["error"] = job.error
            self._event(job, job.error["message"], level="error")
        if state in ("succeeded", "failed"):
            job.job["finished_at"] = int(time.time())

    def _job(self, request: web.Request) -> StubJob | web.Response:
        """The job the path names, or the 404 OpenAI answers for an unknown one."""
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return _error(404, f"no fine-tuning job {request.match_info['job_id']}", "not_found")
        return job

    async def _retrieve_job(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        faulted = self._faulted(request)
        if faulted is not None:
            return faulted
        job = self._job(request)
        if isinstance(job, web.Response):
            return job
        self._advance(job)
        return web.json_response(job.job)

    async def _list_jobs(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        jobs = [j.job for j in reversed(self.jobs.values())]
        return web.json_response(_page(jobs, request))

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """Events newest first, paged like OpenAI: ``after`` is the last event id already seen."""
        await self.record(request)
        faulted = self._faulted(request)
        if faulted is not None:
            return faulted
        job = self._job(request)
        if isinstance(job, web.Response):
            return job
        return web.json_response(_page(list(reversed(job.events)), request))

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        await self.record(request)
        job = self._job(request)
        if isinstance(job, web.Response):
            return job
        if job.job["status"] in ("succeeded", "failed", "cancelled"):
            message = f"job {job.job['id']} has already {job.job['status']}"
            return _error(400, message, "invalid_request_error")
        job.job["status"] = "cancelled"
        job.job["finished_at"] = int(time.time())
        self._event(job, "Fine-tuning job cancelled")
        return web.json_response(job.job)

    # -- lifecycle ---------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/moderations", self._moderations)
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files", self._list_files)
        app.router.add_get("/v1/files/{file_id}", self._get_file)
        app.router.add_delete("/v1/files/{file_id}", self._delete_file)
        app.router.add_post("/v1/fine_tuning/jobs", self._create_job)
        app.router.add_get("/v1/fine_tuning/jobs", self._list_jobs)
        app.router.add_get("/v1/fine_tuning/jobs/{job_id}", self._retrieve_job)
        app.router.add_get("/v1/fine_tuning/jobs/{job_id}/events", self._events)
        app.router.add_post("/v1/fine_tuning/jobs/{job_id}/cancel", self._cancel)
        self._upload_dir = Path(tempfile.mkdtemp(prefix="stub-openai-"))

    async def on_stop(self) -> None:
        shutil.rmtree(self._upload_dir, ignore_errors=True)

    def __enter__(self) -> StubOpenAI:
        return self.start()  # type: ignore[no-any-return]


def _error(status: int, message: str, kind: str, param: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": param, "code": None}}
    return web.json_response(body, status=status)


def _status_fault(fault: Fault) -> web.Response:
    headers = {"retry-after": str(fault.retry_after)} if fault.retry_after is not None else {}
    text = fault.message or f"stub fault {fault.status}"
    error = {"error": {"message": text, "type": "stub", "code": None}}
    return web.json_response(error, status=fault.status, headers=headers)


def _page(items: list[dict[str, Any]], request: web.Request) -> dict[str, Any]:
    """One page of ``items`` (already in listing order): those after the ``after`` id."""
    after = request.query.get("after")
    limit = int(request.query.get("limit", "20"))
    ids = [item["id"] for item in items]
    start = ids.index(after) + 1 if after in ids else 0
    page = items[start : start + limit]
    return {"object": "list", "data": page, "has_more": start + limit < len(items)}


def _pieces(text: str) -> list[str]:
    """Split a reply into stream chunks the way models do: a word (with its space) at a time.
    Each piece counts as one token."""
    pieces, current = [], ""
    for ch in text:
        current += ch
        if ch == " ":
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces or [""]


def _usage(body: dict[str, Any], pieces: list[str]) -> dict[str, int]:
    """Token counts as the stub counts them: words of the prompt, pieces of the reply."""
    words = sum(
        len(str(m.get("content", "")).split()) for m in body["messages"] if isinstance(m, dict)
    )
    return {
        "prompt_tokens": words,
        "completion_tokens": len(pieces),
        "total_tokens": words + len(pieces),
    }


def fake_embedding(text: str, dim: int) -> list[float]:
    """A deterministic unit vector for ``text``."""
    digest = hashlib.sha256(text.encode()).digest()
    raw = [digest[i % len(digest)] / 255 - 0.5 for i in range(dim)]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]
