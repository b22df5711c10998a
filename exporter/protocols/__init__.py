"""Wire dialects: one module per protocol, each an `async probe(...) -> Exchange`.

Dispatch is a plain map from the configured protocol name to its probe function.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import aiohttp

from exporter.config import Message, Protocol, RunSpec
from exporter.protocols import anthropic, ollama, openai
from exporter.result import Exchange

Probe = Callable[[aiohttp.ClientSession, RunSpec, Sequence[Message], float], Awaitable[Exchange]]

PROBES: dict[Protocol, Probe] = {
    Protocol.OPENAI: openai.probe,
    Protocol.AZURE_OPENAI: openai.probe_azure,
    Protocol.ANTHROPIC: anthropic.probe,
    Protocol.OLLAMA: ollama.probe,
}
