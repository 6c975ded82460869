"""YAML files a user writes, validated by a pydantic model, with every problem located.

Each problem names ``file:line:column``, the field path and what is expected; an unknown key comes
with the closest known key; duplicate keys are errors. All problems of a file are reported at once.
Used for GPT files (:mod:`botkit.loader`) and deployment files (:mod:`botkit.deploy.loader`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from botkit.errors import ConfigError, ConfigProblem

M = TypeVar("M", bound=BaseModel)


def read_text(path: Path) -> str:
    """The file's text, or a located problem saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            [ConfigProblem(str(path), 1, 1, "", f"cannot read the file: {exc}")]
        ) from exc


#: The deepest a file may nest, and the most values it may hold once its aliases are expanded:
#: past these, checking it would overflow Python's stack or take forever ("billion laughs").
MAX_DEPTH = 50
MAX_VALUES = 100_000


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, with a value it cannot build (an integer of 5,000 digits, a date
    like 2024-13-45, ``!!timestamp soon``, ``!!bool maybe``) a located YAML error instead of a
    bare ``ValueError``, ``AttributeError`` or ``KeyError``."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError, TypeError, AttributeError, KeyError) as exc:
            kind = str(node.tag).rsplit(":", 1)[-1]  # int, timestamp, bool...
            detail = f" ({exc})" if isinstance(exc, (ValueError, OverflowError)) else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value as {kind}{detail}", node.start_mark
            ) from exc


def parse_document(text: str, filename: str, what: str) -> tuple[yaml.MappingNode, Any]:
    """The document's node tree (for locating problems) and its data; ``what`` says what a
    valid file holds (for the empty-file message)."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        root = loader.get_single_node()
        if root is not None:
            check_shape(root, filename)
        data = yaml.load(text, Loader=_Loader)  # built apart: merge keys (<<) rewrite the nodes
    except yaml.YAMLError as exc:
        raise ConfigError([yaml_problem(exc, text, filename)]) from exc
    except RecursionError:  # PyYAML composes one nested value per call: thousands of levels
        mark = loader.get_mark() if loader is not None else None
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"nested too deeply (more than {MAX_DEPTH} levels): flatten it"
        raise ConfigError([ConfigProblem(filename, line, col, "", message)]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if root is None or data is None:
        raise ConfigError([ConfigProblem(filename, 1, 1, "", f"the file is empty: {what}")])
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError([problem(filename, root, "", f"expected a mapping of fields: {what}")])
    return root, data


def validate(
    model: type[M], data: Any, root: yaml.MappingNode, filename: str
) -> tuple[M | None, list[ConfigProblem]]:
    """``data`` validated as ``model``, and every problem of the document (duplicate keys too)."""
    problems = duplicate_keys(root, filename, ())
    try:
        return model.model_validate(data), problems
    except ValidationError as exc:
        return None, problems + from_validation_error(
            exc, root, filename, (), model.model_json_schema()
        )


def check_shape(root: yaml.Node, filename: str) -> None:
    """Refuse a document nested deeper than :data:`MAX_DEPTH`, an alias inside the value it
    names (a value without end), or aliases of aliases expanding to over :data:`MAX_VALUES`."""
    count = 0
    inside: set[int] = set()

    def walk(node: yaml.Node, depth: int) -> None:
        nonlocal count
        count += 1
        if id(node) in inside:
            reason = "an alias inside the value it names: that value would never end"
        elif depth > MAX_DEPTH:
            reason = f"nested more than {MAX_DEPTH} levels deep: flatten it"
        elif count > MAX_VALUES:
            reason = f"over {MAX_VALUES:,} values once its aliases are expanded: use fewer aliases"
        else:
            if isinstance(node, yaml.MappingNode):
                children = [child for pair in node.value for child in pair]
            elif isinstance(node, yaml.SequenceNode):
                children = node.value
            else:
                return
            inside.add(id(node))
            for child in children:
                walk(child, depth + 1)
            inside.discard(id(node))
            return
        raise ConfigError([problem(filename, node, "", reason)])

    walk(root, 1)


def raise_problems(problems: list[ConfigProblem]) -> None:
    if problems:
        problems.sort(key=lambda p: (p.line, p.column))
        raise ConfigError(problems)


def yaml_problem(exc: yaml.YAMLError, text: str, filename: str) -> ConfigProblem:
    """Where and why a file is not valid YAML (a syntax error, a control character...)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
    elif isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
        before = text[: exc.position]
        line, col = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
        char = exc.character
        shown = f"U+{char:04X}" if isinstance(char, int) else f"U+{ord(str(char)[:1] or ' '):04X}"
        reason = f"character {shown} is not allowed in YAML ({exc.reason}): remove it"
    else:
        line, col, reason = 1, 1, str(exc)
    return ConfigProblem(filename, line, col, "", f"invalid YAML: {reason}")


