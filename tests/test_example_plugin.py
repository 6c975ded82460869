"""The example plugin package installs with pip and is found through its entry point."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .conftest import REPO, run_botkit, write_gpt


def test_the_example_package_is_discovered_through_its_entry_point(
    tmp_path: Path, config_dir: Path
) -> None:
    target = tmp_path / "site"
    source = tmp_path / "botkit-shout"  # a copy: building in place would leave files in the repo
    shutil.copytree(REPO / "examples" / "botkit-shout", source)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    env = {"PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    listed = run_botkit("plugins", env=env)
    assert "shout" in listed.stdout and "botkit-shout 0.1.0" in listed.stdout
    write_gpt(config_dir, "loud", task={"plugin": "shout", "options": {"exclamation_marks": 3}})
    result = run_botkit(
        "--config-dir", str(config_dir), "console", "--gpt", "loud", input="hello\n", env=env
    )
    assert result.stdout == "HELLO!!!\n", result.stderr
