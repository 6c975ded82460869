"""``botkit init``: write a ready project (GPTs, a deployment file, sample knowledge, a plugins
folder, the JSON Schemas for editors) from the starter that ships inside the package."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from botkit.errors import BotkitError


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    #: which starter files it takes (paths relative to the starter, as prefixes)
    include: tuple[str, ...]


TEMPLATES = {
    t.name: t
    for t in (
        Template(
            "default",
            "the five starter GPTs (translator, assistant, sentiment, classifier, support-qa), "
            "a deployment file, the sample help center they answer from, a plugins folder",
            ("configs/", "knowledge/", "plugins/", "gitignore"),
        ),
        Template(
            "minimal",
            "the assistant and translator GPTs and a deployment file, no sample knowledge",
            (
                "configs/gpts/assistant.yaml",
                "configs/gpts/translator.yaml",
                "configs/bots/",
                "plugins/",
                "gitignore",
            ),
        ),
    )
}


@dataclass
class InitReport:
    folder: Path
    written: list[Path] = field(default_factory=list)
    overwritten: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def starter_files() -> dict[str, bytes]:
    """Every file of the starter project that ships with botkit: path -> content."""
    root = resources.files("botkit") / "starter"
    found: dict[str, bytes] = {}

    def walk(node: resources.abc.Traversable, prefix: str) -> None:
        for child in node.iterdir():
            if child.name == "__pycache__":
                continue
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            else:
                found[f"{prefix}{child.name}"] = child.read_bytes()

    walk(root, "")
    return found


def _schemas() -> dict[str, bytes]:
    from botkit.deploy.spec import bot_json_schema
    from botkit.spec import json_schema

    def dump(schema: Callable[[], object]) -> bytes:
        return (json.dumps(schema(), indent=2) + "\n").encode()

    return {
        "schema/gpt.schema.json": dump(json_schema),
        "schema/bot.schema.json": dump(bot_json_schema),
    }


def init_project(folder: Path, template: str = "default", force: bool = False) -> InitReport:
    """Write the template's files into ``folder``; an existing file is kept unless ``force``."""
    chosen = TEMPLATES.get(template)
    if chosen is None:
        raise BotkitError(f"no template {template!r}; templates: {', '.join(TEMPLATES)}")
    if folder.exists() and not folder.is_dir():
        raise BotkitError(f"{folder} is a file: give a folder for the project (or a new name)")
    files = {
        ".gitignore" if name == "gitignore" else name: content
        for name, content in starter_files().items()
        if name.startswith(chosen.include)
    }
    files.update(_schemas())
    report = InitReport(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in sorted(files.items()):
            target = folder / name
            existed = target.exists()
            if existed and not force:
                report.kept.append(target)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            (report.overwritten if existed else report.written).append(target)
    except PermissionError as exc:
        raise BotkitError(
            f"cannot write to {exc.filename or folder}: permission denied (choose a folder you "
            "can write to)"
        ) from exc
    except IsADirectoryError as exc:
        raise BotkitError(f"{exc.filename} is a folder where botkit writes a file") from exc
    except NotADirectoryError as exc:
        raise BotkitError(f"{exc.filename}: a file stands where botkit needs a folder") from exc
    return report
