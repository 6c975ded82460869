"""``prepare``: a GPT's training data in OpenAI's chat format, one JSON object a line.

Each row is the conversation the GPT should have learnt: its instructions as the system message,
then one user turn and the assistant turn to learn. The GPT's own few-shot examples become rows,
and so do the rows of labeled data files (input -> user turn, expected output -> assistant turn; of
several acceptable answers, the first is trained on).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from botkit.atomic import atomic_writer
from botkit.core.prompt import render_instructions
from botkit.evaluation.data import read_examples
from botkit.finetune import FineTuneError
from botkit.spec import GPTSpec

Row = dict[str, Any]


def chat_row(system: str, user: str, assistant: str) -> Row:
    return {
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ]
    }


def training_rows(
    spec: GPTSpec,
    data_files: Sequence[Path] = (),
    include_examples: bool = True,
    input_field: str | None = None,
    expected_field: str | None = None,
) -> Iterator[Row]:
    """The GPT's examples (unless excluded), then every row of ``data_files``, streamed."""
    system = render_instructions(spec)
    if include_examples:
        for example in spec.examples:
            yield chat_row(system, example.user, example.assistant)
    for path in data_files:
        for row in read_examples(path, input_field, expected_field):
            yield chat_row(system, row.input, row.answers[0])


def write_rows(rows: Iterable[Row], out: Path) -> int:
    """Write ``rows`` as JSONL to ``out`` (whole or not at all); return how many were written."""
    count = 0
    with atomic_writer(out, newline="") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
        if not count:
            raise FineTuneError(
                "nothing to train on: the GPT has no examples and no --data file was given"
            )
    return count
