"""Training data for LoRA: rows from a file, the prompts the GPT would use, and their tokens.

Two kinds of file are accepted:

- chat format, as ``botkit finetune prepare`` writes it (``{"messages": [...]}`` a line): the
  model learns each row's last assistant turn after the turns before it;
- labeled rows, as for ``botkit eval`` (``text``/``input`` and ``label``/``expected``): each row
  becomes the prompt the GPT's task gives its model (:meth:`TaskPlugin.training_prompt`: the
  label-likelihood prompt for classification and sentiment, the translation turns for a
  translator), or, without a task, the GPT's instructions and examples then the row as the user's
  message; the model learns the expected answer.

Prompts are tokenized by llama.cpp itself (the base GGUF's vocabulary and chat template), exactly
as at inference, so training sees the token ids scoring and generation will see.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botkit.core.bot import Bot
from botkit.core.prompt import preamble
from botkit.evaluation.data import DataError, LabeledExample, json_trouble, read_examples
from botkit.evaluation.runner import EvalTarget
from botkit.models.base import ChatMessage
from botkit.tasks import TaskRequest, TrainingPrompt

ROLES = ("system", "user", "assistant")
#: Fewest rows to train on (after the held-out split), and to score before and after.
MIN_TRAIN, MIN_HELDOUT = 8, 4
#: Share of the data held out to score before and after training (when no --eval file is given),
#: and most rows held out.
HELDOUT_SHARE, MAX_HELDOUT = 0.2, 300


@dataclass(frozen=True)
class Row:
    """One example: the user's text, the answer to learn, and (chat format) the turns before it."""

    input: str
    answer: str
    line: int
    messages: tuple[ChatMessage, ...] = ()

    def labeled(self) -> LabeledExample:
        """The row as `botkit eval` sees it: the GPT gets ``input``, ``answer`` is expected."""
        return LabeledExample(line=self.line, input=self.input, expected=self.answer)


@dataclass(frozen=True)
class Tokens:
    """One training sequence as token ids: the prompt, then the answer the loss is taken on."""

    context: tuple[int, ...]
    answer: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.context) + len(self.answer)


def is_chat_file(path: Path) -> bool:
    """Whether ``path`` holds chat-format rows (its first row has a ``messages`` list)."""
    if path.suffix.lower() == ".csv":
        return False
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    row = json.loads(line)
                    return isinstance(row, dict) and "messages" in row
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False  # read_examples names the problem with its line
    return False


def read_rows(
    path: Path,
    target: EvalTarget,
    input_field: str | None = None,
    expected_field: str | None = None,
) -> list[Row]:
    """Every row of a data file, checked (raises :class:`DataError` naming the line)."""
    if not path.is_file():
        raise DataError(path, None, "no such file")
    if is_chat_file(path):
        return list(_chat_rows(path))
    rows = []
    for example in read_examples(path, input_field, expected_field):
        problem = target.check(example)
        if problem is None and target.kind == "classification" and len(example.answers) > 1:
            problem = "fine-tuning learns one label per text; this row has several"
        if problem:
            raise DataError(path, example.line, problem)
        rows.append(Row(example.input, example.answers[0], example.line))
    return rows


def _chat_rows(path: Path) -> Iterable[Row]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise DataError(path, number, f"not JSON: {json_trouble(exc)}") from exc
            messages = row.get("messages") if isinstance(row, dict) else None
            if not isinstance(messages, list) or not messages:
                raise DataError(path, number, "expected an object with a 'messages' list")
            turns: list[ChatMessage] = []
            for turn in messages:
                role = turn.get("role") if isinstance(turn, dict) else None
                content = turn.get("content") if isinstance(turn, dict) else None
                if role not in ROLES:
                    raise DataError(path, number, f"unknown role {role!r} (expected {ROLES})")
                if not isinstance(content, str) or not content.strip():
                    raise DataError(path, number, f"an empty or non-text {role} turn")
                turns.append(ChatMessage(role=role, content=content))
            if turns[-1]["role"] != "assistant":
                raise DataError(path, number, "the last turn must be the assistant's answer")
            users = [t["content"] for t in turns if t["role"] == "user"]
            if not users:
                raise DataError(path, number, "no user turn before the answer")
            yield Row(users[-1], turns[-1]["content"], number, tuple(turns[:-1]))


