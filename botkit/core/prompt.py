"""Build a GPT's prompt: instructions, few-shot examples as real turns, history, the new message;
then trim the history, oldest turns first, until it fits the model's context window."""

from __future__ import annotations

import datetime as dt

from botkit.errors import InputError
from botkit.models.base import ChatMessage, ChatModel
from botkit.spec import GPTSpec

#: Tokens kept free for the reply when the GPT sets no ``max_tokens``.
DEFAULT_REPLY_RESERVE = 512


def render_instructions(spec: GPTSpec, user: str = "", now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now()
    values = {
        "date": now.date().isoformat(),
        "time": now.strftime("%H:%M"),
        "gpt_name": spec.name,
        "user": user or "the user",
        **spec.variables,
    }
    return spec.instructions.format_map(values)


def preamble(spec: GPTSpec, user: str = "") -> list[ChatMessage]:
    """The part of every prompt that never changes: instructions, then the few-shot examples."""
    messages = [ChatMessage(role="system", content=render_instructions(spec, user))]
    for example in spec.examples:
        messages.append(ChatMessage(role="user", content=example.user))
        messages.append(ChatMessage(role="assistant", content=example.assistant))
    return messages


def reply_reserve(spec: GPTSpec, model: ChatModel) -> int:
    return spec.parameters.max_tokens or min(DEFAULT_REPLY_RESERVE, model.context_window // 4)


async def fit_prompt(
    spec: GPTSpec, model: ChatModel, history: list[ChatMessage], text: str, user: str = ""
) -> list[ChatMessage]:
    """The messages to send: the preamble and the new message always, as much history as fits."""
    fixed = [*preamble(spec, user), ChatMessage(role="user", content=text)]
    budget = model.context_window - reply_reserve(spec, model)
    fixed_tokens = sum(await model.count_message_tokens(fixed))
    if fixed_tokens > budget:
        raise InputError(
            f"the message is too long for {spec.model.label}: the prompt needs {fixed_tokens} tokens "
            f"but {budget} fit (context window {model.context_window}, minus room for the reply); "
            "shorten the message"
        )
    costs = await model.count_message_tokens(history)
    start, used = len(history), fixed_tokens
    while start > 0 and used + costs[start - 1] <= budget:
        start -= 1
        used += costs[start]
    # Never begin the kept history with an orphaned assistant turn.
    while start < len(history) and history[start]["role"] != "user":
        start += 1
    return [*fixed[:-1], *history[start:], fixed[-1]]
