"""`chatcanary export` (exporter.store.export through the CLI) on a SQLite file the store
wrote: runs, feedback and model changes as JSON lines and CSV, newest first; `--since`;
`-o FILE`; the exit codes."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from exporter.cli import main
from exporter.feedback import Feedback, Rating
from exporter.result import Exchange, Outcome, TrafficOutcome, TrafficRecord, Verdict
from tests.unit.store_helpers import run, sqlite_store

NOW = float(int(time.time()))
HOUR, DAY = 3600.0, 86400.0

CONFIG = """\
targets: [{{name: local, protocol: openai, base_url: "http://127.0.0.1:9/v1", model: m}}]
canaries: [{{name: a, prompt: hi}}]
store: {{url: "{url}"{extra}}}
"""


def config(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.format(url=url, extra=extra), encoding="utf-8")
    return path


def feedback(comment: str, at: float, rating: str) -> Feedback:
    return Feedback(
        target="local",
        rating=Rating(rating),
        category="incorrect",
        comment=comment,
        conversation_id="conv-1",
        received_at=at,
        run_id="",
    )


@pytest.fixture
async def kept(tmp_path: Path) -> dict[str, Any]:
    """A store file with 3 runs (2 days ago, then 2 and 1 hours ago; the last one failed
    and changed the model fingerprint) and 2 feedback submissions (2 days and 1 hour ago)."""
    store = sqlite_store(tmp_path, shard="0/1")
    await store.open()
    runs = [
        run(NOW - 2 * DAY, fingerprint="fp_1"),
        run(NOW - 2 * HOUR, fingerprint="fp_1"),
        run(NOW - HOUR, outcome=Outcome.CHECK_FAILED, fingerprint="fp_2"),
    ]
    try:
        for result in runs:
            store.record(result)
        await store.flush()
        await store.add_feedback(feedback("too slow", NOW - 2 * DAY, "negative"))
        await store.add_feedback(feedback("great, thanks", NOW - HOUR, "positive"))
    finally:
        await store.close()
    return {"config": config(tmp_path, f"sqlite:///{tmp_path / 'cc.db'}"), "runs": runs}


async def export(*args: str | Path) -> int:
    """`chatcanary export ARGS` (its own event loop, so in a thread)."""
    return await asyncio.to_thread(main, ["export", *map(str, args)])


async def test_runs_as_json_lines_newest_first(
    kept: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert await export("-c", kept["config"], "runs") == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [r["run_id"] for r in lines] == [r.run_id for r in reversed(kept["runs"])]
    newest = lines[0]
    assert newest["outcome"] == "check_failed" and newest["failed_checks"] == ["contains"]
    assert newest["shard"] == "0/1" and newest["started_at"] == NOW - HOUR
    assert newest["system_fingerprint"] == "fp_2" and newest["content_kept"] is True
    assert newest["verdicts"] == [
        {
            "name": "contains",
            "passed": False,
            "status": "fail",
            "decided_by": "check",
            "reason": "no '42'",
        }
    ]
    assert "answer" not in newest  # the content stays in the store
    assert "exported 3 runs" in err


async def test_since_keeps_the_recent_records_only(
    kept: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert await export("-c", kept["config"], "runs", "--since", "1d") == 0
    ids = [json.loads(line)["run_id"] for line in capsys.readouterr().out.splitlines()]
    assert ids == [kept["runs"][2].run_id, kept["runs"][1].run_id]
    assert await export("-c", kept["config"], "feedback", "--since", "3h") == 0
    comments = [json.loads(line)["comment"] for line in capsys.readouterr().out.splitlines()]
    assert comments == ["great, thanks"]


async def test_feedback_and_model_changes_as_csv(
    kept: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert await export("-c", kept["config"], "feedback", "--format", "csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["comment"], r["rating"]) for r in rows] == [
        ("great, thanks", "positive"),
        ("too slow", "negative"),
    ]
    assert rows[0]["conversation_id"] == "conv-1" and rows[0]["shard"] == "0/1"
    assert float(rows[1]["received_at"]) == NOW - 2 * DAY

    assert await export("-c", kept["config"], "model-changes", "--format", "csv") == 0
    (change,) = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert change["run_id"] == kept["runs"][2].run_id
    assert (change["old_system_fingerprint"], change["new_system_fingerprint"]) == ("fp_1", "fp_2")


async def test_runs_as_csv_with_lists_as_json_into_a_file(
    kept: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs.csv"
    assert await export("-c", kept["config"], "runs", "--format", "csv", "-o", out) == 0
    assert capsys.readouterr().out == ""
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert [r["run_id"] for r in rows] == [r.run_id for r in reversed(kept["runs"])]
    assert json.loads(rows[0]["failed_checks"]) == ["contains"]
    assert json.loads(rows[2]["verdicts"])[0]["status"] == "pass"


async def test_exit_2_for_a_bad_config_a_missing_file_an_unusable_one_or_an_unwritable_output(
    kept: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await export("-c", tmp_path / "nope.yaml", "runs") == 2
    assert "cannot read config" in capsys.readouterr().err

    missing = tmp_path / "missing"
    missing.mkdir()
    assert await export("-c", config(missing, f"sqlite:///{missing / 'no.db'}"), "runs") == 2
    assert "no store at" in capsys.readouterr().err
    assert not (missing / "no.db").exists()  # export creates nothing

    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "x.db").write_bytes(b"this is not a database" * 100)
    assert await export("-c", config(junk, f"sqlite:///{junk / 'x.db'}"), "runs") == 2
    assert "not a usable SQLite database" in capsys.readouterr().err

    out = tmp_path / "no-such-dir" / "runs.jsonl"
    assert await export("-c", kept["config"], "runs", "-o", out) == 2
    assert "cannot write" in capsys.readouterr().err


async def test_exit_3_when_the_store_is_unreachable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 1 on the loopback: nothing listens there, the connection is refused at once.
    url = "postgresql://cc:hunter2x@127.0.0.1:1/canary"
    assert await export("-c", config(tmp_path, url), "runs") == 3
    err = capsys.readouterr().err
    assert "unavailable" in err and "hunter2x" not in err


async def test_export_reads_and_deletes_nothing(kept: dict[str, Any], tmp_path: Path) -> None:
    # Runs past the configured age are still exported: export runs no retention pass.
    short = ", retention: {runs: 1h, failed_runs: 1h, summaries: 1h}"
    path = config(tmp_path, f"sqlite:///{tmp_path / 'cc.db'}", short)
    assert await export("-c", path, "runs", "-o", tmp_path / "all.jsonl") == 0
    assert len((tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()) == 3
    with sqlite3.connect(tmp_path / "cc.db") as db:
        assert db.execute("SELECT count(*) FROM run_content").fetchone()[0] == 3


def test_the_installed_command_exits_with_the_code(kept_sync: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "exporter", "export", "-c", str(kept_sync), "feedback"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and "exported 0 feedback" in done.stderr


@pytest.fixture
def kept_sync(tmp_path: Path) -> Path:
    """An empty store file (migrated by `chatcanary db upgrade`)."""
    path = config(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}")
    assert main(["db", "upgrade", "-c", str(path)]) == 0
    return path


async def test_captured_traffic_newest_first_across_pages_without_its_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Captured proxy exchanges export like runs: metadata and verdict, the text left in
    the store; more than one page (1,000) of them, each exactly once, newest first."""
    store = sqlite_store(tmp_path, shard="0/1")
    await store.open()
    count = 1_234
    started = NOW - DAY
    records = [
        TrafficRecord(
            exchange_id=f"x{i:05d}",
            proxy="front",
            route="chat",
            method="POST",
            path="/v1/chat/completions",
            model="m",
            tenant=None,
            stream=i % 2 == 0,
            started_at=started + (i // 2),  # two exchanges share each second
            outcome=TrafficOutcome.SUCCESS,
            exchange=Exchange(
                status=200, duration_seconds=0.5, prompt="what is 2+2?", text="secret-ish answer"
            ),
            refusal=Verdict(refused=i == 7, detector="text", reason=""),
            conversation_id=f"conv-{i}",
            captured=True,
        )
        for i in range(count)
    ]
    try:
        await store.add_traffic(records)
    finally:
        await store.close()
    path = config(tmp_path, f"sqlite:///{tmp_path / 'cc.db'}")
    assert await export("-c", path, "traffic") == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == count and f"exported {count} traffic" in err
    assert [r["exchange_id"] for r in lines] == [f"x{i:05d}" for i in reversed(range(count))]
    seventh = next(r for r in lines if r["exchange_id"] == "x00007")
    assert seventh["refusal"] == {"refused": True, "detector": "text"}
    assert seventh["conversation_id"] == "conv-7" and seventh["shard"] == "0/1"
    assert seventh["proxy"] == "front" and seventh["http_status"] == 200
    assert "secret-ish" not in out and "what is 2+2" not in out  # the text stays in the store
    assert await export("-c", path, "traffic", "--since", "1h") == 0
    assert capsys.readouterr().out == ""  # every exchange is a day old
