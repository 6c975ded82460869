"""The Slack app manifest for a deployment: create the app from it (api.slack.com/apps > Create New
App > From a manifest) and it has every scope, event, command and shortcut botkit uses."""

from __future__ import annotations

from typing import Any

from botkit.adapters.slack.surface import SCOPES
from botkit.deploy.spec import BotSpec

#: Beyond the scopes botkit needs: the assistant panel, threads in private channels, reactions.
OPTIONAL_SCOPES = ("assistant:write", "groups:history", "mpim:history", "im:read", "im:write")
EVENTS = (
    "app_mention",
    "message.im",
    "message.channels",
    "message.groups",
    "message.mpim",
    "assistant_thread_started",
    "assistant_thread_context_changed",
)


def manifest(spec: BotSpec, request_url: str = "https://YOUR-HOST/slack/events") -> dict[str, Any]:
    slack = spec.surfaces.slack
    http = slack.mode == "http"
    name = spec.name if spec.name != "default" else "botkit"
    settings: dict[str, Any] = {
        "event_subscriptions": {"bot_events": list(EVENTS)},
        "interactivity": {"is_enabled": True},
        "org_deploy_enabled": False,
        "socket_mode_enabled": not http,
        "token_rotation_enabled": False,
    }
    command: dict[str, Any] = {
        "command": slack.slash_command,
        "description": "Ask a custom GPT, or run a task: translate, classify, sentiment, ask",
        "usage_hint": "<gpt> <text> | gpts | help",
        "should_escape": False,
    }
    if http:
        settings["event_subscriptions"]["request_url"] = request_url
        settings["interactivity"]["request_url"] = request_url
        command["url"] = request_url
    features: dict[str, Any] = {
        "app_home": {"messages_tab_enabled": True, "messages_tab_read_only_enabled": False},
        "bot_user": {"display_name": name, "always_online": True},
        "slash_commands": [command],
        "shortcuts": [
            {
                "name": "Translate with botkit",
                "type": "message",
                "callback_id": "botkit_translate",
                "description": f"Translate this message into {slack.translate_to}",
            }
        ],
    }
    if slack.assistant:
        features["assistant_view"] = {
            "assistant_description": spec.description or "Custom GPTs made with botkit",
            "suggested_prompts": [],
        }
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": (spec.description or "Custom GPTs made with botkit")[:139],
        },
        "features": features,
        "oauth_config": {"scopes": {"bot": [*SCOPES, *OPTIONAL_SCOPES]}},
        "settings": settings,
    }
