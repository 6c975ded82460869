"""``botkit finetune ...``: prepare, validate and run fine-tuning jobs for a GPT's OpenAI model."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from botkit.cli.context import CLIContext, pass_context
from botkit.errors import BotkitError, ModelUnreachable
from botkit.evaluation.data import DataError
from botkit.finetune import FineTuneError, default_training_file
from botkit.finetune.chat_data import training_rows, write_rows
from botkit.finetune.validate import Report, token_limit, validate_file
from botkit.terminal import warn

if TYPE_CHECKING:
    from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent

    from botkit.core.bot import Bot
    from botkit.finetune.jobs import Hyperparameters
    from botkit.loader import LoadedGPT
    from botkit.spec import ModelSpec

GPT_OPTION = click.option("--gpt", "gpt_name", required=True, help="The GPT to fine-tune.")
JOB_OPTION = click.option("--job", "job_id", help="A job id (default: the GPT's last job).")
INTERVAL_OPTION = click.option(
    "--interval",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds between two looks at the job (and before the first retry on network loss).",
)
RETRIES_OPTION = click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=8,
    show_default=True,
    help="Attempts to reconnect, with doubling waits, before giving up on network loss.",
)
MAX_TOKENS_OPTION = click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    help="Tokens one example may have (default: the base model's training limit).",
)


@click.group()
def finetune() -> None:
    """Fine-tune a GPT's model on OpenAI (or any server with OpenAI's fine-tuning API)."""


@finetune.command()
@GPT_OPTION
@click.option(
    "--data",
    "data_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Labeled JSONL or CSV: the input becomes the user turn, the expected output the "
    "assistant's answer (repeatable).",
)
@click.option("--input-field", help="The field holding the input (default: text or input).")
@click.option("--expected-field", help="The field holding the answer (default: label or expected).")
@click.option("--no-examples", is_flag=True, help="Leave out the GPT's own few-shot examples.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write (default: the GPT's folder in the botkit data directory).",
)
@pass_context
def prepare(
    ctx: CLIContext,
    gpt_name: str,
    data_files: tuple[Path, ...],
    input_field: str | None,
    expected_field: str | None,
    no_examples: bool,
    out: Path | None,
) -> None:
    """Write chat-format training data (JSONL) for a GPT.

    One row per example: the GPT's instructions, the user turn, the answer to learn.
    """
    spec = _gpt(ctx, gpt_name).spec
    out = out or default_training_file(ctx.settings.data_dir, gpt_name)
    rows = training_rows(spec, data_files, not no_examples, input_field, expected_field)
    count = write_rows(rows, out)
    click.echo(f"wrote {count} example(s) to {out}")
    click.echo(f"next: botkit finetune validate --gpt {gpt_name}")


@finetune.command("validate")
@click.argument("file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--gpt", "gpt_name", help="Check the data prepared for this GPT, for its model.")
@click.option("--model", help="Check against this base model's limits.")
@MAX_TOKENS_OPTION
@click.option("--epochs", type=click.IntRange(1, 50), help="For the estimate (default: auto).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_context
def validate_command(
    ctx: CLIContext,
    file: Path | None,
    gpt_name: str | None,
    model: str | None,
    max_tokens: int | None,
    epochs: int | None,
    as_json: bool,
) -> None:
    """Check training data before paying for a job.

    Format, roles, empty turns, duplicates, size, token counts and label balance.
    """
    if file is None and gpt_name is None:
        raise click.UsageError("give a FILE, or --gpt NAME for the data prepared for that GPT")
    window = None
    if gpt_name is not None:
        spec = _gpt(ctx, gpt_name).spec
        window = None if model else spec.model.context_window
        model = model or spec.model.name
    path = file or default_training_file(ctx.settings.data_dir, str(gpt_name))
    limit = max_tokens or token_limit(model or "", window)
    report = validate_file(path, limit, epochs)
    _show_report(report, as_json)
    report.raise_for_errors()


@finetune.command()
@GPT_OPTION
@click.option(
    "--file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Training data (default: what `prepare` wrote for the GPT).",
)
@click.option("--base-model", help="The model to fine-tune (default: the GPT's model).")
@click.option("--epochs", type=click.IntRange(1, 50), help="Passes over the data (default: auto).")
@click.option("--batch-size", type=click.IntRange(1, 256), help="Default: auto.")
@click.option(
    "--learning-rate-multiplier",
    type=click.FloatRange(min=0, min_open=True),
    help="Default: auto.",
)
@click.option("--suffix", help="Up to 64 characters to put in the fine-tuned model's name.")
@MAX_TOKENS_OPTION
@click.option("--follow", "then_follow", is_flag=True, help="Then follow the job until it ends.")
@INTERVAL_OPTION
@RETRIES_OPTION
@pass_context
def start(
    ctx: CLIContext,
    gpt_name: str,
    file: Path | None,
    base_model: str | None,
    epochs: int | None,
    batch_size: int | None,
    learning_rate_multiplier: float | None,
    suffix: str | None,
    max_tokens: int | None,
    then_follow: bool,
    interval: float,
    retries: int,
) -> None:
    """Validate the data, upload it and create the fine-tuning job."""
    from botkit.finetune.jobs import Hyperparameters, JobRecord

    if suffix is not None and not 0 < len(suffix) <= 64:
        raise click.BadParameter("must be 1 to 64 characters", param_hint="--suffix")
    loaded = _gpt(ctx, gpt_name)
    spec = _openai_model(loaded)
    base = base_model or spec.name
    path = file or default_training_file(ctx.settings.data_dir, gpt_name)
    if file is None and not path.is_file():
        raise FineTuneError(
            f"no training data for {gpt_name!r}: run `botkit finetune prepare --gpt {gpt_name}`"
        )
    window = spec.context_window if base == spec.name else None
    report = validate_file(path, max_tokens or token_limit(base, window), epochs)
    _show_report(report, as_json=False)
    report.raise_for_errors()
    hyper = Hyperparameters(epochs, batch_size, learning_rate_multiplier)
    file_id, job = asyncio.run(_start(spec, path, base, hyper, suffix))
    JobRecord(gpt_name, job.id, base, file_id, str(path.absolute())).save(ctx.settings.data_dir)
    click.echo(f"started fine-tuning job {job.id}: {base} on {report.examples} examples")
    if then_follow:
        _follow(loaded, job.id, interval, retries)
    else:
        click.echo(f"follow it with: botkit finetune follow --gpt {gpt_name}")


@finetune.command()
@GPT_OPTION
@JOB_OPTION
@click.option("--events", "count", type=click.IntRange(0, 100), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the job and its events as JSON.")
@pass_context
def status(ctx: CLIContext, gpt_name: str, job_id: str | None, count: int, as_json: bool) -> None:
    """Show the job and its latest events.

    A job that has succeeded has its model recorded for the GPT.
    """
    loaded = _gpt(ctx, gpt_name)
    job, events = asyncio.run(_status(_openai_model(loaded), _job_id(ctx, gpt_name, job_id), count))
    if as_json:
        dump = {"job": job.model_dump(mode="json"), "events": [e.model_dump() for e in events]}
        click.echo(json.dumps(dump, indent=2))
    else:
        _show_job(job)
        for event in events:
            click.echo(_event_line(event))
    _finished(loaded, job, to_stderr=as_json)


@finetune.command("follow")
@GPT_OPTION
@JOB_OPTION
@INTERVAL_OPTION
@RETRIES_OPTION
@pass_context
def follow_command(
    ctx: CLIContext, gpt_name: str, job_id: str | None, interval: float, retries: int
) -> None:
    """Follow the job's events until it ends; then use its model."""
    _follow(_gpt(ctx, gpt_name), _job_id(ctx, gpt_name, job_id), interval, retries)


