"""``botkit finetune local``: train, compare on held-out rows, keep only what is better.

1. The rows are read and checked (a bad row is an error naming its line); a share is held out
   (or ``--eval FILE`` is the held-out set).
2. The GPT as it is now (its current adapter or head, if any) is scored on the held-out rows.
3. Each candidate is trained on the rest and scored the same way: ``lora`` (gradient descent on
   low-rank updates of the model's own weights, :mod:`.train`) and/or ``head`` (a classifier
   head on text features, :mod:`botkit.finetune.local_head`); ``auto`` tries every one that
   applies to the GPT.
4. The best candidate is kept only if it beats the GPT as it was on the GPT's own metric
   (accuracy, chrF or token F1); otherwise nothing changes and the report says so.

The report (before, each candidate, what was kept) is written to
``DATA_DIR/finetune/GPT/local-report.json``; a kept adapter's record holds the same figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from botkit.atomic import atomic_folder, atomic_write_text
from botkit.core.bot import Bot
from botkit.errors import InputError
from botkit.evaluation.runner import EvalTarget, evaluation_target
from botkit.finetune import FineTuneError, local_head, workdir
from botkit.finetune.lora import data as lora_data
from botkit.finetune.lora import heldout, store
from botkit.finetune.lora.data import Row
from botkit.finetune.lora.train import Progress, Settings
from botkit.spec import EMBEDDED_MODEL

METHODS = ("auto", "lora", "head")
REPORT_FILE = "local-report.json"


@dataclass
class Plan:
    gpt: str
    data: Path
    eval_data: Path | None = None
    input_field: str | None = None
    expected_field: str | None = None
    method: str = "auto"
    settings: Settings = field(default_factory=Settings)


@dataclass
class Report:
    gpt: str
    metric: str
    before: dict[str, Any]
    candidates: dict[str, dict[str, Any]]
    kept: str | None
    message: str
    train_rows: int
    heldout_rows: int
    notes: list[str] = field(default_factory=list)
    path: str = ""

    def score(self, method: str | None = None) -> float | None:
        metrics = self.before if method is None else self.candidates.get(method, {})
        value = metrics.get(self.metric)
        return float(value) if isinstance(value, (int, float)) else None


@dataclass
class Hooks:
    """How the caller hears about progress (the CLI draws bars; tests and benches may ignore)."""

    phase: Callable[[str], None] = lambda text: None
    step: Callable[[Progress], None] = lambda progress: None


def training_available() -> str | None:
    """None when torch, transformers, peft and gguf import; else what to install."""
    import importlib.util

    missing = [
        m for m in ("torch", "transformers", "peft", "gguf") if not importlib.util.find_spec(m)
    ]
    if missing:
        return (
            f"LoRA training needs {', '.join(missing)}: install them with "
            "`pip install 'botkit[train]'`"
        )
    return None


def model_path(bot: Bot, gpt: str) -> Path | None:
    """The GGUF file a GPT runs on, or None when its model is not a local one."""
    model = bot.gpt(gpt).spec.model
    if model.provider != "local":
        return None
    if model.name == EMBEDDED_MODEL:
        from botkit.models.local import embedded_model_path

        return embedded_model_path()
    return Path(model.name).expanduser()


def candidates(bot: Bot, target: EvalTarget, method: str) -> tuple[list[str], list[str]]:
    """The methods to try for ``method`` on this GPT, and notes on those left out."""
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    classifier = target.kind == "classification"
    path = model_path(bot, target.name)
    many_labels = classifier and len(target.labels) > _max_likelihood_labels(target)
    lora_problem = None
    if path is None:
        lora_problem = (
            f"GPT {target.name!r} runs on {target.gpt.spec.model.label}; LoRA trains local GGUF "
            "models (fine-tune OpenAI models with `botkit finetune prepare/start`)"
        )
    elif many_labels:
        lora_problem = (
            f"GPT {target.name!r} has {len(target.labels)} labels; a LoRA fine-tune teaches label "
            f"likelihood, which scores up to {_max_likelihood_labels(target)}"
        )
    else:
        lora_problem = training_available()
        if lora_problem is None:
            from botkit.finetune.lora.base import check_trainable, read_info

            try:
                check_trainable(read_info(path))
            except FineTuneError as exc:
                lora_problem = str(exc)
    head_problem = (
        None
        if classifier
        else f"GPT {target.name!r} is not a classification or sentiment GPT; a classifier head "
        "only helps those"
    )
    if method == "lora":
        if lora_problem:
            raise FineTuneError(lora_problem)
        return ["lora"], []
    if method == "head":
        if head_problem:
            raise FineTuneError(head_problem)
        return ["head"], []
    chosen = [m for m, problem in (("head", head_problem), ("lora", lora_problem)) if not problem]
    if not chosen:
        raise FineTuneError(lora_problem or head_problem or "nothing to train")
    notes = [f"not trying lora: {lora_problem}"] if lora_problem and "head" in chosen else []
    return chosen, notes


def _max_likelihood_labels(target: EvalTarget) -> int:
    """Most labels the GPT's task scores by likelihood (its plugin module says; else 10)."""
    module = sys.modules.get(type(target.plugin).__module__)
    return int(getattr(module, "MAX_LIKELIHOOD_LABELS", 10))


