"""Hypothesis settings shared by the property tests.

Bounded so CI stays fast and replays the same way: derandomized, no example database, no deadline
(CI machines are shared). MINAN_HYPOTHESIS_SCALE multiplies the example counts (e.g. 20 for a long
local hunt) and MINAN_HYPOTHESIS_RANDOM=1 draws new examples on each run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE = float(os.environ.get("MINAN_HYPOTHESIS_SCALE", "1"))
RANDOM = os.environ.get("MINAN_HYPOTHESIS_RANDOM", "") == "1"


def bounded(examples: int, **extra: object) -> settings:
    """Settings for one property: `examples` cases (scaled), derandomized unless asked otherwise."""
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        database=None,
        derandomize=not RANDOM,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        **extra,  # type: ignore[arg-type]
    )


# Pure functions (codecs, check characters, calendars): cheap, so many examples.
PURE = bounded(300)
# Sequences of service calls on the database: fewer, each a whole sequence.
SERVICES = bounded(25)
