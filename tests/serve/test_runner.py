"""``botkit serve`` as a user runs it: a child process, stopped with SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from botkit.testing import StubOpenAI

from ..conftest import REPO


def start(config_dir: Path, home: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "BOTKIT_HOME": str(home), "NO_COLOR": "1"}
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "botkit",
            "--config-dir",
            str(config_dir),
            "serve",
            "--port",
            "0",
            *args,
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert child.stderr is not None
    deadline = time.monotonic() + 60
    seen = []
    while time.monotonic() < deadline:
        line = child.stderr.readline()
        seen.append(line)
        found = re.search(r"open (http://[\d.]+:\d+)/", line)
        if found:
            return child, found.group(1)
        if not line and child.poll() is not None:
            break
    child.kill()
    raise AssertionError("botkit serve did not start:\n" + "".join(seen))


def test_sigterm_lets_the_reply_in_flight_finish_then_exits_0(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    openai_stub.reply("one two three four five six seven eight")
    openai_stub.chunk_delay = 0.1
    child, url = start(gpts, tmp_path / "home")
    try:
        with (
            httpx.Client(base_url=url, timeout=30) as http,
            http.stream(
                "POST",
                "/v1/chat/completions",
                json={
                    "model": "echo",
                    "messages": [{"role": "user", "content": "count"}],
                    "stream": True,
                },
            ) as response,
        ):
            lines = response.iter_lines()
            assert "assistant" in next(line for line in lines if line)
            child.send_signal(signal.SIGTERM)
            rest = "\n".join(lines)
        assert "eight" in rest and rest.rstrip().endswith("data: [DONE]")
        assert child.wait(30) == 0
        assert child.stderr is not None
        log = child.stderr.read()
        assert "stopping: no new messages" in log and "Traceback" not in log
    finally:
        child.kill()


def test_a_surface_that_cannot_start_is_named_and_the_others_keep_serving(
    gpts: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    bots = gpts / "bots"
    bots.mkdir()
    deployment = {
        "name": "team",
        "default_gpt": "echo",
        "surfaces": {"slack": {"enabled": True, "bot_token_env": "NO_SUCH_TOKEN_VAR"}},
    }
    (bots / "team.yaml").write_text(yaml.safe_dump(deployment))
    child, url = start(gpts, tmp_path / "home", "--bot", str(bots / "team.yaml"))
    try:
        answer = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert answer.json()["choices"][0]["message"]["content"] == "echo: hi"
        ready = httpx.get(f"{url}/readyz").json()
        assert (
            ready["surfaces"]["slack"].startswith("failed: ")
            and "NO_SUCH_TOKEN_VAR" in ready["surfaces"]["slack"]
        )
        child.send_signal(signal.SIGINT)
        assert child.wait(30) == 0
    finally:
        child.kill()
