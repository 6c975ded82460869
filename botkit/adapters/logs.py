"""Quieting a library's log line that tells a botkit user nothing (botkit's own choice caused it)."""

from __future__ import annotations

import logging


class DropLines(logging.Filter):
    """Drops the records whose message holds ``fragment``; every other record passes."""

    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()
