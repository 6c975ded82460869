"""With ``BOTKIT_FUZZ_REPORT=FILE`` (bench/fuzz.py sets it), count each test's hypothesis examples
by outcome, nested ``@given`` functions included, and write the counts to FILE as JSON."""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

REPORT = os.environ.get("BOTKIT_FUZZ_REPORT")
_current = ""
_counts: defaultdict[str, Counter[str]] = defaultdict(Counter)

if REPORT:
    from hypothesis.internal import observability
    from hypothesis.internal.observability import add_observability_callback

    observability.OBSERVABILITY_COLLECT_COVERAGE = False  # counting needs no line coverage

    def _count(observation: Any, thread_id: int) -> None:
        if observation.type == "test_case":
            _counts[_current][observation.status] += 1

    add_observability_callback(_count, all_threads=True)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(item: pytest.Item) -> Any:
        global _current
        _current = item.name
        return (yield)

    def pytest_sessionfinish(session: pytest.Session) -> None:
        Path(REPORT).write_text(json.dumps({k: dict(v) for k, v in _counts.items()}))
