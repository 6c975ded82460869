"""``botkit serve`` in a child process, as a user runs it, for the benchmarks that load it."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml


def write_project(
    root: Path,
    model_url: str,
    deployment: dict[str, Any],
    instructions: str = "You answer briefly.",
) -> Path:
    """``root/configs``: one GPT "bench" on the OpenAI-compatible server at ``model_url`` and the
    deployment file ``deployment`` (its name and default GPT filled in); the config folder."""
    configs = root / "configs"
    (configs / "gpts").mkdir(parents=True)
    (configs / "bots").mkdir()
    model = {"provider": "openai", "name": "stub-model", "base_url": model_url, "max_retries": 0}
    gpt = {"name": "bench", "model": model, "instructions": instructions,
           "parameters": {"max_tokens": 64}}  # fmt: skip
    (configs / "gpts" / "bench.yaml").write_text(yaml.safe_dump(gpt))
    bot = {"name": "bench", "default_gpt": "bench", **deployment}
    (configs / "bots" / "default.yaml").write_text(yaml.safe_dump(bot))
    return configs


def serve_argv(configs: Path, *surfaces: str) -> list[str]:
    """The arguments of ``python -m botkit --config-dir CONFIGS serve SURFACES...``."""
    return ["-m", "botkit", "--config-dir", str(configs), "serve", *surfaces]


_PROBLEM = re.compile(r"\d\d:\d\d:\d\d (warning|error|critical)")


class ServeProcess:
    """``python ARGV`` (ending in ``serve ...``), ``--port 0`` added; its stderr read on a thread
    (a server blocks once a pipe nobody reads is full: it logs a line a reply), keeping the
    warnings, errors and tracebacks it logs."""

    def __init__(self, argv: list[str], home: Path, env: dict[str, str], cwd: Path | None = None):
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, *argv, "--port", "0"],
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
            env={**os.environ, "BOTKIT_HOME": str(home), "NO_COLOR": "1", **env},
        )
        self.url = ""
        self.lines: list[str] = []
        self.problems: list[str] = []
        self._bound = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self._bound.wait(60) or not self.url:
            self.proc.kill()
            raise SystemExit("botkit serve did not start:\n" + "".join(self.lines[-30:]))

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if len(self.lines) < 200:
                self.lines.append(line)
            if _PROBLEM.match(line) or "Traceback" in line:
                self.problems.append(line.rstrip())
            found = re.search(r"open (http://[\d.]+:\d+)/", line)
            if found and not self.url:
                self.url = found.group(1)
                self._bound.set()
        self._bound.set()

    async def ready(self, session: aiohttp.ClientSession, timeout: float = 90) -> None:
        """Until ``/readyz`` says every surface runs and every GPT is warm."""
        deadline = time.monotonic() + timeout
        body: Any = None
        while time.monotonic() < deadline:
            async with session.get(f"{self.url}/readyz") as response:
                if response.status == 200:
                    return
                body = await response.json()
            await asyncio.sleep(0.05)
        raise SystemExit(f"botkit serve was not ready within {timeout:.0f} s: {body}")

    def rss_mb(self) -> float:
        """The server's resident memory (VmRSS), MB."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> int:
        """SIGTERM, as a process manager stops it; the exit code."""
        self.proc.terminate()
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -9
