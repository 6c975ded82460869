"""A self-contained HTML report of a run: metrics, per-label table, and the confusion matrix and
per-label bars as PNG pictures (matplotlib, Agg backend) embedded in the page."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from botkit.atomic import atomic_write_text
from botkit.evaluation.metrics import TITLES, headline

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: .3rem .7rem; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bad { color: #b00020; } .good { color: #05700f; } img { max-width: 100%; }
.note { color: #666; font-size: .9rem; }
"""


def write_report(info: dict[str, Any], mistakes: Iterable[dict[str, Any]], path: Path) -> None:
    """Write the report of the run described by ``info`` (its run.json) to ``path``, whole."""
    metrics: dict[str, Any] = info.get("metrics") or {}
    parts = [
        f"<h1>Evaluation of {_e(info.get('gpt', ''))}</h1>",
        f"<p class='note'>run {_e(info.get('id', ''))} &middot; {_e(info.get('kind', ''))} &middot; "
        f"data {_e(info.get('data', ''))} &middot; {info.get('count', 0)} examples, "
        f"{info.get('failed', 0)} failed, {info.get('cached', 0)} from cache &middot; "
        f"{_e(info.get('started', ''))}</p>",
        _metrics_table(metrics, info.get("thresholds") or {}),
    ]
    per_label = metrics.get("per_label") or {}
    if per_label:
        parts += ["<h2>Per label</h2>", _label_table(per_label), _img(_label_bars(per_label))]
    confusion = metrics.get("confusion")
    if confusion:
        parts += [
            "<h2>Confusion matrix</h2>",
            "<p class='note'>rows: expected label; columns: predicted label</p>",
            _img(_confusion_png(confusion)),
        ]
    rows = list(mistakes)
    if rows:
        parts += [f"<h2>Mistakes (first {len(rows)})</h2>", _mistakes_table(rows)]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>botkit eval {_e(info.get('id', ''))}</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(parts)}</body></html>\n"
    )
    atomic_write_text(path, page)


def _e(value: Any) -> str:
    return html.escape(str(value))


def _metrics_table(metrics: dict[str, Any], thresholds: dict[str, float]) -> str:
    rows = []
    for name, value in headline(metrics).items():
        low = thresholds.get(name)
        verdict = ""
        if low is not None:
            ok = value >= low
            verdict = f"<span class='{'good' if ok else 'bad'}'>{'≥' if ok else '<'} {low:g}</span>"
        rows.append(
            f"<tr><td>{_e(TITLES.get(name, name))}</td><td class='num'>{value:.4g}</td>"
            f"<td>{verdict}</td></tr>"
        )
    return (
        "<table><tr><th>metric</th><th>value</th><th>threshold</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _label_table(per_label: dict[str, dict[str, float]]) -> str:
    rows = "".join(
        f"<tr><td>{_e(label)}</td>"
        + "".join(f"<td class='num'>{s[k]:.3f}</td>" for k in ("precision", "recall", "f1"))
        + f"<td class='num'>{int(s['support'])}</td></tr>"
        for label, s in per_label.items()
    )
    head = "<tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>"
    return f"<table>{head}{rows}</table>"


def _mistakes_table(rows: list[dict[str, Any]]) -> str:
    body = "".join(
        f"<tr><td class='num'>{r.get('line')}</td><td>{_e(_short(r.get('input')))}</td>"
        f"<td>{_e(r.get('expected'))}</td>"
        f"<td>{_e(r.get('error') or _short(r.get('prediction')))}</td></tr>"
        for r in rows
    )
    head = "<tr><th>line</th><th>input</th><th>expected</th><th>prediction / error</th></tr>"
    return f"<table>{head}{body}</table>"


def _short(value: Any, limit: int = 200) -> str:
    text = " ".join(str(value if value is not None else "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _img(png: bytes) -> str:
    return f"<p><img alt='chart' src='data:image/png;base64,{base64.b64encode(png).decode()}'></p>"


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _confusion_png(confusion: dict[str, Any]) -> bytes:
    columns: list[str] = confusion["labels"]
    matrix: list[list[int]] = confusion["matrix"]
    rows = columns[: len(matrix)]
    size = max(4.0, 0.7 * len(columns) + 2)
    figure = _figure()(figsize=(size, size * 0.85))
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046)
    axes.set_xticks(range(len(columns)), labels=columns, rotation=45, ha="right")
    axes.set_yticks(range(len(rows)), labels=rows)
    axes.set_xlabel("predicted")
    axes.set_ylabel("expected")
    peak = max((v for row in matrix for v in row), default=0) or 1
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            color = "white" if value > peak / 2 else "black"
            axes.text(j, i, str(value), ha="center", va="center", color=color)
    return _png(figure)


def _label_bars(per_label: dict[str, dict[str, float]]) -> bytes:
    labels = list(per_label)
    figure = _figure()(figsize=(max(5.0, 1.2 * len(labels) + 2), 3.5))
    axes = figure.add_subplot()
    width = 0.27
    for n, name in enumerate(("precision", "recall", "f1")):
        values = [per_label[label][name] for label in labels]
        axes.bar([i + (n - 1) * width for i in range(len(labels))], values, width, label=name)
    axes.set_xticks(range(len(labels)), labels=labels, rotation=30, ha="right")
    axes.set_ylim(0, 1.18)
    axes.legend(loc="upper center", ncol=3, fontsize="small")
    axes.set_title("precision, recall and F1 per label")
    return _png(figure)
