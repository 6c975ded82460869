"""Labeled data for evaluation and fine-tuning: JSONL or CSV, streamed one row at a time.

A row has an input field and an expected-output field. By default the input is ``text`` or
``input`` and the expected output ``label`` or ``expected`` (the first of each present in the row);
both names can be given instead. Rows are read lazily, so a 1-GB file costs one row of memory, and
every problem names the file and line to fix.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botkit.errors import InputError

INPUT_FIELDS = ("text", "input")
EXPECTED_FIELDS = ("label", "expected")


@dataclass(frozen=True)
class LabeledExample:
    line: int  # 1-based line of the row in its file (for CSV, the line the row starts on)
    input: str
    expected: str | list[str]  # several acceptable answers (e.g. SQuAD) or labels (multi-label)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def answers(self) -> list[str]:
        return self.expected if isinstance(self.expected, list) else [self.expected]


class DataError(InputError):
    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {problem}")
        self.path, self.line = path, line


def read_examples(
    path: Path, input_field: str | None = None, expected_field: str | None = None
) -> Iterator[LabeledExample]:
    """Yield the rows of ``path`` (``.jsonl``/``.json`` lines or ``.csv``) as examples.

    Raises :class:`DataError` naming the line for a row that is not an object, misses a field, or
    has the wrong type; and for a file with no rows at all.
    """
    if not path.is_file():
        raise DataError(path, None, "no such file")
    rows = _csv_rows(path) if path.suffix.lower() == ".csv" else _jsonl_rows(path)
    count = line = 0
    try:
        for line, row in rows:
            yield _example(path, line, row, input_field, expected_field)
            count += 1
    except UnicodeDecodeError:
        raise DataError(
            path, line + 1, "not UTF-8 text (save the file as UTF-8, e.g. 'CSV UTF-8' in Excel)"
        ) from None
    except csv.Error as exc:
        raise DataError(path, line + 1, f"not valid CSV ({exc})") from None
    if not count:
        raise DataError(path, None, "the file has no rows")


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, 1):
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as exc:
                raise DataError(path, number, f"not valid JSON ({exc.msg})") from None
            except (ValueError, RecursionError) as exc:  # 5,000 digits; [[[[ thousands deep
                raise DataError(path, number, f"unreadable JSON ({json_trouble(exc)})") from None


def json_trouble(exc: ValueError | RecursionError) -> str:
    """Why well-formed JSON could not be read: a number too long, or arrays nested too deep."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).split(";")[0]  # "Exceeds the limit (4300 digits) for integer string..."


def _csv_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        reader.fieldnames  # noqa: B018  (reads the header, so line numbers count it)
        line = reader.line_num
        for row in reader:
            yield line + 1, row
            line = reader.line_num


def _example(
    path: Path, line: int, row: Any, input_field: str | None, expected_field: str | None
) -> LabeledExample:
    if not isinstance(row, dict):
        raise DataError(path, line, f"expected an object with fields, got {type(row).__name__}")
    in_name, inp = _pick(path, line, row, (input_field,) if input_field else INPUT_FIELDS, "input")
    out_name, expected = _pick(
        path, line, row, (expected_field,) if expected_field else EXPECTED_FIELDS, "expected output"
    )
    if not isinstance(inp, str) or not inp.strip():
        raise DataError(path, line, "the input must be non-empty text")
    if isinstance(expected, list):
        if not expected or not all(isinstance(e, str) for e in expected):
            raise DataError(path, line, "the expected output must be text or a list of texts")
    elif isinstance(expected, (int, float)) and not isinstance(expected, bool):
        expected = str(expected)
    elif not isinstance(expected, str):
        raise DataError(path, line, "the expected output must be text or a list of texts")
    if not all(
        answer.strip() for answer in ([expected] if isinstance(expected, str) else expected)
    ):
        raise DataError(path, line, "the expected output is blank: give the answer or label")
    extra = {k: v for k, v in row.items() if k not in (in_name, out_name)}
    return LabeledExample(line, inp, expected, extra)


def _pick(
    path: Path, line: int, row: dict[str, Any], names: tuple[str, ...], role: str
) -> tuple[str, Any]:
    for name in names:
        if name in row and row[name] not in (None, ""):
            return name, row[name]
    wanted = " or ".join(repr(n) for n in names)
    have = ", ".join(repr(k) for k in row) or "none"
    raise DataError(
        path,
        line,
        f"no {role} field {wanted} (fields here: {have}; choose others with --input-field / "
        "--expected-field)",
    )


@dataclass(frozen=True)
class Selection:
    """Which rows of a checked file to use: the first ``count``, or the sampled ``lines``."""

    path: Path
    input_field: str | None
    expected_field: str | None
    total: int  # rows checked
    count: int  # rows selected
    lines: frozenset[int] | None = None

    def examples(self) -> Iterator[LabeledExample]:
        """Stream the selected rows again (the file was checked; nothing is held in memory)."""
        taken = 0
        for example in read_examples(self.path, self.input_field, self.expected_field):
            if taken >= self.count:
                return
            if self.lines is None or example.line in self.lines:
                taken += 1
                yield example


def select_examples(
    path: Path,
    input_field: str | None = None,
    expected_field: str | None = None,
    limit: int | None = None,
    seed: int | None = None,
    check: Callable[[LabeledExample], str | None] | None = None,
) -> Selection:
    """Check every row of ``path`` (streamed) before any work starts, and choose the rows to use.

    ``limit`` alone takes the first rows (and checks only those); with ``seed`` it takes a
    reproducible random sample of that many rows. ``check`` returns a problem with a row (e.g. a
    label the GPT does not know), reported as a :class:`DataError` naming its line.
    """
    rng = random.Random(seed) if seed is not None and limit is not None else None
    sample: list[int] = []
    total = 0
    for example in read_examples(path, input_field, expected_field):
        problem = check(example) if check else None
        if problem:
            raise DataError(path, example.line, problem)
        total += 1
        if rng is None:
            if limit is not None and total >= limit:
                break
        elif len(sample) < (limit or 0):
            sample.append(example.line)
        else:  # reservoir sampling: every row has the same chance, one pass, `limit` ints held
            slot = rng.randrange(total)
            if slot < len(sample):
                sample[slot] = example.line
    if rng is not None:
        return Selection(path, input_field, expected_field, total, len(sample), frozenset(sample))
    return Selection(path, input_field, expected_field, total, total)
