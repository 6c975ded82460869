"""`botkit finetune local`: a classifier head trained on a GPT's labeled data, then used by it.

Before training, the GPT answers through its model (the stub, which always says "billing"); after,
through the head, without calling the model; `botkit eval compare` shows the gain.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from botkit.testing import StubOpenAI
from tests.conftest import REPO, run_botkit, stub_model, write_gpt

TOPICS = {
    "billing": ["charged twice", "invoice", "refund", "payment failed", "credit card declined"],
    "shipping": ["parcel", "delivery", "tracking number", "package is late", "courier"],
    "technical": ["app crashes", "error message", "sync is stuck", "page will not load", "bug"],
}
FRAMES = ["Help: {}.", "I have a problem with the {}", "{} again, please fix", "Question about {}"]


def rows(frames: list[str]) -> list[dict[str, str]]:
    return [
        {"text": frame.format(phrase), "label": label}
        for label, phrases in TOPICS.items()
        for phrase in phrases
        for frame in frames
    ]


def write_jsonl(path: Path, items: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


def botkit(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_botkit("--config-dir", str(config), "--plugins-dir", str(REPO / "plugins"), *args)


def test_a_trained_head_replaces_the_model_and_eval_compare_shows_the_gain(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    openai_stub.responder = lambda body: json.dumps(
        {"label": "billing", "confidence": 0.5, "rationale": "always"}
    )
    labels = {"billing": "Money", "shipping": "Parcels", "technical": "Bugs"}
    options = {"labels": labels}
    write_gpt(
        config_dir,
        "tickets",
        model=stub_model(openai_stub),
        task={"plugin": "classification", "options": options},
    )
    train = write_jsonl(tmp_path / "train.jsonl", rows(FRAMES[:3]))
    held_out = write_jsonl(tmp_path / "test.jsonl", rows(FRAMES[3:]))

    before = botkit(config_dir, "eval", "--gpt", "tickets", "--data", str(held_out), "--json")
    assert before.returncode == 0, before.stderr
    calls = len(openai_stub.chat_requests)
    assert calls == 15

    trained = botkit(config_dir, "finetune", "local", "--gpt", "tickets", "--data", str(train))
    assert trained.returncode == 0, trained.stderr
    assert "trained tickets's head on 45 examples of 3 labels" in trained.stdout
    folder = Path(os.environ["BOTKIT_HOME"]) / "heads" / "tickets"
    assert sorted(p.name for p in folder.iterdir()) == ["head.joblib", "head.json"]

    after = botkit(config_dir, "eval", "--gpt", "tickets", "--data", str(held_out), "--json")
    assert after.returncode == 0, after.stderr
    assert len(openai_stub.chat_requests) == calls  # the head answered: not the model, not a cache
    accuracy = [json.loads(r.stdout)["metrics"]["accuracy"] for r in (before, after)]
    assert accuracy[0] == 1 / 3 and accuracy[1] >= 0.9

    listed = botkit(config_dir, "eval", "list", "--json")
    first, second = [run["id"] for run in json.loads(listed.stdout)][:2]
    compare = botkit(config_dir, "eval", "compare", first, second, "--json")
    delta = next(m for m in json.loads(compare.stdout)["metrics"] if m["metric"] == "accuracy")
    assert abs(delta["delta"]) >= 0.5

    removed = botkit(config_dir, "finetune", "local", "--gpt", "tickets", "--remove")
    assert removed.stdout.strip() == "removed the trained head of tickets" and not folder.exists()


def test_training_data_problems_name_the_line_and_leave_no_head(
    config_dir: Path, tmp_path: Path, openai_stub: StubOpenAI
) -> None:
    options = {"labels": {"billing": "Money", "shipping": "Parcels"}}
    write_gpt(
        config_dir,
        "tickets",
        model=stub_model(openai_stub),
        task={"plugin": "classification", "options": options},
    )
    items = [*rows(FRAMES)[:8], {"text": "the app crashes", "label": "technical"}]
    data = write_jsonl(tmp_path / "train.jsonl", items)
    result = botkit(config_dir, "finetune", "local", "--gpt", "tickets", "--data", str(data))
    assert result.returncode == 1
    assert f"{data}:9: label 'technical' is not one of the labels of GPT 'tickets'" in result.stderr
    assert not (Path(os.environ["BOTKIT_HOME"]) / "heads").exists()
    write_gpt(config_dir, "chat", model=stub_model(openai_stub))
    other = botkit(config_dir, "finetune", "local", "--gpt", "chat", "--data", str(data))
    assert other.returncode == 1 and "is not a classification or sentiment GPT" in other.stderr
