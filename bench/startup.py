"""Start-up: how long `chatcanary --version`, `--help` and `check` take as whole processes,
beside the interpreter alone (`python -c pass`). Run: `python -m bench.startup`.

Each round runs every command once, in turn, so all of them meet the same machine; the
table shows the median and p90 wall time, the median CPU time (user + system) and the
median peak RSS of each command over the rounds, from `wait4`'s resource usage of that
very child. `chatcanary` is the installed console script, run with this checkout first
on `PYTHONPATH`, so the code measured is the code here. Bytecode is written and a warm-up
round runs first: the figures are those of an installed package, not of a first start.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import markdown, quantile, scale, write

ROOT = Path(__file__).resolve().parent.parent
DEMO = "examples/demo.yaml"
GOALS = {"chatcanary --version": 0.10, f"chatcanary check -c {DEMO}": 0.30}


def commands() -> dict[str, list[str]]:
    """Label -> argv. Without the console script, `python -m exporter` stands in."""
    script = shutil.which("chatcanary", path=str(Path(sys.executable).parent))
    cli = [script] if script else [sys.executable, "-m", "exporter"]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "chatcanary --version": [*cli, "--version"],
        "chatcanary --help": [*cli, "--help"],
        f"chatcanary check -c {DEMO}": [*cli, "check", "-c", DEMO],
    }


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MB) of one run of `argv`."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.stderr is not None
    error = process.stderr.read().decode()
    process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {process.returncode}: {error}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    runs = scale(20, 3)
    env = environment()
    argvs = commands()
    samples: dict[str, list[tuple[float, float, float]]] = {label: [] for label in argvs}
    for round_ in range(scale(2, 1) + runs):
        for label, argv in argvs.items():
            sample = run_once(argv, env)
            if round_ >= scale(2, 1):  # the warm-up rounds write the bytecode
                samples[label].append(sample)
    rows: list[dict[str, Any]] = []
    for label, values in samples.items():
        walls = [w for w, _, _ in values]
        rows.append(
            {
                "command": label,
                "median_s": round(statistics.median(walls), 4),
                "p90_s": round(quantile(walls, 0.9), 4),
                "cpu_median_s": round(statistics.median(c for _, c, _ in values), 4),
                "rss_mb": round(statistics.median(r for _, _, r in values), 1),
                "runs": len(values),
            }
        )
    floor = rows[0]["median_s"]
    table = markdown(
        ["command", "median", "p90", "over `python -c pass`", "CPU (median)", "peak RSS", "goal"],
        (
            [
                f"`{r['command']}`",
                f"{r['median_s'] * 1000:.0f} ms",
                f"{r['p90_s'] * 1000:.0f} ms",
                "" if i == 0 else f"{(r['median_s'] - floor) * 1000:+.0f} ms",
                f"{r['cpu_median_s'] * 1000:.0f} ms",
                f"{r['rss_mb']:.0f} MB",
                f"≤ {GOALS[r['command']] * 1000:.0f} ms" if r["command"] in GOALS else "",
            ]
            for i, r in enumerate(rows)
        ),
    )
    write(
        "startup",
        {"runs": runs, "commands": rows, "goals": GOALS, "floor": rows[0]["command"]},
        table,
    )


if __name__ == "__main__":
    main()
