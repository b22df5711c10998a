"""The exporter's HTTP side: routes, the optional authentication of the web config file,
and the small handlers (metrics, health, readiness, reload, the pages). Reads snapshots
only; the one way in is the service's own entry points (reload, run now, feedback)."""

from __future__ import annotations

from typing import Any

import yaml
from aiohttp import web

from exporter.service import Service
from exporter.sinks.prometheus import exposition
from exporter.web import api, pages, traffic, views
from exporter.web.api import FEEDBACK_LIMIT, RUN_NOW_LIMIT, SERVICE
from exporter.web.assets import CSS, JS
from exporter.web.limits import TokenBucket
from exporter.webconfig import Guard, WebConfig

READS = frozenset({"GET", "HEAD", "OPTIONS"})


def make_app(service: Service, web_config: WebConfig | None = None) -> web.Application:
    middlewares = [api.bad_requests]
    if web_config is not None:
        middlewares.insert(0, authenticate(web_config))
    app = web.Application(middlewares=middlewares)
    app[SERVICE] = service
    app[RUN_NOW_LIMIT] = TokenBucket(service.config.web.run_now_per_minute)
    app[FEEDBACK_LIMIT] = TokenBucket(service.config.web.feedback_per_minute)
    app[PROTECTION] = describe(web_config)
    add = app.router
    add.add_get("/", index)
    add.add_get("/runs", runs_page)
    add.add_get("/runs/{run_id}", run_page)
    add.add_get("/config", config_page)
    add.add_get("/static/style.css", static(CSS, "text/css"))
    add.add_get("/static/app.js", static(JS, "text/javascript"))
    add.add_get("/metrics", metrics)
    add.add_get("/probe", api.get_probe)
    add.add_get("/api/v1/status", api.get_status)
    add.add_get("/api/v1/runs", api.get_runs)
    add.add_get("/api/v1/runs/{run_id}", api.get_run)
    add.add_post("/api/v1/runs", api.post_run)
    add.add_post("/api/v1/feedback", api.post_feedback)
    traffic.add_routes(add)
    add.add_get("/-/healthy", healthy)
    add.add_get("/-/ready", ready)
    add.add_post("/-/reload", reload)
    return app


PROTECTION = web.AppKey("protection", str)


def describe(web_config: WebConfig | None) -> str:
    """How the endpoints are protected, in words (no secret in them)."""
    if web_config is None:
        return "no web config file: every endpoint is open, served without TLS"
    tls = "TLS on" if web_config.tls_server_config is not None else "no TLS"
    reads = "authentication required" if web_config.required else "open"
    writes = "authentication required" if web_config.credentials(True).required else "open"
    return f"{tls} · read-only endpoints: {reads} · state-changing endpoints: {writes}"


def authenticate(web_config: WebConfig) -> Any:
    guards = {
        False: Guard(web_config.credentials(False)),
        True: Guard(web_config.credentials(True)),
    }

    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        guard = guards[request.method not in READS]
        if await guard.allows(request.headers.get("Authorization")):
            response: web.StreamResponse = await handler(request)
            return response
        scheme = "Basic" if guard.credentials.basic_auth_users else "Bearer"
        return web.json_response(
            {"error": "authentication required"},
            status=401,
            headers={"WWW-Authenticate": f'{scheme} realm="chatcanary"'},
        )

    return check


def static(text: str, content_type: str) -> Any:
    async def serve(_request: web.Request) -> web.Response:
        return web.Response(
            text=text, content_type=content_type, headers={"Cache-Control": "max-age=300"}
        )

    return serve


def html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


async def index(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    target = request.query.get("target", "")
    state = request.query.get("state", "")
    known = {t.name for t in service.config.targets}
    if (target and target not in known) or (state and state not in pages.STATES):
        target, state = "", ""  # a stale bookmark shows everything rather than nothing
    status = api.status_view(service)
    page = pages.index_page(
        status, list(service.feedback), target, state, service.config.web.refresh
    )
    return html(page)


async def runs_page(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    query = {k: request.query.get(k, "") for k in ("target", "canary", "outcome")}
    runs = api.select_runs(service, request.query)[: api.LIST_LIMIT]
    config = service.config
    page = pages.runs_page(
        [views.brief(r) for r in runs],
        query,
        [t.name for t in config.targets],
        [c.name for c in config.canaries],
    )
    return html(page)


async def run_page(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    result = service.history.get(request.match_info["run_id"])
    if result is None:
        return html(pages.not_found("No such run: it may have aged out of the history."), 404)
    view = api.run_view(service, result)
    kept = service.history.runs((result.target, result.canary))
    return html(pages.run_page(view, [views.brief(r) for r in kept]))


async def config_page(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    data = views.config(service.config)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None)
    return html(pages.config_page(text, request.app[PROTECTION]))


async def metrics(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    body, content_type = exposition(service.registry, request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type})


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="chatcanary is healthy.\n")


async def ready(request: web.Request) -> web.Response:
    if request.app[SERVICE].ready:
        return web.Response(text="chatcanary is ready.\n")
    return web.Response(status=503, text="chatcanary is not ready.\n")


async def reload(request: web.Request) -> web.Response:
    error = request.app[SERVICE].reload()
    if error is None:
        return web.Response(text="config reloaded\n")
    return web.Response(status=400, text=f"config reload failed, old config kept:\n{error}\n")
