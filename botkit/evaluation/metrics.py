"""Scores by task kind: classification (scikit-learn), translation (sacrebleu), QA and free text.

Scales: accuracy, precision, recall, F1, exact match and recall@k run from 0 to 1; BLEU and chrF
from 0 to 100 (as sacrebleu reports them); the model-graded rubric from 1 to 5.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

Kind = Literal["classification", "translation", "qa", "chat"]

#: What a failed example predicted, in confusion matrices.
FAILED = "(failed)"

#: How each headline metric is shown; the rubric is always labelled as model-graded.
TITLES = {
    "accuracy": "accuracy",
    "macro_f1": "macro F1",
    "micro_f1": "micro F1",
    "bleu": "BLEU",
    "chrf": "chrF",
    "exact_match": "exact match",
    "f1": "token F1",
    "recall_at_k": "retrieval recall@k",
    "rubric": "rubric (model-graded, 1-5)",
}

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    norm = normalize_answer(prediction)
    return max(float(norm == normalize_answer(a)) for a in answers)


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """SQuAD token F1 against the best of several acceptable answers."""
    return max(
        _f1(normalize_answer(prediction).split(), normalize_answer(a).split()) for a in answers
    )


def _f1(pred: list[str], gold: list[str]) -> float:
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def classification(
    expected: list[str | list[str]], predicted: list[str | list[str]], labels: list[str]
) -> dict[str, Any]:
    """Accuracy, macro and micro F1, per-label P/R/F1 and support, and the confusion matrix.

    Rows whose expected value is a list are scored as multi-label (exact-set accuracy, no matrix).
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    seen = {x for row in (*expected, *predicted) for x in _as_list(row)}
    names = [*labels, *sorted(seen - set(labels) - {FAILED})]
    multi = any(isinstance(row, list) for row in (*expected, *predicted))
    if multi:
        from sklearn.preprocessing import MultiLabelBinarizer

        binarizer = MultiLabelBinarizer(classes=[*names, FAILED])
        y_true: Any = binarizer.fit_transform([_as_list(r) for r in expected])[:, :-1]
        y_pred: Any = binarizer.transform([_as_list(r) for r in predicted])[:, :-1]
        keys: Any = list(range(len(names)))
    else:
        y_true, y_pred, keys = [str(r) for r in expected], [str(r) for r in predicted], names
    per = precision_recall_fscore_support(y_true, y_pred, labels=keys, zero_division=0)
    result: dict[str, Any] = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": _average(y_true, y_pred, keys, "macro"),
        "micro_f1": _average(y_true, y_pred, keys, "micro"),
        "per_label": {
            name: {
                "precision": float(per[0][i]),
                "recall": float(per[1][i]),
                "f1": float(per[2][i]),
                "support": int(per[3][i]),
            }
            for i, name in enumerate(names)
        },
    }
    if not multi:
        columns = [*names, FAILED] if FAILED in y_pred else names
        matrix = confusion_matrix(y_true, y_pred, labels=columns)
        result["confusion"] = {
            "labels": columns,
            "matrix": [[int(v) for v in row] for row in matrix[: len(names)]],
        }
    return result


def _average(y_true: Any, y_pred: Any, keys: Any, how: str) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, labels=keys, average=how, zero_division=0))


def _as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def translation(hypotheses: list[str], references: list[list[str]], target: str) -> dict[str, Any]:
    """Corpus BLEU and chrF; Chinese targets use sacrebleu's Chinese tokenizer."""
    import sacrebleu

    tokenize = "zh" if target.strip().lower() in ("zh", "chinese") else "13a"
    width = max(len(r) for r in references)
    # sacrebleu wants one stream per reference position; missing references are left empty
    streams = [[r[i] if i < len(r) else "" for r in references] for i in range(width)]
    bleu = sacrebleu.corpus_bleu(hypotheses, streams, tokenize=tokenize)
    chrf = sacrebleu.corpus_chrf(hypotheses, streams)
    return {"bleu": round(float(bleu.score), 2), "chrf": round(float(chrf.score), 2)}


def sentence_chrf(hypothesis: str, references: list[str]) -> float:
    import sacrebleu

    return round(float(sacrebleu.sentence_chrf(hypothesis, references).score), 2)


def text(predictions: list[str], answers: list[list[str]]) -> dict[str, Any]:
    """Exact match and token F1 (SQuAD-style), averaged over the examples."""
    count = len(predictions) or 1
    return {
        "exact_match": sum(exact_match(p, a) for p, a in zip(predictions, answers, strict=True))
        / count,
        "f1": sum(token_f1(p, a) for p, a in zip(predictions, answers, strict=True)) / count,
    }


def source_found(gold: Sequence[str], sources: Sequence[str]) -> bool:
    """Whether a retrieved source is one of the gold ones (a gold path may be a path suffix)."""
    return any(s == g or s.endswith("/" + g.lstrip("/")) for g in gold for s in sources)


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The scalar metrics, in report order."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}


def flat(metrics: dict[str, Any]) -> dict[str, float]:
    """Every metric a threshold may name: headline ones, and ``LABEL.f1`` style per-label ones."""
    out = headline(metrics)
    for label, scores in (metrics.get("per_label") or {}).items():
        for name in ("precision", "recall", "f1"):
            out[f"{label}.{name}"] = float(scores[name])
    return out