@finetune.command()
@GPT_OPTION
@JOB_OPTION
@pass_context
def cancel(ctx: CLIContext, gpt_name: str, job_id: str | None) -> None:
    """Cancel the job."""
    job = asyncio.run(_cancel(_openai_model(_gpt(ctx, gpt_name)), _job_id(ctx, gpt_name, job_id)))
    click.echo(f"job {job.id}: {job.status}")


# -- helpers -----------------------------------------------------------------------------------


def _gpt(ctx: CLIContext, name: str) -> LoadedGPT:
    return ctx.bot(conversations=False).gpt(name)


def _openai_model(loaded: LoadedGPT) -> ModelSpec:
    """The GPT's model section, which must be an OpenAI-compatible model to fine-tune."""
    model = loaded.spec.model
    if model.provider != "openai":
        raise FineTuneError(
            f"GPT {loaded.spec.name!r} runs on {model.label}; fine-tuning needs an OpenAI model: "
            f"set `model: openai:gpt-4o-mini-2024-07-18` (or a model mapping with base_url) in "
            f"{loaded.path}"
        )
    return model


def _job_id(ctx: CLIContext, gpt: str, given: str | None) -> str:
    from botkit.finetune.jobs import JobRecord

    return given or JobRecord.load(ctx.settings.data_dir, gpt).job_id


