"""Running a plan: every slot through the same runner as `run` and `probe` (the HTTP
client, checks, judge models, refusal verdicts), under the cost guard.

Runs start in the schedule's order, at most `concurrency` at a time overall and each
target's own `concurrency` limit. A run whose target has spent its token budget is not
started: it is counted as skipped, and the analysis works with what did run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from exporter import netguard
from exporter.budget import Budgets
from exporter.compare.plan import BASELINE, Plan, Slot
from exporter.config import Config
from exporter.judges.panel import Panel
from exporter.result import ProbeResult
from exporter.runner import guarded, http_client, run_canary

log = logging.getLogger(__name__)


@dataclass
class Collected:
    """The runs of each side, in the schedule's order, and the ones not run."""

    baseline: list[ProbeResult] = field(default_factory=list)
    candidate: list[ProbeResult] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # target -> runs the budget stopped
    started_at: float = 0.0
    finished_at: float = 0.0


async def collect(
    plan: Plan,
    config: Config,
    concurrency: int,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> Collected:
    """Run every slot of `plan`; never raises for a failing run (it is a result)."""
    budgets = Budgets(time.time)
    budgets.configure(config.budgets())
    panel = Panel(config.judges, None, budgets, time.time)
    overall = asyncio.Semaphore(concurrency)
    limits = {
        t.name: asyncio.Semaphore(t.concurrency or config.defaults.concurrency)
        for t in config.targets
    }
    collected = Collected(started_at=time.time())
    done = 0

    async with http_client(netguard.Policy(config.security.allowed_networks)) as session:

        async def one(slot: Slot) -> ProbeResult | None:
            nonlocal done
            name = slot.spec.target.name
            async with overall, limits[name]:
                if budgets.blocked_until(name, time.time()) is not None:
                    collected.skipped[name] = collected.skipped.get(name, 0) + 1
                    result = None
                else:
                    result = await guarded(lambda s: run_canary(session, s, panel), slot.spec)
                    spent = (result.input_tokens or 0) + (result.output_tokens or 0)
                    budgets.spend(name, spent)
            done += 1
            progress(done, len(plan.slots))
            return result

        # created in order: the semaphores are fair, so runs start in the schedule's order
        results = await asyncio.gather(*(one(slot) for slot in plan.slots))
    for slot, result in zip(plan.slots, results, strict=True):
        if result is not None:
            (collected.baseline if slot.side == BASELINE else collected.candidate).append(result)
    collected.finished_at = time.time()
    for name, count in collected.skipped.items():
        log.warning("token budget spent: runs skipped", extra={"target": name, "runs": count})
    return collected
