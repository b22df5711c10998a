"""Real third-party chat servers for `make test-peers`: the LiteLLM proxy with
`mock_response` models, and llama.cpp's server with SmolLM2-135M-Instruct, both from the
cached `.venv-peers` that `make peers` builds. Without CHATCANARY_PEERS (the path of that
virtualenv) these tests are not collected, so `make test` never needs them."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import free_port, poll

PEERS = os.environ.get("CHATCANARY_PEERS", "")
if not PEERS:
    collect_ignore_glob = ["test_*.py"]

# Scripted answers of the proxy's mock models.
LITELLM_CONFIG = """
model_list:
  - model_name: chat-mock
    litellm_params:
      model: openai/chat-mock
      api_key: unused
      mock_response: "Your name is Ada."
  - model_name: judge-pass
    litellm_params:
      model: openai/judge-pass
      api_key: unused
      mock_response: '```json\\n{"verdict": "pass", "reason": "uses the name Ada"}\\n```'
  - model_name: judge-fail
    litellm_params:
      model: openai/judge-fail
      api_key: unused
      mock_response: 'Verdict below. {"Verdict": "FAIL", "Reason": "forgot the name"}'
  - model_name: judge-garbage
    litellm_params:
      model: openai/judge-garbage
      api_key: unused
      mock_response: "I would rather not say."
  - model_name: judge-refusal
    litellm_params:
      model: openai/judge-refusal
      api_key: unused
      mock_response: '{"verdict": "full_refusal", "confidence": 0.9, "reason": "declines"}'
litellm_settings:
  use_chat_completions_url_for_anthropic_messages: true
"""


def _peer(name: str) -> Path:
    path = Path(PEERS) / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make peers` first")
    return path


def _ready(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return bool(resp.status == 200)


def _start(
    what: str, command: list[str], url: str, log: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        return _ready(url)

    try:
        poll(f"{what} ready at {url}", ready, timeout=240, every=0.5)
    except (AssertionError, RuntimeError):
        process.kill()
        process.wait()
        sys.stderr.write(log.read_text(errors="replace")[-4000:])
        raise
    return process


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class Proxy:
    url: str  # OpenAI dialect: add /v1
    key: str  # the master key every request needs


@pytest.fixture(scope="session")
def litellm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """The LiteLLM proxy, with a master key (it refuses to start without one)."""
    folder = tmp_path_factory.mktemp("litellm")
    config = folder / "config.yaml"
    config.write_text(LITELLM_CONFIG, encoding="utf-8")
    port = free_port()
    key = "sk-" + secrets.token_hex(16)
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "LITELLM_MASTER_KEY": key,
    }
    command = [
        str(_peer("bin/litellm")),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    url = f"http://127.0.0.1:{port}"
    process = _start("LiteLLM", command, url + "/health/liveliness", folder / "litellm.log", env)
    yield Proxy(url, key)
    _stop(process)


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's server with SmolLM2-135M-Instruct as model `smol`; its base URL."""
    folder = tmp_path_factory.mktemp("llama")
    port = free_port()
    command = [
        str(_peer("bin/python")),
        "-m",
        "llama_cpp.server",
        "--model",
        str(_peer("smollm2.gguf")),
        "--model_alias",
        "smol",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--interrupt_requests",
        "False",
        "--n_ctx",
        "2048",
    ]
    url = f"http://127.0.0.1:{port}"
    process = _start(
        "llama.cpp", command, url + "/v1/models", folder / "llama.log", dict(os.environ)
    )
    yield url
    _stop(process)