async def _start(
    spec: ModelSpec, path: Path, base: str, hyper: Hyperparameters, suffix: str | None
) -> tuple[str, FineTuningJob]:
    from botkit.finetune.jobs import FineTuning

    async with FineTuning(spec) as api:
        file_id = await api.upload(path)
        try:
            return file_id, await api.create(base, file_id, hyper, suffix)
        except BotkitError:
            await api.discard(file_id)  # leave nothing behind on the server either
            raise


async def _status(
    spec: ModelSpec, job_id: str, count: int
) -> tuple[FineTuningJob, list[FineTuningJobEvent]]:
    from botkit.finetune.jobs import FineTuning

    async with FineTuning(spec) as api:
        job = await api.retrieve(job_id)
        return job, (await api.latest_events(job_id, count) if count else [])


async def _cancel(spec: ModelSpec, job_id: str) -> FineTuningJob:
    from botkit.finetune.jobs import FineTuning

    async with FineTuning(spec) as api:
        return await api.cancel(job_id)


def _follow(loaded: LoadedGPT, job_id: str, interval: float, retries: int) -> None:
    from botkit.finetune.jobs import FineTuning, follow

    def show(event: FineTuningJobEvent) -> None:
        click.echo(_event_line(event))

    def retrying(exc: ModelUnreachable, delay: float) -> None:
        warn(f"{exc} (trying again in {delay:g} s)")

    async def run() -> FineTuningJob:
        async with FineTuning(_openai_model(loaded)) as api:
            return await follow(api, job_id, show, retrying, interval, retries)

    try:
        job = asyncio.run(run())
    except ModelUnreachable as exc:
        raise FineTuneError(
            f"{exc}; the job goes on: `botkit finetune follow --gpt {loaded.spec.name}` "
            "picks it up again"
        ) from exc
    _finished(loaded, job)


def _finished(loaded: LoadedGPT, job: FineTuningJob, to_stderr: bool = False) -> None:
    """Record a succeeded job's model for the GPT; report a failed job's error."""
    from botkit.finetune.jobs import job_error
    from botkit.finetune.record import record_model

    if job.status == "failed":
        raise FineTuneError(f"fine-tuning job {job.id} failed: {job_error(job)}")
    if job.status == "cancelled":
        click.echo(f"job {job.id} was cancelled", err=to_stderr)
    if job.status != "succeeded" or not job.fine_tuned_model:
        return
    model, name = job.fine_tuned_model, loaded.spec.name
    if record_model(loaded.path, model):
        click.echo(f"GPT {name!r} now uses {model} (recorded in {loaded.path})", err=to_stderr)
    else:
        click.echo(f"GPT {name!r} uses {model}", err=to_stderr)


def _event_line(event: FineTuningJobEvent) -> str:
    when = dt.datetime.fromtimestamp(event.created_at).strftime("%H:%M:%S")
    level = "" if event.level == "info" else f"[{event.level}] "
    return f"{when}  {level}{event.message}"


def _show_job(job: FineTuningJob) -> None:
    hyper = job.hyperparameters
    rows = {
        "job": job.id,
        "status": job.status,
        "base model": job.model,
        "fine-tuned model": job.fine_tuned_model or "",
        "training file": job.training_file,
        "trained tokens": "" if job.trained_tokens is None else f"{job.trained_tokens:,}",
        "hyperparameters": f"epochs {hyper.n_epochs}, batch size {hyper.batch_size}, "
        f"learning rate multiplier {hyper.learning_rate_multiplier}",
        "created": _time(job.created_at),
        "finished": _time(job.finished_at),
    }
    table = Table("field", "value", show_header=False)
    for name, value in rows.items():
        table.add_row(name, str(value))
    Console().print(table)


