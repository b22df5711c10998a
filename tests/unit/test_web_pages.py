"""The HTML of exporter/web/pages.py: escaping, the sparkline, the waterfall."""

from __future__ import annotations

import re
from typing import Any

from exporter.web import pages


def test_durations_read_well_at_every_scale() -> None:
    assert pages.ms(0.0004) == "0.4 ms"
    assert pages.ms(0.25) == "250 ms"
    assert pages.ms(12.34) == "12.3 s"
    assert "muted" in pages.ms(None)


def test_the_sparkline_marks_failed_runs() -> None:
    recent = [
        {"duration_seconds": d, "outcome": o, "run_id": str(i)}
        for i, (d, o) in enumerate([(0.1, "success"), (0.5, "error"), (0.2, "check_failed")])
    ]
    svg = pages.spark(recent)
    points = re.search(r'points="([^"]+)"', svg)
    assert points is not None and len(points.group(1).split()) == 3
    assert svg.count('class="bad"') == 2
    assert "max 500 ms" in svg
    assert "no runs yet" in pages.spark([])


def turn(**timings: Any) -> dict[str, Any]:
    base = {"connect_seconds": None, "headers_seconds": None, "ttft_seconds": None}
    return {"turn": 1, "timings": {**base, **timings}, "error_class": timings.pop("error", None)}


def test_the_waterfall_has_a_segment_per_phase() -> None:
    html = pages.waterfall(
        [turn(connect_seconds=0.01, headers_seconds=0.1, ttft_seconds=0.5, duration_seconds=1.0)]
    )
    segments = re.findall(r'class="wf-seg (wf-\w+)" style="left:([\d.]+)%;width:([\d.]+)%', html)
    assert segments == [
        ("wf-connect", "0.00", "1.00"),
        ("wf-wait", "1.00", "9.00"),
        ("wf-first", "10.00", "40.00"),
        ("wf-stream", "50.00", "50.00"),
    ]


def test_a_request_that_never_got_headers_shows_as_failed() -> None:
    html = pages.waterfall([turn(duration_seconds=2.0, error="connect_timeout")])
    assert re.findall(r'class="wf-seg (wf-\w+)"', html) == ["wf-failed"]


def test_answers_are_escaped() -> None:
    run: dict[str, Any] = {
        "preamble": [],
        "refused": False,
        "turns": [
            {
                "turn": 1,
                "prompt": "say <b>",
                "answer": "<script>alert(1)</script>",
                "refusal": None,
                "http_status": 200,
                "finish_reason": "stop",
                "output_tokens": 3,
                "tokens_estimated": False,
                "error_class": None,
                "error_detail": None,
            }
        ],
    }
    html = pages.exchange(run)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "say &lt;b&gt;" in html


def refusal_run(expect: bool | None, refused: bool) -> dict[str, Any]:
    return {
        "expect_refusal": expect,
        "refused": refused,
        "refusal_detector": "lecture",
        "refusal_reason": "it is not appropriate",
        "refusal_confidence": 0.87,
        "refusal_language": "en",
    }


def test_the_refusal_verdict_shows_its_phrase_confidence_and_language() -> None:
    row = pages.refusal_row(refusal_run(False, True))
    assert 'class="tag bad"' in row and "expected to answer" in row
    assert "<q>it is not appropriate</q>" in row
    assert "confidence 0.87" in row and "language en" in row
    assert 'class="tag good"' in pages.refusal_row(refusal_run(True, True))


def test_an_unjudged_refusal_verdict_is_neutral() -> None:
    # the canary set no expect_refusal: the text verdict is shown, neither good nor bad
    row = pages.refusal_row(refusal_run(None, True))
    assert "not judged" in row and "tag bad" not in row and "tag good" not in row
    cell = pages.refusal_cell({"last": {"refused": True}, "expect_refusal": None})
    assert "refused" in cell and "bad" not in cell and "good" not in cell
