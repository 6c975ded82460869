"""Fine-tune a GPT's model on OpenAI (or any server implementing the fine-tuning endpoints).

``prepare`` writes chat-format JSONL (:mod:`.chat_data`), ``validate`` checks it
(:mod:`.validate`), ``start``/``status``/``follow``/``cancel`` drive the job (:mod:`.jobs`), and a
job that succeeds has its model id written into the GPT file (:mod:`.record`).
"""

from __future__ import annotations

from pathlib import Path

from botkit.errors import BotkitError


class FineTuneError(BotkitError):
    """A fine-tuning step failed: the job, the server or the GPT file is not as expected."""


def workdir(data_dir: Path, gpt: str) -> Path:
    """Where a GPT's prepared data and job record live: ``DATA_DIR/finetune/GPT``."""
    return data_dir / "finetune" / gpt


def default_training_file(data_dir: Path, gpt: str) -> Path:
    return workdir(data_dir, gpt) / "train.jsonl"