def _time(stamp: int | None) -> str:
    return dt.datetime.fromtimestamp(stamp).isoformat(" ", "seconds") if stamp else ""


def _show_report(report: Report, as_json: bool) -> None:
    for warning in report.warnings:
        warn(warning)
    if as_json:
        summary = {
            "file": str(report.path),
            "ok": report.ok,
            "examples": report.examples,
            "tokens": report.tokens,
            "longest_example_tokens": report.longest,
            "token_limit": report.token_limit,
            "epochs": report.epochs,
            "training_tokens": report.training_tokens,
            "labels": dict(report.labels or {}),
            "errors": report.errors,
            "more_errors": report.more_errors,
            "warnings": report.warnings,
        }
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(
        f"{report.path}: {report.examples} examples, about {report.tokens:,} tokens (longest "
        f"{report.longest:,} of {report.token_limit:,} allowed); {report.epochs} epochs: about "
        f"{report.training_tokens:,} training tokens"
    )
    if report.labels:
        click.echo("labels: " + ", ".join(f"{k} {n}" for k, n in report.labels.most_common()))


@finetune.command("local")
@GPT_OPTION
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Labeled JSONL or CSV (text/input and label/expected fields), or chat-format JSONL "
    "as `finetune prepare` writes.",
)
@click.option(
    "--method",
    type=click.Choice(["auto", "lora", "head"]),
    default="auto",
    show_default=True,
    help="lora: train the local model's own weights (LoRA); head: a classifier head; auto: "
    "whichever scores better held out (a head only, on all rows, for GPTs on OpenAI models).",
)
@click.option(
    "--eval",
    "eval_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Held-out rows to compare before and after (default: 20% of --data, at most 300).",
)
@click.option("--input-field", help="The field holding the input (default: text or input).")
@click.option("--expected-field", help="The field holding the label (default: label or expected).")
@click.option(
    "--epochs",
    type=click.FloatRange(min=0, min_open=True),
    help="LoRA: passes over the data (default 2).",
)
@click.option("--max-steps", type=click.IntRange(min=1), help="LoRA: stop after this many steps.")
@click.option(
    "--lr",
    type=click.FloatRange(min=0, min_open=True),
    help="LoRA: peak learning rate (default 5e-4).",
)
@click.option("--rank", type=click.IntRange(1, 256), help="LoRA: rank of the updates (default 8).")
@click.option(
    "--batch-size", type=click.IntRange(1, 256), help="LoRA: sequences a step (default 8)."
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Data order and held-out split."
)
@click.option(
    "--remove",
    is_flag=True,
    help="Delete the GPT's local fine-tunes instead (both, or --method's).",
)
@pass_context
def local(
    ctx: CLIContext,
    gpt_name: str,
    data_path: Path | None,
    method: str,
    eval_path: Path | None,
    input_field: str | None,
    expected_field: str | None,
    epochs: float | None,
    max_steps: int | None,
    lr: float | None,
    rank: int | None,
    batch_size: int | None,
    seed: int,
    remove: bool,
) -> None:
    """Fine-tune a GPT locally: LoRA on its model's weights, or a classifier head (no API, no GPU).

    The GPT as it is and each fine-tune are scored on held-out rows with the GPT's own metric;
    the better fine-tune is kept only if it beats the GPT as it was. Interrupted LoRA training
    resumes when the same command is run again.
    """
    from botkit.evaluation.runner import evaluation_target
    from botkit.finetune import local_head
    from botkit.finetune.lora import pipeline, store

    bot = ctx.bot(conversations=False)
    target = evaluation_target(bot, gpt_name)
    home = ctx.settings.data_dir
    if remove:
        removed = []
        if method in ("auto", "head") and local_head.head_dir(home, gpt_name).exists():
            shutil.rmtree(local_head.head_dir(home, gpt_name), ignore_errors=True)
            removed.append("trained head")
        if method in ("auto", "lora") and store.remove(home, gpt_name):
            removed.append("LoRA adapter")
        click.echo(
            f"removed the {' and the '.join(removed)} of {gpt_name}"
            if removed
            else "nothing to remove"
        )
        return
    if data_path is None:
        raise click.UsageError("give the labeled data with --data FILE")
    local_model = pipeline.model_path(bot, gpt_name) is not None
    if eval_path is None and (method == "head" or (method == "auto" and not local_model)):
        _classic_head(bot, target, home, gpt_name, data_path, input_field, expected_field)
        return
    from botkit.finetune.lora.train import Settings as LoraSettings

    default = LoraSettings()
    lora_settings = LoraSettings(
        rank=rank or default.rank,
        alpha=2 * (rank or default.rank),
        lr=lr or default.lr,
        epochs=epochs or default.epochs,
        max_steps=max_steps,
        batch_size=batch_size or default.batch_size,
        seed=seed,
    )
    plan = pipeline.Plan(
        gpt_name, data_path, eval_path, input_field, expected_field, method, lora_settings
    )
    report = _run_local(bot, plan, home)
    for note in report.notes:
        click.echo(note)
    _show_local_report(report)
    click.echo(report.message)
    click.echo(f"report: {report.path}")
    if report.kept:
        click.echo(f"{gpt_name} uses it from now on: check with `botkit eval --gpt {gpt_name} ...`")


