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
