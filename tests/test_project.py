"""Promises the repository makes about itself."""

from __future__ import annotations

import re

from .conftest import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", text)


def test_readme_starts_with_the_console_command_then_the_test_command() -> None:
    first, second = readme_commands()[:2]
    assert first.endswith("botkit console --gpt translator")
    assert "pytest" in second


def test_ci_runs_the_readmes_test_command() -> None:
    test_command = readme_commands()[1]
    assert test_command in (REPO / ".ci" / "run").read_text().splitlines()
