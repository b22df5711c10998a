"""The package as the Docker image installs it: a wheel, its bundled data, its entry
command. (No Docker engine runs here; this is the part of the image that can be tested.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import exporter
from tests.integration.conftest import free_port, poll

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_ALERTS = ("operational.yml", "RUNBOOK.md")  # alerts/ links them from the package
# A build fetches its build requirements into a fresh environment: slow on a cold cache.
BUILD_TIMEOUT = 600


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """A copy of the repository to build from. A build writes build/ and *.egg-info beside
    its sources, and two builds of one tree at once (xdist workers, or two test runs side
    by side) would trip over each other's files."""
    copy = tmp_path / "sources"
    skip = (
        ".git",
        ".venv*",
        "build",
        "dist",
        "*.egg-info",
        "__pycache__",
        ".*cache",
        ".hypothesis",
    )
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*skip))
    return copy


@pytest.mark.timeout(BUILD_TIMEOUT)
def test_wheel_carries_the_package_data_and_its_entry_command_runs(
    tmp_path: Path, sources: Path
) -> None:
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(sources),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("chatcanary-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "exporter/data/demo.yaml" in names
    assert "exporter/py.typed" in names
    assert {f"exporter/data/alerts/{name}" for name in SHIPPED_ALERTS} <= set(names)
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
    assert run.stdout.strip() == f"chatcanary {exporter.__version__}"
    assert (target / "bin" / "chatcanary").exists()

    # the operational alerts and their runbook, from the installed copy alone
    command = "import sys; from exporter.cli import main; sys.exit(main(sys.argv[1:]))"
    _assert_shipped_alerts([sys.executable, "-c", command], env, tmp_path)


def _assert_shipped_alerts(chatcanary: list[str], env: dict[str, str], cwd: Path) -> None:
    """`rules --operational` and `rules --runbook` print the files alerts/ links to."""
    for option, name in (("--operational", "operational.yml"), ("--runbook", "RUNBOOK.md")):
        shown = subprocess.run(
            [*chatcanary, "rules", option],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            check=False,
        )
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout == (ROOT / "alerts" / name).read_text(encoding="utf-8")


# --- the version, the distributions, the container image --------------------------------


def test_the_version_lives_in_one_place() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in pyproject["project"]
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "exporter.__version__"}
    changelog = (ROOT / "CHANGELOG.md").read_text()
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, re.MULTILINE)
    assert released and released[0] == exporter.__version__, released


@pytest.mark.timeout(BUILD_TIMEOUT)
def test_python_build_makes_a_wheel_and_an_sdist_that_install_and_run(
    tmp_path: Path, sources: Path
) -> None:
    dist = tmp_path / "dist"
    build = _run([sys.executable, "-m", "build", "--outdir", str(dist), str(sources)], tmp_path)
    output = build.stdout + build.stderr
    assert build.returncode == 0, output
    # setuptools warns of a license table or classifier; the SPDX string needs neither.
    deprecated = re.findall(
        r"(?i)^.*(?:licen[cs]e.*deprecat|deprecat.*licen[cs]e).*$", output, re.M
    )
    assert not deprecated, deprecated
    version = exporter.__version__
    (sdist,) = dist.glob("chatcanary-*.tar.gz")
    (wheel,) = dist.glob("chatcanary-*.whl")
    assert sdist.name == f"chatcanary-{version}.tar.gz"
    assert wheel.name == f"chatcanary-{version}-py3-none-any.whl"
    with tarfile.open(sdist) as archive:
        members = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "exporter/cli.py", "exporter/data/demo.yaml"} <= members
    assert "LICENSE" in members
    with zipfile.ZipFile(wheel) as archive:
        licence = archive.read(f"chatcanary-{version}.dist-info/licenses/LICENSE").decode()
        metadata = archive.read(f"chatcanary-{version}.dist-info/METADATA").decode()
    assert licence == (ROOT / "LICENSE").read_text()
    assert licence.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in licence
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    # The Grafana SDK comes only with the extra `chatcanary dashboards` needs.
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    sdk = [line for line in requires if "grafana-foundation-sdk" in line]
    assert sdk and all(line.endswith('; extra == "dashboards"') for line in sdk), sdk
    assert {f"exporter/data/alerts/{name}" for name in SHIPPED_ALERTS} <= members
    for artifact in (sdist, wheel):  # each installs on its own and runs
        site = tmp_path / f"site-{artifact.suffix}"
        pip = [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site)]
        installed = _run([*pip, str(artifact)], tmp_path)
        assert installed.returncode == 0, installed.stderr
        script = "import sys; from exporter.cli import main; sys.exit(main(['--version']))"
        ran = _run([sys.executable, "-c", script], tmp_path, PYTHONPATH=str(site))
        assert (ran.returncode, ran.stdout.strip()) == (0, f"chatcanary {version}"), ran.stderr


