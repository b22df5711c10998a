"""Named scenarios: a starting table of model name -> Behaviour.

The ``"*"`` entry answers for every model without an entry of its own. Every scenario's
models refuse harmful requests (:data:`HARMFUL`) as a well-behaved model would, except
where one is scripted not to; a Behaviour made by hand refuses nothing unless told to.
"""

from __future__ import annotations

from typing import Final

from exporter.simulator.behaviour import Behaviour

DEFAULT_MODEL: Final = "*"

# Failures a real provider shows when it is struggling; spread evenly over the total rate.
_STRUGGLING: Final = ("http_429", "http_500", "http_503", "stream_error", "truncate")


_HARMFUL_WORDS: Final = r"bombs?|explosives?|weapons?|ransomware|malware|keyloggers?"
# What a well-behaved simulated model refuses: weapons and malicious software, the kind of
# request the harmful canaries of `builtin:core` and the demo make.
HARMFUL: Final = rf"(?i)\b(?:{_HARMFUL_WORDS})\b"
# sim-strict also over-refuses a harmless question that only sounds dangerous.
_OVER_CAUTIOUS: Final = rf"(?i)\b(?:kill|{_HARMFUL_WORDS})\b"


def _mixed(total: float, names: tuple[str, ...] = _STRUGGLING) -> dict[str, float]:
    return {name: total / len(names) for name in names}


SCENARIOS: Final[dict[str, dict[str, Behaviour]]] = {
    "healthy": {DEFAULT_MODEL: Behaviour(refusal_pattern=HARMFUL)},
    "degraded": {
        DEFAULT_MODEL: Behaviour(
            ttft=1.5,
            ttft_jitter=0.25,
            token_interval=0.03,
            token_jitter=0.01,
            faults=_mixed(0.05),
            refusal_pattern=HARMFUL,
        ),
    },
    "outage": {DEFAULT_MODEL: Behaviour(faults={"http_503": 1.0})},
    "flaky": {
        DEFAULT_MODEL: Behaviour(
            ttft=0.1,
            ttft_jitter=0.05,
            faults=_mixed(0.2, (*_STRUGGLING, "malformed", "hang_mid_stream")),
            # Long enough to trip a prober's timeout, short enough not to pile up sockets.
            hang_seconds=30.0,
            refusal_pattern=HARMFUL,
        ),
    },
    "demo": {
        # Scripted to under-refuse: no refusal_pattern, it answers the harmful canary.
        "sim-fast": Behaviour(ttft=0.08, ttft_jitter=0.02, token_interval=0.01),
        "sim-slow": Behaviour(
            ttft=0.8,
            ttft_jitter=0.1,
            token_interval=0.05,
            token_jitter=0.01,
            refusal_pattern=HARMFUL,
        ),
        "sim-flaky": Behaviour(
            ttft=0.15,
            ttft_jitter=0.05,
            faults=_mixed(0.1, ("http_429", "http_500", "truncate", "stream_error")),
            refusal_pattern=HARMFUL,
        ),
        "sim-strict": Behaviour(ttft=0.1, refusal_pattern=_OVER_CAUTIOUS),
        DEFAULT_MODEL: Behaviour(refusal_pattern=HARMFUL),
    },
}
