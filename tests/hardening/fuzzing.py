"""Shared settings for the fuzz tests: a short run in the test suite, a long one from bench/fuzz.py.

``BOTKIT_FUZZ_EXAMPLES`` sets how many examples each fuzz test draws (bench/fuzz.py raises it);
nothing is stored between runs, so every run is a fresh search and CI stays reproducible per seed.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

#: Examples per fuzz test: a quick sweep in the suite, thousands from ``bench/fuzz.py``.
EXAMPLES = int(os.environ.get("BOTKIT_FUZZ_EXAMPLES", "60"))


def fuzz_settings(scale: float = 1.0) -> settings:
    """Hypothesis settings for one fuzz test; ``scale`` shrinks the count for costly examples."""
    return settings(
        max_examples=max(5, int(EXAMPLES * scale)),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
