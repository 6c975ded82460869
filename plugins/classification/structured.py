"""Structured outputs: the model (OpenAI or compatible) answers JSON constrained to the labels.

The server enforces a JSON schema whose label field is an enum of the declared labels. A server
that ignores the schema can still answer something else; such an answer gets one retry with the
problem spelled out, then a clear error: never a made-up label.
"""

from __future__ import annotations

from typing import Any

from botkit.errors import ModelResponseError
from botkit.models.base import ChatMessage, StructuredOutput
from botkit.spec import GenerationParams

PARAMS = GenerationParams(temperature=0, max_tokens=300)


def schema(names: list[str], multi_label: bool) -> dict[str, Any]:
    label = {"type": "string", "enum": names}
    choice = {"type": "array", "items": label} if multi_label else label
    key = "labels" if multi_label else "label"
    return {
        "type": "object",
        "properties": {
            key: choice,
            "confidence": {"type": "number", "description": "0 to 1"},
            "rationale": {"type": "string", "description": "One short sentence: why."},
        },
        "required": [key, "confidence", "rationale"],
        "additionalProperties": False,
    }


def system_prompt(
    instructions: str, descriptions: dict[str, str], examples: dict[str, list[str]], multi: bool
) -> str:
    how = "every label that applies" if multi else "exactly one label"
    lines = [instructions.strip(), "", f"Classify the user's text with {how} of these:"]
    for name, text in descriptions.items():
        lines.append(f"- {name}: {text}" if text else f"- {name}")
        lines += [f'  e.g. "{t}"' for t in examples.get(name, [])[:5]]
    lines.append("Answer in JSON with your confidence (0 to 1) and a one-sentence rationale.")
    return "\n".join(lines).strip()


async def classify(
    model: StructuredOutput, system: str, text: str, names: list[str], multi_label: bool
) -> tuple[list[str], float, str]:
    """The chosen labels, the model's confidence and its rationale."""
    messages: list[ChatMessage] = [
        {"role": "system", "content": system},
        {"role": "user", "content": text},
    ]
    answer_schema = schema(names, multi_label)
    problem = ""
    for _attempt in range(2):
        answer = await model.complete_json(messages, PARAMS, "classification", answer_schema)
        labels, problem = _read(answer, names, multi_label)
        if not problem:
            confidence = answer.get("confidence")
            confidence = float(confidence) if isinstance(confidence, (int, float)) else 1.0
            rationale = answer.get("rationale")
            return labels, min(max(confidence, 0.0), 1.0), str(rationale or "")
        messages += [
            {"role": "assistant", "content": str(answer)},
            {"role": "user", "content": f"{problem} Answer again with only the allowed labels."},
        ]
    raise ModelResponseError(
        f"the model did not answer with a declared label twice ({problem}); "
        f"allowed labels: {', '.join(names)}"
    )


def _read(answer: Any, names: list[str], multi_label: bool) -> tuple[list[str], str]:
    if not isinstance(answer, dict):
        return [], "The answer was not a JSON object."
    raw = answer.get("labels" if multi_label else "label")
    picked = raw if isinstance(raw, list) else [raw]
    wrong = [p for p in picked if p not in names]
    if wrong:
        return [], f"{wrong[0]!r} is not one of the labels."
    if not picked:
        return [], "No label was chosen: choose at least one."
    return [str(p) for p in picked], ""
