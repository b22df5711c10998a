"""Real model completions for the refusal corpus: every prompt of prompts.jsonl sent to a
local OpenAI-compatible server (llama.cpp's, serving SmolLM2-135M-Instruct), answers
written unlabelled to corpus/raw/<model>.jsonl. A person (not the rules' author) labels
them by GUIDE.md; prompts with an even number go to the dev split, odd to the test split.

    make peers            # .venv-peers with llama-cpp-python[server] and the GGUF
    .venv-peers/bin/python -m llama_cpp.server --model .venv-peers/smollm2.gguf \\
        --model_alias smollm2 --host 127.0.0.1 --port 8090 --interrupt_requests False &
    python -m bench.refusal.generate --base-url http://127.0.0.1:8090/v1 --samples 2

Sampling is seeded, so a rerun against the same build and weights writes the same file.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
PROMPTS = HERE / "prompts.jsonl"
RAW = HERE / "corpus" / "raw"


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
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--source", default="model:smollm2-135m-instruct-q4_1")
    parser.add_argument("--samples", type=int, default=2, help="completions per prompt")
    args = parser.parse_args(argv)
    prompts = [json.loads(line) for line in PROMPTS.read_text("utf-8").splitlines() if line]
    RAW.mkdir(parents=True, exist_ok=True)
    out = RAW / f"{args.model}.jsonl"
    started = time.perf_counter()
    with out.open("w", encoding="utf-8") as sink:
        for prompt in prompts:
            for sample in range(args.samples):
                text = complete(args.base_url, args.model, prompt, seed=1000 + sample)
                record = {
                    "id": f"{prompt['id']}-s{sample}",
                    "language": prompt["language"],
                    "intent": prompt["intent"],
                    "prompt": prompt["prompt"],
                    "system": prompt["system"],
                    "text": text,
                    "source": args.source,
                }
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
                sink.flush()
    took = time.perf_counter() - started
    print(f"{len(prompts) * args.samples} completions in {took:.0f} s -> {out}")


if __name__ == "__main__":
    main()
