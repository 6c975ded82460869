"""Incremental, per-file atomic indexing of a GPT's knowledge into a Chroma collection.

A manifest (``<data dir>/knowledge/<gpt>/manifest.json``) records, per file, its size, mtime,
content hash and chunk ids. A file whose size and mtime are unchanged is not even read; one whose
hash is unchanged is not re-embedded. A changed file's new chunks are written before its old ones
are deleted, so a run that fails half-way leaves every file searchable (old or new version), and the
manifest (rewritten atomically, every 10 seconds and at the end) makes the next run finish the
job: chunk ids are stable (file and content), so what a killed run wrote but did not record is
overwritten, and a changed file's other versions are found by their ``source`` and deleted. The
embedder and chunking settings are recorded with the collection: changing them rebuilds it, never
mixes vectors.

Changed files are read, chunked and embedded beside this thread (see pipeline.py: in a child
process for a local embedder with enough to do) while it writes the previous batch to Chroma.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botkit.atomic import atomic_write_text
from botkit.knowledge.embeddings import Embedder
from botkit.knowledge.pipeline import Batch, Chunking, Task, feed, stat
from botkit.knowledge.pipeline import embed_text as embed_text  # base.py's, and others'
from botkit.knowledge.sources import resolve_sources
from botkit.knowledge.store import ChunkCollection, chroma_url, open_client
from botkit.spec import KnowledgeSpec

#: Chunks embedded and written together (a file is never split), into the embedded store.
EMBED_BATCH = 1024
#: The same into a Chroma server, whose writes block no other thread here: 4096-row writes store
#: 20-35 % faster than 1024-row ones (bench/knowledge.py).
SERVER_BATCH = 4096
#: Rows per write to the embedded store at most. Such a write holds the GIL all along, so a search
#: in another thread waits for it (about half a second for 1024 rows); 4096-row writes were no
#: faster there in the pipeline (bench/knowledge.py, 50k chunks).
WRITE_BATCH = 1024
#: Seconds between manifest checkpoints during a run (it is also written at the end).
CHECKPOINT_SECONDS = 10.0


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
    #: Where the time went, seconds per stage: read, chunk, embed (beside the writer, summed over
    #: batches), write (Chroma), delete (replaced chunks), manifest, wait (for the next batch).
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.indexed or self.removed or self.rebuilt)


#: Called after each file: (file name, chunks it added, files done, files in all).
Progress = Callable[[str, int, int, int], None]


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
            self._collection = ChunkCollection(
                self.client().get_or_create_collection(
                    self.collection_name,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata=self.settings,
                    embedding_function=None,  # vectors come from our embedder, never Chroma's
                )
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
        # compact: json's C encoder (an indented dump is pure Python, 10x slower at 100k chunks)
        text = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
        atomic_write_text(self.folder / "manifest.json", text)

    def stale(self) -> bool:
        """Quick check (sizes and mtimes only): has any source file changed since the last index?"""
        manifest = self.load_manifest()
        if manifest.get("settings") != self.settings:
            return True
        files, _ = resolve_sources(self.spec, self.gpt_file, self.project_dir)
        known = manifest["files"]
        if {f.name for f in files} != set(known):
            return True
        return any(stat(f.path) != (known[f.name]["size"], known[f.name]["mtime"]) for f in files)

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
        writer = _Writer(self, collection, manifest, report, progress, len(files))
        tasks = []
        for source in files:
            previous = known.get(source.name)
            size, mtime = stat(source.path)
            if previous and (previous["size"], previous["mtime"]) == (size, mtime):
                report.unchanged += 1
                writer.tell(source.name, 0)
            else:
                tasks.append(Task(source, previous["hash"] if previous else None, size))
        chunking = Chunking(
            self.spec.chunk_size, self.spec.chunk_overlap, self.spec.max_file_mb, writer.batch
        )
        try:
            with feed(tasks, chunking, self.embedder) as batches:
                for batch in writer.timed("wait", batches):
                    writer.write(batch)
            current = {f.name for f in files}
            gone = [n for n in known if n not in current]
            if gone:
                writer.remove(gone)
        finally:
            if writer.dirty or not (self.folder / "manifest.json").exists():
                writer.save()
        report.seconds = time.perf_counter() - started
        return report

    def clear(self) -> None:
        self.drop_collection()
        (self.folder / "manifest.json").unlink(missing_ok=True)


class _Writer:
    """Writes batches to Chroma in order; records a file (manifest, report, progress) only once its
    new chunks are written and the ones they replace deleted."""

    def __init__(
        self,
        owner: KnowledgeIndex,
        collection: Any,
        manifest: dict[str, Any],
        report: IndexReport,
        progress: Progress | None,
        total: int,
    ) -> None:
        self.owner = owner
        self.collection = collection
        self.manifest = manifest
        self.known: dict[str, Any] = manifest["files"]
        self.report = report
        self.progress = progress
        self.total = total
        self.done = 0
        self.dirty = bool(report.rebuilt)
        self.saved = time.monotonic()
        server = chroma_url(owner.spec.chroma_url) is not None
        self.batch = SERVER_BATCH if server else EMBED_BATCH
        self.step = min(
            SERVER_BATCH if server else WRITE_BATCH, owner.client().get_max_batch_size()
        )
        self.timings = report.timings

    def tell(self, name: str, added: int) -> None:
        self.done += 1
        if self.progress:
            self.progress(name, added, self.done, self.total)

    def timed(self, stage: str, items: Any) -> Any:
        """Iterate ``items``, adding the time spent waiting for each to ``stage``."""
        iterator = iter(items)
        while True:
            t0 = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                return
            finally:
                self._add(stage, time.perf_counter() - t0)
            yield item

    def _add(self, stage: str, seconds: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + seconds

    def write(self, batch: Batch) -> None:
        for stage, seconds in batch.timings.items():
            self._add(stage, seconds)
        t0 = time.perf_counter()
        for a in range(0, len(batch.ids), self.step):
            b = a + self.step
            self.collection.upsert(
                ids=batch.ids[a:b], embeddings=batch.vectors[a:b], metadatas=batch.metadatas[a:b]
            )
        self._add("write", time.perf_counter() - t0)
        t0 = time.perf_counter()
        replaced = [f for f in batch.files if f.entry is not None and f.name in self.known]
        stale: set[str] = set()
        for f in replaced:
            stale.update(self.known[f.name]["ids"])
        if replaced:  # versions a killed run wrote but never recorded, too
            found = self.collection.get(
                where={"source": {"$in": [f.name for f in replaced]}}, include=[]
            )
            stale.update(found["ids"])
            stale.difference_update(i for f in replaced for i in f.entry["ids"])  # type: ignore[index]
        self._delete(sorted(stale))
        self._add("delete", time.perf_counter() - t0)
        for f in batch.files:
            if f.warning:
                self.report.warnings.append(f.warning)
                self.tell(f.name, 0)
                continue
            self.dirty = True
            if f.same:
                self.known[f.name]["size"], self.known[f.name]["mtime"] = f.same
                self.report.unchanged += 1
                self.tell(f.name, 0)
                continue
            assert f.entry is not None
            old = self.known.get(f.name, {}).get("ids", [])
            self.known[f.name] = f.entry
            self.report.indexed += 1
            self.report.chunks_added += len(f.entry["ids"])
            self.report.chunks_removed += len(old)
            self.tell(f.name, len(f.entry["ids"]))
        if time.monotonic() - self.saved >= CHECKPOINT_SECONDS:
            self.save()

    def remove(self, names: list[str]) -> None:
        """Delete the chunks of files no longer in the sources (every version: by their source),
        then forget them."""
        t0 = time.perf_counter()
        for a in range(0, len(names), self.step):
            self.collection.delete(where={"source": {"$in": names[a : a + self.step]}})
        for name in names:
            self.report.chunks_removed += len(self.known.pop(name)["ids"])
        self.report.removed += len(names)
        self.dirty = True
        self._add("delete", time.perf_counter() - t0)

    def _delete(self, ids: list[str]) -> None:
        for a in range(0, len(ids), self.step):
            self.collection.delete(ids=ids[a : a + self.step])

    def save(self) -> None:
        t0 = time.perf_counter()
        self.owner.save_manifest(self.manifest)
        self.saved = time.monotonic()
        self._add("manifest", time.perf_counter() - t0)


def _rebuild_reason(before: dict[str, Any] | None, now: dict[str, Any]) -> str:
    if not before:
        return "new index" if before is None else "first index"
    changed = [f"{k} {before.get(k)!r} -> {v!r}" for k, v in now.items() if before.get(k) != v]
    return "settings changed: " + ", ".join(changed) if changed else "the collection was empty"
