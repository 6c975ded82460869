"""`botkit eval`: metrics, reports, bad data, resumption, failures and the CI threshold gate.

The GPTs under test run on the stub OpenAI server (real HTTP); the command runs in a child
process, as a user would run it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from botkit.evaluation import metrics
from botkit.evaluation.data import DataError, select_examples
from botkit.testing import StubOpenAI
from tests.conftest import REPO, run_botkit, stub_model, write_gpt

LABELS = {"positive": "Happy.", "negative": "Unhappy.", "neutral": "Neither."}
#: The stub's classifier: a word decides the label; "broken" is answered wrongly on purpose.
WORDS = {"love": "positive", "great": "positive", "hate": "negative", "awful": "negative"}

ROWS = [
    ("I love it", "positive"),
    ("great stuff", "positive"),
    ("I hate this", "negative"),
    ("awful service", "negative"),
    ("it is Tuesday", "neutral"),
    ("my order is 42", "neutral"),
    ("love and hate", "negative"),  # the stub says positive: one mistake
]


def _user_text(body: dict[str, Any]) -> str:
    users = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
    return str(users[-1]) if users else ""


def label_responder(body: dict[str, Any]) -> str:
    text = _user_text(body).lower()
    label = next((lab for word, lab in WORDS.items() if word in text), "neutral")
    return json.dumps({"label": label, "confidence": 0.9, "rationale": "a word"})


@pytest.fixture
def config(config_dir: Path, openai_stub: StubOpenAI) -> Path:
    openai_stub.responder = label_responder
    write_gpt(
        config_dir,
        "mood",
        model=stub_model(openai_stub),
        task={"plugin": "classification", "options": {"labels": LABELS}},
    )
    return config_dir


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "reviews.jsonl", [{"text": t, "label": lab} for t, lab in ROWS])


def botkit(config: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return run_botkit(
        "--config-dir", str(config), "--plugins-dir", str(REPO / "plugins"), *args, **kwargs
    )


def evals_dir() -> Path:
    return Path(os.environ["BOTKIT_HOME"]) / "evals"


def runs() -> list[Path]:
    return sorted(p for p in evals_dir().glob("*") if p.is_dir() and p.name != "cache")


def predictions(run: Path) -> list[dict[str, Any]]:
    lines = (run / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_classification_metrics_report_and_stored_predictions(
    config: Path, data: Path, openai_stub: StubOpenAI
) -> None:
    result = botkit(config, "eval", "--gpt", "mood", "--data", str(data), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    m = info["metrics"]
    assert info["kind"] == "classification" and info["count"] == 7 and info["failed"] == 0
    assert m["accuracy"] == pytest.approx(6 / 7)
    # positive: predicted 3 times, 2 right; negative: 2 of its 3 found
    assert m["per_label"]["positive"]["precision"] == pytest.approx(2 / 3)
    assert m["per_label"]["negative"]["recall"] == pytest.approx(2 / 3)
    assert m["per_label"]["neutral"]["f1"] == 1.0
    assert m["micro_f1"] == pytest.approx(6 / 7)
    assert m["confusion"] == {
        "labels": ["positive", "negative", "neutral"],
        "matrix": [[2, 0, 0], [1, 2, 0], [0, 0, 2]],
    }
    (run,) = runs()
    assert len(predictions(run)) == 7
    report = (run / "report.html").read_text(encoding="utf-8")
    assert report.count("data:image/png;base64,") == 2  # the confusion matrix and the label bars
    assert "love and hate" in report  # the mistake is listed
    assert json.loads((run / "run.json").read_text())["status"] == "done"

    table = botkit(config, "eval", "--gpt", "mood", "--data", str(data))
    assert "accuracy" in table.stdout and "confusion matrix" in table.stdout
    assert "macro F1" in table.stdout and "0.857" in table.stdout


def test_show_errors_lists_the_mistakes_and_html_copy(
    config: Path, data: Path, tmp_path: Path
) -> None:
    html = tmp_path / "out" / "report.html"
    result = botkit(config, "eval", "--gpt", "mood", "--data", str(data), "--html", str(html))
    assert result.returncode == 0, result.stderr
    assert html.read_text(encoding="utf-8").startswith("<!doctype html>")
    shown = botkit(config, "eval", "show", "mood", "--errors")
    assert shown.returncode == 0, shown.stderr
    assert "love and hate" in shown.stdout and "I love it" not in shown.stdout
    listed = botkit(config, "eval", "list", "--json")
    assert [r["gpt"] for r in json.loads(listed.stdout)] == ["mood"]


def test_second_run_uses_the_cache_and_no_cache_forces(
    config: Path, data: Path, openai_stub: StubOpenAI
) -> None:
    botkit(config, "eval", "--gpt", "mood", "--data", str(data))
    assert len(openai_stub.chat_requests) == 7
    again = json.loads(
        botkit(config, "eval", "--gpt", "mood", "--data", str(data), "--json").stdout
    )
    assert again["cached"] == 7 and len(openai_stub.chat_requests) == 7
    forced = botkit(config, "eval", "--gpt", "mood", "--data", str(data), "--no-cache", "--json")
    assert json.loads(forced.stdout)["cached"] == 0 and len(openai_stub.chat_requests) == 14


def test_a_changed_gpt_is_not_served_from_the_cache(
    config: Path, data: Path, openai_stub: StubOpenAI
) -> None:
    botkit(config, "eval", "--gpt", "mood", "--data", str(data))
    write_gpt(
        config,
        "mood",
        model=stub_model(openai_stub),
        instructions="Be careful.",
        task={"plugin": "classification", "options": {"labels": LABELS}},
    )
    info = json.loads(botkit(config, "eval", "--gpt", "mood", "--data", str(data), "--json").stdout)
    assert info["cached"] == 0 and len(openai_stub.chat_requests) == 14


def test_a_failing_example_is_stored_with_its_error_and_the_run_goes_on(
    config: Path, data: Path, openai_stub: StubOpenAI
) -> None:
    openai_stub.fault("status", status=400, message="this one is poisoned", skip=2)
    result = botkit(
        config, "eval", "--gpt", "mood", "--data", str(data), "--concurrency", "1", "--json"
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["count"] == 7 and info["failed"] == 1
    assert info["metrics"]["confusion"]["labels"][-1] == metrics.FAILED
    (run,) = runs()
    failed = [r for r in predictions(run) if r["error"]]
    assert len(failed) == 1 and failed[0]["line"] == 3
    assert "this one is poisoned" in failed[0]["error"]
    shown = botkit(config, "eval", "show", run.name, "--errors", "--json")
    assert any("poisoned" in (r["error"] or "") for r in json.loads(shown.stdout)["examples"])
    # the failure is not cached: the next run asks again for that example only
    again = json.loads(
        botkit(config, "eval", "--gpt", "mood", "--data", str(data), "--json").stdout
    )
    assert again["failed"] == 0 and again["cached"] == 6


def test_an_interrupted_run_resumes_where_it_stopped(
    config: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    rows = [{"text": f"I love item {n}", "label": "positive"} for n in range(12)]
    data = write_jsonl(tmp_path / "many.jsonl", rows)
    openai_stub.latency = 0.3
    args = ["--config-dir", str(config), "--plugins-dir", str(REPO / "plugins")]
    child = subprocess.Popen(
        [sys.executable, "-m", "botkit", *args, "eval", "--gpt", "mood", "--data", str(data),
         "--concurrency", "1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = [p for p in evals_dir().glob("*/predictions.jsonl") if p.stat().st_size]
        if done and len(done[0].read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=30)
    assert child.returncode != 0
    assert "resume" in err
    (run,) = runs()
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "interrupted"
    kept = len(predictions(run))
    assert 3 <= kept < 12
    asked = len(openai_stub.chat_requests)
    openai_stub.latency = 0
    result = botkit(config, "eval", "--gpt", "mood", "--data", str(data), "--json")
    info = json.loads(result.stdout)
    assert info["count"] == 12 and info["cached"] >= kept
    assert len(openai_stub.chat_requests) - asked == 12 - info["cached"]


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ([{"text": "a", "label": "positive"}, {"text": "b"}], "reviews.jsonl:2: no expected output"),
        ([{"text": "a", "label": "positive"}, {"text": "b", "label": "angry"}],
         "reviews.jsonl:2: label 'angry' is not one of the labels of GPT 'mood'"),
        ([{"text": 3, "label": "positive"}], "reviews.jsonl:1: the input must be non-empty text"),
        ([{"text": "a", "label": {"x": 1}}], "reviews.jsonl:1: the expected output must be text"),
        ([], "reviews.jsonl: the file has no rows"),
    ],
)  # fmt: skip
def test_bad_data_is_one_clear_line_and_leaves_no_run(
    config: Path, tmp_path: Path, rows: list[dict[str, Any]], problem: str
) -> None:
    data = write_jsonl(tmp_path / "reviews.jsonl", rows)
    result = botkit(config, "eval", "--gpt", "mood", "--data", str(data))
    assert result.returncode == 1
    assert problem in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert runs() == []


def test_a_bad_row_at_the_end_of_a_big_file_stops_before_any_work(
    config: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    data = tmp_path / "big.jsonl"
    with data.open("w", encoding="utf-8") as handle:
        for n in range(50_000):
            handle.write(json.dumps({"text": f"row {n}", "label": "neutral"}) + "\n")
        handle.write("{not json\n")
    result = botkit(config, "eval", "--gpt", "mood", "--data", str(data))
    assert result.returncode == 1
    assert "big.jsonl:50001: not valid JSON" in result.stderr
    assert runs() == [] and openai_stub.chat_requests == []


def test_csv_with_named_fields_limit_and_seeded_sample(config: Path, tmp_path: Path) -> None:
    data = tmp_path / "reviews.csv"
    data.write_text(
        "review,gold\n" + "".join(f'"{t}",{lab}\n' for t, lab in ROWS), encoding="utf-8"
    )
    common = ["eval", "--gpt", "mood", "--data", str(data), "--input-field", "review"]
    result = botkit(config, *common, "--expected-field", "gold", "--limit", "3", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["count"] == 3
    first = select_examples(data, "review", "gold", limit=3, seed=7)
    again = select_examples(data, "review", "gold", limit=3, seed=7)
    other = select_examples(data, "review", "gold", limit=3, seed=8)
    assert first.lines == again.lines and first.count == 3 and first.total == 7
    assert [e.line for e in first.examples()] == sorted(first.lines or ())
    assert first.lines != other.lines
    missing = botkit(config, *common, "--json")
    assert missing.returncode == 1 and "reviews.csv:2: no expected output field" in missing.stderr


def test_evals_section_is_a_regression_gate(
    config: Path, data: Path, openai_stub: StubOpenAI
) -> None:
    spec = {"plugin": "classification", "options": {"labels": LABELS}}
    model = stub_model(openai_stub)
    evals = [{"data": str(data), "thresholds": {"accuracy": 0.8, "neutral.f1": 0.9}}]
    write_gpt(config, "mood", model=model, task=spec, evals=evals)
    passed = botkit(config, "eval", "--all")
    assert passed.returncode == 0, passed.stderr
    assert "all 1 evaluation(s) passed" in passed.stderr

    evals[0]["thresholds"] = {"accuracy": 0.95, "macro_f1": 0.5}
    write_gpt(config, "mood", model=model, task=spec, evals=evals)
    failed = botkit(config, "eval", "--all")
    assert failed.returncode == 1
    assert "FAILED mood" in failed.stderr and "accuracy 0.8571 (minimum 0.95)" in failed.stderr
    assert "macro_f1" not in failed.stderr  # it passed


def test_evals_data_path_relative_to_the_gpt_file_and_unknown_metric(
    config: Path, openai_stub: StubOpenAI
) -> None:
    write_jsonl(config / "gpts" / "mood.jsonl", [{"text": "I love it", "label": "positive"}])
    write_gpt(
        config,
        "mood",
        model=stub_model(openai_stub),
        task={"plugin": "classification", "options": {"labels": LABELS}},
        evals=[{"data": "./mood.jsonl", "thresholds": {"bleu": 10}}],
    )
    result = botkit(config, "eval", "--gpt", "mood")
    assert result.returncode == 1
    assert "bleu: no such metric in this run" in result.stderr


def test_evals_section_errors_are_located(config: Path) -> None:
    path = write_gpt(config, "mood", evals=[{"data": "x.jsonl", "thresholds": {"accuracy": "hi"}}])
    result = run_botkit("validate", str(path))
    assert result.returncode == 1
    assert "evals[0].thresholds.accuracy" in result.stdout
    assert f"{path}:" in result.stdout


def test_compare_shows_deltas_per_metric_and_label(
    config: Path, data: Path, openai_stub: StubOpenAI
) -> None:
    botkit(config, "eval", "--gpt", "mood", "--data", str(data))
    openai_stub.responder = lambda body: json.dumps({"label": "neutral", "confidence": 1})
    botkit(config, "eval", "--gpt", "mood", "--data", str(data), "--no-cache")
    a, b = (r.name for r in runs())
    result = botkit(config, "eval", "compare", a, b, "--json")
    assert result.returncode == 0, result.stderr
    deltas = json.loads(result.stdout)
    accuracy = next(r for r in deltas["metrics"] if r["metric"] == "accuracy")
    assert accuracy["delta"] == pytest.approx(2 / 7 - 6 / 7)
    neutral = next(r for r in deltas["labels"] if r["label"] == "neutral")
    assert neutral["recall"] == {"a": 1.0, "b": 1.0, "delta": 0.0}
    table = botkit(config, "eval", "compare", a, b)
    assert "-0.5714" in table.stdout and "per label" in table.stdout
    unknown = botkit(config, "eval", "compare", a, "nope")
    assert unknown.returncode == 1 and "no evaluation run 'nope'" in unknown.stderr


def test_free_chat_with_a_model_graded_rubric(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    def responder(body: dict[str, Any]) -> str:
        text = _user_text(body)
        return "4" if text.startswith("Rubric:") else f"The answer is {text}"

    openai_stub.responder = responder
    write_gpt(config_dir, "chat", model=stub_model(openai_stub))
    write_gpt(config_dir, "judge", model=stub_model(openai_stub))
    data = write_jsonl(
        tmp_path / "qa.jsonl",
        [{"input": "Paris", "expected": ["paris", "The answer is Paris."]},
         {"input": "blue", "expected": "blue sky"}],
    )  # fmt: skip
    args = ["eval", "--gpt", "chat", "--data", str(data), "--rubric", "Is it right?"]
    result = run_botkit("--config-dir", str(config_dir), *args, "--grader", "judge")
    assert result.returncode == 0, result.stderr
    assert "rubric (model-graded, 1-5)" in result.stdout
    info = json.loads(run_botkit("eval", "show", "last", "--json").stdout)
    assert info["metrics"] == {
        "exact_match": 0.5,
        "f1": pytest.approx((1 + 0.4) / 2),
        "rubric": 4.0,
    }
    alone = run_botkit("--config-dir", str(config_dir), *args)
    assert alone.returncode == 2 and "--rubric and --grader go together" in alone.stderr


def test_usage_errors(config: Path) -> None:
    neither = botkit(config, "eval")
    assert neither.returncode == 2 and "--gpt NAME" in neither.stderr
    none = botkit(config, "eval", "--all")
    assert none.returncode == 1 and "has an evals: section" in none.stderr
    unknown = botkit(config, "eval", "--gpt", "nobody", "--data", "x.jsonl")
    assert unknown.returncode == 1 and "no GPT named 'nobody'" in unknown.stderr
    assert "no evaluation runs yet" in botkit(config, "eval", "show", "last").stderr


def test_squad_normalisation_and_token_f1() -> None:
    assert metrics.normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert metrics.exact_match("an apple.", ["Apple"]) == 1.0
    assert metrics.token_f1("in the red house", ["red", "a red house"]) == pytest.approx(0.8)
    assert metrics.token_f1("", ["x"]) == 0.0


def test_translation_metrics() -> None:
    same = metrics.translation(["le chat est noir"], [["le chat est noir"]], "French")
    assert same == {"bleu": 100.0, "chrf": 100.0}
    worse = metrics.translation(["un chien blanc"], [["le chat est noir"]], "French")
    assert worse["bleu"] < 10 and worse["chrf"] < 40
    hypothesis, reference = "我们明天早上去北京", "我们明天上午去北京"
    chinese = metrics.translation([hypothesis], [[reference]], "Chinese")
    unsplit = metrics.translation([hypothesis], [[reference]], "French")
    assert unsplit["bleu"] == 0.0 < chinese["bleu"] < 100  # scored by character, not as one word


def test_multi_label_classification() -> None:
    result = metrics.classification([["a", "b"], "a", ["b"]], [["a", "b"], "b", "b"], ["a", "b"])
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["per_label"]["a"] == {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2}
    assert "confusion" not in result


def test_data_error_names_file_and_line(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": "x"}, ["no"]])
    with pytest.raises(DataError, match=r"d\.jsonl:2: expected an object"):
        select_examples(data)


def test_an_unreachable_model_stops_the_run_and_leaves_nothing(
    config_dir: Path, data: Path
) -> None:
    model = {
        "provider": "openai",
        "name": "m",
        "base_url": "http://127.0.0.1:9/v1",
        "max_retries": 0,
    }
    write_gpt(config_dir, "gone", model=model)
    result = run_botkit(
        "--config-dir", str(config_dir), "eval", "--gpt", "gone", "--data", str(data)
    )
    assert result.returncode == 1
    assert "cannot reach the model server at http://127.0.0.1:9/v1" in result.stderr
    assert "Traceback" not in result.stderr and runs() == []


def test_a_file_that_is_not_utf8_is_one_located_error(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("text,label\nfine,positive\ncaf\xe9 cr\xe8me,negative\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"excel.csv:\d+: not UTF-8 text"):
        select_examples(path)


def test_retrieval_recall_at_k_when_rows_name_their_source(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text("# Refunds\n\nRefunds are paid within five business days.\n")
    (docs / "shipping.md").write_text("# Shipping\n\nWe ship parcels to forty countries.\n")
    (docs / "pricing.md").write_text("# Pricing\n\nThe team plan costs ten dollars a seat.\n")
    knowledge = {"sources": ["docs/*.md"], "top_k": 1, "search": "bm25", "min_score": 0}
    write_gpt(config_dir, "helpdesk", model=stub_model(openai_stub), knowledge=knowledge)
    data = write_jsonl(
        tmp_path / "questions.jsonl",
        [
            {
                "text": "How many days until refunds are paid?",
                "expected": "five",
                "source": "refunds.md",
            },
            {
                "text": "Which countries do you ship parcels to?",
                "expected": "forty",
                "source": "docs/shipping.md",
            },
            {"text": "What does the team plan cost?", "expected": "ten", "source": "refunds.md"},
        ],
    )
    result = botkit(config_dir, "eval", "--gpt", "helpdesk", "--data", str(data), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["metrics"]["recall_at_k"] == pytest.approx(2 / 3, abs=1e-3)
