"""The embedded store under a real `chatcanary run`: kill -9 mid-write, then restart; a
data directory that cannot hold the file.

The simulator runs as its own process (`chatcanary simulate`): an in-test one would sit on
an event loop that does not turn while these blocking tests wait."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import CLI, free_port, poll

CONFIG = """\
defaults: {{interval: 0.05s, timeout: 5s}}
targets:
  - {{name: local, protocol: openai, base_url: "{url}/v1", model: gpt-4o-mini}}
canaries:
  - {{name: one, prompt: "What is 17+25? Answer with the number only."}}
  - {{name: two, prompt: "What is 2+2? Answer with the number only."}}
store: {{url: "sqlite:///{db}", batch: 5}}
"""


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[str]:
    """`chatcanary simulate` (healthy) in its own process; its base URL."""
    port = free_port()
    with (tmp_path / "simulator.log").open("ab") as out:
        process = subprocess.Popen(
            [*CLI, "simulate", "--listen", f"127.0.0.1:{port}", "--scenario", "healthy"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        poll("simulator listening", lambda: listening(port), timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)


def listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):  # OSError: not yet
        return True


def start(config: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [*CLI, "run", "-c", str(config), "--listen", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return process, f"http://127.0.0.1:{port}"


def post_feedback(url: str, comment: str) -> int:
    request = urllib.request.Request(
        url + "/api/v1/feedback",
        data=json.dumps({"target": "local", "rating": "negative", "comment": comment}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def written_runs(url: str) -> float:
    """`chatcanary_store_writes_total{result="written"}` from the exporter's /metrics."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith('chatcanary_store_writes_total{result="written"} '):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no chatcanary_store_writes_total{result=written} sample")


def count(db: Path, table: str) -> int:
    """Rows in the table; 0 while the file or the table is not there yet."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:  # not migrated yet
        return 0


def test_kill_9_mid_write_loses_no_acknowledged_feedback_and_corrupts_nothing(
    simulator: str, tmp_path: Path
) -> None:
    db = tmp_path / "cc.db"
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(url=simulator, db=db))
    log = tmp_path / "run.log"
    process, url = start(config, log)
    accepted: list[str] = []
    try:
        poll("runs stored", lambda: count(db, "runs"), lambda n: n >= 20, 60)
        for i in range(10):  # runs are being written all along
            if post_feedback(url, f"feedback {i}") == 202:
                accepted.append(f"feedback {i}")
        written = count(db, "runs")  # still writing when killed: a few batches more
        poll("runs still stored", lambda: count(db, "runs"), lambda n: n >= written + 10, 60)
        reported = written_runs(url)  # the writer counts a batch once it is committed
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    assert len(accepted) == 10
    assert count(db, "runs") >= reported > 0  # every batch it said it wrote survived
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        kept = {r[0] for r in conn.execute("SELECT comment FROM feedback")}
    assert set(accepted) <= kept
    runs_before = count(db, "runs")

    process, url = start(config, log)  # restart on the same file: it opens and goes on
    try:
        poll("more runs stored", lambda: count(db, "runs"), lambda n: n > runs_before, 60)
        assert post_feedback(url, "after restart") == 202
    finally:
        process.terminate()
        process.wait(30)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert count(db, "feedback") == 11


def test_a_data_directory_that_cannot_hold_the_file_stops_run_with_what_to_do(
    tmp_path: Path,
) -> None:
    config = tmp_path / "c.yaml"
    # No store url: the file goes in the data directory. Start-up stops before any probe.
    without_url = CONFIG.format(url="http://127.0.0.1:9", db="").splitlines()[:-1]
    config.write_text("\n".join(without_url) + "\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    taken = tmp_path / "taken"
    (taken / "chatcanary.db").mkdir(parents=True)  # a directory where the file would go
    for data_dir in (blocker / "data", taken):
        done = subprocess.run(
            [*CLI, "run", "-c", str(config), "--listen", f"127.0.0.1:{free_port()}",
             "--data-dir", str(data_dir)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert f"sqlite:///{data_dir}/chatcanary.db" in done.stderr
        assert "--data-dir or CHATCANARY_DATA_DIR" in done.stderr
        assert "Traceback" not in done.stderr
        assert "serving" not in done.stderr
