"""Eval throughput, and what local fine-tuning buys (issue: evaluate and fine-tune).

1. Throughput: examples/s of `botkit eval` against a stub model answering in 50 ms.

At concurrency 16 the ideal is 16 / 0.05 = 320 examples/s; the target is at least 0.8 of it.
The stub runs in its own process. Two GPTs are measured: free chat (streamed replies) and a
classification GPT (structured JSON answers). By default the stub is a lean one written here
(raw asyncio, canned answers): on a 2-core machine ``botkit.testing``'s aiohttp stub spends more
CPU per request than botkit does and caps the rate near 215/s whatever the client does;
``--testing-stub`` measures against that one instead. Each run is timed end to end
(checking the data, predicting, scoring, the HTML report) and for the predictions alone.

2. Local fine-tuning (``--finetune``; needs ../shared/datasets): accuracy before (the plugin
   without training: label centroids over CLINC150's 100 examples an intent; calibrated likelihood
   with 16 SST-2 examples a label) and after (the head ``botkit finetune local`` trains on the
   whole training file), with the training time. Targets after: CLINC150 >= 0.94, SST-2 >= 0.85.

    python bench/evaluate.py [--examples 2000] [--concurrency 16] [--latency 0.05] [--testing-stub]
    python bench/evaluate.py --finetune
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stub import child_server, stub_server

from botkit.core.bot import Bot
from botkit.evaluation.runner import RunSettings, evaluation_target
from botkit.evaluation.session import EvalRequest, evaluate
from botkit.evaluation.store import RunStore
from botkit.loader import load_catalog
from botkit.plugins import load_registry

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"

_LABEL = json.dumps({"label": "yes", "confidence": 0.9, "rationale": "stub"})
_JSON_BODY = json.dumps(
    {"id": "c", "object": "chat.completion", "created": 0, "model": "stub-model",
     "choices": [{"index": 0, "finish_reason": "stop",
                  "message": {"role": "assistant", "content": _LABEL}}]}
).encode()  # fmt: skip
_SSE_BODY = b"".join(
    b"data: " + json.dumps(
        {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "stub-model",
         "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
    ).encode() + b"\n\n"
    for piece in ("The ", "answer ", "is ", "yes.")
) + b"data: [DONE]\n\n"  # fmt: skip


def _response(body: bytes, kind: bytes) -> bytes:
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Type: {kind.decode()}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _serve_lean(latency: float) -> None:
    """A minimal OpenAI-compatible chat endpoint: keep-alive HTTP/1.1, one canned answer."""
    streamed = _response(_SSE_BODY, b"text/event-stream")
    plain = _response(_JSON_BODY, b"application/json")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                await asyncio.sleep(latency)
                writer.write(streamed if b'"stream":true' in body.replace(b" ", b"") else plain)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{port}/v1", flush=True)
    await server.serve_forever()


def lean_stub(latency: float) -> contextlib.AbstractContextManager[str]:
    """The lean stub below, in a child process."""
    return child_server(__file__, "--serve", str(latency))


def write_config(folder: Path, url: str) -> Path:
    model = {"provider": "openai", "name": "stub-model", "base_url": url, "max_retries": 0}
    gpts = folder / "configs" / "gpts"
    gpts.mkdir(parents=True)
    chat = {"name": "chat", "instructions": "Answer.", "model": model}
    labels = {"yes": "Agrees.", "no": "Disagrees."}
    cls = {
        **chat,
        "name": "cls",
        "task": {"plugin": "classification", "options": {"labels": labels}},
    }
    for spec in (chat, cls):
        (gpts / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return folder / "configs"


DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def _rows(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (DATA / name).open(encoding="utf-8")]


async def _accuracy(
    bot: Bot, gpt: str, options: dict[str, object], rows: list[dict[str, str]]
) -> tuple[float, float]:
    """Accuracy of the classification plugin on ``rows``, and texts/s."""
    from botkit.spec import GPTSpec, ModelSpec
    from botkit.tasks import TaskRequest

    task = bot.task("classification")
    opts = task.Options.model_validate(options)
    spec = GPTSpec(name=gpt, instructions="x", model=ModelSpec(provider="local"))
    await task.run(TaskRequest("warm up", spec, opts, bot))
    started = time.perf_counter()
    right = 0
    for row in rows:
        result = await task.run(TaskRequest(row["text"], spec, opts, bot))
        right += result.label == row["label"]  # type: ignore[attr-defined]
    return right / len(rows), len(rows) / (time.perf_counter() - started)


async def local_finetuning() -> None:
    import random

    from botkit.finetune import local_head
    from botkit.spec import EmbedderSpec

    print("Local fine-tuning (head: logistic regression on WordLlama + TF-IDF features)")
    for name, train_file, test_file in (
        ("CLINC150", "clinc150_train.jsonl", "clinc150_val.jsonl"),
        ("SST-2", "sst2_train.jsonl", "sst2_eval.jsonl"),
    ):
        train, test = _rows(train_file), _rows(test_file)
        examples: dict[str, list[str]] = {}
        for row in train:
            examples.setdefault(row["label"], []).append(row["text"])
        if name == "SST-2":  # the sentiment setting of bench/tasks.py, seed 0
            rng = random.Random(0)
            examples = {label: rng.sample(texts, 16) for label, texts in examples.items()}
            before_method = "likelihood, 16 examples a label"
            options: dict[str, object] = {
                "labels": {k: {"examples": v} for k, v in examples.items()},
                "method": "likelihood",
            }
        else:
            before_method = "centroids, 100 examples an intent"
            options = {
                "labels": {k: {"examples": v} for k, v in examples.items()},
                "method": "embeddings",
            }
        with tempfile.TemporaryDirectory() as home:
            bot = Bot.from_config(
                Path(__file__).resolve().parents[1] / "configs", Path(home), (PLUGINS,)
            )
            before, before_rate = await _accuracy(bot, f"bench-{name.lower()}", options, test)
            spec = EmbedderSpec()
            started = time.perf_counter()
            head = local_head.train(
                bot.embedder(spec),
                [r["text"] for r in train],
                [r["label"] for r in train],
                spec.model_dump(mode="json"),
            )
            seconds = time.perf_counter() - started
            local_head.save(head, local_head.head_dir(Path(home), f"bench-{name.lower()}"))
            after, after_rate = await _accuracy(
                bot, f"bench-{name.lower()}", {**options, "method": "trained"}, test
            )
            await bot.aclose()
        print(
            f"  {name:8} before {before:.3f} ({before_method}, {before_rate:.0f}/s)  after {after:.3f} "
            f"(trained on {len(train)} in {seconds:.1f} s, {after_rate:.0f}/s)"
        )
    print("  targets after training: CLINC150 >= 0.94, SST-2 >= 0.85")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--testing-stub", action="store_true", help="botkit.testing's stub")
    parser.add_argument("--finetune", action="store_true", help="local fine-tuning figures")
    parser.add_argument("--serve", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.finetune:
        asyncio.run(local_finetuning())
        return
    if args.serve is not None:
        asyncio.run(_serve_lean(args.serve))
        return
    ideal = args.concurrency / args.latency
    stub = stub_server if args.testing_stub else lean_stub
    with tempfile.TemporaryDirectory() as tmp, stub(args.latency) as url:
        folder = Path(tmp)
        config = write_config(folder, url)
        data = folder / "data.jsonl"
        with data.open("w", encoding="utf-8") as handle:
            for n in range(args.examples):
                handle.write(json.dumps({"text": f"example number {n}", "label": "yes"}) + "\n")
        registry = load_registry((PLUGINS,))
        catalog = load_catalog(config, registry.providers.keys(), registry.tasks)
        which = "botkit.testing stub" if args.testing_stub else "lean stub"
        print(f"{which}, {args.examples} examples, concurrency {args.concurrency}, stub latency "
              f"{args.latency * 1000:.0f} ms: ideal {ideal:.0f} examples/s, target >= "
              f"{0.8 * ideal:.0f}")  # fmt: skip
        for name in ("chat", "cls"):
            bot = Bot(catalog, registry, None, folder / "home")
            target = evaluation_target(bot, name)
            request = EvalRequest(
                data, use_cache=False, progress=False, settings=RunSettings(args.concurrency)
            )
            started = time.perf_counter()
            run = evaluate(bot, target, request, RunStore(folder / "home" / "evals"))
            total = time.perf_counter() - started
            seconds = sorted(r["seconds"] for r in run.predictions())
            rate = run.info["count"] / run.info["seconds"]
            print(
                f"  {name:5} ({target.kind}): {rate:6.1f} examples/s predicting "
                f"({rate / ideal:.2f} x ideal), {run.info['count'] / total:6.1f}/s end to end "
                f"({total:.2f} s), {run.info['failed']} failed, per-example p50 "
                f"{seconds[len(seconds) // 2] * 1000:.0f} ms"
            )


if __name__ == "__main__":
    main()
