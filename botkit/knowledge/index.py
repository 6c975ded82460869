"""Incremental, per-file atomic indexing of a GPT's knowledge into a Chroma collection.

A manifest (``<data dir>/knowledge/<gpt>/manifest.json``) records, per file, its size, mtime,
content hash and chunk ids. A file whose size and mtime are unchanged is not even read; one whose
hash is unchanged is not re-embedded. A changed file's new chunks are written before its old ones
are deleted, so a run that fails half-way leaves every file searchable (old or new version), and the
manifest (rewritten atomically) makes the next run finish the job. The embedder and chunking
settings are recorded with the collection: changing them rebuilds it, never mixes vectors.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botkit.atomic import atomic_write_text
from botkit.knowledge.chunking import Chunk, chunk_sections
from botkit.knowledge.documents import UnreadableFile, read_sections
from botkit.knowledge.embeddings import Embedder
from botkit.knowledge.sources import SourceFile, resolve_sources
from botkit.knowledge.store import chroma_url, open_client
from botkit.spec import KnowledgeSpec

#: Chunks embedded together: large batches keep the embedder busy; files are still written one by one.
EMBED_BATCH = 1024


@dataclass
class IndexReport:
    files: int = 0
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_added: int = 0
    chunks_removed: int = 0
    rebuilt: str = ""  # why the collection was rebuilt, if it was
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.indexed or self.removed or self.rebuilt)


#: Called after each file: (file name, chunks it added, files done, files in all).
Progress = Callable[[str, int, int, int], None]


@dataclass
class _Pending:
    source: SourceFile
    entry: dict[str, Any]
    chunks: list[Chunk]


class KnowledgeIndex:
    """The Chroma collection and manifest of one GPT's knowledge."""

    def __init__(
        self,
        gpt: str,
        spec: KnowledgeSpec,
        gpt_file: Path,
        project_dir: Path,
        data_dir: Path,
        embedder: Embedder,
    ) -> None:
        self.gpt = gpt
        self.spec = spec
        self.gpt_file = gpt_file
        self.project_dir = project_dir
        self.data_dir = data_dir
        self.embedder = embedder
        self.folder = data_dir / "knowledge" / gpt
        self.collection_name = f"botkit-{gpt}"
        self._collection: Any = None

    # -- state ---------------------------------------------------------------------------------
    @property
    def settings(self) -> dict[str, Any]:
        """What the vectors depend on: a change means a rebuild."""
        return {
            "embedder": self.embedder.label,
            "dimension": self.embedder.dimension,
            "chunk_size": self.spec.chunk_size,
            "chunk_overlap": self.spec.chunk_overlap,
        }

    def client(self) -> Any:
        return open_client(self.data_dir, chroma_url(self.spec.chroma_url))

    def collection(self) -> Any:
        """The Chroma collection, looked up once (a lookup is a round trip to the store)."""
        if self._collection is None:
            self._collection = self.client().get_or_create_collection(
                self.collection_name,
                configuration={"hnsw": {"space": "cosine"}},
                metadata=self.settings,
                embedding_function=None,  # vectors always come from our embedder, never Chroma's
            )
        return self._collection

    def drop_collection(self) -> None:
        with contextlib.suppress(Exception):  # chromadb's NotFoundError: nothing to delete
            self.client().delete_collection(self.collection_name)
        self.forget()

    def forget(self) -> None:
        """Look the collection up again next time (another process may have rebuilt it)."""
        self._collection = None

    def load_manifest(self) -> dict[str, Any]:
        try:
            manifest: dict[str, Any] = json.loads((self.folder / "manifest.json").read_text())
            return manifest
        except (OSError, ValueError):
            return {"settings": {}, "files": {}}

    def save_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_text(
            self.folder / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True)
        )

    def stale(self) -> bool:
        """Quick check (sizes and mtimes only): has any source file changed since the last index?"""
        manifest = self.load_manifest()
        if manifest.get("settings") != self.settings:
            return True
        files, _ = resolve_sources(self.spec, self.gpt_file, self.project_dir)
        known = manifest["files"]
        if {f.name for f in files} != set(known):
            return True
        return any(_stat(f.path) != (known[f.name]["size"], known[f.name]["mtime"]) for f in files)

    # -- indexing ------------------------------------------------------------------------------
    def index(self, progress: Progress | None = None) -> IndexReport:
        started = time.perf_counter()
        report = IndexReport()
        files, report.warnings = resolve_sources(self.spec, self.gpt_file, self.project_dir)
        report.files = len(files)
        manifest = self.load_manifest()
        collection = self.collection()
        if manifest.get("settings") != self.settings or (
            manifest["files"] and collection.count() == 0
        ):
            report.rebuilt = _rebuild_reason(manifest.get("settings"), self.settings)
            self.drop_collection()
            collection = self.collection()
            manifest = {"settings": self.settings, "files": {}}
        known: dict[str, Any] = manifest["files"]
        writer = _Writer(self, collection, known, report, progress, len(files))
        pending: list[_Pending] = []
        pending_chunks = 0
        try:
            for source in files:
                entry = self._changed_entry(source, known.get(source.name), report)
                chunks = None if entry is None else self._read(source, report)
                if entry is None or chunks is None:  # unchanged, or unreadable now (keep the old)
                    report.unchanged += entry is None
                    writer.skip(source.name)
                    continue
                pending.append(_Pending(source, entry, chunks))
                pending_chunks += len(chunks)
                if pending_chunks >= EMBED_BATCH:
                    writer.submit(pending)
                    self.save_manifest(manifest)
                    pending, pending_chunks = [], 0
            writer.submit(pending)
            writer.close()
            current = {f.name for f in files}
            for name in [n for n in known if n not in current]:
                ids = known.pop(name)["ids"]
                _delete(collection, ids)
                report.removed += 1
                report.chunks_removed += len(ids)
        finally:
            writer.close()
            self.save_manifest(manifest)
        report.seconds = time.perf_counter() - started
        return report

    def _changed_entry(
        self, source: SourceFile, previous: dict[str, Any] | None, report: IndexReport
    ) -> dict[str, Any] | None:
        """The new manifest entry of a file that needs indexing, or None if it is unchanged."""
        size, mtime = _stat(source.path)
        if previous and (previous["size"], previous["mtime"]) == (size, mtime):
            return None
        digest = hashlib.sha256(source.path.read_bytes()).hexdigest()
        if previous and previous["hash"] == digest:
            previous["size"], previous["mtime"] = size, mtime
            return None
        return {"size": size, "mtime": mtime, "hash": digest, "ids": []}

    def _read(self, source: SourceFile, report: IndexReport) -> list[Chunk] | None:
        try:
            sections = read_sections(source.path, source.text_field, self.spec.max_file_mb)
        except UnreadableFile as exc:
            report.warnings.append(f"skipped {source.name}: {exc}")
            return None
        except OSError as exc:
            report.warnings.append(f"skipped {source.name}: cannot read it ({exc.strerror})")
            return None
        return chunk_sections(sections, self.spec.chunk_size, self.spec.chunk_overlap)

    def clear(self) -> None:
        self.drop_collection()
        (self.folder / "manifest.json").unlink(missing_ok=True)


