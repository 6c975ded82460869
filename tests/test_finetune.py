"""Fine-tuning: prepare, validate, start, status, follow, cancel, record.

Jobs run through the real openai client, over real HTTP, against the stub server's files and
fine-tuning endpoints.
"""

from __future__ import annotations

import asyncio
import json
import re
import tracemalloc
from pathlib import Path
from typing import Any

import openai  # noqa: F401  # imported up front: the memory test must not count the import
import pytest

from botkit.cli import main
from botkit.core.bot import Bot
from botkit.core.message import Message
from botkit.finetune import default_training_file, validate
from botkit.finetune.record import record_model
from botkit.finetune.validate import default_epochs, token_limit, validate_file
from botkit.loader import load_gpt_file
from botkit.settings import data_dir
from botkit.testing import StubOpenAI

from .conftest import run_botkit, stub_model, write_gpt

LABELED = [
    ("I was charged twice.", "billing"),
    ("Where is my parcel?", "shipping"),
    ("The app crashes on start.", "technical"),
    ("How do I change my email?", "account"),
]


class Run:
    """The outcome of one in-process ``botkit`` command."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def botkit(
    config_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Any:
    """Run ``botkit --config-dir CONFIG ARGS...`` in this process (as ``main`` does)."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")

    def run(*args: str) -> Run:
        capsys.readouterr()
        code = 0
        try:
            main(["--config-dir", str(config_dir), *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


@pytest.fixture
def gpt_file(config_dir: Path, openai_stub: StubOpenAI) -> Path:
    """A ticket router on the stub, written by hand: its comments must survive the record step."""
    path = config_dir / "gpts" / "router.yaml"
    path.write_text(
        "# Routes tickets.\n"
        "name: router\n"
        "model:\n"
        "  provider: openai    # the stub\n"
        "  name: stub-model    # fine-tuned below\n"
        f"  base_url: {openai_stub.url}\n"
        "  max_retries: 0\n"
        "variables:\n"
        "  team: Acme\n"
        "instructions: Route {team} tickets. Answer with one label.\n"
        "examples:\n"
        "  - user: I was charged twice.\n"
        "    assistant: billing\n",
        encoding="utf-8",
    )
    return path


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def labeled(path: Path, count: int = 12) -> Path:
    """``count`` distinct labeled rows, the labels taking turns."""
    rows = [
        {"text": f"{text} (ticket {n})", "label": label}
        for n in range(count)
        for text, label in [LABELED[n % len(LABELED)]]
    ]
    return write_jsonl(path, rows)


def chat(user: str, assistant: str, system: str = "Route tickets.") -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ]
    }


def chats(count: int, label: Any = None) -> list[dict[str, Any]]:
    return [chat(f"question {n}", label(n) if label else f"answer {n}") for n in range(count)]


# -- prepare -----------------------------------------------------------------------------------


def test_prepare_writes_chat_rows_from_the_instructions_examples_and_data(
    botkit: Any, gpt_file: Path, tmp_path: Path
) -> None:
    data = labeled(tmp_path / "tickets.jsonl", 12)
    result = botkit("finetune", "prepare", "--gpt", "router", "--data", str(data))
    assert result.code == 0, result.err
    out = default_training_file(data_dir(), "router")
    assert f"wrote 13 example(s) to {out}" in result.out
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 13
    system = {"role": "system", "content": "Route Acme tickets. Answer with one label."}
    assert rows[0]["messages"] == [
        system,
        {"role": "user", "content": "I was charged twice."},
        {"role": "assistant", "content": "billing"},
    ]
    assert rows[2]["messages"] == [
        system,
        {"role": "user", "content": "Where is my parcel? (ticket 1)"},
        {"role": "assistant", "content": "shipping"},
    ]


