"""The long fuzz run (issue 17). Printed figures; the same tests run short in the test suite.

The hypothesis tests in ``tests/hardening/test_fuzz_*.py`` feed botkit mutated and random input on
every surface it reads: GPT and deployment files, eval and fine-tune data, knowledge documents of
every format (PDF included), console input, the HTTP API's bodies and headers, Slack event and
interaction payloads, Discord gateway payloads. Allowed outcomes: a result, or botkit's own located
error; never an unhandled exception, a hang, a crashed surface or memory without bound.

The test suite draws a few dozen examples a test; this draws ``--examples`` a test (every run a
fresh search: no example database is kept) and prints, per test, the examples run, the share that
hypothesis judged invalid (``assume``/``filter`` gave up), the seconds, and the outcome, then the
totals.

Run: python bench/fuzz.py [--examples 2000] [-k EXPR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "hardening").glob("test_fuzz_*.py")
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="examples a test (default 2000)")
    parser.add_argument("-k", default="", help="only tests matching this pytest -k expression")
    args = parser.parse_args()
    if not TESTS:
        print("no fuzz tests found under tests/hardening/", file=sys.stderr)
        return 2
    report = Path(tempfile.mkdtemp()) / "fuzz-report.json"
    env = {
        **os.environ,
        "BOTKIT_FUZZ_EXAMPLES": str(args.examples),
        "BOTKIT_FUZZ_REPORT": str(report),  # tests/hardening/conftest.py counts the examples
    }
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS]
    cmd += ["--durations=0", "--durations-min=0.5", "-o", "addopts="]
    if args.k:
        cmd += ["-k", args.k]
    print(f"{args.examples} examples a test: {' '.join(cmd[1:])}", flush=True)
    started = time.perf_counter()
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started

    counts: dict[str, dict[str, int]] = json.loads(report.read_text()) if report.exists() else {}
    report.unlink(missing_ok=True)
    seconds: dict[str, float] = {}
    for line in run.stdout.splitlines():  # "12.34s call     tests/...::test_name"
        if m := re.match(r"([\d.]+)s call\s+\S+::(\w+)", line.strip()):
            seconds[m.group(2)] = float(m.group(1))
    print(f"\n{'test':58} {'examples':>9} {'failing':>8} {'invalid':>8} {'seconds':>8}")
    total = [0, 0, 0, 0.0]
    for name, by in counts.items():
        row = [sum(by.values()), by.get("failed", 0), by.get("gave_up", 0), seconds.get(name, 0.0)]
        print(f"{name:58} {row[0]:9} {row[1]:8} {row[2]:8} {row[3]:8.1f}")
        total = [t + v for t, v in zip(total, row, strict=True)]
    print(f"{'total':58} {total[0]:9} {total[1]:8} {total[2]:8} {total[3]:8.1f}")
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    print(f"\npytest: {summary}  (wall {wall:.0f} s, exit {run.returncode})")
    if run.returncode:
        full = report.with_name("fuzz-output.txt")
        full.write_text(run.stdout + run.stderr)
        print("\n" + run.stdout[-6000:] + run.stderr[-2000:])
        print(f"\n(the whole output: {full})")
    return run.returncode


if __name__ == "__main__":
    raise SystemExit(main())
