"""Read GPT files: YAML -> :class:`~botkit.spec.GPTSpec`, with every problem located (see
:mod:`botkit.yamldoc`), and the catalog of a config folder's GPTs."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from botkit.errors import ConfigError, ConfigProblem, GPTNotFound
from botkit.spec import GPTSpec
from botkit.yamldoc import (
    did_you_mean,
    from_validation_error,
    locate,
    parse_document,
    problem,
    raise_problems,
    read_text,
    validate,
)

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
    return parse_gpt(read_text(path), str(path), providers, tasks)


def parse_gpt(
    text: str,
    filename: str,
    providers: Collection[str] | None = None,
    tasks: Mapping[str, Any] | None = None,
) -> GPTSpec:
    root, data = parse_document(text, filename, "a GPT needs 'name' and 'instructions'")
    spec, problems = validate(GPTSpec, data, root, filename)
    if spec is not None:
        problems.extend(_check_plugins(spec, root, filename, providers, tasks))
    raise_problems(problems)
    assert spec is not None
    return spec


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
        node = locate(root, ("model", "provider"))[0]
        hint = did_you_mean(spec.model.provider, providers)
        known = ", ".join(sorted(providers))
        problems.append(
            problem(filename, node, "model.provider", f"unknown provider{hint}; known: {known}")
        )
    if tasks is not None and spec.task is not None:
        plugin = tasks.get(spec.task.plugin)
        if plugin is None:
            node = locate(root, ("task", "plugin"))[0]
            hint = did_you_mean(spec.task.plugin, tasks)
            known = ", ".join(sorted(tasks)) or "none"
            problems.append(
                problem(
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
                        from_validation_error(
                            exc,
                            root,
                            filename,
                            ("task", "options"),
                            options_model.model_json_schema(),
                        )
                    )
    return problems
