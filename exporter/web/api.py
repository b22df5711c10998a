"""The JSON API and `/probe`.

    GET  /api/v1/status                          the grid: every canary's last run
    GET  /api/v1/runs?target=&canary=&outcome=&shard=&since=&until=&limit=&cursor=
                                                 kept runs, newest first, a page at a time
    GET  /api/v1/runs/{id}                       one run in full
    GET  /api/v1/feedback?target=&rating=&category=&since=&limit=&cursor=
                                                 kept feedback, newest first
    POST /api/v1/runs      {target, canary}      run now (rate limited, and refused while
                                                 the target's token budget is spent)
    POST /api/v1/feedback  {target, rating, ...} user feedback (size and rate limited);
                                                 202 only once the store committed it,
                                                 503 with Retry-After when it cannot
    GET  /probe?target=&canary=[&debug=true]     probe_* metrics for one run

The listings read the store (the whole fleet's on a shared PostgreSQL), or this process's
memory with a `notice` when the store cannot be read (exporter/web/reads.py).
Bad input gets a 4xx answer with `{"error": "..."}` saying what to fix; names must be
configured ones, so nothing is ever sent to an address a request made up.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from exporter.budget import BudgetSpent
from exporter.config import RunSpec
from exporter.feedback import FeedbackError, Rating, parse_feedback
from exporter.history import trim
from exporter.redaction import redact_result
from exporter.result import Outcome
from exporter.service import FeedbackNotKept, Service
from exporter.web import probe, reads, views
from exporter.web.base import FEEDBACK_LIMIT, RUN_NOW_LIMIT, SERVICE, BadRequest
from exporter.web.limits import TokenBucket

RUN_BODY_LIMIT = 4096
LIST_LIMIT = 500  # the most items one page of a listing holds
PAGE = 100  # items per page unless `limit` says otherwise
FEEDBACK_RETRY = 5  # seconds, the Retry-After of a 503 on feedback the store cannot commit


# --- reads ------------------------------------------------------------------------------


def status_view(service: Service, target: str | None = None) -> dict[str, Any]:
    now = time.time()
    plan = service.plan
    rows = [
        views.row(spec, service.recent.latest(key), service.recent.spark(key), now)
        for key, spec in sorted(plan.items())
        if target is None or key[0] == target
    ]
    return views.status(rows, [t.name for t in service.config.targets])


def run_view(service: Service, found: reads.Run) -> dict[str, Any]:
    """A run in full, redacted with the current secrets of its pair."""
    result = found.result
    key = (result.target, result.canary)
    shown = redact_result(result, service.secrets(key))
    return views.run(
        shown,
        service.fleet.get(key),
        service.config.web.trace_url,
        found.aged_out,
        found.shard,
        found.content_kept,
    )


async def get_status(request: web.Request) -> web.Response:
    return web.json_response(status_view(request.app[SERVICE]))


def _limit(query: Any, default: int) -> int:
    limit = query.get("limit", str(default))
    if not limit.isdigit() or not 1 <= int(limit) <= LIST_LIMIT:
        raise BadRequest(400, f"limit must be a whole number from 1 to {LIST_LIMIT}")
    return int(limit)


def _moment(query: Any, name: str) -> float | None:
    text = query.get(name) or None
    if text is None:
        return None
    try:
        return reads.moment(text, time.time())
    except ValueError as exc:
        raise BadRequest(400, f"{name}: {exc}") from None


def _configured_name(service: Service, kind: str, value: str | None) -> str | None:
    config = service.config
    names = (
        {t.name for t in config.targets} if kind == "target" else {c.name for c in config.canaries}
    )
    if value is not None and value not in names:
        raise BadRequest(400, f"unknown {kind} {value!r}")
    return value


def run_query(service: Service, query: Any, default_limit: int = PAGE) -> reads.RunQuery:
    """The runs filters of a request (each optional); a 400 names a bad one."""
    target, canary, outcome, shard = (
        query.get(k) or None for k in ("target", "canary", "outcome", "shard")
    )
    if outcome is not None and outcome not in tuple(Outcome):
        raise BadRequest(400, f"outcome must be one of {[str(o) for o in Outcome]}")
    return reads.RunQuery(
        target=_configured_name(service, "target", target),
        canary=_configured_name(service, "canary", canary),
        outcome=outcome,
        shard=shard,
        since=_moment(query, "since"),
        until=_moment(query, "until"),
        limit=_limit(query, default_limit),
        cursor=query.get("cursor") or None,
    )


async def list_runs(service: Service, query: reads.RunQuery) -> reads.Listing:
    try:
        return await reads.runs(service, query)
    except ValueError as exc:  # a cursor this listing did not make
        raise BadRequest(400, f"cursor: {exc}") from None


def listing_json(listing: reads.Listing, items: list[dict[str, Any]], name: str) -> dict[str, Any]:
    out: dict[str, Any] = {"count": len(items), name: items, "next_cursor": listing.cursor}
    out["source"] = listing.source
    if listing.notice:
        out["notice"] = listing.notice
    return out


async def get_runs(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    listing = await list_runs(service, run_query(service, request.query))
    items = [views.brief(r.result, r.shard) for r in listing.items]
    return web.json_response(listing_json(listing, items, "runs"))


async def get_run(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    found, notice = await reads.run(service, request.match_info["run_id"])
    if found is None:
        raise BadRequest(404, "no such run (retention may have deleted it)" + _also(notice))
    view = run_view(service, found)
    if notice:
        view["notice"] = notice
    return web.json_response(view)


def _also(notice: str) -> str:
    return f"; {notice}" if notice else ""


def feedback_query(service: Service, query: Any) -> reads.FeedbackQuery:
    target, rating, category = (query.get(k) or None for k in ("target", "rating", "category"))
    if rating is not None and rating not in tuple(Rating):
        raise BadRequest(400, f"rating must be one of {[str(r) for r in Rating]}")
    return reads.FeedbackQuery(
        target=_configured_name(service, "target", target),
        rating=rating,
        category=category,
        since=_moment(query, "since"),
        limit=_limit(query, PAGE),
        cursor=query.get("cursor") or None,
    )


async def get_feedback(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    try:
        listing = await reads.feedback(service, feedback_query(service, request.query))
    except ValueError as exc:
        raise BadRequest(400, f"cursor: {exc}") from None
    items = [{"shard": shard, **entry.as_dict()} for shard, entry in listing.items]
    return web.json_response(listing_json(listing, items, "feedback"))


# --- runs on demand ---------------------------------------------------------------------


def configured(service: Service, target: Any, canary: Any) -> RunSpec:
    """The pair's run spec, or a 400 that names what is wrong."""
    if not isinstance(target, str) or not target:
        raise BadRequest(400, "'target' is required: the name of a configured target")
    if not isinstance(canary, str) or not canary:
        raise BadRequest(400, "'canary' is required: the name of a configured canary")
    config = service.config
    if target not in {t.name for t in config.targets}:
        raise BadRequest(400, f"unknown target {target!r}")
    if canary not in {c.name for c in config.canaries}:
        raise BadRequest(400, f"unknown canary {canary!r}")
    spec = service.spec(target, canary)
    if spec is None:
        raise BadRequest(
            400, f"canary {canary!r} does not run against target {target!r} on this exporter"
        )
    return spec


