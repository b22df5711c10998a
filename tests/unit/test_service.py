"""exporter/service.py: the running exporter as a library embeds it."""

from __future__ import annotations

import gc

from exporter.config import parse_config
from exporter.service import Service

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
