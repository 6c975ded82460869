"""Plugin discovery and the registry: one mechanism for providers, embedders, tasks and surfaces.

Plugins come from the ``botkit.plugins`` entry-point group (botkit's own providers, embedders and
task plugins are registered there too) and from plugin folders (``*.py`` files or packages: a
project's ``plugins/`` and ``--plugins-dir``). Folder plugins load after installed ones, so a
project's plugin registering a name an installed one registered replaces it, with a note saying
so. A plugin that fails to import or to register is recorded by name in
:attr:`Registry.failures`; the others keep working.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from botkit import hookspecs
from botkit.errors import PluginError
from botkit.models.base import ChatModel, ProviderFactory
from botkit.spec import EmbedderSpec, ModelSpec

if TYPE_CHECKING:
    from botkit.knowledge.embeddings import Embedder
    from botkit.tasks import TaskPlugin

ENTRY_POINT_GROUP = "botkit.plugins"


@dataclass(frozen=True)
class PluginFailure:
    plugin: str
    error: str


@dataclass
class Registry:
    providers: dict[str, ProviderFactory] = field(default_factory=dict)
    embedders: dict[str, Any] = field(default_factory=dict)
    tasks: dict[str, Any] = field(default_factory=dict)
    surfaces: dict[str, Any] = field(default_factory=dict)
    #: (kind, name) -> the plugin that registered it
    origins: dict[tuple[str, str], str] = field(default_factory=dict)
    #: each chat command word -> the task plugin that offers it
    commands: dict[str, str] = field(default_factory=dict)
    #: plugin name -> where it came from (a package name and version, or a file path)
    sources: dict[str, str] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)
    #: things the user should know (a project plugin shadowing a built-in one...)
    notes: list[str] = field(default_factory=list)

    def create_model(self, spec: ModelSpec) -> ChatModel:
        model: ChatModel = _create(self.providers, "model provider", spec.provider)(spec)
        return model

    def create_task(self, name: str) -> TaskPlugin:
        task: TaskPlugin = _create(self.tasks, "task plugin", name)()
        return task

    def create_embedder(self, spec: EmbedderSpec) -> Embedder:
        embedder: Embedder = _create(self.embedders, "embedder", spec.provider)(spec)
        return embedder

    def command_usage(self) -> list[tuple[str, str]]:
        """Each task command as (``word <usage>``, what it does), sorted by word."""
        rows = []
        for name, plugin in self.tasks.items():
            for command in getattr(plugin, "commands", ()):
                if self.commands.get(command.name.lower()) == name:
                    rows.append((f"{command.name} {command.usage}".strip(), command.help))
        return sorted(rows)


def _create(table: dict[str, Any], kind: str, name: str) -> Any:
    try:
        return table[name]
    except KeyError:
        known = ", ".join(sorted(table)) or "none"
        raise PluginError(f"unknown {kind} {name!r}; known: {known}") from None


def load_registry(plugin_dirs: Iterable[Path] = (), extra: Iterable[object] = ()) -> Registry:
    """Discover every plugin and collect what they register.

    ``extra`` holds plugin objects registered directly, as tests do with a deterministic model.
    """
    registry = Registry()
    manager = pluggy.PluginManager("botkit")
    manager.add_hookspecs(hookspecs)
    for name, source, load in _candidates(plugin_dirs):
        try:
            manager.register(load(), name=name)
            registry.sources[name] = source
        except Exception as exc:
            registry.failures.append(PluginFailure(name, f"failed to load: {exc}"))
    for i, plugin in enumerate(extra):
        name = f"extra-{i}"
        manager.register(plugin, name=name)
        registry.sources[name] = "registered directly"
    _call_each(manager, "register_providers", registry, registry.providers, "provider")
    _call_each(manager, "register_embedders", registry, registry.embedders, "embedder")
    _call_each(manager, "register_tasks", registry, registry.tasks, "task")
    _call_each(manager, "register_surfaces", registry, registry.surfaces, "surface")
    registry.commands = {
        command.name.lower(): name
        for name, plugin in registry.tasks.items()
        for command in getattr(plugin, "commands", ())
    }
    return registry


def _candidates(
    plugin_dirs: Iterable[Path],
) -> list[tuple[str, str, Callable[[], Any]]]:
    found: list[tuple[str, str, Callable[[], Any]]] = []
    installed: set[Path] = set()  # where installed plugins' code lives (an editable install's)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else ep.value
        found.append((ep.name, dist, ep.load))
        installed.update(_source_folders(ep.module))
    seen: set[Path] = set()
    for folder in plugin_dirs:
        if not folder.is_dir() or folder.resolve() in seen:
            continue
        seen.add(folder.resolve())
        for path in sorted(folder.iterdir()):
            if path.name.startswith(("_", ".")) or path.resolve() in installed:
                continue  # the source of an installed plugin (a repository checkout)
            if path.suffix == ".py" or (path / "__init__.py").is_file():
                taken = {name for name, _, _ in found}
                name = path.stem if path.stem not in taken else f"{path.stem} ({folder.name}/)"
                found.append((name, str(path), functools.partial(_import_path, path)))
    return found


def _source_folders(module: str) -> set[Path]:
    """The file or package folder an installed plugin module is loaded from (without importing
    it); empty when it cannot be told."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return set()
    if spec is None or spec.origin is None:
        return set()
    origin = Path(spec.origin).resolve()
    return {origin.parent if origin.name == "__init__.py" else origin}


def _import_path(path: Path) -> ModuleType:
    init = path / "__init__.py" if path.is_dir() else path
    name = f"botkit_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(path)] if path.is_dir() else None
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _call_each(
    manager: pluggy.PluginManager,
    hook_name: str,
    registry: Registry,
    table: dict[str, Any],
    kind: str,
) -> None:
    """Call one hook plugin by plugin, so one plugin's exception does not stop the others."""
    for impl in getattr(manager.hook, hook_name).get_hookimpls():

        def register(name: str, item: Any, plugin: str = impl.plugin_name) -> None:
            before = registry.origins.get((kind, name))
            if before is not None and before != plugin:
                where = registry.sources.get(plugin, plugin)
                registry.notes.append(
                    f"the {kind} {name!r} of plugin {plugin} ({where}) replaces the one of "
                    f"{before} ({registry.sources.get(before, before)})"
                )
            table[name] = item
            registry.origins[(kind, name)] = plugin

        try:
            impl.function(register=register)
        except Exception as exc:
            registry.failures.append(PluginFailure(impl.plugin_name, f"{hook_name} raised: {exc}"))