def limited(bucket: TokenBucket, per_minute: int, what: str) -> None:
    bucket.per_minute = per_minute  # follows a reload
    wait = bucket.take()
    if wait > 0:
        seconds = max(1, round(wait + 0.5))
        raise BadRequest(
            429,
            f"too many {what} requests (at most {per_minute} a minute); retry in {seconds}s",
            {"Retry-After": str(seconds)},
        )


def over_budget(exc: BudgetSpent) -> BadRequest:
    """A run refused by the cost guard, as the scheduler would have held it."""
    return BadRequest(429, str(exc), {"Retry-After": str(exc.wait)})


async def read_json(request: web.Request, limit: int) -> Any:
    """The JSON body, at most `limit` bytes, sent as application/json (which also keeps
    a cross-site HTML form from posting here)."""
    if request.content_type != "application/json":
        raise BadRequest(415, "send the body as JSON with Content-Type: application/json")
    if request.content_length is not None and request.content_length > limit:
        raise BadRequest(413, f"the body is larger than {limit} bytes")
    body = bytearray()
    seconds = request.app[SERVICE].config.web.header_timeout
    try:
        async with asyncio.timeout(seconds):  # a body sent a byte at a time holds nothing
            async for chunk in request.content.iter_chunked(4096):
                body += chunk
                if len(body) > limit:
                    raise BadRequest(413, f"the body is larger than {limit} bytes")
    except TimeoutError:
        raise BadRequest(408, f"the body did not arrive within {seconds:g}s") from None
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(400, f"the body is not valid JSON: {exc}") from None


async def post_run(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    data = await read_json(request, RUN_BODY_LIMIT)
    if not isinstance(data, dict):
        raise BadRequest(400, "the body must be a JSON object with target and canary")
    unknown = sorted(set(data) - {"target", "canary"})
    if unknown:
        raise BadRequest(400, f"unknown field(s) {unknown}; expected target and canary")
    spec = configured(service, data.get("target"), data.get("canary"))
    limited(request.app[RUN_NOW_LIMIT], service.config.web.run_now_per_minute, "run-now")
    try:
        result = await service.run_now(spec)
    except BudgetSpent as exc:
        raise over_budget(exc) from None
    kept = trim(result, service.config.web.history_text_chars)  # as the store keeps it
    return web.json_response(run_view(service, reads.Run(kept, str(service.shard))), status=201)


async def post_feedback(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    settings = service.config.web
    limited(request.app[FEEDBACK_LIMIT], settings.feedback_per_minute, "feedback")
    data = await read_json(request, settings.feedback_max_bytes)
    try:
        feedback = parse_feedback(data, service.config.names(), settings.feedback_categories)
    except FeedbackError as exc:
        raise BadRequest(400, str(exc)) from None
    try:
        await service.submit_feedback(feedback)
    except FeedbackNotKept:
        raise BadRequest(
            503,
            "feedback could not be stored right now; nothing was kept, send it again",
            {"Retry-After": str(FEEDBACK_RETRY)},
        ) from None
    return web.json_response({"accepted": True, "feedback": feedback.as_dict()}, status=202)


# --- /probe -----------------------------------------------------------------------------


async def get_probe(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    query = request.query
    try:
        spec = configured(service, query.get("target"), query.get("canary"))
    except BadRequest as exc:  # plain text, as blackbox_exporter answers
        return web.Response(status=exc.status, text=f"{exc}\n")
    try:
        # never more often than the canary's own schedule: a scrape (or a flood of them)
        # within the interval gets the last result
        window = max(service.config.web.probe_cache, spec.interval)
        result, cached = await service.fresh(spec, window)
    except BudgetSpent as exc:
        refused = over_budget(exc)
        return web.Response(status=refused.status, text=f"{refused}\n", headers=refused.headers)
    if query.get("debug", "").lower() == "true":
        shown = redact_result(result, service.secrets(spec.key))
        return web.Response(text=probe.debug_text(shown, cached, spec))
    body = probe.metrics_text(result, cached)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
