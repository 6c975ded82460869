"""Trained adapters on disk: one folder per GPT under the data directory, replaced whole.

``DATA_DIR/adapters/GPT/`` holds ``adapter-ID.gguf`` (the GGUF LoRA adapter; ID changes with every
training, so a model loaded with an older adapter is never mistaken for the new one),
``adapter.json`` (what it was trained on and how: the data's hash, the base model's path and
hash, the metrics before and after, the settings, when) and ``heldout.jsonl`` (the held-out
sequences, as token ids, that ``botkit finetune export`` measures a quantisation on). The folder
is written beside its place and renamed in (:func:`botkit.atomic.atomic_folder`): a reader sees
the old adapter or the new one, never half of one.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

INFO_FILE, HELDOUT_FILE = "adapter.json", "heldout.jsonl"


def adapter_dir(data_dir: Path, gpt: str) -> Path:
    return data_dir / "adapters" / gpt


def read_info(folder: Path) -> dict[str, Any] | None:
    """The record of the adapter in ``folder``, or None if there is none (or it is damaged)."""
    try:
        info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not (folder / str(info.get("file", ""))).is_file():
        return None
    return info


def adapter_for(data_dir: Path, gpt_name: str, base: Path | None = None) -> Path | None:
    """The GGUF LoRA adapter trained for a GPT, or None.

    With ``base`` (the GPT's model file), an adapter trained on another model file is ignored:
    the GPT has changed models since, and the adapter does not fit the new one.
    """
    folder = adapter_dir(data_dir, gpt_name)
    info = read_info(folder)
    if info is None:
        return None
    if base is not None:
        recorded = info.get("base_model", {})
        try:
            same = (
                Path(recorded.get("path", "")).resolve() == base.resolve()
                and int(recorded.get("size", -1)) == base.stat().st_size
            )
        except OSError:
            return None
        if not same:
            return None
    return folder / str(info["file"])


def adapters(data_dir: Path) -> Iterator[tuple[str, Path, dict[str, Any]]]:
    """``(gpt, folder, info)`` of every trained adapter, by GPT name."""
    root = data_dir / "adapters"
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if folder.name.startswith("."):
            continue  # a folder being written, or an old one being replaced
        info = read_info(folder)
        if info is not None:
            yield folder.name, folder, info


def remove(data_dir: Path, gpt: str) -> bool:
    """Delete a GPT's adapter; whether there was one."""
    folder = adapter_dir(data_dir, gpt)
    existed = folder.exists()
    shutil.rmtree(folder, ignore_errors=True)
    return existed
