"""The same knowledge on a real Chroma server (`chroma run` from the installed chromadb)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from botkit.errors import StoreUnreachable

from ..conftest import run_botkit, write_gpt
from .conftest import DOCS, make_base


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert chroma, "the chroma command comes with chromadb"
    proc = subprocess.Popen(
        [
            chroma,
            "run",
            "--path",
            str(tmp_path / "server"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "chroma run did not start"
            time.sleep(0.1)
    try:
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(10)


def test_index_and_search_on_a_chroma_server_then_lose_it(
    project: Path, chroma_server: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, server = chroma_server
    kb = make_base(project, chroma_url=url)
    report = kb.refresh()
    assert report.indexed == len(DOCS)
    assert kb.search("how long does a refund take")[0].source == "docs/refunds.md"
    assert not (project / "data" / "chroma").exists()  # nothing went to the embedded store
    assert kb.refresh().unchanged == len(DOCS)
    server.terminate()
    server.wait(10)
    with pytest.raises(StoreUnreachable, match=f"cannot reach the Chroma server at {url}"):
        kb.search("refund")


def test_an_unreachable_server_is_one_clear_error(project: Path, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    write_gpt(tmp_path / "configs", "qa", knowledge={"sources": ["docs"], "chroma_url": url})
    result = run_botkit(
        "--config-dir",
        str(tmp_path / "configs"),
        "knowledge",
        "index",
        "--gpt",
        "qa",
        env={"BOTKIT_HOME": str(tmp_path / "home")},
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"error: cannot reach the Chroma server at {url}")
    assert "Traceback" not in result.stderr
