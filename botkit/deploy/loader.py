"""Read deployment files: YAML -> :class:`~botkit.deploy.spec.BotSpec`, every problem located,
and every GPT the file names checked against the project's GPTs."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from botkit.deploy.spec import BotSpec
from botkit.yamldoc import (
    did_you_mean,
    locate,
    parse_document,
    problem,
    raise_problems,
    read_text,
    validate,
)

BOTS_FOLDER = "bots"
DEFAULT_BOT = "default"


def bot_files(config_dir: Path) -> list[Path]:
    folder = config_dir / BOTS_FOLDER
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))


def default_bot_file(config_dir: Path) -> Path | None:
    """``configs/bots/default.yaml`` when it exists."""
    for suffix in (".yaml", ".yml"):
        path = config_dir / BOTS_FOLDER / f"{DEFAULT_BOT}{suffix}"
        if path.is_file():
            return path
    return None


def load_bot_file(path: Path, gpts: Collection[str] | None = None) -> BotSpec:
    """Load and validate a deployment file; with ``gpts``, every GPT it names must be one."""
    return parse_bot(read_text(path), str(path), gpts)


def parse_bot(text: str, filename: str, gpts: Collection[str] | None = None) -> BotSpec:
    root, data = parse_document(text, filename, "a deployment needs at least a 'name'")
    spec, problems = validate(BotSpec, data, root, filename)
    if spec is not None and gpts is not None:
        for where, name in spec.gpt_names():
            if name not in gpts:
                node = locate(root, where)[0]
                field = ".".join(str(part) for part in where)
                known = ", ".join(sorted(gpts)) or "none"
                message = f"no GPT named{did_you_mean(name, gpts)}; GPTs: {known}"
                problems.append(problem(filename, node, field, message))
    raise_problems(problems)
    assert spec is not None
    return spec