def split(rows: list[Row], seed: int) -> tuple[list[Row], list[Row]]:
    """``(train, held out)``: a reproducible random share held out, stratified by answer for
    classification-like data (few distinct answers)."""
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    n_held = min(MAX_HELDOUT, max(MIN_HELDOUT, round(len(rows) * HELDOUT_SHARE)))
    answers = {row.answer for row in rows}
    if len(answers) > len(rows) // 4:  # free text: a plain random share
        return shuffled[n_held:], shuffled[:n_held]
    by_answer: dict[str, list[Row]] = {}
    for row in shuffled:
        by_answer.setdefault(row.answer, []).append(row)
    held: list[Row] = []
    share = n_held / len(rows)
    for group in by_answer.values():
        held += group[: max(1, round(len(group) * share))] if len(group) > 1 else []
    kept = {id(row) for row in held}
    return [row for row in shuffled if id(row) not in kept], held


def data_hash(rows: Iterable[Row]) -> str:
    """What the rows say (inputs, answers, chat turns), as 16 hex digits."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps([row.input, row.answer, list(row.messages)]).encode("utf-8"))
    return digest.hexdigest()[:16]


async def prompts(bot: Bot, target: EvalTarget, rows: Sequence[Row]) -> list[TrainingPrompt]:
    """The prompt the GPT gives its model for each row, answered by the row's answer."""
    spec = target.gpt.spec
    chat = list(preamble(spec))
    out = []
    for row in rows:
        prompt = None
        if row.messages:
            prompt = TrainingPrompt(answer=row.answer, messages=row.messages)
        elif target.plugin is not None and target.options is not None:
            request = TaskRequest(row.input, spec, target.options, target.runtime)
            prompt = await target.plugin.training_prompt(request, row.answer)
        if prompt is None:
            user = ChatMessage(role="user", content=row.input)
            prompt = TrainingPrompt(answer=row.answer, messages=(*chat, user))
        out.append(prompt)
    return out


class Tokenizer:
    """llama.cpp's tokenizer and chat template for a GGUF (its vocabulary only is loaded)."""

    def __init__(self, path: Path) -> None:
        from llama_cpp import Llama

        from botkit.models.local import _without_amx

        with _without_amx():
            self.llama = Llama(model_path=str(path), vocab_only=True, verbose=False)
        self._template: Any = None

    def tokens(self, text: str, special: bool, bos: bool = False) -> list[int]:
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=bos, special=special))

    def _chat(self, messages: Sequence[ChatMessage], answer: bool) -> Any:
        """The chat template's text for ``messages`` (then the assistant's turn opening)."""
        if self._template is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            llama = self.llama
            template = llama.metadata.get("tokenizer.chat_template")
            if not template:
                raise ValueError("the model has no chat template to train chat turns with")

            def text(token: int) -> str:
                return str(llama._model.token_get_text(token)) if token != -1 else ""

            self._template = (
                Jinja2ChatFormatter(template, text(llama.token_eos()), text(llama.token_bos())),
                Jinja2ChatFormatter(
                    template,
                    text(llama.token_eos()),
                    text(llama.token_bos()),
                    add_generation_prompt=False,
                ),
            )
        formatter = self._template[0 if answer else 1]
        return formatter(messages=[dict(m) for m in messages])

    def encode(self, prompt: TrainingPrompt) -> Tokens:
        """The prompt's token ids as llama.cpp reads them at inference, then the answer's."""
        if prompt.text:
            context = [t for text, special in prompt.text for t in self.tokens(text, special)]
            return Tokens(tuple(context), tuple(self.tokens(prompt.answer, special=False)))
        opening = self._chat(prompt.messages, answer=True)
        full = self._chat(
            [*prompt.messages, ChatMessage(role="assistant", content=prompt.answer)], answer=False
        )
        bos = not opening.added_special
        context = self.tokens(opening.prompt, special=True, bos=bos)
        if full.prompt.startswith(opening.prompt):
            # the answer, and whatever closes the turn (e.g. <|im_end|>): the model learns to stop
            # (a newline after the end-of-turn token teaches nothing: generation stops before it)
            rest = self.tokens(full.prompt[len(opening.prompt) :].rstrip(), special=True)
        else:
            rest = [*self.tokens(prompt.answer, special=False), self.llama.token_eos()]
        return Tokens(tuple(context), tuple(rest))
