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
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

    # -- state ---------------------------------------------------------------------------------
    @property
    def settings(self) -> dict[str, Any]:
        """What the vectors depend on: a change means a rebuild."""
        return {
            "embedder": self.embedder.label,
            "chunk_size": self.spec.chunk_size,
            "chunk_overlap": self.spec.chunk_overlap,
        }

    def client(self) -> Any:
        return open_client(self.data_dir, chroma_url(self.spec.chroma_url))

    def collection(self) -> Any:
        return self.client().get_or_create_collection(
            self.collection_name,
            configuration={"hnsw": {"space": "cosine"}},
            metadata=self.settings,
            embedding_function=None,  # vectors always come from our embedder, never Chroma's
        )

    def load_manifest(self) -> dict[str, Any]:
        try:
            manifest: dict[str, Any] = json.loads((self.folder / "manifest.json").read_text())
            return manifest
        except (OSError, ValueError):
            return {"settings": {}, "files": {}}

    def save_manifest(self, manifest: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / "manifest.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
        os.replace(tmp, self.folder / "manifest.json")

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
            self.client().delete_collection(self.collection_name)
            collection = self.collection()
            manifest = {"settings": self.settings, "files": {}}
        known: dict[str, Any] = manifest["files"]
        pending: list[_Pending] = []
        done = 0
        try:
            for source in files:
                entry = self._changed_entry(source, known.get(source.name), report)
                if entry is None:
                    report.unchanged += 1
                    done += 1
                    if progress:
                        progress(source.name, 0, done, len(files))
                    continue
                chunks = self._read(source, report)
                if chunks is None:  # unreadable now: keep what was indexed before, if anything
                    done += 1
                    if progress:
                        progress(source.name, 0, done, len(files))
                    continue
                pending.append(_Pending(source, entry, chunks))
                if sum(len(p.chunks) for p in pending) >= EMBED_BATCH:
                    done += self._write(
                        collection, pending, known, report, progress, done, len(files)
                    )
                    self.save_manifest(manifest)
                    pending = []
            done += self._write(collection, pending, known, report, progress, done, len(files))
            current = {f.name for f in files}
            for name in [n for n in known if n not in current]:
                ids = known.pop(name)["ids"]
                _delete(collection, ids)
                report.removed += 1
                report.chunks_removed += len(ids)
        finally:
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

    def _write(
        self,
        collection: Any,
        pending: list[_Pending],
        known: dict[str, Any],
        report: IndexReport,
        progress: Progress | None,
        done: int,
        total: int,
    ) -> int:
        """Embed the pending files' chunks together and write them; only then drop the chunks
        they replace (so every file stays searchable in one version or the other)."""
        chunks = [c for p in pending for c in p.chunks]
        vectors = self.embedder.embed([embed_text(c.title, c.text) for c in chunks])
        ids: list[str] = []
        metadatas: list[dict[str, Any]] = []
        for p in pending:
            file_key = hashlib.sha1(p.source.name.encode()).hexdigest()[:12]
            p.entry["ids"] = [
                f"{file_key}-{p.entry['hash'][:12]}-{i}" for i in range(len(p.chunks))
            ]
            ids.extend(p.entry["ids"])
            metadatas.extend(_metadata(p.source.name, c) for c in p.chunks)
        step = self.client().get_max_batch_size()
        for a in range(0, len(ids), step):
            collection.upsert(
                ids=ids[a : a + step],
                embeddings=vectors[a : a + step],
                documents=[c.text for c in chunks[a : a + step]],
                metadatas=metadatas[a : a + step],
            )
        stale: list[str] = []
        for p in pending:
            old = known.get(p.source.name, {}).get("ids", [])
            stale.extend(set(old) - set(p.entry["ids"]))
            known[p.source.name] = p.entry
            report.indexed += 1
            report.chunks_added += len(p.entry["ids"])
            report.chunks_removed += len(old)
        for a in range(0, len(stale), step):
            _delete(collection, stale[a : a + step])
        for i, p in enumerate(pending, 1):
            if progress:
                progress(p.source.name, len(p.entry["ids"]), done + i, total)
        return len(pending)

    def clear(self) -> None:
        with contextlib.suppress(Exception):
            self.client().delete_collection(self.collection_name)
        (self.folder / "manifest.json").unlink(missing_ok=True)


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
