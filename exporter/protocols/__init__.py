"""Wire dialects: one module per protocol, each an `async probe(...) -> Exchange`.

Dispatch is a map from the configured protocol name to its probe function. Each dialect's
module is imported when a target first uses it (a config of OpenAI-compatible targets
never loads the Anthropic or Ollama code: issue 22's memory goal), then kept.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence

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


class _Probes(Mapping[Protocol, Probe]):
    """The probe function of each protocol, its module imported on first use."""

    def __init__(self) -> None:
        self._loaded: dict[Protocol, Probe] = {}

    def __getitem__(self, protocol: Protocol) -> Probe:
        probe = self._loaded.get(protocol)
        if probe is None:
            module, name = WHERE[protocol]
            probe = getattr(importlib.import_module(f"exporter.protocols.{module}"), name)
            self._loaded[protocol] = probe
        return probe

    def __iter__(self) -> Iterator[Protocol]:
        return iter(WHERE)

    def __len__(self) -> int:
        return len(WHERE)


PROBES: Mapping[Protocol, Probe] = _Probes()
