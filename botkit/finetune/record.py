"""Make a GPT use its fine-tuned model: edit the model name in its YAML file, and nothing else.

The edit is surgical (the YAML node's position in the text), so comments, quoting, key order and
line endings stay as the user wrote them. The edited text is parsed again and must give the same
GPT with only the model name changed, or the file is left alone; it is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from botkit.atomic import atomic_write_text
from botkit.errors import ConfigError
from botkit.finetune import FineTuneError
from botkit.loader import parse_gpt
from botkit.spec import GPTSpec


def record_model(path: Path, model_id: str) -> bool:
    """Set the model name of the GPT file at ``path`` to ``model_id``; ``False`` if it already was.

    ``model: openai:NAME`` becomes ``model: openai:MODEL_ID``; in a ``model:`` mapping the ``name``
    value is replaced (or added).
    """
    with path.open(encoding="utf-8", newline="") as handle:
        text = handle.read()
    try:
        before = parse_gpt(text, str(path))
    except ConfigError as exc:
        raise FineTuneError(
            f"cannot record model {model_id} in {path}: fix it first\n{exc}"
        ) from exc
    if before.model.name == model_id:
        return False
    if before.model.provider != "openai":
        raise FineTuneError(
            f"{path} no longer uses an 'openai' model; set `model: openai:{model_id}` by hand"
        )
    wanted = before.model_copy(update={"model": before.model.model_copy(update={"name": model_id})})
    for edited in _edits(text, model_id):
        if _parses_to(edited, str(path), wanted):
            atomic_write_text(path, edited)
            return True
    raise FineTuneError(f"cannot edit the model of {path}; set its name to {model_id} by hand")


def _edits(text: str, model_id: str) -> list[str]:
    """Candidate texts with the model name replaced, in the style of the original first."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    model = _value(root, "model")
    if isinstance(model, yaml.ScalarNode):
        return [_replace(text, model, v) for v in _styles(f"openai:{model_id}", model.style)]
    if not isinstance(model, yaml.MappingNode) or not model.value:
        return []
    name = _value(model, "name")
    if isinstance(name, yaml.ScalarNode):
        return [_replace(text, name, v) for v in _styles(model_id, name.style)]
    first_key = model.value[0][0].start_mark
    newline = "\r\n" if "\r\n" in text else "\n"
    gap = ", " if model.flow_style else newline + " " * first_key.column
    return [
        text[: first_key.index] + f"name: {v}{gap}" + text[first_key.index :]
        for v in _styles(model_id, None)
    ]


def _value(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if k.value == key), None)


def _styles(value: str, original: str | None) -> list[str]:
    """``value`` as a YAML scalar: in the original quoting first, then plain, then double-quoted."""
    single = "'" + value.replace("'", "''") + "'"
    by_style = {"'": single, '"': json.dumps(value)}
    return list(dict.fromkeys([by_style.get(original or "", value), value, json.dumps(value)]))


def _replace(text: str, node: yaml.Node, value: str) -> str:
    return text[: node.start_mark.index] + value + text[node.end_mark.index :]


def _parses_to(text: str, filename: str, wanted: GPTSpec) -> bool:
    try:
        return parse_gpt(text, filename) == wanted
    except ConfigError:
        return False
