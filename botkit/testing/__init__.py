"""Test kit for botkit and for plugin authors: stub servers of the services botkit talks to.

Every stub is a real HTTP server on 127.0.0.1 at a free port, recording what it receives, usable
with or without pytest (``python -m botkit.testing`` runs the OpenAI one on its own):

- :class:`StubOpenAI`: an OpenAI-compatible API (chat, streaming, embeddings, moderations,
  files, fine-tuning jobs) with scripted replies and injectable faults.
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

__all__ = [
    "BOT_PERMISSIONS",
    "DiscordError",
    "DiscordFault",
    "Fault",
    "RecordedRequest",
    "StubDiscord",
    "StubInteraction",
    "StubOpenAI",
    "StubServer",
    "echo",
    "fake_embedding",
    "route_discord_py",
]
