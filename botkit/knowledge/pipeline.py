"""Read, chunk and embed changed files while the indexer writes the previous batch to Chroma.

The indexer (:meth:`KnowledgeIndex.index`) keeps Chroma to itself: one client per store and
process, and the embedded store holds the GIL while it writes. What feeds it runs beside it:

- in a child Python process, for an embedder that says it is CPU-bound
  (``Embedder.in_subprocess``, WordLlama's) when there is enough to embed: it reads, hashes,
  chunks and embeds on the other core while this process writes to Chroma. Batches come back
  pickled through its stdout, a few ahead at most; failures as the exception itself; a child that
  dies without a word is an error naming its exit code. A child that cannot even start (an
  embedder it cannot unpickle) means the thread below does the work instead.
- otherwise in a thread (a remote embedder waits on the network, and a Chroma server on its socket:
  both release the GIL), also a few batches ahead.

Batches come in file order and are the same either way; the indexer records a file only after
its batch is written (see index.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from botkit.knowledge.chunking import Chunk, chunk_sections
from botkit.knowledge.documents import UnreadableFile, read_sections
from botkit.knowledge.embeddings import Embedder, Vectors
from botkit.knowledge.sources import SourceFile
from botkit.knowledge.store import TEXT_KEY

log = logging.getLogger(__name__)

#: Batches the feeder may get ahead of the writer.
AHEAD = 2
#: Bytes of changed files from which a child process is worth its start (about a second).
SUBPROCESS_MIN_BYTES = 2 << 20


@dataclass(frozen=True)
class Task:
    """A file whose size or mtime changed (or a new one): it may need indexing."""

    source: SourceFile
    previous_hash: str | None
    size: int  # as seen by the indexer: decides in-process or not, nothing else


@dataclass(frozen=True)
class Chunking:
    chunk_size: int
    chunk_overlap: int
    max_file_mb: float
    batch: int  # chunks embedded together


@dataclass
class FileResult:
    name: str
    entry: dict[str, Any] | None = None  # new manifest entry: the file has new chunks
    same: tuple[int, int] | None = None  # content unchanged: its new (size, mtime)
    warning: str | None = None  # unreadable now: skipped, what was indexed stays


@dataclass
class Batch:
    """Files in order; the chunks of those with an entry, ready to write."""

    files: list[FileResult]
    ids: list[str]
    vectors: Vectors
    metadatas: list[dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage, this batch


def embed_text(title: str, text: str) -> str:
    """What gets embedded and keyword-indexed: the heading path gives a chunk its context."""
    return f"{title}\n{text}" if title else text


def chunk_metadata(source: str, chunk: Chunk) -> dict[str, Any]:
    """A chunk's metadata in Chroma; its text too (see :data:`botkit.knowledge.store.TEXT_KEY`)."""
    meta: dict[str, Any] = {
        "source": source,
        "title": chunk.title,
        "start": chunk.start,
        "end": chunk.end,
        TEXT_KEY: chunk.text,
    }
    if chunk.page is not None:
        meta["page"] = chunk.page
    return meta


def chunk_ids(name: str, digest: str, count: int) -> list[str]:
    """Stable ids: the same file and content give the same ids, so a repeated write overwrites."""
    file_key = hashlib.sha1(name.encode()).hexdigest()[:12]
    return [f"{file_key}-{digest[:12]}-{i}" for i in range(count)]


def stat(path: Any) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def produce(tasks: list[Task], chunking: Chunking, embedder: Embedder) -> Iterator[Batch]:
    """Batches of at least ``chunking.batch`` chunks (a file is never split), in file order."""
    files: list[FileResult] = []
    chunks: list[tuple[str, Chunk]] = []
    timings = {"read": 0.0, "chunk": 0.0}
    for task in tasks:
        result, found = _prepare(task, chunking, timings)
        files.append(result)
        chunks.extend((task.source.name, c) for c in found)
        if len(chunks) >= chunking.batch:
            yield _batch(files, chunks, embedder, timings)
            files, chunks, timings = [], [], {"read": 0.0, "chunk": 0.0}
    if files:
        yield _batch(files, chunks, embedder, timings)


