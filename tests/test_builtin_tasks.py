"""The built-in task plugins in plugins/, through the real CLI and the real WordLlama embedder."""

from __future__ import annotations

from .conftest import run_botkit


def test_sentiment_gpt_and_command() -> None:
    result = run_botkit(
        "console", "--gpt", "sentiment",
        input="This update broke my workflow and support never answered.\nI love the new dashboard!\n",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    labels = [line.split(" (")[0] for line in result.stdout.splitlines()]
    assert labels == ["negative", "positive"]
    command = run_botkit(
        "console", "--gpt", "assistant", input="sentiment The meeting is on Monday.\n"
    )
    assert command.stdout.startswith("neutral (")


def test_the_classifier_answers_only_with_its_labels() -> None:
    tickets = ["My card was charged twice", "The app freezes on start", "Where is my package?"]
    tickets.append("I forgot my password")
    result = run_botkit("console", "--gpt", "classifier", input="\n".join(tickets) + "\n")
    assert result.returncode == 0, result.stderr
    labels = [line.split(" (")[0] for line in result.stdout.splitlines()]
    assert labels == ["billing", "technical", "shipping", "account"]


def test_classify_needs_a_gpt_with_labels() -> None:
    result = run_botkit(
        "console", "--gpt", "assistant", input="classify my card was charged twice\n"
    )
    assert result.returncode == 1
    assert "error: classification needs options GPT 'assistant' does not give" in result.stderr


def test_the_built_ins_are_listed_as_plugins() -> None:
    result = run_botkit("plugins")
    assert "classification" in result.stdout and "sentiment" in result.stdout
