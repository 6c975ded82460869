"""Secrets botkit holds (model API keys, the server's API keys, Slack and Discord tokens), kept
out of every text that leaves: log lines, error messages, replies.

Pattern-based redaction (:mod:`botkit.safety.redact`) knows what OpenAI or Slack keys look like;
a vLLM token or a Discord bot token looks like anything. So every secret is read through
:func:`secret_env`, which remembers its value, and :func:`scrub` replaces each remembered value
wherever it appears — in a model server's error message that quotes the key it was given, say.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

#: What a secret becomes in text that leaves.
HIDDEN = "[secret]"
#: Shorter values are not remembered: too likely to occur in ordinary text.
MIN_LENGTH = 8

_known: set[str] = set()
_lock = threading.Lock()


def remember(value: str) -> str:
    """Keep ``value`` out of everything :func:`scrub` cleans; returns it."""
    if len(value) >= MIN_LENGTH:
        with _lock:
            _known.add(value)
    return value


def secret_env(name: str, env: Mapping[str, str] | None = None) -> str:
    """The stripped value of environment variable ``name`` ('' when unset), remembered."""
    return remember((os.environ if env is None else env).get(name, "").strip())


def scrub(text: str) -> str:
    """``text`` with every remembered secret replaced by ``[secret]``."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, HIDDEN)
    return text
