"""User-written regular expressions (`regex:` checks, `opentelemetry.redact_patterns`),
compiled with RE2 as Prometheus and blackbox_exporter do: RE2 matches in time linear in
the text, so no answer can make a pattern slow. The price is RE2's syntax: no
backreferences and no lookarounds, and `\\d`, `\\w`, `\\b` are ASCII (`\\pL` is any letter).
"""

from __future__ import annotations

import functools
from typing import Protocol


class Match(Protocol):
    def group(self, index: int = 0) -> str: ...


class Pattern(Protocol):
    def search(self, text: str) -> Match | None: ...

    def sub(self, repl: str, text: str) -> str: ...


@functools.lru_cache(maxsize=1024)
def compile(pattern: str, ignore_case: bool = False) -> Pattern:
    """The pattern compiled by RE2; ValueError with RE2's reason when RE2 cannot."""
    import re2  # type: ignore[import-untyped]  # a shared library: loaded on first use

    options = re2.Options()
    options.log_errors = False  # the reason goes into the ValueError, not to stderr
    options.case_sensitive = not ignore_case
    try:
        compiled: Pattern = re2.compile(pattern, options=options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "?"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        syntax = "RE2 syntax: no backreferences or lookarounds"
        raise ValueError(f"invalid regular expression: {reason} ({syntax})") from None
    return compiled
