"""The package as the Docker image installs it: a wheel, its bundled data, its entry
command. (No Docker engine runs here; this is the part of the image that can be tested.)"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_carries_the_package_data_and_its_entry_command_runs(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("chatcanary-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "exporter/data/demo.yaml" in names
    assert "exporter/py.typed" in names
    assert not [n for n in names if n.startswith("tests/")]

    target = tmp_path / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}
    script = (
        "import exporter, sys; from exporter.cli import main, demo_config_text;"
        "assert exporter.__file__.startswith(sys.argv[1]), exporter.__file__;"
        "assert 'targets:' in demo_config_text();"
        "sys.exit(main(['--version']))"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(target)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "chatcanary 0.1.0"
    assert (target / "bin" / "chatcanary").exists()
