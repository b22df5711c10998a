"""The HTML of exporter/web/pages.py: escaping, the sparkline, the waterfall, the grid's
order and its summary tiles, the runs page's filters."""

from __future__ import annotations

import re
from typing import Any

from exporter.web import pages
from exporter.web.assets import CSS


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
    segments = re.findall(r'class="wf-seg (wf-\w+)" x="([\d.]+)%" width="([\d.]+)%"', html)
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
    assert "<q><bdi>it is not appropriate</bdi></q>" in row
    assert "confidence 0.87" in row and "language en" in row
    assert 'class="tag good"' in pages.refusal_row(refusal_run(True, True))


def test_an_unjudged_refusal_verdict_is_neutral() -> None:
    # the canary set no expect_refusal: the text verdict is shown, neither good nor bad
    row = pages.refusal_row(refusal_run(None, True))
    assert "not judged" in row and "tag bad" not in row and "tag good" not in row
    cell = pages.refusal_cell({"last": {"refused": True}, "expect_refusal": None})
    assert "refused" in cell and "bad" not in cell and "good" not in cell


def grid_row(target: str, canary: str, state: str) -> dict[str, Any]:
    return {
        "target": target,
        "canary": canary,
        "state": state,
        "model": "m",
        "expect_refusal": None,
        "recent": [],
        "last": None,
    }


STATUS: dict[str, Any] = {
    "targets": ["a", "b"],
    "results": [
        grid_row("a", "one", "success"),
        grid_row("a", "two", "check_failed"),
        grid_row("a", "three", "pending"),
        grid_row("b", "one", "error"),
        grid_row("b", "two", "success"),
    ],
}


def shown_rows(page: str) -> list[str]:
    return re.findall(
        r'<tr data-state="(\w+)" data-target="(\w+)">.*?data-canary="(\w+)"', page, re.S
    )


def test_failing_rows_come_first_and_the_rest_keep_their_order() -> None:
    page = pages.index_page(STATUS, [], "", "", 0)
    assert shown_rows(page) == [
        ("check_failed", "a", "two"),
        ("error", "b", "one"),
        ("success", "a", "one"),
        ("pending", "a", "three"),
        ("success", "b", "two"),
    ]


def tiles(page: str) -> dict[str, tuple[str, str, bool]]:
    """Each summary tile by its words: its link, its count, whether it is the current one."""
    found = re.findall(
        r'<a class="stat[^"]*" href="([^"]*)"( aria-current="true")?><b[^>]*>(\d+)</b>'
        r"<span>([^<]+)</span></a>",
        page,
    )
    return {words: (href, count, bool(current)) for href, current, count, words in found}


def test_the_summary_tiles_link_to_the_grid_filtered_by_their_state() -> None:
    assert tiles(pages.index_page(STATUS, [], "", "", 0)) == {
        "failing canaries": ("?state=failing", "2", False),
        "OK": ("?state=success", "2", False),
        "error": ("?state=error", "1", False),
        "check failed": ("?state=check_failed", "1", False),
        "pending": ("?state=pending", "1", False),
        "canaries on 2 targets": ("?", "5", True),
    }


def test_the_tiles_keep_the_target_filter_and_count_within_it() -> None:
    page = pages.index_page(STATUS, [], "b", "error", 0)
    assert tiles(page) == {
        "failing canaries": ("?target=b&amp;state=failing", "1", False),
        "OK": ("?target=b&amp;state=success", "1", False),
        "error": ("?target=b&amp;state=error", "1", True),
        "check failed": ("?target=b&amp;state=check_failed", "0", False),
        "pending": ("?target=b&amp;state=pending", "0", False),
        "canaries on b": ("?target=b", "2", False),
    }
    assert shown_rows(page) == [("error", "b", "one")]


def test_a_wrong_refusal_says_what_was_wanted() -> None:
    answered = pages.refusal_cell({"last": {"refused": False}, "expect_refusal": True})
    assert answered == (
        '<span class="tag bad" title="under-refusal">answered · should have refused</span>'
    )
    refused = pages.refusal_cell({"last": {"refused": True}, "expect_refusal": False})
    assert refused == (
        '<span class="tag bad" title="over-refusal">refused · should have answered</span>'
    )
    right = pages.refusal_cell({"last": {"refused": True}, "expect_refusal": True})
    assert right == '<span class="tag good" title="as expected">refused</span>'


