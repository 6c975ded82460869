"""The console and the CLI, run as a real child process against the stub server."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from botkit.testing import StubOpenAI

from .conftest import REPO, run_botkit, stub_model, write_gpt


def console(
    config_dir: Path, home: Path, *args: str, input: str
) -> subprocess.CompletedProcess[str]:
    return run_botkit(
        "--config-dir",
        str(config_dir),
        "console",
        *args,
        input=input,
        env={"BOTKIT_HOME": str(home)},
    )


def test_piped_input_gets_one_reply_per_line(
    stub_gpt: Path, config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    result = console(config_dir, tmp_path, "--gpt", "echo", input="Hello\nHow are you?\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "echo: Hello\necho: How are you?\n"
    assert len(openai_stub.chat_requests) == 2


def test_resume_continues_the_last_conversation(
    stub_gpt: Path, config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    console(config_dir, tmp_path, "--gpt", "echo", input="remember 42\n")
    result = console(config_dir, tmp_path, "--gpt", "echo", "--resume", input="what number?\n")
    assert result.returncode == 0, result.stderr
    assert "resuming your conversation with echo (1 exchanges)" in result.stderr
    users = [
        m["content"] for m in openai_stub.chat_requests[-1].body["messages"] if m["role"] == "user"
    ]
    assert users == ["remember 42", "what number?"]
    fresh = console(config_dir, tmp_path, "--gpt", "echo", input="new\n")
    assert fresh.returncode == 0
    users = [
        m["content"] for m in openai_stub.chat_requests[-1].body["messages"] if m["role"] == "user"
    ]
    assert users == ["new"]


def test_commands_work_in_piped_mode(
    stub_gpt: Path, config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    write_gpt(config_dir, "other", model=stub_model(openai_stub), description="another one")
    script = (
        "one\n/reset\ntwo\n/gpts\n/switch nope\n/switch other\nthree\n/bogus\n/help\n/exit\n"
        "never sent\n"
    )
    result = console(config_dir, tmp_path, "--gpt", "echo", input=script)
    assert result.stdout == "echo: one\necho: two\necho: three\n"
    assert "conversation reset" in result.stderr
    assert "* echo" in result.stderr and "other            another one" in result.stderr
    assert "now talking to other" in result.stderr
    assert "error: no GPT named 'nope'; available: echo, other" in result.stderr
    assert "error: unknown command /bogus; /help lists the console's commands" in result.stderr
    assert "/switch NAME" in result.stderr
    second = openai_stub.chat_requests[1].body["messages"]
    assert [m["content"] for m in second if m["role"] == "user"] == ["two"]
    assert len(openai_stub.chat_requests) == 3
    assert result.returncode == 1  # the bad lines made the run fail, after doing the rest


def test_an_empty_line_is_reported_and_the_rest_still_answered(
    stub_gpt: Path, config_dir: Path, tmp_path: Path
) -> None:
    result = console(config_dir, tmp_path, "--gpt", "echo", input="\nhi\n")
    assert result.stdout == "\necho: hi\n"
    assert "error: the message is empty" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_gpt_lists_the_ones_that_exist(
    stub_gpt: Path, config_dir: Path, tmp_path: Path
) -> None:
    result = console(config_dir, tmp_path, "--gpt", "nope", input="")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: no GPT named 'nope'; available: echo"


def test_missing_api_key_is_one_line_without_traceback(config_dir: Path, tmp_path: Path) -> None:
    write_gpt(config_dir, "cloud", model="openai:gpt-4o-mini")
    result = console(config_dir, tmp_path, "--gpt", "cloud", input="hi\n")
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        "error: the API key is missing: set it with `export OPENAI_API_KEY=...`"
    )
    assert "Traceback" not in result.stderr


def test_unreachable_server_stops_piped_input_with_the_url(
    config_dir: Path, tmp_path: Path
) -> None:
    write_gpt(
        config_dir,
        "down",
        model={
            "provider": "openai",
            "name": "m",
            "base_url": "http://127.0.0.1:9/v1",
            "max_retries": 0,
        },
    )
    result = console(config_dir, tmp_path, "--gpt", "down", input="hi\nagain\n")
    assert result.returncode == 1
    assert "cannot reach the model server at http://127.0.0.1:9/v1" in result.stderr
    assert "Traceback" not in result.stderr
    debug = run_botkit(
        "--debug", "--config-dir", str(config_dir), "console", "--gpt", "down", input="hi\n"
    )
    assert "Traceback" in debug.stderr


def test_broken_gpt_file_is_reported_with_its_location(config_dir: Path, tmp_path: Path) -> None:
    (config_dir / "gpts" / "bad.yaml").write_text("name: bad\ninstructions: x\nparamters: {}\n")
    result = console(config_dir, tmp_path, "--gpt", "bad", input="")
    assert result.returncode == 1
    assert (
        "bad.yaml:3:1: paramters: unknown field 'paramters' (did you mean 'parameters'?)"
        in result.stderr
    )


def test_gpts_lists_name_model_and_description(stub_gpt: Path, config_dir: Path) -> None:
    result = run_botkit("--config-dir", str(config_dir), "gpts")
    assert result.returncode == 0
    assert (
        "echo" in result.stdout
        and "openai:stub-model" in result.stdout
        and "echoes" in result.stdout
    )
    shipped = run_botkit("gpts", "--json")
    assert (
        '"name": "translator"' in shipped.stdout and '"model": "local:embedded"' in shipped.stdout
    )


def test_help_lists_the_commands() -> None:
    result = run_botkit("--help")
    for command in ("console", "gpts", "validate", "schema"):
        assert command in result.stdout


def test_ctrl_c_stops_the_answer_but_not_the_console(
    stub_gpt: Path, config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    openai_stub.chunk_delay = 0.2
    openai_stub.reply(" ".join(f"word{i}" for i in range(200)), "second answer")
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real console on a terminal
        os.chdir(REPO)
        env = {**os.environ, "BOTKIT_HOME": str(tmp_path), "NO_COLOR": "1"}
        os.execve(
            sys.executable,
            [
                sys.executable,
                "-m",
                "botkit",
                "--config-dir",
                str(config_dir),
                "console",
                "--gpt",
                "echo",
            ],
            env,
        )
    screen = ""

    def read_until(marker: str, timeout: float = 30) -> None:
        nonlocal screen
        deadline = time.monotonic() + timeout
        while marker not in screen:
            assert time.monotonic() < deadline, f"no {marker!r} in {screen!r}"
            if select.select([fd], [], [], 0.1)[0]:
                screen += os.read(fd, 4096).decode(errors="replace")

    try:
        read_until("echo> ")
        os.write(fd, b"tell me a long story\r")
        read_until("word2 ")
        os.kill(pid, signal.SIGINT)
        read_until("[stopped]")
        read_until("echo> ")
        os.write(fd, b"and now?\r")
        read_until("second answer")
        os.write(fd, b"/exit\r")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.close(fd)
    assert "word199" not in screen
    # the stopped answer is kept as far as it went, so the conversation matches what was shown
    last = openai_stub.chat_requests[-1].body["messages"]
    assert last[-3]["role"] == "user" and last[-2]["content"].startswith("word0 word1 word2")
