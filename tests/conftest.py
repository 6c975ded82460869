from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from botkit.testing import StubOpenAI

REPO = Path(__file__).resolve().parents[1]


def write_gpt(config_dir: Path, name: str, **fields: Any) -> Path:
    """Write ``config_dir/gpts/NAME.yaml`` with ``fields`` (instructions default to a short one)."""
    fields.setdefault("instructions", "You are a test GPT.")
    path = config_dir / "gpts" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"name": name, **fields}, sort_keys=False), encoding="utf-8")
    return path


def stub_model(stub: StubOpenAI, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "openai",
        "name": "stub-model",
        "base_url": stub.url,
        "max_retries": 0,
        **extra,
    }


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "configs"
    (folder / "gpts").mkdir(parents=True)
    return folder


@pytest.fixture
def stub_gpt(config_dir: Path, openai_stub: StubOpenAI) -> Path:
    """An 'echo' GPT running on the stub server."""
    return write_gpt(config_dir, "echo", model=stub_model(openai_stub), description="echoes")


def run_botkit(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the real ``botkit`` command line in a child process."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    full_env.pop("OPENAI_API_KEY", None) if "OPENAI_API_KEY" not in (env or {}) else None
    return subprocess.run(
        [sys.executable, "-m", "botkit", *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=REPO,
    )


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test writes to the real per-user data directory (child processes inherit this)."""
    monkeypatch.setenv("BOTKIT_HOME", str(tmp_path_factory.mktemp("botkit-home")))
    monkeypatch.delenv("BOTKIT_CHROMA_URL", raising=False)
    monkeypatch.delenv("BOTKIT_CONFIG_DIR", raising=False)


def unavailable(reason: str) -> None:
    """Skip a test whose tool is missing here, saying what to install; in CI (``BOTKIT_CI`` set,
    as ``.ci/run`` does) a missing tool is a failure instead: CI runs every test."""
    if os.environ.get("BOTKIT_CI"):
        pytest.fail(f"CI must run this test, but {reason}")
    pytest.skip(reason)


class RedisServer:
    """A real redis-server on a free port, in its own folder, durable (appendonly, fsync always),
    that a test can stop and start again."""

    def __init__(self, folder: Path) -> None:
        import shutil
        import socket

        binary = os.environ.get("BOTKIT_REDIS_SERVER") or shutil.which("redis-server")
        if not binary:
            unavailable("no redis-server here: apt-get install redis-server")
        self.binary = str(binary)
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        import socket
        import time

        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Any:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()
