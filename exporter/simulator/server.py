"""The simulator's HTTP server: one conductor answering chat in every dialect.

    POST   /v1/chat/completions                                OpenAI
    POST   /openai/deployments/{deployment}/chat/completions   Azure OpenAI
    POST   /v1/messages                                        Anthropic
    POST   /api/chat                                           Ollama
    GET    /v1/models                                          OpenAI's model list
    GET    /api/tags                                           Ollama's model list

plus the admin routes of :mod:`exporter.simulator.admin`. The conductor checks the key,
draws the fault, makes the plan and keeps its deadlines; the request's dialect
(:mod:`exporter.simulator.dialects`) reads the body and writes every byte of the answer.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Final

from aiohttp import web

from exporter.simulator.admin import add_admin_routes
from exporter.simulator.behaviour import MID_STREAM_FAULTS, REJECTION_STATUS, Behaviour
from exporter.simulator.dialects import DIALECTS, OLLAMA, OPENAI, Dialect, Encoder
from exporter.simulator.dialects.ollama import tags
from exporter.simulator.dialects.openai import model_list
from exporter.simulator.plan import FEW_CHUNKS, Plan, RequestError, make_plan
from exporter.simulator.ratelimit import RateWindow
from exporter.simulator.responses import abort, new_request_id, sleep_until
from exporter.simulator.scenarios import DEFAULT_MODEL, SCENARIOS

# How long stop() lets ordinary in-flight responses finish before cancelling them.
# Hangs do not wait for it: they end as soon as stop() begins.
SHUTDOWN_GRACE_SECONDS: Final = 0.25
# Routes outside the chat dialects that still carry OpenAI-style request ids.
_ID_ROUTES: Final = ("/v1/models", "/_sim/")
# Requests whose messages are kept per model, for `received()`.
RECEIVED_KEPT: Final = 50

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class _Exchange:
    """One chat request's bookkeeping for its response headers."""

    dialect: Dialect
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
    """A chat server whose models follow scripted Behaviours, in every dialect.

    ``seed`` makes fault draws and jitter reproducible for a given order of requests.
    With ``api_key`` set, the chat and model-list routes require it, each in its dialect's
    header: ``Authorization: Bearer`` (OpenAI, Ollama), ``api-key`` (Azure) or
    ``x-api-key`` (Anthropic).
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
        self._received: dict[str, deque[list[dict[str, Any]]]] = {}
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

    def received(self, model: str) -> list[list[dict[str, Any]]]:
        """The messages of the last requests for ``model`` (at most RECEIVED_KEPT), oldest
        first: what a test asserts reached the model."""
        return list(self._received.get(model, ()))

    @property
    def in_flight(self) -> int:
        """Chat requests being answered right now (hangs included)."""
        return self._in_flight

    def reset(self) -> None:
        """Back to the scenario's table, with counters, rate windows and seed restarted."""
        self._behaviours = dict(SCENARIOS[self.scenario])
        self._stats = _Stats()
        self._received.clear()
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
        for dialect in DIALECTS:
            app.router.add_post(dialect.route, self._chat_route(dialect))
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/api/tags", self._tags)
        add_admin_routes(app, self)
        return app

    def _stamp(self, response: web.StreamResponse, exchange: _Exchange) -> None:
        """Add the dialect's headers; call exactly once per chat request, before sending."""
        now = asyncio.get_running_loop().time()
        headroom = self._rates.record(exchange.model, exchange.tokens, now)
        elapsed = now - exchange.t0
        response.headers.update(exchange.dialect.headers(exchange.request_id, elapsed, headroom))

    def _denied(self, request: web.Request, dialect: Dialect) -> web.Response | None:
        if self._api_key is None:
            return None
        header, value = dialect.credentials(self._api_key)
        if request.headers.get(header) == value:
            return None
        return dialect.unauthorized()

    def _named_models(self) -> list[str]:
        return [model for model in sorted(self._behaviours) if model != DEFAULT_MODEL]

    async def _models(self, request: web.Request) -> web.Response:
        denied = self._denied(request, OPENAI)
        return denied or web.json_response(model_list(self._named_models()))

    async def _tags(self, request: web.Request) -> web.Response:
        denied = self._denied(request, OLLAMA)
        return denied or web.json_response(tags(self._named_models()))

    def _chat_route(self, dialect: Dialect) -> Handler:
        async def chat(request: web.Request) -> web.StreamResponse:
            exchange = _Exchange(dialect, t0=asyncio.get_running_loop().time())
            self._in_flight += 1
            try:
                response = await self._answer(request, exchange)
            finally:
                self._in_flight -= 1
            if not response.prepared:  # streams stamp their headers before sending them
                self._stamp(response, exchange)
            return response

        return chat

    async def _answer(self, request: web.Request, exchange: _Exchange) -> web.StreamResponse:
        dialect = exchange.dialect
        denied = self._denied(request, dialect)
        if denied is not None:
            return denied
        try:
            chat = dialect.parse(request, await request.read())
        except RequestError as exc:
            return dialect.bad_request(exc)
        self._received.setdefault(chat.model, deque(maxlen=RECEIVED_KEPT)).append(chat.messages)
        behaviour = self.behaviour_for(chat.model)
        fault = behaviour.pick_fault(self._rng)
        plan = make_plan(chat, behaviour, fault, self._rng)
        self._stats.record(chat.model, fault, plan.refused)
        exchange.model = chat.model
        if fault is not None and fault in REJECTION_STATUS:
            return dialect.rejection(fault, behaviour)  # rejected requests spend no tokens
        exchange.tokens = plan.prompt_tokens + plan.completion_tokens
        served = (
            chat if behaviour.served_model is None else replace(chat, model=behaviour.served_model)
        )
        encoder = dialect.encoder(served, plan, behaviour, exchange.t0)
        t0 = exchange.t0
        if fault == "hang_before_headers":
            if not await self._hang(behaviour.hang_seconds):
                return abort(request)
            # The scripted timings start over once the hang is over.
            t0 += behaviour.hang_seconds
        if chat.stream:
            return await self._stream(request, exchange, encoder, behaviour, plan, t0)
        return await self._complete(request, exchange, encoder, behaviour, plan, t0)

    async def _stream(
        self,
        request: web.Request,
        exchange: _Exchange,
        encoder: Encoder,
        behaviour: Behaviour,
        plan: Plan,
        t0: float,
    ) -> web.StreamResponse:
        mid_stream_fault = plan.fault in MID_STREAM_FAULTS
        cut = min(FEW_CHUNKS, len(plan.pieces)) if mid_stream_fault else len(plan.pieces)
        response = web.StreamResponse(headers=encoder.stream_headers)
        self._stamp(response, exchange)
        try:
            await response.prepare(request)
            await _send(response, encoder.opening())
            await _send_pieces(response, encoder, plan, range(cut), t0)
            if mid_stream_fault:
                if not await self._mid_stream_fault(
                    request, response, encoder, plan.fault, behaviour
                ):
                    return response
                if plan.fault == "hang_mid_stream":
                    t0 += behaviour.hang_seconds
            await _send_pieces(response, encoder, plan, range(cut, len(plan.pieces)), t0)
            await sleep_until(t0 + plan.finish_offset)
            await _send(response, encoder.closing())
        except ConnectionError:
            pass  # The client hung up; there is nobody left to tell.
        return response

    async def _mid_stream_fault(
        self,
        request: web.Request,
        response: web.StreamResponse,
        encoder: Encoder,
        fault: str | None,
        behaviour: Behaviour,
    ) -> bool:
        """Strike a mid-stream fault; returns False when the stream must end here."""
        if fault == "stream_error":
            await _send(response, encoder.error())
            return False
        if fault == "truncate":
            return False
        if fault == "malformed":
            await _send(response, encoder.malformed())
            return True
        if not await self._hang(behaviour.hang_seconds):
            abort(request)
            return False
        return True

    async def _complete(
        self,
        request: web.Request,
        exchange: _Exchange,
        encoder: Encoder,
        behaviour: Behaviour,
        plan: Plan,
        t0: float,
    ) -> web.StreamResponse:
        await sleep_until(t0 + plan.finish_offset)
        if plan.fault == "stream_error":
            return web.json_response(encoder.error_body())
        body = json.dumps(encoder.body()).encode()
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


async def _send(response: web.StreamResponse, frame: bytes) -> None:
    # An empty write would end a chunked body early, so nothing means nothing.
    if frame:
        await response.write(frame)


async def _send_pieces(
    response: web.StreamResponse, encoder: Encoder, plan: Plan, indices: range, t0: float
) -> None:
    for k in indices:
        await sleep_until(t0 + plan.offsets[k])
        await _send(response, encoder.piece(plan.pieces[k]))


@web.middleware
async def _request_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the model list and admin routes a request id; chat routes stamp their own."""
    t0 = asyncio.get_running_loop().time()
    response = await handler(request)
    if not response.prepared and request.path.startswith(_ID_ROUTES):
        elapsed_ms = round((asyncio.get_running_loop().time() - t0) * 1000)
        response.headers["x-request-id"] = new_request_id()
        response.headers["openai-processing-ms"] = str(elapsed_ms)
    return response
