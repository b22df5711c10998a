"""The simulator's HTTP server: an OpenAI-compatible chat endpoint.

    POST   /v1/chat/completions      chat, streamed (SSE) or not, following the Behaviour
    GET    /v1/models                the named models of the current behaviour table

plus the admin routes of :mod:`exporter.simulator.admin`.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from exporter.simulator import wire
from exporter.simulator.admin import add_admin_routes
from exporter.simulator.behaviour import Behaviour
from exporter.simulator.plan import (
    FEW_CHUNKS,
    ChatRequest,
    Plan,
    RequestError,
    make_plan,
    parse_chat_request,
)
from exporter.simulator.ratelimit import RateWindow
from exporter.simulator.responses import (
    SSE_HEADERS,
    abort,
    error_response,
    fault_message,
    http_fault_response,
    new_envelope,
    new_request_id,
    send_pieces,
    sleep_until,
)
from exporter.simulator.scenarios import DEFAULT_MODEL, SCENARIOS

# How long stop() lets ordinary in-flight responses finish before cancelling them.
# Hangs do not wait for it: they end as soon as stop() begins.
SHUTDOWN_GRACE_SECONDS: Final = 0.25
MODEL_CREATED: Final = 1_700_000_000
OWNER: Final = "chatcanary-simulator"

_MID_STREAM_FAULTS: Final = frozenset({"hang_mid_stream", "stream_error", "truncate", "malformed"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class _Exchange:
    """One chat request's bookkeeping for the OpenAI response headers."""

    # Every scripted delay counts from t0, the moment the request reached the handler.
    t0: float
    request_id: str = field(default_factory=new_request_id)
    # What the request charges to its model's rate-limit window.
    model: str = ""
    tokens: int = 0


@dataclass
class _Stats:
    requests: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    faults_by_model: dict[str, Counter[str]] = field(default_factory=dict)
    refusals: Counter[str] = field(default_factory=Counter)

    def record(self, model: str, fault: str | None, refused: bool) -> None:
        self.requests[model] += 1
        if fault is not None:
            self.faults[fault] += 1
            self.faults_by_model.setdefault(model, Counter())[fault] += 1
        if refused:
            self.refusals[model] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "faults": dict(self.faults),
            "faults_by_model": {m: dict(c) for m, c in self.faults_by_model.items()},
            "refusals": dict(self.refusals),
        }


