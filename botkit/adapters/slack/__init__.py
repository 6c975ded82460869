"""The Slack surface (slack-bolt): see :mod:`botkit.adapters.slack.surface`."""

from __future__ import annotations

from typing import Any

from botkit.hookspecs import hookimpl


@hookimpl
def register_surfaces(register: Any) -> None:
    from botkit.adapters.slack.surface import SlackSurface

    register("slack", SlackSurface)
