"""exporter/service.py: the running exporter as a library embeds it."""

from __future__ import annotations

import gc
from pathlib import Path

from exporter.config import parse_config
from exporter.service import Service
from exporter.store import locate

CONFIG = """
defaults: {interval: 1h}
targets: [{name: t, protocol: openai, base_url: "http://127.0.0.1:9/v1", model: m}]
canaries: [{name: c, prompt: hi}]
"""


async def test_starting_a_service_leaves_the_process_garbage_collector_alone() -> None:
    """Regression: `Service.start()` froze the whole process's heap (`gc.freeze()`), a
    decision for the program that owns the process (`chatcanary run`), not a library."""
    service = Service(parse_config(CONFIG, "service.yaml"))
    frozen = gc.get_freeze_count()
    await service.start()
    try:
        assert service.ready
        assert gc.get_freeze_count() == frozen
    finally:
        await service.stop(grace=0)


def test_beside_a_store_memory_keeps_no_runs_in_full(tmp_path: Path) -> None:
    text = CONFIG + "web: {history_size: 200, failures_kept: 20}\n"
    config = parse_config(text, "service.yaml")
    alone = Service(config)
    assert alone.history is not None and alone.history in alone.sinks
    assert (alone.history.size, alone.history.failures) == (200, 20)
    kept = Service(config, store=locate(config.store, tmp_path))
    assert kept.history is None  # the store keeps the runs; memory the grid's Recent
    assert kept.recent in kept.sinks and kept.store in kept.sinks
