"""Test kit for botkit and for plugin authors: stub servers of the services botkit talks to.

Every stub is a real HTTP server on 127.0.0.1 at a free port, recording what it receives, usable
with or without pytest (``python -m botkit.testing`` runs the OpenAI one on its own):

- :class:`StubOpenAI`: an OpenAI-compatible API (chat, streaming, embeddings, moderations,
  files, fine-tuning jobs) with scripted replies and injectable faults.

The pytest fixtures (``openai_stub``, ``botkit_home``...) live in
:mod:`botkit.testing.pytest_plugin`, which pytest loads by itself once botkit is installed.
"""

from botkit.testing.openai_stub import Fault, StubOpenAI, echo, fake_embedding
from botkit.testing.server import RecordedRequest, StubServer

__all__ = ["Fault", "RecordedRequest", "StubOpenAI", "StubServer", "echo", "fake_embedding"]