def _prepare(
    task: Task, chunking: Chunking, timings: dict[str, float]
) -> tuple[FileResult, list[Chunk]]:
    name = task.source.name
    t0 = time.perf_counter()
    try:
        size, mtime = stat(task.source.path)
        digest = hashlib.sha256(task.source.path.read_bytes()).hexdigest()
    except OSError as exc:
        return FileResult(name, warning=f"skipped {name}: cannot read it ({exc.strerror})"), []
    finally:
        timings["read"] += time.perf_counter() - t0
    if digest == task.previous_hash:
        return FileResult(name, same=(size, mtime)), []
    t0 = time.perf_counter()
    try:
        sections = read_sections(task.source.path, task.source.text_field, chunking.max_file_mb)
    except UnreadableFile as exc:
        return FileResult(name, warning=f"skipped {name}: {exc}"), []
    except OSError as exc:
        return FileResult(name, warning=f"skipped {name}: cannot read it ({exc.strerror})"), []
    finally:
        timings["read"] += time.perf_counter() - t0
    t0 = time.perf_counter()
    found = chunk_sections(sections, chunking.chunk_size, chunking.chunk_overlap)
    timings["chunk"] += time.perf_counter() - t0
    entry = {
        "size": size,
        "mtime": mtime,
        "hash": digest,
        "ids": chunk_ids(name, digest, len(found)),
    }
    return FileResult(name, entry=entry), found


def _batch(
    files: list[FileResult],
    chunks: list[tuple[str, Chunk]],
    embedder: Embedder,
    timings: dict[str, float],
) -> Batch:
    t0 = time.perf_counter()
    vectors = embedder.embed([embed_text(c.title, c.text) for _, c in chunks]) if chunks else None
    timings["embed"] = time.perf_counter() - t0
    ids = [i for f in files if f.entry for i in f.entry["ids"]]
    metadatas = [chunk_metadata(name, c) for name, c in chunks]
    if vectors is None:
        vectors = np.zeros((0, 0), dtype=np.float32)
    return Batch(files, ids, vectors, metadatas, timings)


# -- feeds -------------------------------------------------------------------------------------


class ChildDied(RuntimeError):
    """The embedding process ended without finishing or saying why."""


@dataclass
class _Failure:
    """An exception raised where the batches are made, carried to the indexer."""

    error: BaseException
    trace: str

    @classmethod
    def of(cls, exc: BaseException) -> _Failure:
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        try:
            pickle.loads(pickle.dumps(exc))
            error = exc
        except Exception:  # an exception that does not survive pickling: keep its words
            error = RuntimeError(f"{type(exc).__name__}: {exc}")
        return cls(error, trace)


_READY = "ready"
_DONE = "done"


@contextlib.contextmanager
def feed(tasks: list[Task], chunking: Chunking, embedder: Embedder) -> Iterator[Iterator[Batch]]:
    """The batches of ``tasks``, made beside the caller; stopped and cleaned up on exit."""
    if not tasks:
        yield iter(())
        return
    local = getattr(embedder, "in_subprocess", False)
    if local and sum(t.size for t in tasks) >= SUBPROCESS_MIN_BYTES:
        process = _ProcessFeed(tasks, chunking, embedder)
        try:
            if process.start():
                yield process.batches()
                return
        finally:
            process.close()
    thread = _ThreadFeed(tasks, chunking, embedder)
    try:
        yield thread.batches()
    finally:
        thread.close()


class _Feed:
    def get(self) -> Any:
        """The next item, when there is one."""
        raise NotImplementedError

    def batches(self) -> Iterator[Batch]:
        while True:
            item = self.get()
            if isinstance(item, _Failure):
                if item.trace and hasattr(item.error, "add_note"):  # Python >= 3.11
                    item.error.add_note(f"in the embedding process:\n{item.trace}")
                raise item.error
            if item == _DONE:
                return
            yield item


class _ThreadFeed(_Feed):
    def __init__(self, tasks: list[Task], chunking: Chunking, embedder: Embedder) -> None:
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=AHEAD)
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(tasks, chunking, embedder), name="botkit-embed", daemon=True
        )
        self.thread.start()

    def _run(self, tasks: list[Task], chunking: Chunking, embedder: Embedder) -> None:
        try:
            for batch in produce(tasks, chunking, embedder):
                if not self._put(batch):
                    return
            self._put(_DONE)
        except BaseException as exc:
            self._put(_Failure(exc, ""))

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                pass
        return False

    def get(self) -> Any:
        return self.queue.get()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


