"""What a comparison will run: the interleaved schedule of runs, what it may spend, and
whether its number of runs can detect the configured thresholds (`--dry-run`).

Round by round, each canary runs once against each target, the two runs side by side;
which target goes first alternates (ABBA), so a drift of the endpoint or the network over
the comparison, or an order effect, hits both alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from exporter.config import Compare, Config, RunSpec
from exporter.stats import detectable_rate_change

BASELINE, CANDIDATE = "baseline", "candidate"
SIDES = (BASELINE, CANDIDATE)
# The baseline rate `--dry-run` assumes for errors and refusals when it says what N runs
# can detect: a healthy endpoint's, small but not zero.
ASSUMED_RATE = 0.02
MOST_RUNS = 1_000_000  # the most runs `--dry-run` searches for


class PlanError(ValueError):
    """The command asks for something the config does not have (a usage error)."""


@dataclass(frozen=True, slots=True)
class Slot:
    """One run of the schedule."""

    round: int  # 0-based
    side: str  # baseline | candidate
    spec: RunSpec


@dataclass(frozen=True, slots=True)
class Plan:
    baseline: RunSpec  # of the first canary: the target's name and model
    candidate: RunSpec
    canaries: tuple[str, ...]
    runs: int  # per canary and target
    slots: tuple[Slot, ...]

    @property
    def requests(self) -> int:
        """Requests to the targets (one per turn; judge models' calls not counted)."""
        return sum(len(s.spec.canary.user_turns()) for s in self.slots)

    def tokens(self, side: str | None = None) -> tuple[int, int]:
        """The most (input, output) tokens the runs (of one side) can spend: every answer
        `max_tokens` long, prompts at four characters a token, each turn carrying the
        earlier ones."""
        spent_in = spent_out = 0
        for slot in self.slots:
            if side is not None and slot.side != side:
                continue
            spec = slot.spec
            history = sum(len(m.content) for m in spec.canary.preamble())
            for user in spec.canary.user_turns():
                history += len(user)
                spent_in += math.ceil(history / 4)
                spent_out += spec.max_tokens
                history += spec.max_tokens * 4
        return spent_in, spent_out


def make_plan(
    config: Config, baseline: str, candidate: str, canaries: list[str] | None, runs: int
) -> Plan:
    """The schedule; PlanError names what is wrong with the request."""
    targets = {t.name: t for t in config.targets}
    problems = [f"unknown target {name!r}" for name in (baseline, candidate) if name not in targets]
    if not problems and baseline == candidate:
        problems.append("--baseline and --candidate name the same target")
    known = {c.name: c for c in config.canaries}
    problems += [f"unknown canary {name!r}" for name in canaries or () if name not in known]
    if runs < 1:
        problems.append("--runs must be at least 1")
    if problems:
        raise PlanError("; ".join(problems))
    if canaries:
        chosen = [known[name] for name in dict.fromkeys(canaries)]
    else:  # the canaries that watch the baseline
        chosen = [c for c in config.canaries if c.targets is None or baseline in c.targets]
    if not chosen:
        raise PlanError(f"no canary runs against target {baseline!r}; name some with --canary")
    pairs = [
        (
            RunSpec.resolve(config.defaults, targets[baseline], canary),
            RunSpec.resolve(config.defaults, targets[candidate], canary),
        )
        for canary in chosen
    ]
    slots: list[Slot] = []
    for r in range(runs):
        for i, (base, cand) in enumerate(pairs):
            first, second = ((BASELINE, base), (CANDIDATE, cand))
            order = (first, second) if (r + i) % 2 == 0 else (second, first)
            slots += [Slot(r, side, spec) for side, spec in order]
    return Plan(
        baseline=pairs[0][0],
        candidate=pairs[0][1],
        canaries=tuple(c.name for c in chosen),
        runs=runs,
        slots=tuple(slots),
    )


@dataclass(frozen=True, slots=True)
class Detectable:
    """Whether `n` runs per target can tell a change of a rate as large as `threshold`."""

    metric: str
    threshold: float
    n: int  # runs per target
    smallest: float  # the smallest increase n runs can detect
    needed: int | None  # runs per target that could detect the threshold (None: too many)

    @property
    def enough(self) -> bool:
        return self.smallest <= self.threshold


def detectability(plan: Plan, settings: Compare) -> list[Detectable]:
    """Per canary and overall, for each rate threshold (assuming ASSUMED_RATE as the
    baseline's rate): the smallest increase the planned runs can detect."""
    thresholds = {
        "error_rate": settings.max_error_increase,
        "over_refusal_rate": settings.max_refusal_increase,
        "check_failure_rate": settings.max_check_failure_increase,
    }
    out: list[Detectable] = []
    for scope, n in (("per canary", plan.runs), ("overall", plan.runs * len(plan.canaries))):
        for metric, threshold in thresholds.items():
            smallest = detectable_rate_change(n, ASSUMED_RATE)
            out.append(
                Detectable(f"{metric} ({scope})", threshold, n, smallest, _needed(threshold))
            )
    return out


def _needed(threshold: float) -> int | None:
    """The fewest runs (to a power of two's precision, then bisected) that detect it."""
    if threshold <= 0:
        return None
    high = 1
    while detectable_rate_change(high, ASSUMED_RATE) > threshold:
        high *= 2
        if high > MOST_RUNS:
            return None
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        if detectable_rate_change(middle, ASSUMED_RATE) > threshold:
            low = middle
        else:
            high = middle
    return high


def dry_run_text(plan: Plan, settings: Compare, budgets: dict[str, int | None]) -> str:
    """What `--dry-run` prints: the schedule's size and cost, and what it can detect.
    `budgets` maps each target to its hourly token budget (None: no cost guard)."""
    spent_in, spent_out = plan.tokens()
    base, cand = plan.baseline.target, plan.candidate.target
    lines = [
        f"compare {base.name} ({base.model}) -> {cand.name} ({cand.model})",
        f"  canaries   {len(plan.canaries)}: {', '.join(plan.canaries)}",
        f"  runs       {plan.runs} per canary and target, interleaved: {len(plan.slots)} runs",
        f"  requests   {plan.requests} (judge models' calls not counted)",
        f"  tokens     at most {spent_in + spent_out} ({spent_in} input estimated at four "
        f"characters a token, {spent_out} output at max_tokens)",
    ]
    for side, spec in ((BASELINE, plan.baseline), (CANDIDATE, plan.candidate)):
        hourly = budgets.get(spec.target.name)
        share = sum(plan.tokens(side))
        if hourly is not None and share > hourly:
            lines.append(
                f"  budget     {spec.target.name}: up to {share} tokens, more than its "
                f"tokens_per_hour ({hourly}): the cost guard may stop the comparison short"
            )
    lines.append(f"can {plan.runs} runs tell the thresholds (assuming a {ASSUMED_RATE:.0%} rate)?")
    for d in detectability(plan, settings):
        verdict = "yes" if d.enough else "no"
        need = "" if d.enough or d.needed is None else f"; needs about {d.needed} runs"
        if not d.enough and d.needed is not None and d.metric.endswith("(overall)"):
            per_canary = math.ceil(d.needed / len(plan.canaries))
            need = f"; needs about {d.needed} runs ({per_canary} per canary)"
        lines.append(
            f"  {d.metric:<36} threshold {_pp(d.threshold):>7}  detectable {_pp(d.smallest):>8}"
            f"  {verdict}{need}"
        )
    lines.append(
        "  latency and tokens are compared by their medians; how few runs tell a change "
        "depends on their spread"
    )
    return "\n".join(lines)


def _pp(value: float) -> str:
    return f"{value * 100:.3g}pp"
