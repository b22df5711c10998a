"""What every handler of the web side shares: the application's keys, the JSON error
answer and the middleware that turns a `BadRequest` into it. Apart from the API's
handlers (exporter/web/api.py), which load at the first request that needs them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from exporter.service import Service
from exporter.web.limits import TokenBucket

SERVICE = web.AppKey("service", Service)
RUN_NOW_LIMIT = web.AppKey("run_now_limit", TokenBucket)
FEEDBACK_LIMIT = web.AppKey("feedback_limit", TokenBucket)


class BadRequest(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


@web.middleware
async def bad_requests(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except BadRequest as exc:
        return error(exc.status, str(exc), exc.headers)
    return response
