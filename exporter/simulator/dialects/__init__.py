"""The wire dialects the simulator speaks, one module each, all sharing one conductor.

Each writes its format from that provider's public specification, independently of the
prober's own protocol code (:mod:`exporter.protocols`).
"""

from __future__ import annotations

from typing import Final

from exporter.simulator.dialects.anthropic import Anthropic
from exporter.simulator.dialects.azure import Azure
from exporter.simulator.dialects.base import Dialect, Encoder
from exporter.simulator.dialects.ollama import Ollama
from exporter.simulator.dialects.openai import OpenAI

OPENAI: Final = OpenAI()
AZURE: Final = Azure()
ANTHROPIC: Final = Anthropic()
OLLAMA: Final = Ollama()
DIALECTS: Final[tuple[Dialect, ...]] = (OPENAI, AZURE, ANTHROPIC, OLLAMA)

__all__ = ["ANTHROPIC", "AZURE", "DIALECTS", "OLLAMA", "OPENAI", "Dialect", "Encoder"]
