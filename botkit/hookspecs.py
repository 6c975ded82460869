"""The hooks a botkit plugin implements (pluggy). Built-in providers use them too.

A plugin is a module (or object) with functions marked ``@botkit.hookimpl``, announced in the
``botkit.plugins`` entry-point group of its package (or dropped into a plugins folder)::

    import botkit

    @botkit.hookimpl
    def register_providers(register):
        register("echo", EchoModel)   # EchoModel(spec: ModelSpec) -> ChatModel
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

from botkit.models.base import ProviderFactory

hookspec = pluggy.HookspecMarker("botkit")
hookimpl = pluggy.HookimplMarker("botkit")


@hookspec
def register_providers(register: Callable[[str, ProviderFactory], None]) -> None:
    """Register model providers: ``register(name, factory)``; GPT files select them by name."""


@hookspec
def register_embedders(register: Callable[[str, Any], None]) -> None:
    """Register embedders: ``register(name, factory)``, a factory taking an ``EmbedderSpec`` and
    returning a ``botkit.knowledge.embeddings.Embedder``; ``knowledge.embedder`` selects them."""


@hookspec
def register_tasks(register: Callable[[str, Any], None]) -> None:
    """Register task plugins: ``register(name, plugin_class)``, a ``botkit.tasks.TaskPlugin``
    subclass; ``task: {plugin: NAME}`` in a GPT file selects one."""


@hookspec
def register_surfaces(register: Callable[[str, Any], None]) -> None:
    """Register surfaces: ``register(name, factory)``, a factory taking the surface's settings
    from the deployment file and returning a ``botkit.serve.Surface``; a deployment file's
    ``surfaces:`` section names them (``api``, ``slack``, ``discord`` are built in)."""
