"""``validate``: check a chat-format JSONL file before paying for a fine-tuning job.

The file is streamed (a 1-GB file costs one line of memory plus a small digest per row, to find
duplicates). Errors name the line to fix: rows that are not JSON objects with a ``messages`` list,
unknown roles, empty turns, rows with nothing for the assistant to learn, rows over the model's
per-example token limit, and fewer than :data:`MIN_EXAMPLES` rows. Warnings: duplicate rows and
unbalanced labels. Tokens are estimated at :data:`~botkit.models.openai_compat.CHARS_PER_TOKEN`
characters a token, as the OpenAI provider does (remote models expose no tokenizer).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from botkit.errors import InputError
from botkit.evaluation.data import DataError, json_trouble
from botkit.models.openai_compat import (
    CHARS_PER_TOKEN,
    DEFAULT_CONTEXT_WINDOW,
    KNOWN_CONTEXT_WINDOWS,
)

#: OpenAI rejects a training file with fewer examples.
MIN_EXAMPLES = 10
#: Tokens one training example may have, by base model (longest prefix first); other models fall
#: back to their context window.
TRAINING_TOKEN_LIMITS = (
    ("gpt-4.1", 65_536),
    ("gpt-4o", 65_536),
    ("gpt-3.5-turbo", 16_385),
)
ROLES = ("system", "developer", "user", "assistant", "tool")
#: Tokens each message costs besides its content, and each row besides its messages.
MESSAGE_OVERHEAD, ROW_OVERHEAD = 4, 3
#: A longer line is reported without being read whole.
MAX_LINE_BYTES = 16 * 1024 * 1024
#: Final answers this short, with few distinct values, are labels whose balance is checked.
MAX_LABEL_CHARS, MAX_LABELS = 40, 50
#: Labels are unbalanced when the most common one has this many times the rarest one's rows.
IMBALANCE_RATIO = 3.0
#: How many errors (and duplicate notes) are listed before the rest are only counted.
MAX_LISTED = 20


def token_limit(model: str, context_window: int | None = None) -> int:
    """Tokens one training example may have for ``model`` (a fine-tuned id counts as its base)."""
    base = model.split(":")[1] if model.startswith("ft:") else model
    for prefix, limit in TRAINING_TOKEN_LIMITS:
        if base.startswith(prefix):
            return min(limit, context_window or limit)
    if context_window:
        return context_window
    return next((w for p, w in KNOWN_CONTEXT_WINDOWS if base.startswith(p)), DEFAULT_CONTEXT_WINDOW)


def default_epochs(examples: int) -> int:
    """The epochs OpenAI picks for ``n_epochs: auto``: 3, raised or lowered so that the job sees
    between 100 and 25,000 examples in all."""
    if examples and examples * 3 < 100:
        return min(25, -(-100 // examples))
    if examples * 3 > 25_000:
        return max(1, 25_000 // examples)
    return 3


@dataclass
class Report:
    """What validation found in one file."""

    path: Path
    token_limit: int
    examples: int = 0
    tokens: int = 0  # estimated tokens of all examples (each counted up to the limit)
    longest: int = 0  # estimated tokens of the longest example
    epochs: int = 0
    errors: list[str] = field(default_factory=list)
    more_errors: int = 0
    warnings: list[str] = field(default_factory=list)
    labels: Counter[str] | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def training_tokens(self) -> int:
        """The tokens the job would be billed for: every example, every epoch."""
        return self.tokens * self.epochs

    def error(self, line: int | None, message: str) -> None:
        if len(self.errors) < MAX_LISTED:
            self.errors.append(
                f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}"
            )
        else:
            self.more_errors += 1

    def raise_for_errors(self) -> None:
        if self.errors:
            raise ValidationFailed(self)


class ValidationFailed(InputError):
    def __init__(self, report: Report) -> None:
        lines = list(report.errors)
        if report.more_errors:
            lines.append(f"... and {report.more_errors} more problem(s)")
        count = len(report.errors) + report.more_errors
        super().__init__(f"{report.path} has {count} problem(s):\n" + "\n".join(lines))
        self.report = report


def validate_file(path: Path, limit: int, epochs: int | None = None) -> Report:
    """Check every row of ``path``; the report lists errors and warnings, it raises nothing."""
    if not path.is_file():
        raise DataError(path, None, "no such file")
    report = Report(path, limit)
    seen: dict[bytes, int] = {}
    duplicates = 0
    labels: Counter[str] | None = Counter()
    with path.open("rb") as handle:
        for line, raw in _lines(handle):
            messages = _messages(report, line, raw)
            if messages is None:
                continue
            report.examples += 1
            tokens = sum(MESSAGE_OVERHEAD + _tokens(m.get("content")) for m in messages)
            tokens += ROW_OVERHEAD
            report.longest = max(report.longest, tokens)
            report.tokens += min(tokens, limit)
            if tokens > limit:
                report.error(
                    line,
                    f"about {tokens:,} tokens, over the {limit:,}-token limit of one example "
                    "(shorten it, or set the limit with --max-tokens)",
                )
            canonical = json.dumps(messages, sort_keys=True).encode()
            digest = hashlib.blake2b(canonical, digest_size=12).digest()
            if digest in seen:
                duplicates += 1
                if duplicates <= MAX_LISTED:
                    report.warnings.append(f"{path}:{line}: the same as line {seen[digest]}")
            else:
                seen[digest] = line
            labels = _count_label(labels, messages)
    if not report.examples and not report.errors:
        report.error(None, "the file has no examples (run `botkit finetune prepare` to make one)")
    elif report.examples < MIN_EXAMPLES:
        report.error(
            None,
            f"only {report.examples} example(s): fine-tuning needs at least {MIN_EXAMPLES} "
            "(50 to 100 good ones usually make a clear difference)",
        )
    if duplicates:
        report.warnings.append(f"{duplicates} duplicate row(s): they weigh more in training")
    report.labels = labels if _are_labels(labels, report.examples) else None
    if report.labels:
        _check_balance(report, report.labels)
    report.epochs = epochs or default_epochs(report.examples)
    return report


def _lines(handle: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """Non-blank lines with their numbers; ``None`` for a line over :data:`MAX_LINE_BYTES`."""
    number = 0
    while chunk := handle.readline(MAX_LINE_BYTES):
        number += 1
        if len(chunk) == MAX_LINE_BYTES and not chunk.endswith(b"\n"):
            while (rest := handle.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            yield number, None
        elif chunk.strip():
            yield number, chunk


def _messages(report: Report, line: int, raw: bytes | None) -> list[dict[str, Any]] | None:
    """The row's messages, or ``None`` after reporting why the row is unusable."""
    if raw is None:
        report.error(line, f"the line is longer than {MAX_LINE_BYTES:,} bytes")
        return None
    try:
        row = json.loads(raw)
    except UnicodeDecodeError:
        report.error(line, "not UTF-8 text")
        return None
    except json.JSONDecodeError as exc:
        report.error(line, f"not valid JSON ({exc.msg})")
        return None
    except (ValueError, RecursionError) as exc:  # 5,000 digits; [[[[ thousands deep
        report.error(line, f"unreadable JSON ({json_trouble(exc)})")
        return None
    if not isinstance(row, dict):
        report.error(line, f"expected an object with a 'messages' list, got {_kind(row)}")
        return None
    messages = row.get("messages")
    if messages is None:
        report.error(line, "missing field 'messages'")
        return None
    if not isinstance(messages, list) or not messages:
        report.error(line, f"'messages' must be a non-empty list, got {_kind(messages)}")
        return None
    problems = [p for n, m in enumerate(messages, 1) if (p := _message_problem(n, m))]
    if not problems and not any(m["role"] == "assistant" for m in messages):
        problems.append("no assistant message: nothing to learn")
    for problem in problems:
        report.error(line, problem)
    return None if problems else messages