class _ProcessFeed(_Feed):
    """The batches made by a child Python (``botkit.knowledge.pipeline.serve``), as pickles framed
    on its stdout. Not ``multiprocessing``: its children import the parent's ``__main__`` again
    (``python -m botkit`` would run the command twice), and a fork would copy Chroma's threads."""

    def __init__(self, tasks: list[Task], chunking: Chunking, embedder: Embedder) -> None:
        self.job = (tasks, chunking, embedder, os.getpid())
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=AHEAD)
        self.stop = threading.Event()
        self.child: subprocess.Popen[bytes] | None = None
        self.reader: threading.Thread | None = None

    def start(self) -> bool:
        """Start the child; False (and a log line) if it cannot get going: use a thread."""
        try:
            job = pickle.dumps(self.job, protocol=pickle.HIGHEST_PROTOCOL)
            # this process's import path first: the same botkit, the embedder's module found
            command = f"import sys; sys.path[:] = {sys.path!r}; {_SERVE}"
            self.child = subprocess.Popen(
                [sys.executable, "-c", command],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            self.reader = threading.Thread(target=self._read, name="botkit-embed-reader")
            self.reader.daemon = True
            self.reader.start()
            assert self.child.stdin is not None
            with self.child.stdin:
                self.child.stdin.write(job)
            item = self.get()
        except Exception as exc:
            log.info("indexing in-process: the embedding process did not start (%s)", exc)
            return False
        if item == _READY:
            return True
        reason = item.error if isinstance(item, _Failure) else item
        log.info("indexing in-process: the embedding process did not start (%s)", reason)
        return False

    def _read(self) -> None:
        """Frames from the child into the queue (it blocks when the writer is AHEAD behind)."""
        assert self.child is not None and self.child.stdout is not None
        out = self.child.stdout
        while True:
            try:
                head = out.read(8)
                item = (
                    pickle.loads(out.read(int.from_bytes(head, "big"))) if len(head) == 8 else None
                )
            except Exception as exc:  # a cut frame: the child died mid-write
                item = None
                log.debug("embedding process: unreadable frame (%s)", exc)
            if item is None:
                self._put(_Ended())
                return
            if not self._put(item) or item == _DONE or isinstance(item, _Failure):
                return

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                pass
        return False

    def get(self) -> Any:
        item = self.queue.get()
        if isinstance(item, _Ended):
            assert self.child is not None
            try:
                code = self.child.wait(5)
            except subprocess.TimeoutExpired:
                code = None
            raise ChildDied(f"the embedding process ended (exit code {code})")
        return item

    def close(self) -> None:
        self.stop.set()
        if self.child is not None:
            if self.child.poll() is None:
                self.child.terminate()
            try:
                self.child.wait(10)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()
            if self.reader is not None:
                self.reader.join()
            if self.child.stdout is not None:
                self.child.stdout.close()


_SERVE = "from botkit.knowledge.pipeline import serve; serve()"


class _Ended:
    """The child's stdout closed without a last word."""


def serve() -> None:
    """The embedding process: reads its job (pickled) on stdin, writes framed pickles on stdout:
    ready, then the batches, then done or the failure that stopped it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the indexer's to handle
    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # anything printed goes to stderr, not into the frames
    pending: queue.Queue[Any] = queue.Queue(maxsize=1)

    def write() -> None:
        while True:
            item = pending.get()
            data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
            try:
                out.write(len(data).to_bytes(8, "big") + data)
                out.flush()
            except OSError:  # the indexer is gone
                os._exit(1)
            if item == _DONE or isinstance(item, _Failure):
                return

    writer = threading.Thread(target=write, name="botkit-embed-writer")
    writer.start()
    try:
        tasks, chunking, embedder, parent = pickle.loads(sys.stdin.buffer.read())
    except BaseException as exc:
        pending.put(_Failure.of(exc))
        writer.join()
        return
    threading.Thread(target=_orphan_watch, args=(parent,), daemon=True).start()
    pending.put(_READY)
    try:
        for batch in produce(tasks, chunking, embedder):
            pending.put(batch)  # blocks while the indexer is behind
        pending.put(_DONE)
    except BaseException as exc:
        pending.put(_Failure.of(exc))
    writer.join()


def _orphan_watch(parent: int) -> None:
    """End this process when the indexer is gone (killed): nobody would read what it makes."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)