def _run_local(bot: Bot, plan: Any, home: Path) -> Any:
    """Run the pipeline with a progress bar for training (loss, step time, ETA)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from botkit.finetune.lora import pipeline

    console = Console(stderr=True)
    bar = Progress(
        TextColumn("[bold]training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[pace]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    task: list[Any] = []
    recent: list[float] = []

    def phase(text: str) -> None:
        console.print(f"[dim]{text}...[/dim]")

    def step(p: Any) -> None:
        recent.append(p.loss)
        del recent[:-20]
        if not task:
            bar.start()
            task.append(
                bar.add_task("train", total=p.total, completed=p.resumed_from, loss="-", pace="")
            )
            if p.resumed_from:
                console.print(f"resuming from step {p.resumed_from} of {p.total}")
        bar.update(
            task[0],
            completed=p.step,
            loss=f"{sum(recent) / len(recent):.4f}",
            pace=f"{p.seconds:.1f} s/step",
        )
        if p.step == p.total:
            bar.stop()

    try:
        return pipeline.finetune_local(bot, plan, home, pipeline.Hooks(phase, step))
    except KeyboardInterrupt:
        bar.stop()
        raise FineTuneError(
            "interrupted: training progress is saved; run the same command again to resume "
            f"(or `botkit finetune local --gpt {plan.gpt} --remove` to forget it). "
            f"{plan.gpt} keeps its behaviour."
        ) from None
    finally:
        bar.stop()


def _show_local_report(report: Any) -> None:
    table = Table("", report.metric, "held-out rows", "note")
    table.add_row("as it was", _fmt(report.score()), str(report.heldout_rows), "")
    for method in report.candidates:
        note = "kept" if method == report.kept else ""
        seconds = report.candidates[method].get("train_seconds")
        extra = f"trained in {seconds:.0f} s" if isinstance(seconds, (int, float)) else ""
        table.add_row(
            method,
            _fmt(report.score(method)),
            str(report.heldout_rows),
            " ".join(x for x in (note, extra) if x),
        )
    Console().print(table)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _classic_head(
    bot: Bot,
    target: Any,
    home: Path,
    gpt_name: str,
    data_path: Path,
    input_field: str | None,
    expected_field: str | None,
) -> None:
    """Train a classifier head on every row and keep it (no held-out comparison)."""
    from botkit.evaluation.data import read_examples
    from botkit.finetune import local_head

    folder = local_head.head_dir(home, gpt_name)
    if target.kind != "classification" or target.options is None:
        raise FineTuneError(
            f"GPT {gpt_name!r} is not a classification or sentiment GPT; a local head only helps "
            "those (fine-tune other GPTs on OpenAI with `botkit finetune prepare/start`)"
        )
    texts, labels = [], []
    for example in read_examples(data_path, input_field, expected_field):
        problem = target.check(example) or (
            "a local head learns one label per text; this row has several"
            if len(example.answers) > 1
            else None
        )
        if problem:
            raise DataError(data_path, example.line, problem)
        texts.append(example.input)
        labels.append(example.answers[0])
    spec = target.options.embedder
    embedder = bot.embedder(spec)
    with Console(stderr=True).status(f"training on {len(texts)} examples..."):
        head = local_head.train(embedder, texts, labels, spec.model_dump(mode="json"))
        local_head.save(head, folder)
    info = head.info
    click.echo(
        f"trained {gpt_name}'s head on {info['examples']} examples of {len(info['label_counts'])} "
        f"labels in {info['train_seconds']} s (data {info['data_hash']}); saved in {folder}"
    )
    click.echo(
        f"{gpt_name} now classifies with it: compare with `botkit eval --gpt {gpt_name} ...`"
    )


@finetune.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@pass_context
def list_command(ctx: CLIContext, as_json: bool) -> None:
    """List the GPTs' local fine-tunes (LoRA adapters and classifier heads)."""
    from botkit.finetune import local_head
    from botkit.finetune.lora import store

    home = ctx.settings.data_dir
    items = []
    for gpt, folder, info in store.adapters(home):
        before = info.get("metrics", {}).get("before", {})
        after = info.get("metrics", {}).get("after", {})
        metric = next((m for m in ("accuracy", "chrf", "f1") if m in after), "")
        items.append({
            "gpt": gpt,
            "method": "lora",
            "path": str(folder / info["file"]),
            "data_hash": info.get("data_hash"),
            "base_model": info.get("base_model", {}).get("path"),
            "metric": metric,
            "before": before.get(metric),
            "after": after.get(metric),
            "created": info.get("created"),
        })  # fmt: skip
    heads = home / "heads"
    for folder in sorted(heads.iterdir()) if heads.is_dir() else []:
        info_file = folder / local_head.INFO_FILE
        if folder.name.startswith(".") or not info_file.is_file():
            continue
        info = json.loads(info_file.read_text(encoding="utf-8"))
        items.append({
            "gpt": folder.name,
            "method": "head",
            "path": str(folder),
            "data_hash": info.get("data_hash"),
            "base_model": None,
            "metric": "",
            "before": None,
            "after": None,
            "created": info.get("trained"),
        })  # fmt: skip
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    if not items:
        click.echo(
            "no local fine-tunes: train one with `botkit finetune local --gpt NAME --data FILE`"
        )
        return
    table = Table("gpt", "method", "held out", "data", "created", "path")
    for item in items:
        scores = (
            f"{item['metric']} {item['before']:.3f} -> {item['after']:.3f}"
            if isinstance(item["before"], (int, float)) and isinstance(item["after"], (int, float))
            else ""
        )
        table.add_row(item["gpt"], item["method"], scores, str(item["data_hash"] or ""),
                      str(item["created"] or ""), item["path"])  # fmt: skip
    Console().print(table)


