"""``botkit eval ...``: score a GPT on labeled data, gate CI on thresholds, inspect and compare runs."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import click

from botkit.cli.context import CLIContext, pass_context
from botkit.core.bot import Bot
from botkit.errors import BotkitError, InputError
from botkit.evaluation.compare import compare as compare_runs
from botkit.evaluation.report_terminal import show_comparison, show_records, show_runs, show_summary
from botkit.evaluation.runner import RunSettings, evaluation_target
from botkit.evaluation.session import EvalRequest, evaluate, mistakes
from botkit.evaluation.store import Run, RunStore
from botkit.spec import EvalSpec
from botkit.terminal import error, warn


def _store(ctx: CLIContext) -> RunStore:
    return RunStore(ctx.settings.data_dir / "evals")


@click.group("eval", invoke_without_command=True)
@click.option("--gpt", "gpt_name", help="The GPT to evaluate (without --data: its evals: section).")
@click.option(
    "--all",
    "run_all",
    is_flag=True,
    help="Every GPT's evals: section; exit 1 if a threshold fails.",
)
@click.option(
    "--data", type=click.Path(path_type=Path, dir_okay=False), help="Labeled JSONL or CSV."
)
@click.option("--input-field", help="The field holding the input (default: text or input).")
@click.option("--expected-field", help="The expected-output field (default: label or expected).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help="Evaluate N rows (the first N, or a sample with --seed).",
)
@click.option("--seed", type=int, help="With --limit: a reproducible random sample of the rows.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Examples at a time.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the run (settings and metrics) as JSON."
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also write the HTML report here.",
)
@click.option(
    "--no-cache", is_flag=True, help="Predict every example again (ignore cached predictions)."
)
@click.option(
    "--rubric", help="Free-text rubric a grader model scores each answer by (1-5; model-graded)."
)
@click.option("--grader", "grader_name", help="With --rubric: the GPT whose model grades.")
@click.pass_context
def eval_group(
    ctx: click.Context,
    gpt_name: str | None,
    run_all: bool,
    data: Path | None,
    input_field: str | None,
    expected_field: str | None,
    limit: int | None,
    seed: int | None,
    concurrency: int,
    as_json: bool,
    html_path: Path | None,
    no_cache: bool,
    rubric: str | None,
    grader_name: str | None,
) -> None:
    """Evaluate a GPT on labeled data: accuracy, F1, BLEU, exact match... and a report.

    \b
    botkit eval --gpt sentiment --data reviews.jsonl     one data set
    botkit eval --all                                    every GPT's evals: (a CI gate)
    botkit eval show RUN [--errors]                      a stored run and its mistakes
    botkit eval compare RUN_A RUN_B                      deltas per metric and per label
    botkit eval list                                     the stored runs
    """
    if ctx.invoked_subcommand is not None:
        return
    cli: CLIContext = ctx.obj
    settings = cli.settings
    if run_all == bool(gpt_name):
        raise click.UsageError("give --gpt NAME (with --data FILE or an evals: section) or --all")
    if run_all and data is not None:
        raise click.UsageError("--all runs each GPT's evals: section; --data goes with --gpt NAME")
    if bool(rubric) != bool(grader_name):
        raise click.UsageError("--rubric and --grader go together")
    bot = cli.bot(conversations=False)  # every example is a fresh conversation: none is kept
    run_settings = RunSettings(concurrency, rubric, bot.gpt(grader_name) if grader_name else None)
    base = EvalRequest(
        Path(), input_field, expected_field, limit, seed, not no_cache, settings=run_settings
    )
    if gpt_name and data is not None:
        run = _evaluate(cli, bot, gpt_name, data, base)
        _output([run], as_json, html_path)
        sys.exit(0 if run.info.get("passed", True) else 1)
    names = (
        [gpt_name] if gpt_name else [g.spec.name for g in bot.catalog.gpts.values() if g.spec.evals]
    )
    for path, problems in bot.catalog.problems.items():
        warn(f"{path} has {len(problems)} problem(s); run `botkit validate {path}`")
    if not names:
        raise InputError(
            f"no GPT in {settings.config_dir / 'gpts'} has an evals: section; "
            "add one, or use --gpt NAME --data FILE"
        )
    runs, broken = [], 0
    for name in names:
        loaded = bot.gpt(name)
        if not loaded.spec.evals:
            raise InputError(f"GPT {name!r} has no evals: section: give --data FILE")
        for entry in loaded.spec.evals:
            request = _from_spec(base, entry, loaded.path, bot.project_dir)
            try:
                runs.append(_evaluate(cli, bot, name, request.data, request))
            except BotkitError as exc:  # one broken data set is reported; the others still run
                error(f"{name}: {exc}")
                broken += 1
    _output(runs, as_json, html_path)
    failed = [r for r in runs if not r.info.get("passed", True)]
    for run in failed:
        for check in run.info.get("checks") or []:
            if not check["passed"]:
                click.echo(
                    f"FAILED {run.info['gpt']} ({run.info['data']}): {check['text']}", err=True
                )
    if failed or broken:
        click.echo(f"{len(failed) + broken} of {len(runs) + broken} evaluation(s) failed", err=True)
        sys.exit(1)
    click.echo(f"all {len(runs)} evaluation(s) passed their thresholds", err=True)


def _from_spec(
    base: EvalRequest, entry: EvalSpec, gpt_file: Path, project_dir: Path
) -> EvalRequest:
    """The request for one ``evals:`` entry; its data path is resolved like knowledge sources."""
    folder = gpt_file.parent if entry.data.startswith(("./", "../")) else project_dir
    return EvalRequest(
        folder / entry.data,
        entry.input_field or base.input_field,
        entry.expected_field or base.expected_field,
        base.limit or entry.limit,
        base.seed,
        base.use_cache,
        dict(entry.thresholds),
        base.settings,
    )


def _evaluate(cli: CLIContext, bot: Bot, name: str, data: Path, base: EvalRequest) -> Run:
    target = evaluation_target(bot, name)
    request = EvalRequest(
        data, base.input_field, base.expected_field, base.limit, base.seed, base.use_cache,
        base.thresholds, base.settings,
    )  # fmt: skip
    try:
        run = evaluate(bot, target, request, _store(cli))
    except KeyboardInterrupt:
        click.echo("interrupted: what was done is cached; run the same command to resume", err=True)
        raise
    if not request.progress or run.info.get("failed"):
        click.echo(
            f"{run.id}: {run.info['count']} example(s), {run.info['failed']} failed, "
            f"{run.info['cached']} from cache",
            err=True,
        )
    return run


def _output(runs: list[Run], as_json: bool, html_path: Path | None) -> None:
    if html_path is not None and runs:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(runs[-1].report_file, html_path)
    if as_json:
        infos = [r.info for r in runs]
        click.echo(json.dumps(infos[0] if len(infos) == 1 else infos, indent=2))
        return
    for run in runs:
        show_summary(run.info)
        click.echo(f"report: {run.report_file}   (botkit eval show {run.id} --errors)")


@eval_group.command()
@click.argument("run_id", metavar="RUN")
@click.option("--errors", is_flag=True, help="List the examples that failed or were wrong.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Most examples listed.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def show(ctx: CLIContext, run_id: str, errors: bool, limit: int, as_json: bool) -> None:
    """A stored run: its metrics, and with --errors the examples it got wrong or failed on.

    RUN is a run id (or its start), a GPT name (its latest run) or `last`.
    """
    run = _store(ctx).get(run_id)
    records = list(_take(mistakes(run) if errors else run.predictions(), limit))
    if as_json:
        click.echo(json.dumps({**run.info, "examples": records}, indent=2, ensure_ascii=False))
        return
    show_summary(run.info)
    if errors and not show_records(records, "mistakes"):
        click.echo("no mistakes and no failures")
    click.echo(f"report: {run.report_file}")


def _take(records: Any, count: int) -> Any:
    for n, record in enumerate(records):
        if n >= count:
            return
        yield record


@eval_group.command()
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def compare(ctx: CLIContext, run_a: str, run_b: str, as_json: bool) -> None:
    """Two runs side by side: deltas per metric and per label (B minus A)."""
    store = _store(ctx)
    a, b = store.get(run_a), store.get(run_b)
    result = compare_runs(a.info, b.info)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    if a.info.get("data") != b.info.get("data"):
        warn(f"the runs used different data ({a.info.get('data')} and {b.info.get('data')})")
    show_comparison(result)


@eval_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_context
def list_runs(ctx: CLIContext, as_json: bool) -> None:
    """The stored runs, oldest first."""
    infos = [r.info for r in _store(ctx).runs()]
    if as_json:
        click.echo(json.dumps(infos, indent=2))
    elif not infos:
        click.echo("no evaluation runs yet")
    else:
        show_runs(infos)