def test_prepare_reads_csv_with_chosen_fields_and_can_leave_out_the_examples(
    botkit: Any, gpt_file: Path, tmp_path: Path
) -> None:
    data = tmp_path / "tickets.csv"
    data.write_text('question,team\n"Refund, please",billing\n', encoding="utf-8")
    out = tmp_path / "train.jsonl"
    result = botkit(
        "finetune", "prepare", "--gpt", "router", "--data", str(data), "--no-examples",
        "--input-field", "question", "--expected-field", "team", "--out", str(out),
    )  # fmt: skip
    assert result.code == 0, result.err
    (row,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["messages"][1:] == [
        {"role": "user", "content": "Refund, please"},
        {"role": "assistant", "content": "billing"},
    ]


def test_bad_data_names_its_line_and_leaves_the_previous_file_untouched(
    botkit: Any, gpt_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "train.jsonl"
    out.parent.mkdir()
    out.write_text("previous\n", encoding="utf-8")
    data = write_jsonl(
        tmp_path / "tickets.jsonl",
        [{"text": "a", "label": "billing"}, {"text": "b", "label": "shipping"}, {"text": "c"}],
    )
    result = botkit(
        "finetune", "prepare", "--gpt", "router", "--data", str(data), "--out", str(out)
    )
    assert result.code == 1
    assert f"{data}:3: no expected output field 'label' or 'expected'" in result.err
    assert "Traceback" not in result.err
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert [p.name for p in out.parent.iterdir()] == ["train.jsonl"]  # no temporary file left


def test_wrong_types_and_empty_data_files_are_clear_errors(
    botkit: Any, gpt_file: Path, tmp_path: Path
) -> None:
    wrong = write_jsonl(tmp_path / "wrong.jsonl", [{"text": "a", "label": "x"}, ["a", "b"]])
    result = botkit("finetune", "prepare", "--gpt", "router", "--data", str(wrong))
    assert result.code == 1
    assert f"{wrong}:2: expected an object with fields, got list" in result.err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    result = botkit("finetune", "prepare", "--gpt", "router", "--data", str(empty))
    assert result.code == 1
    assert f"{empty}: the file has no rows" in result.err
    assert not default_training_file(data_dir(), "router").exists()


def test_prepare_with_nothing_to_train_on_is_an_error(
    botkit: Any, config_dir: Path, openai_stub: StubOpenAI
) -> None:
    write_gpt(config_dir, "bare", model=stub_model(openai_stub))
    result = botkit("finetune", "prepare", "--gpt", "bare")
    assert result.code == 1
    assert "nothing to train on" in result.err
    assert not default_training_file(data_dir(), "bare").exists()


# -- validate ----------------------------------------------------------------------------------


def test_a_good_file_passes_with_a_token_and_epoch_estimate(botkit: Any, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", chats(10))
    report = validate_file(path, 1000)
    assert report.ok and not report.warnings
    assert report.examples == 10
    assert report.epochs == 10  # OpenAI's auto epochs: at least 100 examples seen in all
    assert report.training_tokens == report.tokens * 10
    # "Route tickets." (14 chars) + "question N" (10) + "answer N" (8), 3 chars a token, plus
    # 4 tokens a message and 3 a row
    assert report.longest == 5 + 4 + 3 + 3 * 4 + 3
    result = botkit("finetune", "validate", str(path), "--epochs", "2")
    assert result.code == 0, result.err
    assert f"{path}: 10 examples, about 270 tokens" in result.out
    assert "2 epochs: about 540 training tokens" in result.out


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "expected an object with a 'messages' list, got a list"),
        ('{"prompt": "hi"}', "missing field 'messages'"),
        ('{"messages": "hi"}', "'messages' must be a non-empty list, got text"),
        ('{"messages": [{"role": "bot", "content": "hi"}]}', "message 1 has an unknown role 'bot'"),
        ('{"messages": [{"content": "hi"}]}', "message 1 has no 'role'"),
        (
            '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " "}]}',
            "message 2 (assistant) is empty",
        ),
        (
            '{"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "x"}]}',
            "message 1 (user): 'content' must be text, got a number",
        ),
        ('{"messages": [{"role": "user", "content": "hi"}]}', "no assistant message"),
        (
            '{"messages": [{"role": "user"}, {"role": "assistant", "content": "x"}]}',
            "message 1 (user) has no 'content'",
        ),
    ],
)
def test_each_bad_row_is_reported_with_its_line(tmp_path: Path, line: str, problem: str) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", chats(11))
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(6, line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = validate_file(path, 1000)
    (error,) = report.errors
    assert error.startswith(f"{path}:7: {problem}")
    assert report.examples == 11


def test_the_cli_lists_every_problem_with_its_line_and_exits_1(botkit: Any, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    rows = [json.dumps(r) for r in chats(10)]
    path.write_text("\n".join([*rows[:3], "{oops", *rows[3:], '{"messages": []}']) + "\n")
    result = botkit("finetune", "validate", str(path))
    assert result.code == 1
    assert f"{path} has 2 problem(s):" in result.err
    assert f"{path}:4: not valid JSON" in result.err
    assert f"{path}:12: 'messages' must be a non-empty list, got a list" in result.err
    assert "Traceback" not in result.err


def test_fewer_than_ten_examples_and_an_empty_file_are_errors(tmp_path: Path) -> None:
    few = write_jsonl(tmp_path / "few.jsonl", chats(9))
    assert validate_file(few, 1000).errors == [
        f"{few}: only 9 example(s): fine-tuning needs at least 10 "
        "(50 to 100 good ones usually make a clear difference)"
    ]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n", encoding="utf-8")
    (problem,) = validate_file(empty, 1000).errors
    assert problem.startswith(f"{empty}: the file has no examples")


def test_an_overlong_line_is_reported_without_being_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validate, "MAX_LINE_BYTES", 1000)
    rows = chats(11)
    rows[3] = chat("w" * 5000, "x")
    path = write_jsonl(tmp_path / "train.jsonl", rows)
    report = validate_file(path, 100_000)
    assert report.errors == [f"{path}:4: the line is longer than 1,000 bytes"]
    assert report.examples == 10


def test_duplicates_are_found_even_when_written_differently(tmp_path: Path) -> None:
    rows = chats(10)
    path = tmp_path / "train.jsonl"
    lines = [json.dumps(r) for r in rows]
    lines.append(json.dumps(rows[2], indent=None, separators=(",", ":")))  # same row, other spacing
    lines.append(lines[0])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = validate_file(path, 1000)
    assert report.ok
    assert report.warnings == [
        f"{path}:11: the same as line 3",
        f"{path}:12: the same as line 1",
        "2 duplicate row(s): they weigh more in training",
    ]


def test_unbalanced_labels_are_warned_about_and_balanced_ones_are_not(tmp_path: Path) -> None:
    skewed = write_jsonl(
        tmp_path / "skewed.jsonl", chats(24, lambda n: "negative" if n % 8 == 0 else "positive")
    )
    report = validate_file(skewed, 1000)
    assert report.ok
    assert report.labels == {"positive": 21, "negative": 3}
    (warning,) = report.warnings
    assert warning.startswith("unbalanced labels (positive 21, negative 3): 'positive' has 7x")
    balanced = write_jsonl(
        tmp_path / "balanced.jsonl", chats(24, lambda n: "negative" if n % 2 else "positive")
    )
    report = validate_file(balanced, 1000)
    assert report.labels == {"positive": 12, "negative": 12} and not report.warnings
    free_text = write_jsonl(tmp_path / "free.jsonl", chats(24))
    assert validate_file(free_text, 1000).labels is None


def test_an_example_over_the_token_limit_is_an_error(botkit: Any, tmp_path: Path) -> None:
    rows = chats(10)
    rows[4] = chat("x" * 300, "long")
    path = write_jsonl(tmp_path / "train.jsonl", rows)
    result = botkit("finetune", "validate", str(path), "--max-tokens", "60")
    assert result.code == 1
    assert f"{path}:5: about 122 tokens, over the 60-token limit of one example" in result.err
    assert botkit("finetune", "validate", str(path), "--max-tokens", "122").code == 0


def test_token_limits_and_default_epochs() -> None:
    assert token_limit("gpt-4o-mini-2024-07-18") == 65_536
    assert token_limit("ft:gpt-3.5-turbo-0125:acme::abc") == 16_385
    assert token_limit("gpt-4o-mini", context_window=4096) == 4096
    assert token_limit("llama3") == 8192
    assert token_limit("llama3", context_window=32_000) == 32_000
    assert [default_epochs(n) for n in (10, 40, 1000, 20_000)] == [10, 3, 3, 1]


def test_validate_uses_the_gpts_model_for_the_limit(
    botkit: Any, config_dir: Path, openai_stub: StubOpenAI
) -> None:
    write_gpt(config_dir, "small", model=stub_model(openai_stub, context_window=40))
    path = default_training_file(data_dir(), "small")
    path.parent.mkdir(parents=True)
    write_jsonl(path, [*chats(9), chat("y" * 200, "z")])
    result = botkit("finetune", "validate", "--gpt", "small")
    assert result.code == 1
    assert f"{path}:10: about 88 tokens, over the 40-token limit" in result.err


def test_a_large_file_is_streamed_not_loaded_whole(
    botkit: Any, gpt_file: Path, openai_stub: StubOpenAI, tmp_path: Path
) -> None:
    path = tmp_path / "big.jsonl"
    filler = "z" * 2000
    with path.open("w", encoding="utf-8") as handle:
        for n in range(12_000):
            handle.write(json.dumps(chat(f"{n} {filler}", "ok")) + "\n")
    size = path.stat().st_size
    assert size > 24_000_000
    tracemalloc.start()
    try:
        result = botkit("finetune", "start", "--gpt", "router", "--file", str(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.code == 0, result.err
    assert peak < size / 4, f"peak {peak:,} bytes for a {size:,}-byte file"
    (uploaded,) = openai_stub.files.values()
    assert uploaded.bytes == size


# -- start -------------------------------------------------------------------------------------


def prepared(botkit: Any, tmp_path: Path, gpt: str = "router", count: int = 12) -> Path:
    data = labeled(tmp_path / "tickets.jsonl", count)
    assert botkit("finetune", "prepare", "--gpt", gpt, "--data", str(data)).code == 0
    return default_training_file(data_dir(), gpt)


def test_start_uploads_the_data_and_creates_the_job_with_hyperparameters(
    botkit: Any, gpt_file: Path, openai_stub: StubOpenAI, tmp_path: Path
) -> None:
    train = prepared(botkit, tmp_path)
    result = botkit(
        "finetune", "start", "--gpt", "router", "--epochs", "2", "--batch-size", "4",
        "--learning-rate-multiplier", "0.5", "--suffix", "tickets",
    )  # fmt: skip
    assert result.code == 0, result.err
    (uploaded,) = openai_stub.files.values()
    assert uploaded.purpose == "fine-tune"
    assert uploaded.path.read_bytes() == train.read_bytes()
    (job,) = openai_stub.jobs.values()
    assert job.job["model"] == "stub-model"
    assert job.job["training_file"] == uploaded.id
    assert job.job["suffix"] == "tickets"
    assert job.job["hyperparameters"] == {
        "n_epochs": 2,
        "batch_size": 4,
        "learning_rate_multiplier": 0.5,
    }
    assert f"started fine-tuning job {job.job['id']}: stub-model on 13 examples" in result.out
    assert "follow it with: botkit finetune follow --gpt router" in result.out
    record = json.loads((train.parent / "job.json").read_text(encoding="utf-8"))
    assert record["job_id"] == job.job["id"] and record["training_file"] == uploaded.id


def test_start_refuses_bad_data_without_uploading_anything(
    botkit: Any, gpt_file: Path, openai_stub: StubOpenAI, tmp_path: Path
) -> None:
    few = write_jsonl(tmp_path / "few.jsonl", chats(3))
    result = botkit("finetune", "start", "--gpt", "router", "--file", str(few))
    assert result.code == 1
    assert "only 3 example(s)" in result.err
    assert not openai_stub.files and not openai_stub.jobs


def test_start_without_prepared_data_says_to_prepare(botkit: Any, gpt_file: Path) -> None:
    result = botkit("finetune", "start", "--gpt", "router")
    assert result.code == 1
    assert "run `botkit finetune prepare --gpt router`" in result.err


def test_a_gpt_on_the_embedded_model_cannot_be_fine_tuned(
    botkit: Any, config_dir: Path, tmp_path: Path
) -> None:
    write_gpt(config_dir, "tiny", examples=[{"user": "a", "assistant": "b"}])
    prepared(botkit, tmp_path, "tiny")
    result = botkit("finetune", "start", "--gpt", "tiny")
    assert result.code == 1
    assert "runs on local:embedded; fine-tuning needs an OpenAI model" in result.err


def test_a_rejected_job_removes_the_uploaded_file(
    botkit: Any, gpt_file: Path, openai_stub: StubOpenAI, tmp_path: Path
) -> None:
    prepared(botkit, tmp_path)
    refusal = "model stub-model cannot be fine-tuned"
    openai_stub.fault("status", status=400, message=refusal, path="/fine_tuning/jobs")
    result = botkit("finetune", "start", "--gpt", "router")
    assert result.code == 1
    assert "creating the fine-tuning job failed: " in result.err
    assert "answered 400: model stub-model cannot be fine-tuned" in result.err
    assert not openai_stub.files
    assert not (default_training_file(data_dir(), "router").parent / "job.json").exists()


# -- follow, status, cancel, record -----------------------------------------------------------


def started(botkit: Any, tmp_path: Path) -> str:
    prepared(botkit, tmp_path)
    assert botkit("finetune", "start", "--gpt", "router").code == 0
    return json.loads(
        (default_training_file(data_dir(), "router").parent / "job.json").read_text()
    )["job_id"]


def event_messages(output: str) -> list[str]:
    return [line.split("  ", 1)[1] for line in output.splitlines() if line[:2].isdigit()]


def test_follow_shows_every_event_then_the_gpt_uses_the_fine_tuned_model(
    botkit: Any, gpt_file: Path, openai_stub: StubOpenAI, tmp_path: Path, config_dir: Path
) -> None:
    job_id = started(botkit, tmp_path)
    before = gpt_file.read_text(encoding="utf-8")
    result = botkit("finetune", "follow", "--gpt", "router", "--interval", "0")
    assert result.code == 0, result.err
    model = f"ft:stub-model:botkit::{job_id}"
    assert event_messages(result.out) == [
        f"Created fine-tuning job: {job_id}",
        "Validating training file: file-1",
        "Fine-tuning job started",
        "Step 1: training loss=0.5",
        f"New fine-tuned model created: {model}",
        "The job has successfully completed",
    ]
    assert f"GPT 'router' now uses {model} (recorded in {gpt_file})" in result.out
    after = gpt_file.read_text(encoding="utf-8")
    assert after == before.replace("name: stub-model    #", f"name: {model}    #")

    async def ask() -> str:
        bot = Bot.from_config(config_dir, tmp_path / "home")
        try:
            return await bot.reply_text(Message("Refund?", "router"))
        finally:
            await bot.aclose()

    assert asyncio.run(ask()) == "echo: Refund?"
    assert openai_stub.chat_requests[-1].body["model"] == model


def test_follow_resumes_after_the_connection_drops_without_repeating_events(
    botkit: Any, gpt_file: Path, openai_stub: StubOpenAI, tmp_path: Path
) -> None:
    openai_stub.fine_tune_states = ["validating_files", *["running"] * 3, "succeeded"]
    job_id = started(botkit, tmp_path)
    # the connection drops once events have been shown (aiohttp retries a GET on a dropped
    # keep-alive connection once by itself, so each drop the CLI sees takes two)
    openai_stub.fault("drop", times=2, skip=2, path="/events")
    openai_stub.fault("drop", times=4, skip=3, path=f"/jobs/{job_id}")
    result = botkit("finetune", "follow", "--gpt", "router", "--interval", "0.01")
    assert result.code == 0, result.err
    assert "cannot reach the model server" in result.err
    delays = [float(d) for d in re.findall(r"trying again in ([\d.]+) s", result.err)]
    assert len(delays) >= 2
    assert delays == [0.01 * 2**n for n in range(len(delays))]  # the wait doubles
    messages = event_messages(result.out)
    assert messages == [
        f"Created fine-tuning job: {job_id}",
        "Validating training file: file-1",
        "Fine-tuning job started",
        "Step 1: training loss=0.5",
        "Step 2: training loss=0.3333",
        f"New fine-tuned model created: ft:stub-model:botkit::{job_id}",
        "The job has successfully completed",
    ]
    assert load_gpt_file(gpt_file).model.name == f"ft:stub-model:botkit::{job_id}"


def test_follow_gives_up_after_its_retries_and_says_how_to_resume(
    botkit: Any, gpt_file: Path, openai_stub: StubOpenAI, tmp_path: Path
) -> None:
    started(botkit, tmp_path)
    openai_stub.fault("drop", times=10, path="/fine_tuning/jobs/")
    result = botkit("finetune", "follow", "--gpt", "router", "--interval", "0", "--retries", "2")
    assert result.code == 1
    assert result.err.count("trying again in") == 2
    assert "the job goes on: `botkit finetune follow --gpt router` picks it up again" in result.err
    assert load_gpt_file(gpt_file).model.name == "stub-model"


def test_a_failed_job_shows_its_error_and_leaves_the_gpt_alone(
    botkit: Any, gpt_file: Path, openai_stub: StubOpenAI, tmp_path: Path
) -> None:
    openai_stub.fine_tune_states = ["validating_files", "failed"]
    openai_stub.fine_tune_error = {
        "code": "invalid_n_examples",
        "message": "Training file has 13 examples; 10 are needed per class.",
        "param": "training_file",
    }
    job_id = started(botkit, tmp_path)
    before = gpt_file.read_text(encoding="utf-8")
    result = botkit("finetune", "follow", "--gpt", "router", "--interval", "0")
    assert result.code == 1
    assert "[error] Training file has 13 examples" in result.out
    assert (
        f"error: fine-tuning job {job_id} failed: invalid_n_examples: Training file has 13 "
        "examples; 10 are needed per class. (parameter: training_file)"
    ) in result.err
    assert gpt_file.read_text(encoding="utf-8") == before
    status = botkit("finetune", "status", "--gpt", "router")
    assert status.code == 1 and "invalid_n_examples" in status.err


def test_status_shows_the_job_and_records_the_model_once_it_succeeded(
    botkit: Any, gpt_file: Path, openai_stub: StubOpenAI, tmp_path: Path
) -> None:
    openai_stub.fine_tune_states = ["running", "succeeded"]
    job_id = started(botkit, tmp_path)
    first = botkit("finetune", "status", "--gpt", "router")
    assert first.code == 0, first.err
    assert "running" in first.out and "Fine-tuning job started" in first.out
    assert load_gpt_file(gpt_file).model.name == "stub-model"
    second = botkit("finetune", "status", "--gpt", "router", "--json")
    assert second.code == 0, second.err
    shown = json.loads(second.out)
    model = f"ft:stub-model:botkit::{job_id}"
    assert shown["job"]["status"] == "succeeded"
    assert shown["job"]["fine_tuned_model"] == model
    assert shown["events"][-1]["message"] == "The job has successfully completed"
    assert load_gpt_file(gpt_file).model.name == model
    assert f"GPT 'router' now uses {model}" in second.err
    third = botkit("finetune", "status", "--gpt", "router", "--job", job_id, "--events", "0")
    assert f"GPT 'router' uses {model}" in third.out


def test_cancel_stops_the_job(
    botkit: Any, gpt_file: Path, openai_stub: StubOpenAI, tmp_path: Path
) -> None:
    job_id = started(botkit, tmp_path)
    result = botkit("finetune", "cancel", "--gpt", "router")
    assert result.code == 0, result.err
    assert f"job {job_id}: cancelled" in result.out
    again = botkit("finetune", "cancel", "--gpt", "router")
    assert again.code == 1
    assert f"answered 400: job {job_id} has already cancelled" in again.err


def test_status_before_any_job_says_how_to_start_one(botkit: Any, gpt_file: Path) -> None:
    result = botkit("finetune", "status", "--gpt", "router")
    assert result.code == 1
    assert "no fine-tuning job was started for GPT 'router'" in result.err
    unknown = botkit("finetune", "status", "--gpt", "router", "--job", "ftjob-nope")
    assert unknown.code == 1
    assert "reading job ftjob-nope failed" in unknown.err and "answered 404" in unknown.err


@pytest.mark.parametrize(
    ("model", "recorded"),
    [
        ("model: openai:gpt-4o-mini   # cheap\n", "model: openai:ft:gpt-4o-mini:x::j1   # cheap\n"),
        ("model: 'openai:gpt-4o-mini'\n", "model: 'openai:ft:gpt-4o-mini:x::j1'\n"),
        (
            "model: {provider: openai, name: gpt-4o-mini}\n",
            "model: {provider: openai, name: ft:gpt-4o-mini:x::j1}\n",
        ),
        (
            "model:\n    provider: openai  # key in $OPENAI_API_KEY\n    timeout: 30\n",
            "model:\n    name: ft:gpt-4o-mini:x::j1\n    provider: openai  # key in $OPENAI_API_KEY\n"
            "    timeout: 30\n",
        ),
    ],
)
def test_recording_a_model_changes_only_its_name(tmp_path: Path, model: str, recorded: str) -> None:
    head = "# My GPT\r\nname: mine   # keep me\r\n"
    tail = "instructions: |\r\n  Be brief.\r\n  Very brief.\r\n"
    path = tmp_path / "mine.yaml"
    path.write_bytes((head + model.replace("\n", "\r\n") + tail).encode())
    assert record_model(path, "ft:gpt-4o-mini:x::j1") is True
    assert path.read_bytes().decode() == head + recorded.replace("\n", "\r\n") + tail
    assert record_model(path, "ft:gpt-4o-mini:x::j1") is False
    assert [p.name for p in tmp_path.iterdir()] == ["mine.yaml"]


# -- the real command line --------------------------------------------------------------------


def test_the_botkit_command_prepares_starts_and_follows_a_job(
    gpt_file: Path, config_dir: Path, openai_stub: StubOpenAI, tmp_path: Path
) -> None:
    data = labeled(tmp_path / "tickets.jsonl", 12)
    base = ("--config-dir", str(config_dir), "finetune")
    prepare = run_botkit(*base, "prepare", "--gpt", "router", "--data", str(data))
    assert prepare.returncode == 0, prepare.stderr
    validate = run_botkit(*base, "validate", "--gpt", "router")
    assert validate.returncode == 0, validate.stderr
    assert "13 examples" in validate.stdout
    assert "labels: billing 4, shipping 3, technical 3, account 3" in validate.stdout
    start = run_botkit(*base, "start", "--gpt", "router", "--follow", "--interval", "0")
    assert start.returncode == 0, start.stderr
    assert "The job has successfully completed" in start.stdout
    assert "now uses ft:stub-model:botkit::" in start.stdout