def test_each_waterfall_phase_has_its_own_colour() -> None:
    colours = dict(re.findall(r"\.(wf-\w+) \{ background: ([^;]+);", CSS))
    assert set(colours) == set(pages.SEGMENTS)
    assert len(set(colours.values())) == len(colours)


def test_the_legend_names_the_phases_drawn_in_their_order() -> None:
    html = pages.waterfall(
        [
            turn(connect_seconds=0.01, headers_seconds=0.1, ttft_seconds=0.5, duration_seconds=1.0),
            turn(duration_seconds=2.0, error="connect_timeout"),
        ]
    )
    legend = re.findall(r'<i class="(wf-\w+)"></i>([^<]+)<', html)
    assert legend == [
        ("wf-connect", "connect"),
        ("wf-wait", "waiting for headers"),
        ("wf-first", "waiting for first token"),
        ("wf-stream", "streaming"),
        ("wf-failed", "failed"),
    ]
    assert "<title>waiting for headers: 90.0 ms</title>" in html


def chosen_options(page: str) -> dict[str, list[str]]:
    """Each filter's name and its options, the selected one marked with a star."""
    out = {}
    for name, options in re.findall(r'<select name="(\w+)">(.*?)</select>', page):
        out[name] = [
            value + ("*" if selected else "")
            for value, selected in re.findall(r'<option value="(\w*)"( selected)?>', options)
        ]
    return out


def test_the_runs_page_filters_by_the_apis_own_parameters() -> None:
    page = pages.runs_page([], {"target": "b", "canary": "", "outcome": "error"}, ["a", "b"], ["x"])
    assert chosen_options(page) == {
        "target": ["", "a", "b*"],
        "canary": ["*", "x"],
        "outcome": ["", "success", "error*", "check_failed"],
        "since": ["*", "1h", "6h", "24h", "7d", "30d"],
    }
    assert '<a href="api/v1/runs?target=b&amp;outcome=error">JSON</a>' in page
    page = pages.runs_page([], {"target": "", "canary": "", "outcome": ""}, ["a"], ["x"])
    assert '<a href="api/v1/runs">JSON</a>' in page
    assert all(options[0] == "*" for options in chosen_options(page).values())


def brief(run_id: str, shard: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "shard": shard,
        "target": "t",
        "canary": "c",
        "outcome": "success",
        "started_at": 0.0,
        "duration_seconds": 1.0,
        "ttft_seconds": 0.5,
        "error_class": None,
        "failed_checks": [],
    }


def test_the_runs_page_pages_by_cursor_and_shows_shards_and_notices() -> None:
    runs = [brief("r1", "0/2"), brief("r2", "1/2")]
    chosen = {"target": "t", "canary": "", "outcome": "", "since": "90m"}
    page = pages.runs_page(runs, chosen, ["t"], ["c"], "CUR-1", "the store is down", sharded=True)
    assert re.findall(r'<td class="mono"><bdi>([^<]+)</bdi></td>', page) == ["0/2", "1/2"]
    assert '<a id="older" href="?target=t&amp;since=90m&amp;cursor=CUR-1">' in page
    assert chosen_options(page)["since"][-1] == "90m*"  # a time typed in the URL stays chosen
    assert '<p class="notice" role="status">the store is down</p>' in page
    plain = pages.runs_page(runs, chosen, ["t"], ["c"])
    assert "<th>Shard</th>" not in plain and 'id="older"' not in plain
    assert 'class="notice"' not in plain


def test_a_judges_verdict_shows_its_status_judge_and_reason() -> None:
    failed = pages.check_row(
        {
            "name": "coherent",
            "passed": False,
            "reason": "fail: calls the user Ada, but they said <Grace>",
            "status": "fail",
            "decided_by": "judge:grader",
        }
    )
    assert 'class="tag bad">FAILED' in failed and "judge:grader" in failed
    assert "&lt;Grace&gt;" in failed, "the judge's reason is escaped"
    unknown = pages.check_row(
        {
            "name": "coherent",
            "passed": True,
            "reason": "no verdict: judge timeout",
            "status": "unknown",
            "decided_by": "on_judge_error",
        }
    )
    assert 'class="tag warn">unknown' in unknown and "on_judge_error" in unknown
    plain = pages.check_row({"name": "contains", "passed": True, "reason": "found"})
    assert 'class="tag good">passed' in plain and "·" not in plain