class Simulator:
    """An OpenAI-compatible chat server whose models follow scripted Behaviours.

    ``seed`` makes fault draws and jitter reproducible for a given order of requests.
    With ``api_key`` set, the OpenAI routes require ``Authorization: Bearer <api_key>``.
    """

    def __init__(
        self, scenario: str = "healthy", seed: int | None = None, api_key: str | None = None
    ) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        self.scenario = scenario
        self._seed = seed
        self._api_key = api_key
        self._rng = random.Random(seed)
        self._behaviours = dict(SCENARIOS[scenario])
        self._stats = _Stats()
        self._rates = RateWindow()
        self._in_flight = 0
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.app = self._make_app()

    # -- scripting -------------------------------------------------------------------

    def behaviour_for(self, model: str) -> Behaviour:
        """The Behaviour a request for ``model`` gets: its own, else ``"*"``'s."""
        return self._behaviours.get(model) or self._behaviours.get(DEFAULT_MODEL) or Behaviour()

    def set_behaviour(self, model: str, behaviour: Behaviour) -> None:
        self._behaviours[model] = behaviour

    def remove_behaviour(self, model: str) -> bool:
        """Drop a model's entry; returns False if it had none."""
        return self._behaviours.pop(model, None) is not None

    @property
    def behaviours(self) -> dict[str, Behaviour]:
        return dict(self._behaviours)

    def stats(self) -> dict[str, Any]:
        return {**self._stats.as_dict(), "in_flight": self._in_flight}

    @property
    def in_flight(self) -> int:
        """Chat requests being answered right now (hangs included)."""
        return self._in_flight

    def reset(self) -> None:
        """Back to the scenario's table, with counters, rate windows and seed restarted."""
        self._behaviours = dict(SCENARIOS[self.scenario])
        self._stats = _Stats()
        self._rates.clear()
        self._rng = random.Random(self._seed)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0 picks a free port); returns the base URL."""
        if self._runner is not None:
            raise RuntimeError("simulator is already running")
        self._stopping = asyncio.Event()
        runner = web.AppRunner(
            self.app,
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_GRACE_SECONDS,
            # Cancel the handler when its client hangs up, so hangs do not outlive it.
            handler_cancellation=True,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        return f"http://{url_host}:{bound_port}"

    async def stop(self) -> None:
        """Stop listening; hanging requests end at once, others get a short grace."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._stopping.set()
        await runner.cleanup()

    # -- HTTP ------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[_request_headers])
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        add_admin_routes(app, self)
        return app

    def _stamp(self, response: web.StreamResponse, exchange: _Exchange) -> None:
        """Add the OpenAI headers; call exactly once per chat request, before sending."""
        now = asyncio.get_running_loop().time()
        response.headers["x-request-id"] = exchange.request_id
        response.headers["openai-processing-ms"] = str(round((now - exchange.t0) * 1000))
        response.headers.update(self._rates.record(exchange.model, exchange.tokens, now))

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        if self._api_key is None:
            return None
        if request.headers.get("Authorization") == f"Bearer {self._api_key}":
            return None
        return error_response(
            401,
            "Incorrect API key provided.",
            "invalid_request_error",
            code="invalid_api_key",
        )

    async def _models(self, request: web.Request) -> web.Response:
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        data = [
            {"id": model, "object": "model", "created": MODEL_CREATED, "owned_by": OWNER}
            for model in sorted(self._behaviours)
            if model != DEFAULT_MODEL
        ]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        exchange = _Exchange(t0=asyncio.get_running_loop().time())
        self._in_flight += 1
        try:
            response = await self._answer(request, exchange)
        finally:
            self._in_flight -= 1
        if not response.prepared:  # streams stamp their headers before sending them
            self._stamp(response, exchange)
        return response

    async def _answer(self, request: web.Request, exchange: _Exchange) -> web.StreamResponse:
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        try:
            chat = parse_chat_request(await request.read())
        except RequestError as exc:
            return error_response(400, exc.message, "invalid_request_error", param=exc.param)
        behaviour = self.behaviour_for(chat.model)
        fault = behaviour.pick_fault(self._rng)
        plan = make_plan(chat, behaviour, fault, self._rng)
        self._stats.record(chat.model, fault, plan.refused)
        exchange.model = chat.model
        if fault is not None and fault.startswith("http_"):
            return http_fault_response(fault, behaviour)  # rejected requests spend no tokens
        exchange.tokens = plan.prompt_tokens + plan.completion_tokens
        t0 = exchange.t0
        if fault == "hang_before_headers":
            if not await self._hang(behaviour.hang_seconds):
                return abort(request)
            # The scripted timings start over once the hang is over.
            t0 += behaviour.hang_seconds
        if chat.stream:
            return await self._stream(request, exchange, chat, behaviour, plan, t0)
        return await self._complete(request, exchange, chat, behaviour, plan, t0)

    async def _stream(
        self,
        request: web.Request,
        exchange: _Exchange,
        chat: ChatRequest,
        behaviour: Behaviour,
        plan: Plan,
        t0: float,
    ) -> web.StreamResponse:
        envelope = new_envelope(chat, include_usage=chat.include_usage and behaviour.usage)
        mid_stream_fault = plan.fault in _MID_STREAM_FAULTS
        cut = min(FEW_CHUNKS, len(plan.pieces)) if mid_stream_fault else len(plan.pieces)
        response = web.StreamResponse(headers=SSE_HEADERS)
        self._stamp(response, exchange)
        try:
            await response.prepare(request)
            # The role-only prelude goes out at once, as OpenAI does; it is not a token.
            await response.write(wire.sse(envelope.chunk({"role": "assistant", "content": ""})))
            await send_pieces(response, envelope, plan, range(cut), t0)
            if mid_stream_fault:
                if not await self._mid_stream_fault(request, response, plan, behaviour):
                    return response
                if plan.fault == "hang_mid_stream":
                    t0 += behaviour.hang_seconds
            await send_pieces(response, envelope, plan, range(cut, len(plan.pieces)), t0)
            await sleep_until(t0 + plan.finish_offset)
            await response.write(wire.sse(envelope.chunk({}, plan.finish_reason)))
            if envelope.include_usage:
                usage = envelope.usage_chunk(plan.prompt_tokens, plan.completion_tokens)
                await response.write(wire.sse(usage))
            await response.write(wire.DONE)
        except ConnectionError:
            pass  # The client hung up; there is nobody left to tell.
        return response

    async def _mid_stream_fault(
        self,
        request: web.Request,
        response: web.StreamResponse,
        plan: Plan,
        behaviour: Behaviour,
    ) -> bool:
        """Strike a mid-stream fault; returns False when the stream must end here."""
        if plan.fault == "stream_error":
            error = wire.error_body(fault_message("stream_error"), "server_error")
            await response.write(wire.sse(error))
            return False
        if plan.fault == "truncate":
            return False
        if plan.fault == "malformed":
            await response.write(wire.MALFORMED_EVENT)
            return True
        if not await self._hang(behaviour.hang_seconds):
            abort(request)
            return False
        return True

    async def _complete(
        self,
        request: web.Request,
        exchange: _Exchange,
        chat: ChatRequest,
        behaviour: Behaviour,
        plan: Plan,
        t0: float,
    ) -> web.StreamResponse:
        await sleep_until(t0 + plan.finish_offset)
        if plan.fault == "stream_error":
            # Some gateways report upstream failures as HTTP 200 with an error body.
            error = wire.error_body(fault_message("stream_error"), "server_error")
            return web.json_response(error)
        completion = new_envelope(chat, include_usage=False).completion(
            content=None if plan.refusal_field or plan.fault == "content_filter" else plan.text,
            refusal=plan.text if plan.refusal_field else None,
            finish_reason=plan.finish_reason,
            prompt_tokens=plan.prompt_tokens,
            completion_tokens=plan.completion_tokens,
        )
        body = json.dumps(completion).encode()
        half = len(body) // 2
        if plan.fault == "malformed":
            return web.Response(body=body[:half], content_type="application/json")
        if plan.fault not in ("truncate", "hang_mid_stream"):
            return web.Response(body=body, content_type="application/json")
        # Promise the whole body, deliver half: the client sees a short read.
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(body)
        self._stamp(response, exchange)
        try:
            await response.prepare(request)
            await response.write(body[:half])
            if plan.fault == "truncate" or not await self._hang(behaviour.hang_seconds):
                return abort(request, response)
            await response.write(body[half:])
        except ConnectionError:
            pass
        return response

    async def _hang(self, seconds: float) -> bool:
        """Stall; returns False if the simulator began stopping first."""
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            return True
        return False


@web.middleware
async def _request_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the other routes a request id too; chat responses carry their own."""
    t0 = asyncio.get_running_loop().time()
    response = await handler(request)
    if not response.prepared and "x-request-id" not in response.headers:
        elapsed_ms = round((asyncio.get_running_loop().time() - t0) * 1000)
        response.headers["x-request-id"] = new_request_id()
        response.headers["openai-processing-ms"] = str(elapsed_ms)
    return response