@finetune.command("export")
@GPT_OPTION
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The GGUF file to write.",
)
@click.option(
    "--type",
    "qtype",
    default="F16",
    show_default=True,
    help="F16 or Q8_0 (written by botkit), or another llama.cpp type (Q4_K_M, Q4_1...), "
    "refused if it erases the fine-tune.",
)
@pass_context
def export_command(ctx: CLIContext, gpt_name: str, out: Path, qtype: str) -> None:
    """Write the GPT's model with its LoRA adapter merged in, as one standalone GGUF."""
    from botkit.finetune.lora import pipeline

    problem = pipeline.training_available()
    if problem:
        raise FineTuneError(problem.replace("LoRA training", "exporting"))
    from botkit.finetune.lora.export import export

    console = Console(stderr=True)
    check = export(
        ctx.settings.data_dir, gpt_name, out, qtype, lambda t: console.print(f"[dim]{t}...[/dim]")
    )
    click.echo(f"wrote {out} ({out.stat().st_size / 2**20:.0f} MiB, {qtype.upper()})")
    if check is not None:
        click.echo(
            f"held-out loss (mean NLL of the answers, {check.rows} rows): base {check.base:.4f}, "
            f"with the adapter {check.adapter:.4f}, export {check.export:.4f}"
        )
    click.echo(f"use it with `model: local:{out.absolute()}` (no adapter needed)")
