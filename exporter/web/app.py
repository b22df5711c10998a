"""The exporter's HTTP side: routes, the optional authentication of the web config file,
and the small handlers (metrics, health, readiness, reload, the pages). Reads snapshots
and the store (exporter/web/reads.py); the one way in is the service's own entry points
(reload, run now, feedback).

Every response carries the security headers (`SECURITY_HEADERS`). A browser request from
another site's page may not change state nor start a run (`cross_site`)."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import yaml
from aiohttp import web
from yarl import URL

from exporter.checkspecs import parse_duration
from exporter.service import Service
from exporter.sinks.prometheus import exposition
from exporter.web.auth import Guard, Hasher, TooBusy
from exporter.web.base import FEEDBACK_LIMIT, RUN_NOW_LIMIT, SERVICE, bad_requests, error
from exporter.web.limits import TokenBucket

if TYPE_CHECKING:
    from exporter.webconfig import WebConfig

READS = frozenset({"GET", "HEAD", "OPTIONS"})
COSTLY_READS = frozenset({"/probe"})  # a GET that may start a run, and so spend tokens
# the pages load their script and stylesheet from /static/ and have no inline script or
# style: nothing else may run, load, frame them or be posted from them
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Server": "chatcanary",  # not aiohttp's "Python/3.11 aiohttp/3.x"
}
SAFE_SITES = frozenset({"same-origin", "none"})  # Sec-Fetch-Site: this page, or typed in
RELOADS_PER_SECOND = 1
# a bad file and its fix, or a sidecar's retry, within one second still apply
RELOAD_BURST = 3
FEEDBACK_SHOWN = 20  # on the status page
HISTORY_SHOWN = 50  # runs of the same canary on a run's page


def make_app(service: Service, web_config: WebConfig | None = None) -> web.Application:
    middlewares = [cross_site, bad_requests]
    hasher = Hasher()
    if web_config is not None:
        middlewares.insert(1, authenticate(web_config, hasher))
    app = web.Application(middlewares=middlewares)
    app.on_response_prepare.append(secure)
    app.on_cleanup.append(lambda _app: _close(hasher))
    app[SERVICE] = service
    app[RUN_NOW_LIMIT] = TokenBucket(service.config.web.run_now_per_minute)
    app[FEEDBACK_LIMIT] = TokenBucket(service.config.web.feedback_per_minute)
    app[HASHER] = hasher
    app[RELOAD_LIMIT] = TokenBucket(60 * RELOADS_PER_SECOND, burst=RELOAD_BURST)
    app[PROTECTION] = describe(web_config)
    add = app.router
    add.add_get("/", index)
    add.add_get("/runs", runs_page)
    add.add_get("/runs/{run_id}", run_page)
    add.add_get("/config", config_page)
    add.add_get("/insights", insights_page)
    add.add_get("/static/style.css", static("CSS", "text/css"))
    add.add_get("/static/app.js", static("JS", "text/javascript"))
    add.add_get("/metrics", metrics)
    add.add_get("/probe", lazy("api", "get_probe"))
    add.add_get("/api/v1/status", lazy("api", "get_status"))
    add.add_get("/api/v1/runs", lazy("api", "get_runs"))
    add.add_get("/api/v1/runs/{run_id}", lazy("api", "get_run"))
    add.add_post("/api/v1/runs", lazy("api", "post_run"))
    add.add_get("/api/v1/feedback", lazy("api", "get_feedback"))
    add.add_post("/api/v1/feedback", lazy("api", "post_feedback"))
    add.add_get("/traffic", lazy("traffic", "traffic_page"))
    add.add_get("/traffic/{exchange_id}", lazy("traffic", "exchange_page"))
    add.add_get("/api/v1/traffic", lazy("traffic", "get_traffic"))
    add.add_get("/api/v1/traffic/{exchange_id}", lazy("traffic", "get_exchange"))
    add.add_get("/-/healthy", healthy)
    add.add_get("/-/ready", ready)
    add.add_post("/-/reload", reload)
    return app


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def lazy(module: str, name: str) -> Handler:
    """The handler `name` of `exporter.web.<module>`, imported at the first request that
    needs it, as the pages are: a sidecar that is only scraped and health-checked never
    loads the API, its reads of the store nor its views (0.2 MB of `run`'s memory)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        handler: Handler = getattr(importlib.import_module(f"exporter.web.{module}"), name)
        return await handler(request)

    return handle


PROTECTION = web.AppKey("protection", str)
RELOAD_LIMIT = web.AppKey("reload_limit", TokenBucket)
HASHER = web.AppKey("hasher", Hasher)


async def _close(hasher: Hasher) -> None:
    hasher.close()


async def secure(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)


def foreign(request: web.Request) -> str | None:
    """Why this request comes from another site's page (None when it does not). Browsers
    say where a request comes from in `Sec-Fetch-Site`, older ones in `Origin`; a client
    that sends neither (curl, Prometheus, a config-reload sidecar) is no browser."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return None if site.lower() in SAFE_SITES else f"Sec-Fetch-Site is {site!r}"
    origin = request.headers.get("Origin")
    if origin is None or _same_origin(origin, request):
        return None
    return f"Origin {origin!r} is not this server"


def _same_origin(origin: str, request: web.Request) -> bool:
    try:
        theirs = URL(origin)
        ours = URL.build(scheme=theirs.scheme, authority=request.host)
        return theirs.scheme in ("http", "https") and (theirs.host, theirs.port) == (
            ours.host,
            ours.port,
        )
    except (ValueError, TypeError):  # "null", garbage: not this server
        return False


@web.middleware
async def cross_site(request: web.Request, handler: Any) -> web.StreamResponse:
    """Refuses a state-changing request, or a `/probe` (which spends tokens), made by
    another site's page: a form post, a no-cors fetch, an `<img src>`."""
    if request.method not in READS or request.path in COSTLY_READS:
        why = foreign(request)
        if why is not None:
            return error(403, f"cross-site request refused: {why}")
    response: web.StreamResponse = await handler(request)
    return response


def describe(web_config: WebConfig | None) -> str:
    """How the endpoints are protected, in words (no secret in them)."""
    if web_config is None:
        return "no web config file: every endpoint is open, served without TLS"
    tls = "TLS on" if web_config.tls_server_config is not None else "no TLS"
    reads = "authentication required" if web_config.required else "open"
    writes = "authentication required" if web_config.credentials(True).required else "open"
    return f"{tls} · read-only endpoints: {reads} · state-changing endpoints: {writes}"


def authenticate(web_config: WebConfig, hasher: Hasher) -> Any:
    guards = {
        False: Guard(web_config.credentials(False), hasher),
        True: Guard(web_config.credentials(True), hasher),
    }

    @web.middleware
    async def check(request: web.Request, handler: Any) -> web.StreamResponse:
        guard = guards[request.method not in READS]
        try:
            allowed = await guard.allows(request.headers.get("Authorization"), request.remote or "")
        except TooBusy as exc:
            return error(exc.status, str(exc), {"Retry-After": str(exc.seconds)})
        if allowed:
            response: web.StreamResponse = await handler(request)
            return response
        scheme = "Basic" if guard.credentials.basic_auth_users else "Bearer"
        return web.json_response(
            {"error": "authentication required"},
            status=401,
            headers={"WWW-Authenticate": f'{scheme} realm="chatcanary"'},
        )

    return check


def static(name: str, content_type: str) -> Any:
    """The handler of an asset of `exporter.web.assets`, read at its first request."""

    async def serve(_request: web.Request) -> web.Response:
        from exporter.web import assets

        return web.Response(
            text=getattr(assets, name),
            content_type=content_type,
            headers={"Cache-Control": "max-age=300"},
        )

    return serve


def html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


async def index(request: web.Request) -> web.Response:
    from exporter.web import api, pages, reads

    service = request.app[SERVICE]
    target = request.query.get("target", "")
    state = request.query.get("state", "")
    known = {t.name for t in service.config.targets}
    if (target and target not in known) or (state and state not in pages.STATES):
        target, state = "", ""  # a stale bookmark shows everything rather than nothing
    status = api.status_view(service)
    feedback = await reads.feedback(service, reads.FeedbackQuery(limit=FEEDBACK_SHOWN))
    entries = [entry for _, entry in feedback.items]
    page = pages.index_page(
        status, entries, target, state, service.config.web.refresh, feedback.notice
    )
    return html(page)


async def runs_page(request: web.Request) -> web.Response:
    from exporter.web import api, pages, views

    service = request.app[SERVICE]
    query = api.run_query(service, request.query)
    listing = await api.list_runs(service, query)
    chosen = {k: request.query.get(k, "") for k in pages.RUN_FILTERS}
    config = service.config
    briefs = [views.brief(r.result, r.shard) for r in listing.items]
    page = pages.runs_page(
        briefs,
        chosen,
        [t.name for t in config.targets],
        [c.name for c in config.canaries],
        listing.cursor,
        listing.notice,
        sharded=service.shard.count > 1 or any(b["shard"] != "0/1" for b in briefs),
    )
    return html(page)


async def run_page(request: web.Request) -> web.Response:
    from exporter.web import api, pages, reads, views

    service = request.app[SERVICE]
    found, notice = await reads.run(service, request.match_info["run_id"])
    if found is None:
        text = "No such run: retention may have deleted it."
        return html(pages.not_found(f"{text} {notice}".strip()), 404)
    view = api.run_view(service, found)
    result = found.result
    same = reads.RunQuery(target=result.target, canary=result.canary, limit=HISTORY_SHOWN)
    history = await reads.runs(service, same)
    briefs = [views.brief(r.result, r.shard) for r in history.items]
    return html(pages.run_page(view, briefs, notice or history.notice))


async def insights_page(request: web.Request) -> web.Response:
    """The operator report, live: built from the store on each request."""
    from exporter.web import pages

    service = request.app[SERVICE]
    since = request.query.get("since", "7d")
    if since not in pages.SINCE:
        since = "7d"
    if service.store is None:
        text = "The report reads the store, and this exporter keeps none (store.url: memory)."
        return html(pages.insights_page("", since, text))
    from exporter.report.build import build
    from exporter.report.render import body
    from exporter.store import StoreError

    settings = service.config.report
    try:
        report = await build(
            service.store, service.config, parse_duration(since), settings.prometheus
        )
    except StoreError as exc:
        return html(pages.insights_page("", since, f"The store could not be read: {exc}"), 503)
    return html(pages.insights_page(body(report, root=""), since))


async def config_page(request: web.Request) -> web.Response:
    from exporter.web import pages, views

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
    wait = request.app[RELOAD_LIMIT].take()
    if wait > 0:
        seconds = max(1, round(wait + 0.5))
        return web.Response(
            status=429,
            text=f"too many reloads (at most {RELOADS_PER_SECOND} a second); retry in {seconds}s\n",
            headers={"Retry-After": str(seconds)},
        )
    problem = request.app[SERVICE].reload()
    if problem is None:
        return web.Response(text="config reloaded\n")
    return web.Response(status=400, text=f"config reload failed, old config kept:\n{problem}\n")
