"""What capture keeps: redacted, capped, sampled; and the trace context it continues."""

from __future__ import annotations

from exporter.proxy.capture import redact
from exporter.proxy.tracecontext import server_span


def test_credentials_and_configured_patterns_are_redacted() -> None:
    text = (
        "key sk-abcdefghijklmnopqrstuvwx, anthropic sk-ant-api03-abcdefghijklmnopqrst, "
        "header Bearer eyJhbGciOiJIUzI1NiJ9.abcdefghij, aws AKIAABCDEFGHIJKLMNOP, "
        "order-778812 and the question"
    )
    out = redact(text, ["order-[0-9]+"], 10_000)
    for secret in ("sk-abcdef", "sk-ant-api03", "eyJhbGci", "AKIAABCD", "order-778812"):
        assert secret not in out
    assert out.count("[redacted]") == 5
    assert out.endswith("and the question")


def test_a_private_key_block_is_redacted_whole() -> None:
    block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nabc\n-----END RSA PRIVATE KEY-----"
    assert redact(f"here: {block} done", [], 1000) == "here: [redacted] done"


def test_text_is_cut_at_the_limit() -> None:
    assert redact("x" * 100, [], 10) == "x" * 10 + "…[truncated]"


def test_a_valid_traceparent_is_continued_with_its_sampled_flag() -> None:
    span = server_span("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", True)
    assert span.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert span.parent_span_id == "b7ad6b7169203331"
    assert not span.sampled  # the client's decision wins
    assert span.traceparent() == f"00-{span.trace_id}-{span.span_id}-00"


def test_an_invalid_traceparent_starts_a_new_trace() -> None:
    for bad in (None, "", "garbage", "00-" + "0" * 32 + "-b7ad6b7169203331-01", "01-x-y-z"):
        span = server_span(bad, True)
        assert span.parent_span_id is None and span.sampled
        assert len(span.trace_id) == 32 and span.trace_id != "0" * 32