def load_rows(plan: Plan, target: EvalTarget) -> tuple[list[Row], list[Row]]:
    """``(train, held out)`` rows, checked for size and labels."""
    rows = lora_data.read_rows(plan.data, target, plan.input_field, plan.expected_field)
    if plan.eval_data is not None:
        train = rows
        held = lora_data.read_rows(plan.eval_data, target, plan.input_field, plan.expected_field)
    else:
        train, held = lora_data.split(rows, plan.settings.seed)
    if len(train) < lora_data.MIN_TRAIN or len(held) < lora_data.MIN_HELDOUT:
        raise InputError(
            f"too little data: {len(rows)} rows in {plan.data}; fine-tuning needs at least "
            f"{lora_data.MIN_TRAIN} to train on and {lora_data.MIN_HELDOUT} held out to check "
            f"the result (give more rows, or --eval FILE)"
        )
    if target.kind == "classification":
        labels = {row.answer for row in train}
        if len(labels) < 2:
            raise InputError("the training rows need examples of at least two labels")
    return train, held


def finetune_local(bot: Bot, plan: Plan, data_dir: Path, hooks: Hooks | None = None) -> Report:
    """Train the plan's candidates, score them against the GPT as it is, keep the best if it is
    better; return the report (also written to ``DATA_DIR/finetune/GPT/local-report.json``)."""
    hooks = hooks or Hooks()
    target = evaluation_target(bot, plan.gpt)
    methods, notes = candidates(bot, target, plan.method)
    train, held = load_rows(plan, target)
    metric = heldout.primary_metric(target)
    base = model_path(bot, plan.gpt)
    current = _current_adapter(bot, plan.gpt, data_dir, base)
    with (
        _exclusive(workdir(data_dir, plan.gpt)),
        tempfile.TemporaryDirectory(prefix="botkit-ft-") as tmp,
    ):
        scratch = Path(tmp)
        hooks.phase(f"scoring {plan.gpt} as it is on {len(held)} held-out rows")
        before = heldout.score_sync(
            heldout.variant(bot, plan.gpt, current, data_dir), plan.gpt, held
        )
        results: dict[str, dict[str, Any]] = {}
        made: dict[str, Any] = {}
        for method in methods:
            if method == "head":
                made["head"], results["head"] = _try_head(
                    bot, plan, target, train, held, scratch, hooks
                )
            else:
                made["lora"], results["lora"] = _try_lora(
                    bot, plan, target, train, held, scratch, base, data_dir, hooks
                )
        best = max(results, key=lambda m: _value(results[m], metric))
        gain = _value(results[best], metric) - _value(before, metric)
        kept: str | None = None
        if gain > 0:
            kept = best
            notes += _install(kept, made[kept], plan, data_dir, before, results[kept])
            message = (
                f"kept the {kept} fine-tune: {metric} {_value(before, metric):.4g} -> "
                f"{_value(results[kept], metric):.4g} on {len(held)} held-out rows"
            )
        else:
            message = (
                f"not kept: the best fine-tune ({best}) scores {metric} "
                f"{_value(results[best], metric):.4g} on {len(held)} held-out rows against "
                f"{_value(before, metric):.4g} for {plan.gpt} as it is; {plan.gpt} keeps its "
                "behaviour (try more data, --epochs or --lr)"
            )
        if "lora" in results:
            shutil.rmtree(_lora_workdir(data_dir, plan, made["lora"]["key"]), ignore_errors=True)
    report = Report(plan.gpt, metric, before, results, kept, message, len(train), len(held), notes)
    path = workdir(data_dir, plan.gpt) / REPORT_FILE
    report.path = str(path)
    atomic_write_text(path, json.dumps(asdict(report), indent=2, default=str) + "\n")
    return report


