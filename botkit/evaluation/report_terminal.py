"""Runs as rich tables in the terminal: metrics, per label, confusion matrix, mistakes, deltas."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from botkit.evaluation.metrics import TITLES, headline

out = Console(highlight=False)


def show_summary(info: dict[str, Any]) -> None:
    metrics: dict[str, Any] = info.get("metrics") or {}
    out.print(
        Text(
            f"{info.get('id')}: GPT {info.get('gpt')} ({info.get('kind')}) on {info.get('data')}: "
            f"{info.get('count', 0)} examples, {info.get('failed', 0)} failed, "
            f"{info.get('cached', 0)} from cache [{info.get('status')}]"
        )
    )
    thresholds: dict[str, float] = info.get("thresholds") or {}
    table = Table("metric", "value", "threshold", title="metrics")
    for name, value in headline(metrics).items():
        table.add_row(
            TITLES.get(name, name), f"{value:.4g}", _threshold(value, thresholds.get(name))
        )
    out.print(table)
    per_label: dict[str, dict[str, float]] = metrics.get("per_label") or {}
    if per_label:
        labels = Table("label", "precision", "recall", "F1", "support", title="per label")
        for label, s in per_label.items():
            labels.add_row(
                label, *(f"{s[k]:.3f}" for k in ("precision", "recall", "f1")), str(s["support"])
            )
        out.print(labels)
    confusion = metrics.get("confusion")
    if confusion:
        matrix = Table("expected \\ predicted", *confusion["labels"], title="confusion matrix")
        for label, row in zip(confusion["labels"], confusion["matrix"], strict=False):
            matrix.add_row(label, *(str(v) if v else "·" for v in row))
        out.print(matrix)
    checks = [c for c in info.get("checks") or [] if c["actual"] is None or not c["passed"]]
    for check in checks:
        out.print(Text(f"threshold failed: {check['text']}", style="red"))


def _threshold(value: float, low: float | None) -> Text:
    if low is None:
        return Text("")
    return Text(f"≥ {low:g}", style="green") if value >= low else Text(f"< {low:g}", style="red")


def show_records(records: Iterable[dict[str, Any]], title: str) -> int:
    table = Table("line", "input", "expected", "prediction / error", title=title)
    shown = 0
    for record in records:
        answer = record.get("error") or _short(record.get("prediction"))
        style = "red" if record.get("error") else ""
        table.add_row(
            str(record.get("line")),
            _short(record.get("input"), 80),
            _short(record.get("expected"), 40),
            Text(str(answer), style=style),
        )
        shown += 1
    if shown:
        out.print(table)
    return shown


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, list):
        value = " | ".join(map(str, value))
    text = " ".join(str(value if value is not None else "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show_runs(runs: Iterable[dict[str, Any]]) -> None:
    run = Column("run", no_wrap=True)
    table = Table(run, "gpt", "kind", "examples", "failed", "headline", "status", "started")
    for info in runs:
        metrics = headline(info.get("metrics") or {})
        first = next(iter(metrics.items()), None)
        table.add_row(
            str(info.get("id")),
            str(info.get("gpt")),
            str(info.get("kind")),
            str(info.get("count", 0)),
            str(info.get("failed", 0)),
            f"{TITLES.get(first[0], first[0])} {first[1]:.4g}" if first else "",
            str(info.get("status")),
            str(info.get("started", ""))[:19],
        )
    out.print(table)


def show_comparison(result: dict[str, Any]) -> None:
    a, b = result["a"]["id"], result["b"]["id"]
    table = Table("metric", f"A {a}", f"B {b}", "delta", title="A -> B")
    for row in result["metrics"]:
        table.add_row(
            TITLES.get(row["metric"], row["metric"]),
            _num(row["a"]),
            _num(row["b"]),
            _delta(row["delta"]),
        )
    out.print(table)
    if result["labels"]:
        labels = Table("label", "precision A -> B", "recall A -> B", "F1 A -> B", title="per label")
        for row in result["labels"]:
            cells = []
            for name in ("precision", "recall", "f1"):
                cell = row[name]
                text = Text(f"{_num(cell['a'])} -> {_num(cell['b'])} ")
                cells.append(text.append_text(_delta(cell["delta"])))
            labels.add_row(row["label"], *cells)
        out.print(labels)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _delta(value: float | None) -> Text:
    if value is None:
        return Text("")
    if abs(value) < 1e-9:
        return Text("±0", style="dim")
    return Text(f"{value:+.4g}", style="green" if value > 0 else "red")
