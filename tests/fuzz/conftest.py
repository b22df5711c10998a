"""Hypothesis profiles for the fuzz tests, chosen by HYPOTHESIS_PROFILE.

- `fuzz-quick` (the default): a few hundred examples per property, for `make test`.
- `fuzz`: 10,000 examples per property, for `make fuzz`.

Neither has a per-example deadline: a slow example on a busy machine is not a bug, and
speed is not what these tests measure. Loading a profile changes Hypothesis's defaults
for the whole session, so `fuzz-quick` keeps Hypothesis's own example count and tests
elsewhere run as they would without it.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("fuzz-quick", max_examples=100, deadline=None)
settings.register_profile(
    "fuzz",
    max_examples=10_000,
    deadline=None,
    # big generated streams are the point here, not a sign of a bad strategy
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fuzz-quick"))
