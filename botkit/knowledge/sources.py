"""Resolve a GPT's ``knowledge.sources`` to the files they name."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from botkit.knowledge.documents import TEXT_SUFFIXES
from botkit.spec import KnowledgeSpec, SourceSpec


@dataclass(frozen=True)
class SourceFile:
    path: Path  # absolute
    name: str  # as shown and cited: relative to the project folder when inside it
    text_field: str


def resolve_sources(
    spec: KnowledgeSpec, gpt_file: Path, project_dir: Path
) -> tuple[list[SourceFile], list[str]]:
    """The files of every source, and a warning for each source that matches none and for each
    file left out because it lies outside the project (or a symlink leads out of it), unless the
    GPT file says ``allow_outside``."""
    files: dict[Path, SourceFile] = {}
    warnings: list[str] = []
    home = project_dir.resolve()
    for source in spec.sources:
        entry = source if isinstance(source, SourceSpec) else SourceSpec(path=source)
        base = gpt_file.parent if entry.path.startswith(("./", "../")) else project_dir
        found = _expand(base / entry.path)
        if not found:
            warnings.append(f"knowledge source {entry.path!r} matches no file (looked in {base})")
        outside = 0
        for path in found:
            real = path.resolve()
            if not spec.allow_outside and not real.is_relative_to(home):
                outside += 1
                continue
            absolute = Path(os.path.normpath(path.absolute()))  # symlinks kept: names as written
            file = SourceFile(absolute, _display(absolute, project_dir), entry.text_field)
            files.setdefault(real, file)
        if outside:
            warnings.append(
                f"knowledge source {entry.path!r}: {outside} file(s) outside the project folder "
                f"{home} (or reached through a symlink leading out of it) left out; set "
                "knowledge.allow_outside: true in the GPT file to index them"
            )
    return sorted(files.values(), key=lambda f: f.name), warnings


def _expand(pattern: Path) -> list[Path]:
    if pattern.is_dir():
        candidates = [p for p in pattern.rglob("*") if p.is_file()]
        return [
            p for p in candidates if p.suffix.lower() in TEXT_SUFFIXES and not _hidden(p, pattern)
        ]
    if glob.has_magic(str(pattern)):
        return [Path(p) for p in glob.glob(str(pattern), recursive=True) if Path(p).is_file()]
    return [pattern] if pattern.is_file() else []


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _display(path: Path, project_dir: Path) -> str:
    try:
        return path.relative_to(Path(os.path.normpath(project_dir.absolute()))).as_posix()
    except ValueError:
        return str(path)
