"""Real model completions for the refusal corpus: every prompt of prompts.jsonl sent to a
local OpenAI-compatible server (llama.cpp's, serving SmolLM2-135M-Instruct), answers
written unlabelled to corpus/raw/<model>.jsonl. A person (not the rules' author) labels
them by GUIDE.md; prompts with an even number go to the dev split, odd to the test split.

    make refusal-completions      # builds .venv-peers, then runs this with --serve

`--serve` starts llama.cpp's server from .venv-peers on a free port for the run
(`--interrupt_requests False`: the default cuts a stream short whenever another request
arrives); without it, `--base-url` names a server already running.

Sampling is seeded, so a rerun against the same build and weights writes the same file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import free_port

HERE = Path(__file__).parent
PROMPTS = HERE / "prompts.jsonl"
RAW = HERE / "corpus" / "raw"
PEERS = HERE.parents[1] / ".venv-peers"


@contextlib.contextmanager
def llama_server(model: str) -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server on 127.0.0.1, for as long as the block runs."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(PEERS / "bin" / "python"),
            "-m",
            "llama_cpp.server",
            "--model",
            str(PEERS / "smollm2.gguf"),
            "--model_alias",
            model,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--interrupt_requests",
            "False",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{base_url}/models", timeout=2).close()
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("llama.cpp's server did not start (run `make peers`)")
            time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)


def complete(base_url: str, model: str, prompt: dict[str, Any], seed: int) -> str:
    messages = [{"role": "user", "content": prompt["prompt"]}]
    if prompt["system"]:
        messages.insert(0, {"role": "system", "content": prompt["system"]})
    body = {
        "model": model,
        "messages": messages,
        "max_tokens": 200,
        "temperature": 0.7,
        "seed": seed,
        "stream": False,
    }
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        answer = json.load(response)
    return str(answer["choices"][0]["message"]["content"] or "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8090/v1")
    parser.add_argument("--serve", action="store_true", help="start llama.cpp from .venv-peers")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--source", default="model:smollm2-135m-instruct-q4_1")
    parser.add_argument("--samples", type=int, default=2, help="completions per prompt")
    args = parser.parse_args(argv)
    server = llama_server(args.model) if args.serve else contextlib.nullcontext(args.base_url)
    with server as base_url:
        generate(base_url, args.model, args.source, args.samples)


def generate(base_url: str, model: str, source: str, samples: int) -> None:
    prompts = [json.loads(line) for line in PROMPTS.read_text("utf-8").splitlines() if line]
    RAW.mkdir(parents=True, exist_ok=True)
    out = RAW / f"{model}.jsonl"
    started = time.perf_counter()
    with out.open("w", encoding="utf-8") as sink:
        for prompt in prompts:
            for sample in range(samples):
                text = complete(base_url, model, prompt, seed=1000 + sample)
                record = {
                    "id": f"{prompt['id']}-s{sample}",
                    "language": prompt["language"],
                    "intent": prompt["intent"],
                    "prompt": prompt["prompt"],
                    "system": prompt["system"],
                    "text": text,
                    "source": source,
                }
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                sink.flush()
    took = time.perf_counter() - started
    print(f"{len(prompts) * samples} completions in {took:.0f} s -> {out}")


if __name__ == "__main__":
    main()