def from_validation_error(
    exc: ValidationError,
    root: yaml.MappingNode,
    filename: str,
    prefix: tuple[Any, ...] = (),
    schema: dict[str, Any] | None = None,
) -> list[ConfigProblem]:
    problems = []
    schema = schema or {}
    for err in exc.errors():
        inner = tuple(err["loc"])
        loc = (*prefix, *inner)
        path = format_path(loc)
        node, key = locate(root, loc)
        kind = err["type"]
        message = str(err["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            allowed = _allowed_keys(schema, inner[:-1])
            message = f"unknown field{did_you_mean(str(loc[-1]), allowed)}"
            if allowed:
                message += f"; allowed here: {', '.join(allowed)}"
            node = key or node
        elif kind == "missing":
            message = f"missing required field {str(loc[-1])!r}"
        else:
            given = err.get("input")
            if isinstance(given, (str, int, float, bool)) and kind != "value_error":
                message += f" (got {_shown(given)})"
        problems.append(problem(filename, node, path, message))
    return problems


def _shown(value: str | int | float | bool) -> str:
    """``repr(value)``; an integer of thousands of digits (0b111...) has none in Python."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    return repr(value)


def duplicate_keys(node: yaml.Node, filename: str, loc: tuple[Any, ...]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                path = format_path((*loc, name))
                problems.append(
                    problem(filename, key, path, "duplicate key: the later value would win")
                )
            seen.add(name)
            problems.extend(duplicate_keys(value, filename, (*loc, name)))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems.extend(duplicate_keys(item, filename, (*loc, i)))
    return problems


def locate(root: yaml.Node, loc: tuple[Any, ...]) -> tuple[yaml.Node, yaml.Node | None]:
    """The deepest YAML node along ``loc`` (and the key node naming it, for mappings)."""
    node: yaml.Node = root
    key_node: yaml.Node | None = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if str(k.value) == str(part)), None)
            if match is None:
                break
            key_node, node = match
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            key_node, node = None, node.value[part]
        else:
            break
    return node, key_node


def _allowed_keys(schema: dict[str, Any], loc: tuple[Any, ...]) -> list[str]:
    defs = schema.get("$defs", {})

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while True:
            if "$ref" in node:
                node = defs[node["$ref"].rsplit("/", 1)[-1]]
            elif "anyOf" in node:
                node = next((n for n in node["anyOf"] if "$ref" in n or "properties" in n), {})
            else:
                return node

    node = resolve(schema)
    for part in loc:
        node = resolve(
            node.get("items", {})
            if isinstance(part, int)
            else node.get("properties", {}).get(part, {})
        )
    return list(node.get("properties", {}))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" {word!r} (did you mean {close[0]!r}?)" if close else f" {word!r}"


def format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def problem(filename: str, node: yaml.Node, path: str, message: str) -> ConfigProblem:
    mark = node.start_mark
    return ConfigProblem(filename, mark.line + 1, mark.column + 1, path, message)
