"""Two runs side by side: each metric and each label's precision, recall and F1, with deltas."""

from __future__ import annotations

from typing import Any

from botkit.evaluation.metrics import headline

LABEL_METRICS = ("precision", "recall", "f1")


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(b - a, 6)


def compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Deltas from run ``before`` to run ``after`` (each a run.json), for every metric either has."""
    ma, mb = before.get("metrics") or {}, after.get("metrics") or {}
    ha, hb = headline(ma), headline(mb)
    metric_rows = [
        {
            "metric": name,
            "a": ha.get(name),
            "b": hb.get(name),
            "delta": _delta(ha.get(name), hb.get(name)),
        }
        for name in [*ha, *(n for n in hb if n not in ha)]
    ]
    la, lb = ma.get("per_label") or {}, mb.get("per_label") or {}
    label_rows = []
    for label in [*la, *(n for n in lb if n not in la)]:
        row: dict[str, Any] = {"label": label}
        for name in LABEL_METRICS:
            a = la.get(label, {}).get(name)
            b = lb.get(label, {}).get(name)
            row[name] = {"a": a, "b": b, "delta": _delta(a, b)}
        label_rows.append(row)
    return {
        "a": {k: before.get(k) for k in ("id", "gpt", "version", "data", "count")},
        "b": {k: after.get(k) for k in ("id", "gpt", "version", "data", "count")},
        "metrics": metric_rows,
        "labels": label_rows,
    }
