"""Read GPT files: YAML -> :class:`~botkit.spec.GPTSpec`, with every problem located.

Each error names ``file:line:column``, the field path and what is expected; an unknown key comes with
the closest known key. All problems of a file are reported at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from botkit.errors import ConfigError, ConfigProblem, GPTNotFound
from botkit.spec import GPTSpec

GPT_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedGPT:
    spec: GPTSpec
    path: Path


@dataclass
class Catalog:
    """The GPTs of a config directory, and the problems of the files that did not load."""

    config_dir: Path
    gpts: dict[str, LoadedGPT] = field(default_factory=dict)
    problems: dict[Path, list[ConfigProblem]] = field(default_factory=dict)

    def get(self, name: str) -> LoadedGPT:
        if name in self.gpts:
            return self.gpts[name]
        for path, problems in self.problems.items():
            if path.stem == name:
                raise ConfigError(problems)
        raise GPTNotFound(name, sorted(self.gpts))

    @property
    def all_problems(self) -> list[ConfigProblem]:
        return [p for problems in self.problems.values() for p in problems]


def gpt_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into the GPT files they hold (``gpts/`` inside a config dir included)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            folder = path / "gpts" if (path / "gpts").is_dir() else path
            found.extend(sorted(p for p in folder.iterdir() if p.suffix in GPT_SUFFIXES))
        else:
            found.append(path)
    return found


def load_catalog(
    config_dir: Path,
    providers: Collection[str] | None = None,
    tasks: Mapping[str, Any] | None = None,
) -> Catalog:
    catalog = Catalog(config_dir)
    for path in gpt_files([config_dir]) if config_dir.is_dir() else []:
        try:
            spec = load_gpt_file(path, providers, tasks)
        except ConfigError as exc:
            catalog.problems[path] = exc.problems
            continue
        if spec.name in catalog.gpts:
            other = catalog.gpts[spec.name].path
            catalog.problems[path] = [
                ConfigProblem(
                    str(path), 1, 1, "name", f"{spec.name!r} is already defined in {other}"
                )
            ]
            continue
        catalog.gpts[spec.name] = LoadedGPT(spec, path)
    return catalog


def load_gpt_file(
    path: Path, providers: Collection[str] | None = None, tasks: Mapping[str, Any] | None = None
) -> GPTSpec:
    """Load and validate one GPT file; raise :class:`ConfigError` listing all its problems."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            [ConfigProblem(str(path), 1, 1, "", f"cannot read the file: {exc}")]
        ) from exc
    return parse_gpt(text, str(path), providers, tasks)


def parse_gpt(
    text: str,
    filename: str,
    providers: Collection[str] | None = None,
    tasks: Mapping[str, Any] | None = None,
) -> GPTSpec:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([yaml_problem(exc, text, filename)]) from exc
    if root is None or data is None:
        raise ConfigError(
            [
                ConfigProblem(
                    filename, 1, 1, "", "the file is empty: a GPT needs 'name' and 'instructions'"
                )
            ]
        )
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(
            [
                _problem(
                    filename,
                    root,
                    "",
                    "expected a mapping of fields (name: ..., instructions: ...)",
                )
            ]
        )
    problems = _duplicate_keys(root, filename, ())
    spec: GPTSpec | None = None
    try:
        spec = GPTSpec.model_validate(data)
    except ValidationError as exc:
        problems.extend(_from_validation_error(exc, root, filename))
    if spec is not None:
        problems.extend(_check_plugins(spec, root, filename, providers, tasks))
    if problems:
        problems.sort(key=lambda p: (p.line, p.column))
        raise ConfigError(problems)
    assert spec is not None
    return spec


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


def _check_plugins(
    spec: GPTSpec,
    root: yaml.MappingNode,
    filename: str,
    providers: Collection[str] | None,
    tasks: Mapping[str, Any] | None,
) -> list[ConfigProblem]:
    """The model provider and task plugin must be installed; the task's options must fit it."""
    problems = []
    if providers is not None and spec.model.provider not in providers:
        node = _locate(root, ("model", "provider"))[0]
        hint = _did_you_mean(spec.model.provider, providers)
        known = ", ".join(sorted(providers))
        problems.append(
            _problem(filename, node, "model.provider", f"unknown provider{hint}; known: {known}")
        )
    if tasks is not None and spec.task is not None:
        plugin = tasks.get(spec.task.plugin)
        if plugin is None:
            node = _locate(root, ("task", "plugin"))[0]
            hint = _did_you_mean(spec.task.plugin, tasks)
            known = ", ".join(sorted(tasks)) or "none"
            problems.append(
                _problem(
                    filename, node, "task.plugin", f"unknown task plugin{hint}; installed: {known}"
                )
            )
        else:
            options_model = getattr(plugin, "Options", None)
            if options_model is not None:
                try:
                    options_model.model_validate(spec.task.options)
                except ValidationError as exc:
                    problems.extend(
                        _from_validation_error(
                            exc,
                            root,
                            filename,
                            ("task", "options"),
                            options_model.model_json_schema(),
                        )
                    )
    return problems


def _from_validation_error(
    exc: ValidationError,
    root: yaml.MappingNode,
    filename: str,
    prefix: tuple[Any, ...] = (),
    schema: dict[str, Any] | None = None,
) -> list[ConfigProblem]:
    problems = []
    schema = schema or GPTSpec.model_json_schema()
    for err in exc.errors():
        inner = tuple(err["loc"])
        loc = (*prefix, *inner)
        path = _format_path(loc)
        node, key = _locate(root, loc)
        kind = err["type"]
        message = str(err["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            allowed = _allowed_keys(schema, inner[:-1])
            message = f"unknown field{_did_you_mean(str(loc[-1]), allowed)}"
            if allowed:
                message += f"; allowed here: {', '.join(allowed)}"
            node = key or node
        elif kind == "missing":
            message = f"missing required field {str(loc[-1])!r}"
        else:
            given = err.get("input")
            if isinstance(given, (str, int, float, bool)) and kind != "value_error":
                message += f" (got {given!r})"
        problems.append(_problem(filename, node, path, message))
    return problems


def _duplicate_keys(node: yaml.Node, filename: str, loc: tuple[Any, ...]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                path = _format_path((*loc, name))
                problems.append(
                    _problem(filename, key, path, "duplicate key: the later value would win")
                )
            seen.add(name)
            problems.extend(_duplicate_keys(value, filename, (*loc, name)))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems.extend(_duplicate_keys(item, filename, (*loc, i)))
    return problems


def _locate(root: yaml.Node, loc: tuple[Any, ...]) -> tuple[yaml.Node, yaml.Node | None]:
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


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" {word!r} (did you mean {close[0]!r}?)" if close else f" {word!r}"


def _format_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problem(filename: str, node: yaml.Node, path: str, message: str) -> ConfigProblem:
    mark = node.start_mark
    return ConfigProblem(filename, mark.line + 1, mark.column + 1, path, message)
