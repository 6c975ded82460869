"""`botkit knowledge ...` and a knowledge GPT in the console, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ..conftest import run_botkit, write_gpt


@pytest.fixture
def qa_config(project: Path) -> Path:
    write_gpt(project / "configs", "qa", knowledge={"sources": ["docs", "nowhere/*.md"]})
    write_gpt(project / "configs", "plain")
    return project / "configs"


def knowledge(config: Path, home: Path, *args: str) -> tuple[int, str, str]:
    result = run_botkit(
        "--config-dir", str(config), "knowledge", *args, env={"BOTKIT_HOME": str(home)}
    )
    return result.returncode, result.stdout, result.stderr


def test_index_search_stats_clear(qa_config: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, out, err = knowledge(qa_config, home, "index", "--all")
    assert code == 0, err
    assert "qa: 3 files (3 indexed, 0 unchanged, 0 removed), 4 chunks added" in out
    assert "warning: knowledge source 'nowhere/*.md' matches no file" in err
    code, out, _ = knowledge(qa_config, home, "index", "--gpt", "qa")
    assert "(0 indexed, 3 unchanged, 0 removed), 0 chunks added" in out
    code, out, _ = knowledge(
        qa_config, home, "search", "--gpt", "qa", "--json", "how long do refunds take"
    )
    found = json.loads(out)
    assert found[0]["source"] == "docs/refunds.md" and found[0]["title"] == "Refunds > Timing"
    code, out, _ = knowledge(qa_config, home, "stats", "--json")
    assert json.loads(out) == [
        {
            "gpt": "qa",
            "files": 3,
            "chunks": 4,
            "embedder": "wordllama:l2_supercat-256",
            "dimension": 256,
            "store": "embedded",
            "stale": False,
        }
    ]
    code, out, _ = knowledge(qa_config, home, "clear", "--gpt", "qa")
    assert out.strip() == "qa: index cleared"
    code, out, _ = knowledge(qa_config, home, "stats", "--json")
    assert json.loads(out)[0]["chunks"] == 0


def test_usage_errors_are_one_line(qa_config: Path, tmp_path: Path) -> None:
    code, _, err = knowledge(qa_config, tmp_path, "index", "--gpt", "plain")
    assert (
        code == 1
        and err.strip()
        == "error: GPT 'plain' has no knowledge sources (add knowledge: {sources: [...]})"
    )
    code, _, err = knowledge(qa_config, tmp_path, "index")
    assert code == 2 and "say which GPT: --gpt NAME, or --all" in err


@pytest.mark.embedded
def test_the_console_answers_with_citations_and_refreshes_a_stale_index(
    qa_config: Path, tmp_path: Path
) -> None:
    result = run_botkit(
        "--config-dir", str(qa_config), "console", "--gpt", "qa",
        input="How many business days does a refund take?\n",
        env={"BOTKIT_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "[1] docs/refunds.md > Refunds > Timing" in result.stderr
    assert result.stdout.strip()  # the embedded model's answer
