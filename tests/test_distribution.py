"""botkit as a user meets it: a wheel built from this repository, installed in a fresh virtual
environment, used from an empty folder outside the repository (no network: the new environment
borrows the test environment's dependencies; botkit itself comes only from the wheel)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        env={**os.environ, "PIP_NO_INDEX": "1"},
    )
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv holding botkit from the wheel only, its dependencies borrowed."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    (wheel,) = dist.glob("botkit-*.whl")
    python = root / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--quiet", str(wheel)],
        check=True,
    )  # fmt: skip
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    yield root


def run(
    venv: Path, cwd: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BOTKIT_CONFIG_DIR", "PYTHONPATH")}
    env.update(BOTKIT_HOME=str(cwd / ".home"), NO_COLOR="1", COLUMNS="200")
    return subprocess.run(
        [str(venv / "bin" / "botkit"), *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_the_wheel_and_sdist_carry_the_plugins_starter_and_web_page(dist: Path) -> None:
    (wheel,) = dist.glob("botkit-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        text = archive.read(entry_points).decode()
    for needed in (
        "botkit_plugins/classification/__init__.py",
        "botkit_plugins/qa/__init__.py",
        "botkit_plugins/translation/__init__.py",
        "botkit/starter/configs/gpts/translator.yaml",
        "botkit/starter/configs/bots/default.yaml",
        "botkit/starter/knowledge/acme/billing/refunds.md",
        "botkit/starter/plugins/README.md",
        "botkit/starter/gitignore",
        "botkit/web/index.html",
        "botkit/web/app.js",
        "botkit/py.typed",
    ):
        assert needed in names, needed
    assert "classification = botkit_plugins.classification" in text
    (sdist,) = dist.glob("botkit-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    assert any(m.endswith("plugins/qa/__init__.py") for m in members)
    assert any(m.endswith("botkit/starter/configs/gpts/sentiment.yaml") for m in members)


def test_init_validate_console_and_eval_in_an_empty_folder(venv: Path, tmp_path: Path) -> None:
    project = tmp_path / "support-bot"
    project.mkdir()
    where = run(venv, project, "--version")
    assert where.returncode == 0 and "botkit" in where.stdout
    origin = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import botkit, botkit_plugins; print(botkit.__file__, botkit_plugins.__file__)",
        ],
        capture_output=True,
        text=True,
        cwd=project,
    ).stdout
    assert str(REPO) not in origin and str(venv) in origin  # the wheel's botkit, not the repo's

    missing = run(venv, project, "gpts")
    assert missing.returncode == 1 and "run `botkit init`" in missing.stderr

    init = run(venv, project, "init")
    assert init.returncode == 0, init.stderr
    assert (project / "configs/gpts/translator.yaml").is_file()
    assert (project / "configs/bots/default.yaml").is_file()
    assert (project / "schema/gpt.schema.json").is_file() and (project / ".gitignore").is_file()

    validate = run(venv, project, "validate")
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "configs/bots/default.yaml: ok (deployment default)" in validate.stdout

    plugins = run(venv, project, "plugins", "--json")
    sources = {row["name"]: row["source"] for row in yaml.safe_load(plugins.stdout)}
    assert sources["classification"].startswith("botkit ") and sources["qa"].startswith("botkit ")

    chat = run(venv, project, "console", "--gpt", "translator", stdin="Good morning\n")
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.strip() and "Traceback" not in chat.stderr

    evaluated = run(venv, project, "eval", "--gpt", "sentiment", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = yaml.safe_load(evaluated.stdout)["metrics"]
    assert metrics["accuracy"] >= 0.8


def test_init_refuses_clearly_and_never_overwrites_without_force(
    venv: Path, tmp_path: Path
) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    refused = run(venv, tmp_path, "init", "notes.txt")
    assert (
        refused.returncode == 1
        and "is a file" in refused.stderr
        and "Traceback" not in refused.stderr
    )

    project = tmp_path / "p"
    (project / "configs" / "gpts").mkdir(parents=True)
    mine = project / "configs" / "gpts" / "translator.yaml"
    mine.write_text("name: translator\ninstructions: My own.\n")
    kept = run(venv, tmp_path, "init", "p")
    assert kept.returncode == 0 and mine.read_text().endswith("My own.\n")
    assert f"kept {Path('p/configs/gpts/translator.yaml')}" in kept.stderr
    forced = run(venv, tmp_path, "init", "p", "--force")
    assert "overwrote p/configs/gpts/translator.yaml" in forced.stderr
    assert "My own" not in mine.read_text()

    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        denied = run(venv, tmp_path, "init", "locked")
        assert denied.returncode == 1 and "permission denied" in denied.stderr

    listing = run(venv, tmp_path, "init", "--list")
    assert "default" in listing.stdout and "minimal" in listing.stdout


def test_the_stub_server_runs_without_pytest(venv: Path, tmp_path: Path) -> None:
    code = (
        "import sys, botkit.testing as t\n"
        "assert 'pytest' not in sys.modules\n"
        "s = t.StubOpenAI().start(); print(s.url); s.stop()\n"
    )
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("http://127.0.0.1:")