class _Writer:
    """Embeds batches of changed files and writes them to Chroma, one batch in flight.

    While Chroma stores batch n in a worker thread, the caller reads, chunks and embeds batch
    n+1. A batch is finished (the chunks it replaces deleted, the manifest updated, progress told)
    only once its own write has succeeded, so a failure never leaves a file without its chunks.
    """

    def __init__(
        self,
        owner: KnowledgeIndex,
        collection: Any,
        known: dict[str, Any],
        report: IndexReport,
        progress: Progress | None,
        total: int,
    ) -> None:
        self.owner = owner
        self.collection = collection
        self.known = known
        self.report = report
        self.progress = progress
        self.total = total
        self.done = 0
        self.step = owner.client().get_max_batch_size()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="botkit-index")
        self.inflight: tuple[Future[None], list[_Pending]] | None = None

    def skip(self, name: str) -> None:
        self.done += 1
        if self.progress:
            self.progress(name, 0, self.done, self.total)

    def submit(self, pending: list[_Pending]) -> None:
        if not pending:
            return
        chunks = [c for p in pending for c in p.chunks]
        vectors = self.owner.embedder.embed([embed_text(c.title, c.text) for c in chunks])
        ids: list[str] = []
        metadatas: list[dict[str, Any]] = []
        for p in pending:
            file_key = hashlib.sha1(p.source.name.encode()).hexdigest()[:12]
            p.entry["ids"] = [
                f"{file_key}-{p.entry['hash'][:12]}-{i}" for i in range(len(p.chunks))
            ]
            ids.extend(p.entry["ids"])
            metadatas.extend(_metadata(p.source.name, c) for c in p.chunks)
        documents = [c.text for c in chunks]
        self._finish()
        future = self.pool.submit(self._upsert, ids, vectors, documents, metadatas)
        self.inflight = (future, list(pending))

    def close(self) -> None:
        try:
            self._finish()
        finally:
            self.pool.shutdown(wait=True)

    def _upsert(
        self, ids: list[str], vectors: Any, documents: list[str], metadatas: list[Any]
    ) -> None:
        for a in range(0, len(ids), self.step):
            b = a + self.step
            self.collection.upsert(
                ids=ids[a:b],
                embeddings=vectors[a:b],
                documents=documents[a:b],
                metadatas=metadatas[a:b],
            )

    def _finish(self) -> None:
        """Wait for the batch in flight; then drop the chunks it replaced and record it."""
        if self.inflight is None:
            return
        future, pending = self.inflight
        self.inflight = None
        future.result()
        stale: list[str] = []
        for p in pending:
            old = self.known.get(p.source.name, {}).get("ids", [])
            stale.extend(set(old) - set(p.entry["ids"]))
            self.known[p.source.name] = p.entry
            self.report.indexed += 1
            self.report.chunks_added += len(p.entry["ids"])
            self.report.chunks_removed += len(old)
        for a in range(0, len(stale), self.step):
            _delete(self.collection, stale[a : a + self.step])
        for p in pending:
            self.done += 1
            if self.progress:
                self.progress(p.source.name, len(p.entry["ids"]), self.done, self.total)


def embed_text(title: str, text: str) -> str:
    """What gets embedded and keyword-indexed: the heading path gives a chunk its context."""
    return f"{title}\n{text}" if title else text


def _metadata(source: str, chunk: Chunk) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "source": source,
        "title": chunk.title,
        "start": chunk.start,
        "end": chunk.end,
    }
    if chunk.page is not None:
        meta["page"] = chunk.page
    return meta


def _delete(collection: Any, ids: list[str]) -> None:
    if ids:
        collection.delete(ids=ids)


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _rebuild_reason(before: dict[str, Any] | None, now: dict[str, Any]) -> str:
    if not before:
        return "new index" if before is None else "first index"
    changed = [f"{k} {before.get(k)!r} -> {v!r}" for k, v in now.items() if before.get(k) != v]
    return "settings changed: " + ", ".join(changed) if changed else "the collection was empty"
