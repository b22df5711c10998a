"""The prober a user would write by hand: the official `openai` SDK and `prometheus_client`.

Kept honest and idiomatic — what one would write from the SDK's README in an afternoon:
one `AsyncOpenAI` client, one asyncio task per canary on its interval (first runs spread
over it), the answer checked for "42", duration / TTFT histograms, an outcome counter,
token counters and a success gauge, served by `start_http_server`. It is the yardstick
of `bench.cost`, not part of chatcanary.

Run: `python -m bench.sdkprober --base-url URL/v1 --canaries 100 --interval 1 [--stream]
--port P`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time

import openai
from prometheus_client import Counter, Gauge, Histogram, start_http_server

PROMPT = "What is 17+25? Answer with the number only."

DURATION = Histogram("canary_request_duration_seconds", "Request duration.", ["canary", "outcome"])
TTFT = Histogram("canary_time_to_first_token_seconds", "Time to first token.", ["canary"])
PROBES = Counter("canary_probes", "Canary runs.", ["canary", "outcome"])
TOKENS = Counter("canary_tokens", "Tokens used.", ["canary", "type"])
SUCCESS = Gauge("canary_probe_success", "Whether the last run succeeded.", ["canary"])


async def probe(client: openai.AsyncOpenAI, name: str, model: str, stream: bool) -> None:
    start = time.perf_counter()
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": PROMPT}
    ]
    try:
        if stream:
            chunks = await client.chat.completions.create(
                model=model,
                messages=messages,
                max_tokens=128,
                stream=True,
                stream_options={"include_usage": True},
            )
            parts: list[str] = []
            async for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    if not parts:
                        TTFT.labels(name).observe(time.perf_counter() - start)
                    parts.append(chunk.choices[0].delta.content)
                if chunk.usage is not None:
                    TOKENS.labels(name, "input").inc(chunk.usage.prompt_tokens)
                    TOKENS.labels(name, "output").inc(chunk.usage.completion_tokens)
            answer = "".join(parts)
        else:
            response = await client.chat.completions.create(
                model=model, messages=messages, max_tokens=16
            )
            answer = response.choices[0].message.content or ""
            if response.usage is not None:
                TOKENS.labels(name, "input").inc(response.usage.prompt_tokens)
                TOKENS.labels(name, "output").inc(response.usage.completion_tokens)
        outcome = "success" if "42" in answer else "check_failed"
    except openai.OpenAIError:
        outcome = "error"
    DURATION.labels(name, outcome).observe(time.perf_counter() - start)
    PROBES.labels(name, outcome).inc()
    SUCCESS.labels(name).set(1 if outcome == "success" else 0)


async def canary(
    client: openai.AsyncOpenAI, name: str, model: str, interval: float, stream: bool
) -> None:
    await asyncio.sleep(random.uniform(0, interval))
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await probe(client, name, model, stream)
        await asyncio.sleep(max(0.0, started + interval - loop.time()))


async def run(args: argparse.Namespace) -> None:
    client = openai.AsyncOpenAI(
        base_url=args.base_url, api_key="sk-bench", max_retries=0, timeout=10.0
    )
    await asyncio.gather(
        *(
            canary(client, f"canary-{i}", "gpt-4o-mini", args.interval, args.stream)
            for i in range(args.canaries)
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--canaries", type=int, default=10)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu", type=int, help="pin to this CPU")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    start_http_server(args.port, addr="127.0.0.1")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
