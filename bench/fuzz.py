"""The long fuzz run (issue 17). Printed figures; the same tests run short in the test suite.

The hypothesis tests in ``tests/hardening/test_fuzz_*.py`` feed botkit mutated and random input on
every surface it reads: GPT and deployment files, eval and fine-tune data, knowledge documents of
every format (PDF included), console input, the HTTP API's bodies and headers, Slack event and
interaction payloads, Discord gateway payloads. Allowed outcomes: a result, or botkit's own located
error; never an unhandled exception, a hang, a crashed surface or memory without bound.

The test suite draws a few dozen examples a test; this draws ``--examples`` a test (every run a
fresh search: no example database is kept) and prints, per test, the examples run, the share that
hypothesis judged invalid, the time, and the outcome, then the totals.

Run: python bench/fuzz.py [--examples 2000] [-k EXPR]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "hardening").glob("test_fuzz_*.py")
)

# pytest-hypothesis statistics: "tests/...::test_name:" then "- during generate phase (12.3
# seconds):" and "- 2000 passing examples, 0 failing examples, 14 invalid examples".
_TEST = re.compile(r"^(tests/\S+::\S+?):?$")
_COUNTS = re.compile(r"(\d+) passing examples?, (\d+) failing examples?, (\d+) invalid examples?")
_PHASE = re.compile(r"during (\w+) phase \(([\d.]+) seconds\)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="examples a test (default 2000)")
    parser.add_argument("-k", default="", help="only tests matching this pytest -k expression")
    args = parser.parse_args()
    if not TESTS:
        print("no fuzz tests found under tests/hardening/", file=sys.stderr)
        return 2
    env = {**os.environ, "BOTKIT_FUZZ_EXAMPLES": str(args.examples)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS]
    cmd += ["--hypothesis-show-statistics", "-o", "addopts="]
    if args.k:
        cmd += ["-k", args.k]
    print(f"{args.examples} examples a test: {' '.join(cmd[1:])}", flush=True)
    started = time.perf_counter()
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started

    rows: dict[str, list[float]] = {}
    current = ""
    for line in run.stdout.splitlines():
        line = line.strip()
        if m := _TEST.match(line):
            current = m.group(1).split("::", 1)[1]
            rows.setdefault(current, [0, 0, 0, 0.0])
        elif current and (m := _PHASE.search(line)):
            rows[current][3] += float(m.group(2))
        elif current and (m := _COUNTS.search(line)):
            for i in range(3):
                rows[current][i] += int(m.group(i + 1))
    print(f"\n{'test':58} {'examples':>9} {'failing':>8} {'invalid':>8} {'seconds':>8}")
    total = [0.0, 0.0, 0.0, 0.0]
    for name, (passing, failing, invalid, seconds) in rows.items():
        print(f"{name:58} {passing + failing:9.0f} {failing:8.0f} {invalid:8.0f} {seconds:8.1f}")
        total = [t + v for t, v in zip(total, (passing, failing, invalid, seconds), strict=True)]
    print(
        f"{'total':58} {total[0] + total[1]:9.0f} {total[1]:8.0f} {total[2]:8.0f} {total[3]:8.1f}"
    )
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    print(f"\npytest: {summary}  (wall {wall:.0f} s, exit {run.returncode})")
    if run.returncode:
        print("\n" + run.stdout[-6000:] + run.stderr[-2000:])
    return run.returncode


if __name__ == "__main__":
    raise SystemExit(main())
