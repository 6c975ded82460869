"""Where evaluation runs live: ``<data dir>/evals/RUN/`` and a prediction cache per GPT version.

A run directory holds ``predictions.jsonl`` (one line per example, appended as each completes, so
a crash keeps what was done), ``run.json`` (settings, status and metrics; rewritten atomically)
and ``report.html``. The cache (``cache/GPT-VERSION.jsonl``) maps an input to the prediction the
GPT gave it, so re-running the same GPT version on the same data skips what is done.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from botkit.atomic import atomic_write_text
from botkit.errors import InputError
from botkit.spec import GPTSpec


def gpt_version(spec: GPTSpec, fingerprint: str = "") -> str:
    """A hash of everything that can change a GPT's answers: its file (not its ``evals``) and its
    task's ``fingerprint`` (a trained head, say)."""
    dump = spec.model_dump(mode="json", exclude={"evals", "starters", "description"})
    text = (
        json.dumps([dump, fingerprint], sort_keys=True)
        if fingerprint
        else json.dumps(dump, sort_keys=True)
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def input_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass
class Run:
    id: str
    folder: Path
    info: dict[str, Any]

    @property
    def predictions_file(self) -> Path:
        return self.folder / "predictions.jsonl"

    @property
    def report_file(self) -> Path:
        return self.folder / "report.html"

    def save(self) -> None:
        atomic_write_text(self.folder / "run.json", json.dumps(self.info, indent=2) + "\n")

    def predictions(self) -> Iterator[dict[str, Any]]:
        """The stored predictions, one per example, in the order they completed."""
        if not self.predictions_file.exists():
            return
        with self.predictions_file.open(encoding="utf-8") as handle:
            for text in handle:
                try:
                    yield json.loads(text)
                except json.JSONDecodeError:  # a line cut short by a crash
                    continue


class RunStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def create(self, gpt: str, info: dict[str, Any]) -> Run:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        run_id = f"{gpt}-{stamp}-{secrets.token_hex(2)}"
        folder = self.root / run_id
        folder.mkdir(parents=True)
        run = Run(run_id, folder, {"id": run_id, **info})
        run.save()
        return run

    def discard(self, run: Run) -> None:
        shutil.rmtree(run.folder, ignore_errors=True)

    def runs(self) -> list[Run]:
        """Every run, oldest first."""
        found = []
        for path in sorted(self.root.glob("*/run.json")):
            try:
                info = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            found.append(Run(path.parent.name, path.parent, info))
        return sorted(found, key=lambda r: (str(r.info.get("started", "")), r.id))

    def get(self, name: str) -> Run:
        """A run by id, unique id prefix, ``last``, or a GPT name (its latest run)."""
        runs = self.runs()
        if not runs:
            raise InputError(f"no evaluation runs yet (in {self.root}): run `botkit eval` first")
        if name == "last":
            return runs[-1]
        exact = [r for r in runs if r.id == name]
        by_gpt = [r for r in runs if r.info.get("gpt") == name]
        matches = exact or by_gpt[-1:] or [r for r in runs if r.id.startswith(name)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            recent = ", ".join(r.id for r in runs[-3:])
            raise InputError(
                f"no evaluation run {name!r}; recent: {recent} (see `botkit eval list`)"
            )
        raise InputError(f"{name!r} matches {len(matches)} runs; give more of the id")


class PredictionCache:
    """Predictions of one GPT version by input: an append-only JSONL file."""

    def __init__(self, path: Path, load: bool = True) -> None:
        """With ``load=False`` nothing cached is used (new predictions are still added)."""
        self.path = path
        self._known: dict[str, dict[str, Any]] = {}
        self._handle: TextIO | None = None
        if load and path.exists():
            with path.open(encoding="utf-8") as handle:
                for text in handle:
                    try:
                        row = json.loads(text)
                        self._known[row["key"]] = row
                    except (json.JSONDecodeError, KeyError, TypeError):
                        continue

    def __len__(self) -> int:
        return len(self._known)

    def get(self, text: str) -> dict[str, Any] | None:
        return self._known.get(input_key(text))

    def put(self, text: str, prediction: Any, details: dict[str, Any]) -> None:
        row = {"key": input_key(text), "prediction": prediction, "details": details}
        self._known[row["key"]] = row
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
