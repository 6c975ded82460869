"""Run the stub OpenAI server in a child process, so it does not share the benchmark's GIL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def stub_server(latency: float = 0.0) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "botkit.testing", "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)
