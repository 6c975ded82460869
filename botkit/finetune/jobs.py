"""Drive a fine-tuning job over the OpenAI API: upload, create, watch, cancel.

The client is the OpenAI provider's own (same base_url, API-key variable, timeouts and retries as
the GPT's model section). :func:`follow` survives network loss: it retries with backoff and
re-lists the job's events down to the last one it showed, so none is lost or shown twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from botkit.atomic import atomic_write_text
from botkit.errors import ModelUnreachable
from botkit.finetune import FineTuneError, workdir
from botkit.models.openai_compat import (
    DEFAULT_KEY_ENV,
    OpenAICompatModel,
    api_message,
    connection_reason,
)
from botkit.spec import ModelSpec

if TYPE_CHECKING:
    from openai.types.fine_tuning import (
        FineTuningJob,
        FineTuningJobEvent,
        SupervisedHyperparametersParam,
    )
    from openai.types.fine_tuning.job_create_params import Method

FINISHED = ("succeeded", "failed", "cancelled")
#: Events fetched per request while catching up.
EVENTS_PAGE = 50
#: Longest wait between two attempts to reach the server while following a job.
MAX_RETRY_DELAY = 300.0
#: Uploads of large files may take long; this many seconds before giving up.
UPLOAD_TIMEOUT = 3600.0


@dataclass(frozen=True)
class Hyperparameters:
    """``None`` leaves the choice to the server (``auto``)."""

    epochs: int | None = None
    batch_size: int | None = None
    learning_rate_multiplier: float | None = None

    def method(self) -> Method:
        """The ``method`` parameter of a supervised fine-tuning job."""
        chosen: SupervisedHyperparametersParam = {}
        if self.epochs is not None:
            chosen["n_epochs"] = self.epochs
        if self.batch_size is not None:
            chosen["batch_size"] = self.batch_size
        if self.learning_rate_multiplier is not None:
            chosen["learning_rate_multiplier"] = self.learning_rate_multiplier
        return {"type": "supervised", "supervised": {"hyperparameters": chosen}}


@dataclass(frozen=True)
class JobRecord:
    """The last job started for a GPT, kept in ``workdir(GPT)/job.json``."""

    gpt: str
    job_id: str
    base_model: str
    training_file: str  # the uploaded file's id
    data: str  # the local file that was uploaded

    def save(self, data_dir: Path) -> None:
        path = _record_path(data_dir, self.gpt)
        atomic_write_text(path, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, data_dir: Path, gpt: str) -> JobRecord:
        path = _record_path(data_dir, gpt)
        if not path.is_file():
            raise FineTuneError(
                f"no fine-tuning job was started for GPT {gpt!r}: "
                f"run `botkit finetune start --gpt {gpt}` (or give --job ID)"
            )
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as exc:
            raise FineTuneError(f"{path} is damaged ({exc}); give --job ID instead") from exc


def _record_path(data_dir: Path, gpt: str) -> Path:
    return workdir(data_dir, gpt) / "job.json"


class FineTuning:
    """The fine-tuning endpoints of the server a GPT's model runs on (an async context manager)."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self._model = OpenAICompatModel(spec)  # raises MissingAPIKey
        self.url = self._model.base_url

    async def __aenter__(self) -> FineTuning:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._model.aclose()

    async def upload(self, path: Path) -> str:
        """Upload a training file (streamed from disk); return its id."""
        with self._errors(f"uploading {path.name}"), path.open("rb") as handle:
            uploaded = await self._model.client.files.create(
                file=(path.name, handle, "application/jsonl"),
                purpose="fine-tune",
                timeout=max(UPLOAD_TIMEOUT, self.spec.timeout),
            )
        return uploaded.id

    async def discard(self, file_id: str) -> None:
        """Delete an uploaded file, if the server lets us (it is only clutter otherwise)."""
        import openai

        with contextlib.suppress(openai.OpenAIError):
            await self._model.client.files.delete(file_id)

    async def create(
        self, model: str, training_file: str, hyper: Hyperparameters, suffix: str | None = None
    ) -> FineTuningJob:
        with self._errors("creating the fine-tuning job"):
            return await self._model.client.fine_tuning.jobs.create(
                model=model,
                training_file=training_file,
                method=hyper.method(),
                suffix=suffix,
            )

    async def retrieve(self, job_id: str) -> FineTuningJob:
        with self._errors(f"reading job {job_id}"):
            return await self._model.client.fine_tuning.jobs.retrieve(job_id)

    async def cancel(self, job_id: str) -> FineTuningJob:
        with self._errors(f"cancelling job {job_id}"):
            return await self._model.client.fine_tuning.jobs.cancel(job_id)

    async def events(self, job_id: str, after: str | None = None) -> list[FineTuningJobEvent]:
        """The job's events newer than the event ``after`` (all when ``None``), oldest first.

        The server lists events newest first; pages are read until ``after`` comes up.
        """
        fresh = []
        with self._errors(f"reading the events of job {job_id}"):
            pages = self._model.client.fine_tuning.jobs.list_events(job_id, limit=EVENTS_PAGE)
            async for event in pages:
                if event.id == after:
                    break
                fresh.append(event)
        return fresh[::-1]

    async def latest_events(self, job_id: str, count: int) -> list[FineTuningJobEvent]:
        """The job's last ``count`` events, oldest first."""
        with self._errors(f"reading the events of job {job_id}"):
            page = await self._model.client.fine_tuning.jobs.list_events(job_id, limit=count)
        return page.data[::-1]

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn the client's exceptions into one-line botkit errors."""
        import openai

        try:
            yield
        except openai.APIConnectionError as exc:
            raise ModelUnreachable(self.url, connection_reason(exc)) from exc
        except openai.APIStatusError as exc:
            detail = api_message(exc)
            if exc.status_code == 401:
                env = self.spec.api_key_env or DEFAULT_KEY_ENV
                message = f"the server at {self.url} rejected the API key in ${env}"
            else:
                message = f"{action} failed: {self.url} answered {exc.status_code}: {detail}"
            raise FineTuneError(message) from exc
        except (openai.APIResponseValidationError, ValueError) as exc:
            raise FineTuneError(f"{action} failed: malformed answer from {self.url}") from exc


async def follow(
    api: FineTuning,
    job_id: str,
    on_event: Callable[[FineTuningJobEvent], None],
    on_retry: Callable[[ModelUnreachable, float], None],
    interval: float = 10.0,
    retries: int = 8,
) -> FineTuningJob:
    """Show the job's events as they come until it finishes; return the finished job.

    When the server cannot be reached, wait ``interval`` seconds, doubling each time, and try again
    up to ``retries`` times in a row before giving up with :class:`ModelUnreachable`.
    """
    seen: str | None = None
    failures = 0
    while True:
        try:
            job = await api.retrieve(job_id)
            fresh = await api.events(job_id, seen)
        except ModelUnreachable as exc:
            failures += 1
            if failures > retries:
                raise
            delay = min(MAX_RETRY_DELAY, interval * 2 ** (failures - 1))
            on_retry(exc, delay)
            await asyncio.sleep(delay)
            continue
        failures = 0
        for event in fresh:
            on_event(event)
            seen = event.id
        if job.status in FINISHED:
            return job
        await asyncio.sleep(interval)


def job_error(job: FineTuningJob) -> str:
    """Why a job failed, as the server says it."""
    if job.error is None:
        return "no reason given"
    parts = [job.error.code, job.error.message]
    text = ": ".join(p for p in parts if p)
    return f"{text} (parameter: {job.error.param})" if job.error.param else text
