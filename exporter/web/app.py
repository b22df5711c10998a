"""The exporter's HTTP side: /metrics, health, readiness and reload. Reads only."""

from __future__ import annotations

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from exporter import __version__
from exporter.service import Service

SERVICE = web.AppKey("service", Service)

INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>chatcanary</title></head>
<body><h1>chatcanary {version}</h1>
<p>{count} canary runs scheduled.</p>
<ul><li><a href="metrics">/metrics</a></li><li><a href="-/healthy">/-/healthy</a></li>
<li><a href="-/ready">/-/ready</a></li></ul></body></html>
"""


def make_app(service: Service) -> web.Application:
    app = web.Application()
    app[SERVICE] = service
    app.router.add_get("/", index)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    app.router.add_post("/-/reload", reload)
    return app


async def index(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    page = INDEX.format(version=__version__, count=len(service.scheduler.keys))
    return web.Response(text=page, content_type="text/html")


async def metrics(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(service.registry)
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
