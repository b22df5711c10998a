"""Admin routes for tests and alerting rehearsals: script behaviours, read counters.

    GET    /_sim/behaviours          the behaviour table as JSON
    PUT    /_sim/behaviours/{model}  replace one model's behaviour (JSON body)
    DELETE /_sim/behaviours/{model}  drop one model's entry (it falls back to "*")
    GET    /_sim/stats               requests, faults and refusals counted so far
    POST   /_sim/reset               back to the scenario's table, counters at zero

They never ask for the API key: the simulator is a local rehearsal tool.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from aiohttp import web

from exporter.simulator.behaviour import Behaviour
from exporter.simulator.dialects.openai import error_response


class Scriptable(Protocol):
    """What the admin routes need from the simulator: its public scripting API."""

    scenario: str

    @property
    def behaviours(self) -> dict[str, Behaviour]: ...

    def set_behaviour(self, model: str, behaviour: Behaviour) -> None: ...

    def remove_behaviour(self, model: str) -> bool: ...

    def stats(self) -> dict[str, Any]: ...

    def reset(self) -> None: ...


def add_admin_routes(app: web.Application, sim: Scriptable) -> None:
    async def get_behaviours(_request: web.Request) -> web.Response:
        table = {model: b.to_dict() for model, b in sorted(sim.behaviours.items())}
        return web.json_response({"scenario": sim.scenario, "behaviours": table})

    async def put_behaviour(request: web.Request) -> web.Response:
        model = request.match_info["model"]
        try:
            behaviour = Behaviour.from_dict(json.loads(await request.read()))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return error_response(400, f"body is not valid JSON: {exc}", "invalid_request_error")
        except ValueError as exc:
            return error_response(400, str(exc), "invalid_request_error")
        sim.set_behaviour(model, behaviour)
        return web.json_response({"model": model, "behaviour": behaviour.to_dict()})

    async def delete_behaviour(request: web.Request) -> web.Response:
        model = request.match_info["model"]
        if not sim.remove_behaviour(model):
            return error_response(404, f"no behaviour set for model {model!r}", "not_found_error")
        return web.json_response({"model": model, "deleted": True})

    async def get_stats(_request: web.Request) -> web.Response:
        return web.json_response(sim.stats())

    async def reset(_request: web.Request) -> web.Response:
        sim.reset()
        return web.json_response({"scenario": sim.scenario, "reset": True})

    app.router.add_get("/_sim/behaviours", get_behaviours)
    app.router.add_put("/_sim/behaviours/{model}", put_behaviour)
    app.router.add_delete("/_sim/behaviours/{model}", delete_behaviour)
    app.router.add_get("/_sim/stats", get_stats)
    app.router.add_post("/_sim/reset", reset)
