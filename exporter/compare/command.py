"""`chatcanary compare`: plan, run, analyse, print, record.

Exit codes: 0 no regression ("cannot tell" warns on stderr), 1 a regression (or "cannot
tell" with --fail-on-inconclusive), 2 a usage or config error.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

from exporter.compare import page, render
from exporter.compare.analyse import Comparison, analyse
from exporter.compare.collect import collect
from exporter.compare.plan import PlanError, dry_run_text, make_plan
from exporter.config import Config, ConfigError, load_config

USAGE = 2


async def main(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for message in exc.messages:
            print(message, file=sys.stderr)
        return USAGE
    settings = config.compare
    runs = settings.runs if args.runs is None else args.runs
    try:
        plan = make_plan(config, args.baseline, args.candidate, args.canary, runs)
    except PlanError as exc:
        print(f"chatcanary: {exc}", file=sys.stderr)
        return USAGE
    if args.dry_run:
        budgets = {name: b.tokens_per_hour for name, b in config.budgets().items()}
        print(dry_run_text(plan, settings, budgets))
        return 0

    def progress(done: int, total: int) -> None:
        if args.progress and (done == total or done % max(1, total // 10) == 0):
            print(f"chatcanary: {done}/{total} runs", file=sys.stderr, flush=True)

    collected = await collect(plan, config, args.concurrency, progress)
    comparison = analyse(plan, collected, settings)
    code = comparison.exit_code(args.fail_on_inconclusive)
    comparison_id = uuid.uuid4().hex[:16]
    recorded = await _record(config, args.data_dir, comparison, code, comparison_id)
    text = _rendered(args.format, comparison, code, comparison_id if recorded else "")
    try:
        _write(text, args.output)
    except OSError as exc:
        print(f"chatcanary: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return USAGE
    for line in _warnings(comparison, args.fail_on_inconclusive):
        print(line, file=sys.stderr)
    return code


def _rendered(kind: str, comparison: Comparison, code: int, comparison_id: str) -> str:
    if kind == "json":
        return render.json_text(comparison, code, comparison_id) + "\n"
    if kind == "html":
        return page.html(comparison, code, comparison_id)
    return render.table(comparison) + "\n"


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        output.write_text(text, encoding="utf-8")


def _warnings(comparison: Comparison, fail_on_inconclusive: bool) -> list[str]:
    out = [
        f"chatcanary: regression: {r.scope} {r.metric} {render.change(r, r.diff.effect)}"
        for r in comparison.regressions
    ]
    if comparison.inconclusive:
        what = "fails" if fail_on_inconclusive else "warning"
        out.append(
            f"chatcanary: {what}: cannot tell {len(comparison.inconclusive)} metrics with "
            f"{comparison.runs} runs; see --dry-run for how many runs can"
        )
    return out


async def _record(
    config: Config, data_dir: Path | None, comparison: Comparison, code: int, comparison_id: str
) -> bool:
    """Keep the comparison in the store, for the report's model-change timeline. A store
    that cannot be used is a warning: the verdict stands without it."""
    from exporter.store import Store, StoreError, URLError, locate
    from exporter.store import data_dir as default_dir

    try:
        location = locate(config.store, default_dir(data_dir))
    except (URLError, OSError) as exc:
        print(f"chatcanary: comparison not recorded: {exc}", file=sys.stderr)
        return False
    store = Store(location, config.store)
    try:
        await store.open(background=False, maintain=False)
        await store.add_comparison(render.document(comparison, code, comparison_id))
    except StoreError as exc:
        print(f"chatcanary: comparison not recorded in the store: {exc}", file=sys.stderr)
        return False
    finally:
        await store.close(0)
    return True