def _message_problem(number: int, message: Any) -> str | None:
    where = f"message {number}"
    if not isinstance(message, dict):
        return f"{where} must be an object with 'role' and 'content', got {_kind(message)}"
    role = message.get("role")
    if role is None:
        return f"{where} has no 'role'"
    if role not in ROLES:
        return f"{where} has an unknown role {role!r} (expected one of {', '.join(ROLES)})"
    content = message.get("content")
    if content is None:
        if role == "assistant" and message.get("tool_calls"):
            return None
        return f"{where} ({role}) has no 'content'"
    if not isinstance(content, (str, list)):
        return f"{where} ({role}): 'content' must be text, got {_kind(content)}"
    if not content or (isinstance(content, str) and not content.strip()):
        return f"{where} ({role}) is empty"
    return None


def _text(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _tokens(content: Any) -> int:
    return -(-len(_text(content)) // CHARS_PER_TOKEN)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false", int: "a number"}
    names |= {float: "a number", type(None): "null"}
    return names.get(type(value), f"a {type(value).__name__}")


def _count_label(
    labels: Counter[str] | None, messages: list[dict[str, Any]]
) -> Counter[str] | None:
    """Count the final answer as a label while answers stay short and few; else stop counting."""
    if labels is None:
        return None
    answer = _text(messages[-1].get("content")).strip()
    if messages[-1]["role"] != "assistant" or len(answer) > MAX_LABEL_CHARS:
        return None
    labels[answer] += 1
    return labels if len(labels) <= MAX_LABELS else None


def _are_labels(labels: Counter[str] | None, examples: int) -> bool:
    """Short answers that repeat (each used twice on average) are class labels."""
    return labels is not None and len(labels) >= 2 and examples >= 2 * len(labels)


def _check_balance(report: Report, labels: Counter[str]) -> None:
    (top, most), *_, (rare, fewest) = labels.most_common()
    if most >= IMBALANCE_RATIO * fewest:
        counts = ", ".join(f"{label} {n}" for label, n in labels.most_common())
        report.warnings.append(
            f"unbalanced labels ({counts}): {top!r} has {most / fewest:.0f}x the examples of "
            f"{rare!r}; the model will lean towards {top!r} unless you add examples of the rare ones"
        )
