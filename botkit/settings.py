"""Where botkit keeps its files."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def data_dir() -> Path:
    """``$BOTKIT_HOME``, else the per-user data directory (e.g. ~/.local/share/botkit)."""
    home = os.environ.get("BOTKIT_HOME")
    return Path(home).expanduser() if home else Path(platformdirs.user_data_dir("botkit"))
