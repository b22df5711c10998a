"""The embedded store under a real `chatcanary run`: kill -9 mid-write, then restart."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from tests.integration.conftest import CLI, Sim, free_port, poll

CONFIG = """\
defaults: {{interval: 0.05s, timeout: 5s}}
targets:
  - {{name: local, protocol: openai, base_url: "{url}/v1", model: gpt-4o-mini}}
canaries:
  - {{name: one, prompt: "What is 17+25? Answer with the number only."}}
  - {{name: two, prompt: "What is 2+2? Answer with the number only."}}
store: {{url: "sqlite:///{db}", batch: 5}}
"""


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
    simulator: Sim, tmp_path: Path
) -> None:
    db = tmp_path / "cc.db"
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.format(url=simulator.url, db=db))
    log = tmp_path / "run.log"
    process, url = start(config, log)
    accepted: list[str] = []
    try:
        poll("runs stored", lambda: count(db, "runs"), lambda n: n >= 20, 60)
        for i in range(10):  # runs are being written all along
            if post_feedback(url, f"feedback {i}") == 202:
                accepted.append(f"feedback {i}")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    assert len(accepted) == 10
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