@pytest.mark.timeout(BUILD_TIMEOUT)
def test_the_image_steps_build_install_and_run_against_the_simulator(tmp_path: Path) -> None:
    """The Dockerfile's steps without Docker: the build context its .dockerignore lets
    through, the wheel its build stage makes from it, a clean virtualenv with that wheel
    (as the image's /opt/chatcanary), then ENTRYPOINT + CMD with the config mounted at
    the documented path, and the HEALTHCHECK command."""
    image = dockerfile(ROOT / "Dockerfile")
    context = tmp_path / "context"
    for relative in build_context(ROOT):
        (context / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, context / relative)
    for source in image.build_copies:  # what the build stage copies is in the context
        assert (context / source).exists(), f"COPY {source}: excluded by .dockerignore"
    assert not (context / "tests").exists() and not (context / ".git").exists()

    wheel_build = _run([sys.executable, "-m", "build", "--wheel", "--outdir", "dist", "."], context)
    assert wheel_build.returncode == 0, wheel_build.stdout + wheel_build.stderr
    (wheel,) = (context / "dist").glob("chatcanary-*.whl")
    venv = tmp_path / "opt-chatcanary"
    assert _run([sys.executable, "-m", "venv", str(venv)], tmp_path).returncode == 0
    install = _run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], tmp_path)
    assert install.returncode == 0, install.stderr
    _assert_dashboards_asks_for_its_extra(venv / "bin", tmp_path)

    # The simulator, from the same install (the compose stack runs it so).
    sim_port, port = free_port(), free_port()
    bin_dir = venv / "bin"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    for name in [n for n in env if n.startswith(("OTEL_", "CHATCANARY", "PYTHON"))]:
        del env[name]
    processes = []
    try:
        processes.append(
            subprocess.Popen(
                ["chatcanary", "simulate", "--listen", f"127.0.0.1:{sim_port}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                cwd=tmp_path,
            )
        )
        config = tmp_path / "config.yaml"  # mounted at the path CMD names
        config.write_text(
            "defaults: {interval: 1s, timeout: 5s}\n"
            "targets:\n"
            f"  - {{name: sim, protocol: openai, base_url: 'http://127.0.0.1:{sim_port}/v1', "
            "model: sim-fast}\n"
            "canaries:\n"
            "  - {name: arithmetic, prompt: 'What is 17+25?', checks: [contains: '42']}\n"
        )
        assert image.entrypoint == ["chatcanary"]
        assert CONFIG_PATH in image.cmd and "0.0.0.0:9477" in image.cmd
        command = [
            {CONFIG_PATH: str(config), "0.0.0.0:9477": f"127.0.0.1:{port}"}.get(arg, arg)
            for arg in image.entrypoint + image.cmd
        ]
        log = tmp_path / "run.log"
        with log.open("wb") as out:
            processes.append(
                subprocess.Popen(
                    command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path
                )
            )
        metrics = poll(
            "a successful run on /metrics",
            lambda: _fetch(f"http://127.0.0.1:{port}/metrics"),
            lambda text: 'outcome="success"' in text,
        )
        assert 'chatcanary_probes_total{canary="arithmetic",model="sim-fast"' in metrics
        assert "9477" in " ".join(image.healthcheck)
        healthcheck = [arg.replace("9477", str(port)) for arg in image.healthcheck]
        healthy = _run(healthcheck, tmp_path, PATH=env["PATH"])
        assert healthy.returncode == 0, healthy.stderr
        assert image.exposed == ["9477"]
        _assert_shipped_alerts(["chatcanary"], env, tmp_path)
        messages = [json.loads(line)["msg"] for line in log.read_text().splitlines()]
        assert messages[:2] == ["store open", "serving"]  # JSON logs; the store opens first
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)


def _assert_dashboards_asks_for_its_extra(bin_dir: Path, cwd: Path) -> None:
    """The image installs no extras: the Grafana SDK is absent, and `chatcanary dashboards`
    says which extra brings it instead of a traceback."""
    python = str(bin_dir / "python")
    probe = _run([python, "-c", "import grafana_foundation_sdk"], cwd)
    assert probe.returncode == 1 and "ModuleNotFoundError" in probe.stderr, probe.stderr
    out = cwd / "dashboards-out"
    ran = _run([str(bin_dir / "chatcanary"), "dashboards", "--out", str(out)], cwd)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "pip install 'chatcanary[dashboards]'" in ran.stderr
    assert "Traceback" not in ran.stderr and not out.exists()


CONFIG_PATH = "/etc/chatcanary/config.yaml"


@dataclass
class Image:
    build_copies: list[str] = field(default_factory=list)  # sources the build stage copies
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    exposed: list[str] = field(default_factory=list)
    stages: int = 0


def dockerfile(path: Path) -> Image:
    """The instructions these tests need, from a Dockerfile (continuations joined)."""
    image = Image()
    text = re.sub(r"\\\n", " ", path.read_text())
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "FROM":
            image.stages += 1
        elif instruction == "COPY" and image.stages == 1 and "--from" not in rest:
            image.build_copies += rest.split()[:-1]
        elif instruction == "ENTRYPOINT":
            image.entrypoint = json.loads(rest)
        elif instruction == "CMD":
            image.cmd = json.loads(rest)
        elif instruction == "HEALTHCHECK":
            image.healthcheck = json.loads(rest[rest.index("CMD ") + 4 :])
        elif instruction == "EXPOSE":
            image.exposed = rest.split()
    return image


def build_context(root: Path) -> list[Path]:
    """The files `docker build` sends, by the .dockerignore syntax that file uses: globs,
    `**/` for any depth, `!` to let back in; the last matching line decides; a pattern
    matching a directory covers what is in it."""
    patterns = [
        line.strip()
        for line in (root / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def regex(pattern: str) -> re.Pattern[str]:
        tokens = re.split(r"(\*\*/|\*\*|\*|\?)", pattern)
        glob = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
        return re.compile("".join(glob.get(t, re.escape(t)) for t in tokens))

    rules = [(line.startswith("!"), regex(line.lstrip("!"))) for line in patterns]

    included = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        parts = path.relative_to(root).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        keep = True
        for negate, rule in rules:
            if any(rule.fullmatch(prefix) for prefix in prefixes):
                keep = negate
        if keep:
            included.append(path.relative_to(root))
    return included


def _run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **env},
        timeout=BUILD_TIMEOUT,
        check=False,
    )


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        text: str = response.read().decode()
    return text
