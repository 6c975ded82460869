"""From stored predictions to scores: one example at a time (``judge``), a whole run
(``summarize``), and the thresholds of a GPT's ``evals:`` section (``check``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from botkit.evaluation import metrics
from botkit.evaluation.metrics import FAILED, Kind


def judge(kind: Kind, expected: str | list[str], prediction: Any) -> tuple[bool | None, float]:
    """Whether one prediction is right (None when there is no single right answer) and its score:
    1/0 for classification, token F1 for QA and chat, sentence chrF for translation."""
    answers = expected if isinstance(expected, list) else [expected]
    if kind == "classification":
        if isinstance(expected, list):
            got = prediction if isinstance(prediction, list) else [prediction]
            right = set(got) == set(expected)
        else:
            right = prediction == expected
        return right, float(right)
    text = str(prediction or "")
    if kind == "translation":
        return None, metrics.sentence_chrf(text, answers)
    return bool(metrics.exact_match(text, answers)), round(metrics.token_f1(text, answers), 4)


def summarize(
    kind: Kind, records: Iterable[dict[str, Any]], labels: list[str], target: str = ""
) -> dict[str, Any]:
    """The run's metrics from its prediction records (failed examples count as wrong)."""
    expected: list[Any] = []
    predicted: list[Any] = []
    grades: list[float] = []
    hits: list[float] = []
    for record in records:
        expected.append(record["expected"])
        failed = record.get("error") is not None
        if kind == "classification":
            predicted.append(FAILED if failed else record["prediction"])
        else:
            predicted.append("" if failed else str(record["prediction"] or ""))
        details = record.get("details") or {}
        if isinstance(details.get("rubric"), (int, float)):
            grades.append(float(details["rubric"]))
        if isinstance(details.get("retrieval_hit"), bool):
            hits.append(float(details["retrieval_hit"]))
    if not expected:
        return {}
    answers = [e if isinstance(e, list) else [e] for e in expected]
    result: dict[str, Any]
    if kind == "classification":
        result = metrics.classification(expected, predicted, labels)
    elif kind == "translation":
        result = metrics.translation(predicted, answers, target)
    else:
        result = {k: round(v, 4) for k, v in metrics.text(predicted, answers).items()}
    if hits:
        result["recall_at_k"] = round(sum(hits) / len(hits), 4)
    if grades:
        result["rubric"] = round(sum(grades) / len(grades), 3)
    return result


@dataclass(frozen=True)
class ThresholdResult:
    metric: str
    minimum: float
    actual: float | None  # None: the run has no such metric

    @property
    def passed(self) -> bool:
        return self.actual is not None and self.actual >= self.minimum

    def __str__(self) -> str:
        if self.actual is None:
            return f"{self.metric}: no such metric in this run (minimum {self.minimum:g})"
        verdict = "ok" if self.passed else "FAILED"
        return f"{self.metric} {self.actual:.4g} (minimum {self.minimum:g}): {verdict}"


def check(metric_values: dict[str, Any], thresholds: dict[str, float]) -> list[ThresholdResult]:
    values = metrics.flat(metric_values)
    return [ThresholdResult(name, low, values.get(name)) for name, low in thresholds.items()]
