"""Embedded-model benchmarks (issue: core). Figures are printed; nothing here is a pass/fail test.

(1) Tokens/s of botkit's embedded provider vs raw llama-cpp-python, on the same loaded model, the
    same prompt and settings (temperature 0, fixed max_tokens), runs alternated in one process.
    Target: botkit >= 0.95 x raw.
(2) Time from starting `botkit console --gpt translator` (piped input) to its first token on stdout,
    and to the end of the reply: a fresh process each time, as a user would see it.

Run: python bench/local_model.py [--rounds 5] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from botkit.models.base import ChatMessage
from botkit.models.local import DEFAULT_CONTEXT, LocalModel, embedded_model_path, load_llama
from botkit.spec import GenerationParams, ModelSpec

REPO = Path(__file__).resolve().parents[1]
PROMPT = [
    ChatMessage(role="system", content="You are a helpful assistant."),
    ChatMessage(role="user", content="Write a short story about a lighthouse keeper and a storm."),
]


def raw_run(max_tokens: int) -> tuple[int, float]:
    llama, lock = load_llama(embedded_model_path(), DEFAULT_CONTEXT)
    with lock:
        t0 = time.perf_counter()
        n = 0
        for chunk in llama.create_chat_completion(
            messages=list(PROMPT), stream=True, temperature=0, max_tokens=max_tokens
        ):
            if chunk["choices"][0]["delta"].get("content"):
                n += 1
        return n, time.perf_counter() - t0


async def botkit_run(model: LocalModel, max_tokens: int) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = 0
    async for item in model.stream(PROMPT, GenerationParams(temperature=0, max_tokens=max_tokens)):
        n += isinstance(item, str)  # text chunks; the stream ends with a StreamEnd (usage)
    return n, time.perf_counter() - t0


async def throughput(rounds: int, max_tokens: int) -> None:
    model = LocalModel(ModelSpec())
    await model.load()
    raw_run(8)  # warm-up both paths
    await botkit_run(model, 8)
    raw: list[float] = []
    ours: list[float] = []
    for _ in range(rounds):
        n, s = raw_run(max_tokens)
        raw.append(n / s)
        n2, s2 = await botkit_run(model, max_tokens)
        ours.append(n2 / s2)
        assert n == n2, f"the two paths generated {n} and {n2} tokens"
    r, b = statistics.median(raw), statistics.median(ours)
    paired = statistics.median(o / w for o, w in zip(ours, raw, strict=True))
    print(
        f"(1) SmolLM2-135M Q4_1, n_ctx {DEFAULT_CONTEXT}, {os.cpu_count()} threads, "
        f"{max_tokens} tokens, {rounds} rounds"
    )
    print(f"    raw llama-cpp-python   {r:7.1f} tokens/s (median)")
    print(f"    botkit embedded        {b:7.1f} tokens/s (median)")
    print(
        f"    ratio of medians       {b / r:7.3f}   median of paired ratios {paired:.3f}   target >= 0.95"
    )


def console_first_token(rounds: int) -> None:
    firsts, totals = [], []
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "BOTKIT_HOME": home}
        for _ in range(rounds):
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-m", "botkit", "console", "--gpt", "translator"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=REPO,
                env=env,
            )
            assert proc.stdin and proc.stdout
            proc.stdin.write(b"Where is the train station?\n")
            proc.stdin.close()
            proc.stdout.read(1)
            firsts.append(time.perf_counter() - t0)
            proc.stdout.read()
            proc.wait()
            totals.append(time.perf_counter() - t0)
    print(f"(2) `botkit console --gpt translator`, fresh process, {rounds} rounds (median)")
    print(f"    start to first token   {statistics.median(firsts):6.2f} s")
    print(f"    start to end of reply  {statistics.median(totals):6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()
    asyncio.run(throughput(args.rounds, args.max_tokens))
    console_first_token(args.rounds)


if __name__ == "__main__":
    main()
