"""Test kit for botkit and for plugin authors: stub servers of the services botkit talks to.

Every stub is a real HTTP server on 127.0.0.1 at a free port, recording what it receives, usable
with or without pytest (``python -m botkit.testing`` runs the OpenAI one on its own):

- :class:`StubOpenAI`: an OpenAI-compatible API (chat, streaming, embeddings, moderations,
  files, fine-tuning jobs) with scripted replies and injectable faults.
- :class:`StubSlack`: the Slack Web API (``auth.test``, ``chat.*`` with native streaming,
  ``conversations.replies``/``info``, ``users.info``, ``assistant.threads.*``, ``reactions.add``)
  and Socket Mode on one server, with recorded calls, kept messages and injectable faults; with
  :mod:`botkit.testing.slack_payloads`, the events and requests Slack sends an app, really signed.
- :class:`StubDiscord`: Discord's REST API (v10) and gateway (websocket), for a real discord.py
  client routed at it with :func:`route_discord_py`; payload builders for the events a test
  dispatches (messages, slash commands, buttons, autocomplete), faults (429, 5xx, bad token,
  privileged intents not enabled, dropped connections).

The pytest fixtures (``openai_stub``, ``discord_stub``, ``botkit_home``...) live in
:mod:`botkit.testing.pytest_plugin`, which pytest loads by itself once botkit is installed.
"""

from botkit.testing.discord_stub import DiscordFault, StubDiscord, route_discord_py
from botkit.testing.discord_world import BOT_PERMISSIONS, DiscordError, StubInteraction
from botkit.testing.openai_stub import Fault, StubOpenAI, echo, fake_embedding
from botkit.testing.server import RecordedRequest, StubServer
from botkit.testing.slack_payloads import (
    app_mention,
    assistant_thread_context_changed,
    assistant_thread_started,
    block_actions,
    event_callback,
    message,
    message_shortcut,
    sign,
    signed_request,
    slash_command,
    url_verification,
)
from botkit.testing.slack_stub import SlackCall, SlackFault, StubSlack
from botkit.testing.slack_workspace import SlackWorkspace

__all__ = [
    "BOT_PERMISSIONS",
    "DiscordError",
    "DiscordFault",
    "Fault",
    "RecordedRequest",
    "SlackCall",
    "SlackFault",
    "SlackWorkspace",
    "StubDiscord",
    "StubInteraction",
    "StubOpenAI",
    "StubServer",
    "StubSlack",
    "app_mention",
    "assistant_thread_context_changed",
    "assistant_thread_started",
    "block_actions",
    "echo",
    "event_callback",
    "fake_embedding",
    "message",
    "message_shortcut",
    "route_discord_py",
    "sign",
    "signed_request",
    "slash_command",
    "url_verification",
]