def _value(metrics: dict[str, Any], metric: str) -> float:
    value = metrics.get(metric)
    return float(value) if isinstance(value, (int, float)) else float("-inf")


def _current_adapter(bot: Bot, gpt: str, data_dir: Path, base: Path | None) -> Path | None:
    spec = bot.gpt(gpt).spec.model
    if spec.adapter:
        return Path(spec.adapter).expanduser()
    return store.adapter_for(data_dir, gpt, base) if base is not None else None


@contextlib.contextmanager
def _exclusive(folder: Path) -> Iterator[None]:
    """One fine-tuning of a GPT at a time (a second one would share its checkpoints)."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise FineTuneError(
                f"another `botkit finetune local --gpt {folder.name}` is running"
            ) from exc
        yield


def _try_head(
    bot: Bot,
    plan: Plan,
    target: EvalTarget,
    train: list[Row],
    held: list[Row],
    scratch: Path,
    hooks: Hooks,
) -> tuple[Any, dict[str, Any]]:
    hooks.phase(f"training a classifier head on {len(train)} rows")
    spec = target.options.embedder  # type: ignore[union-attr]
    head = local_head.train(
        bot.embedder(spec),
        [r.input for r in train],
        [r.answer for r in train],
        spec.model_dump(mode="json"),
    )
    folder = scratch / "head" / plan.gpt
    local_head.save(head, folder)
    home = heldout.home_with(scratch / "head-home", bot.data_dir, folder)
    hooks.phase(f"scoring the head on {len(held)} held-out rows")
    current = bot.gpt(plan.gpt).spec.model.adapter
    other = heldout.variant(bot, plan.gpt, Path(current) if current else None, home)
    metrics = heldout.score_sync(other, plan.gpt, held)
    metrics["train_seconds"] = head.info["train_seconds"]
    return head, metrics


def _lora_workdir(data_dir: Path, plan: Plan, key: str) -> Path:
    return workdir(data_dir, plan.gpt) / "lora" / key


def _try_lora(
    bot: Bot,
    plan: Plan,
    target: EvalTarget,
    train: list[Row],
    held: list[Row],
    scratch: Path,
    base: Path | None,
    data_dir: Path,
    hooks: Hooks,
) -> tuple[dict[str, Any], dict[str, Any]]:
    from botkit.finetune.lora import base as lora_base
    from botkit.finetune.lora import gguf_adapter
    from botkit.finetune.lora import train as lora_train

    assert base is not None
    settings = plan.settings.resolved()
    info = lora_base.read_info(base)
    lora_base.check_trainable(info)
    tokenizer = lora_data.Tokenizer(base)
    sequences = _encode(bot, target, train, tokenizer, settings.max_tokens)
    held_sequences = _encode(bot, target, held, tokenizer, settings.max_tokens)
    base_hash = lora_base.file_hash(base)
    data_hash = lora_data.data_hash(train)
    key = hashlib.sha256(f"{data_hash}:{base_hash}:{settings.key()}".encode()).hexdigest()[:16]
    work = _lora_workdir(data_dir, plan, key)
    threads = lora_base.set_threads()
    hooks.phase(f"loading {base.name} for training ({threads} threads)")
    loaded = time.perf_counter()
    model = lora_train.wrap(lora_base.load_model(info), settings)
    load_seconds = round(time.perf_counter() - loaded, 1)
    hooks.phase(
        f"training LoRA (rank {settings.rank}) on {len(sequences)} rows: "
        f"{settings.steps(len(sequences))} steps of {settings.batch_size}"
    )
    result = lora_train.train(model, sequences, settings, work, hooks.step)
    adapter = scratch / f"adapter-{key}.gguf"
    gguf_adapter.write_adapter(
        adapter,
        info.architecture,
        settings.alpha,
        gguf_adapter.lora_pairs(model, info.architecture, info.n_head, info.n_head_kv),
        name=f"{plan.gpt} LoRA",
    )
    del model, result.model
    hooks.phase(f"scoring the LoRA fine-tune on {len(held)} held-out rows")
    home = heldout.home_with(scratch / "lora-home", bot.data_dir)
    metrics = heldout.score_sync(heldout.variant(bot, plan.gpt, adapter, home), plan.gpt, held)
    made = {
        "key": key,
        "adapter": adapter,
        "held_sequences": held_sequences,
        "record": {
            "data_hash": data_hash,
            "base_model": {
                "path": str(base.resolve()),
                "hash": base_hash,
                "size": info.size,
                "architecture": info.architecture,
            },
            "settings": asdict(settings),
            "training": {
                "rows": len(sequences),
                "steps": result.steps,
                "resumed_from_step": result.resumed_from,
                "seconds": result.seconds,
                "load_seconds": load_seconds,
                "seconds_per_step": round(
                    result.seconds / max(1, result.steps - result.resumed_from), 2
                ),
                "threads": threads,
                "first_loss": result.losses[0] if result.losses else None,
                "last_loss": _tail_mean(result.losses),
                "peak_rss_mb": result.peak_rss_mb,
            },
        },
    }
    metrics["train_seconds"] = result.seconds
    return made, metrics


def _tail_mean(losses: list[float], n: int = 10) -> float | None:
    tail = losses[-n:]
    return round(sum(tail) / len(tail), 5) if tail else None


def _encode(
    bot: Bot, target: EvalTarget, rows: list[Row], tokenizer: Any, max_tokens: int
) -> list[Any]:
    prompts = asyncio.run(lora_data.prompts(bot, target, rows))
    sequences = [tokenizer.encode(p) for p in prompts]
    kept = [s for s in sequences if len(s) <= max_tokens and s.answer]
    if not kept:
        raise InputError(
            f"every row is longer than {max_tokens} tokens with its prompt: raise --max-tokens"
        )
    return kept


def _install(
    method: str,
    made: Any,
    plan: Plan,
    data_dir: Path,
    before: dict[str, Any],
    after: dict[str, Any],
) -> list[str]:
    """Put the kept fine-tune in place for the GPT; return notes on what else changed."""
    notes: list[str] = []
    if method == "head":
        local_head.save(made, local_head.head_dir(data_dir, plan.gpt))
        return notes
    adapter: Path = made["adapter"]
    record = {
        "gpt": plan.gpt,
        "file": adapter.name,
        "method": "lora",
        "created": dt.datetime.now().isoformat(timespec="seconds"),
        "data": str(plan.data),
        "eval_data": str(plan.eval_data) if plan.eval_data else None,
        **made["record"],
        "metrics": {"before": before, "after": after},
    }
    with atomic_folder(store.adapter_dir(data_dir, plan.gpt)) as staging:
        shutil.copyfile(adapter, staging / adapter.name)
        with (staging / store.HELDOUT_FILE).open("w", encoding="utf-8") as handle:
            for s in made["held_sequences"]:
                handle.write(json.dumps({"context": s.context, "answer": s.answer}) + "\n")
        (staging / store.INFO_FILE).write_text(
            json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8"
        )
    head = local_head.head_dir(data_dir, plan.gpt)
    if head.exists():
        shutil.rmtree(head, ignore_errors=True)
        notes.append("removed the GPT's classifier head: it would take precedence over the model")
    return notes
