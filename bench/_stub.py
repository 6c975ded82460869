"""Run a stub OpenAI server in a child process, so it does not share the benchmark's GIL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager


@contextmanager
def child_server(*args: str) -> Iterator[str]:
    """Start ``python ARGS`` (which prints its URL on its first line); yield the URL."""
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)


def stub_server(latency: float = 0.0) -> AbstractContextManager[str]:
    """botkit.testing's stub server."""
    return child_server("-m", "botkit.testing", "--latency", str(latency))
