"""Wire dialects: one module per protocol, each an `async probe(...) -> Exchange`.

Dispatch is `probe_for(protocol)`, the protocol's probe function. Each dialect's
module is imported when a target first uses it (a config of OpenAI-compatible targets
never loads the Anthropic or Ollama code: issue 22's memory goal), then kept.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Awaitable, Callable, Sequence

import aiohttp

from exporter.config import Message, Protocol, RunSpec
from exporter.result import Exchange

Probe = Callable[[aiohttp.ClientSession, RunSpec, Sequence[Message], float], Awaitable[Exchange]]

# protocol -> (module in exporter.protocols, its probe function)
WHERE: dict[Protocol, tuple[str, str]] = {
    Protocol.OPENAI: ("openai", "probe"),
    Protocol.AZURE_OPENAI: ("openai", "probe_azure"),
    Protocol.ANTHROPIC: ("anthropic", "probe"),
    Protocol.OLLAMA: ("ollama", "probe"),
}


@functools.cache
def probe_for(protocol: Protocol) -> Probe:
    """The probe function of a protocol, its module imported on first use."""
    module, name = WHERE[protocol]
    probe: Probe = getattr(importlib.import_module(f"exporter.protocols.{module}"), name)
    return probe
