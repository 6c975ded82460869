"""The Discord surface: custom GPTs on a Discord server, on discord.py, under ``botkit serve``.

Modules, each doing one thing: :mod:`.surface` (start, stop, the client), :mod:`.events`
(messages -> the core), :mod:`.interactions` (slash commands and autocomplete -> the core),
:mod:`.commands` (the command tree, generated and synced), :mod:`.replies` (a reply -> messages,
edits, embeds), :mod:`.feedback` (👍/👎 buttons), :mod:`.places` (who, where, attachments) and
:mod:`.invite` (the invitation URL). discord.py is imported only when the surface starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botkit.hookspecs import hookimpl

if TYPE_CHECKING:
    from botkit.serve.surface import ServeContext, Surface


def DiscordSurface(settings: Any, context: ServeContext) -> Surface:
    """The surface for a deployment's ``surfaces.discord`` settings (discord.py loads here)."""
    from botkit.adapters.discord.surface import DiscordSurfaceRunner

    return DiscordSurfaceRunner(settings, context)


@hookimpl
def register_surfaces(register: Any) -> None:
    register("discord", DiscordSurface)
