"""Real users' traffic beside the canary runs: each proxy's counts, and the exchanges a
proxy with `capture: true` kept, with the feedback given on their conversation. The page
renderers (`exporter.web.pages`) load at the first page view, as the other pages' do.

    GET /traffic                    the page: per proxy, then the captured exchanges
    GET /traffic/{exchange_id}      one captured exchange and its conversation's feedback
    GET /api/v1/traffic             ?proxy=&conversation_id=&limit= (JSON, without text)
    GET /api/v1/traffic/{exchange_id}
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from exporter.service import Service
from exporter.web.base import SERVICE


async def _list(service: Service, query: Any) -> list[dict[str, Any]]:
    if service.store is None:
        return []
    from exporter.store import StoreError

    try:
        limit = int(query.get("limit", "50"))
    except ValueError:
        raise web.HTTPBadRequest(text="limit must be a whole number") from None
    try:
        return await service.store.traffic(
            proxy=query.get("proxy") or None,
            conversation_id=query.get("conversation_id") or None,
            limit=limit,
        )
    except StoreError as exc:
        raise web.HTTPServiceUnavailable(text=f"store unavailable: {exc}") from None


async def _one(service: Service, exchange_id: str) -> dict[str, Any] | None:
    if service.store is None:
        return None
    from exporter.store import StoreError

    try:
        return await service.store.traffic_exchange(exchange_id)
    except StoreError as exc:
        raise web.HTTPServiceUnavailable(text=f"store unavailable: {exc}") from None


async def get_traffic(request: web.Request) -> web.Response:
    return web.json_response({"exchanges": await _list(request.app[SERVICE], request.query)})


async def get_exchange(request: web.Request) -> web.Response:
    found = await _one(request.app[SERVICE], request.match_info["exchange_id"])
    if found is None:
        return web.json_response({"error": "no such captured exchange"}, status=404)
    return web.json_response(found)


def _summary(service: Service) -> str:
    """One row per proxy from the traffic metrics: requests, errors, refusal rate."""
    from exporter.web.pages import e

    rows = []
    for proxy in service.config.proxies:
        totals = service.traffic.totals(proxy.name)
        rate = f"{totals['refusals'] / totals['responses']:.1%}" if totals["responses"] else "-"
        rows.append(
            f"<tr><td>{e(proxy.name)}</td><td>{e(proxy.protocol)}</td>"
            f"<td class=mono>{e(proxy.listen)} → {e(proxy.upstream)}</td>"
            f"<td class=num>{totals['requests']}</td><td class=num>{totals['errors']}</td>"
            f"<td class=num>{rate}</td><td>{'on' if proxy.capture else 'off'}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="7" class="empty">No proxies configured.</td></tr>'
    return (
        "<table><thead><tr><th>Proxy</th><th>Protocol</th><th>Listen → upstream</th>"
        "<th class=num>Requests</th><th class=num>Errors</th><th class=num>Refusal rate</th>"
        f"<th>Capture</th></tr></thead><tbody>{body}</tbody></table>"
    )


def _why(x: dict[str, Any]) -> str:
    if x["error_class"]:
        return str(x["error_class"])
    return "refused" if (x["refusal"] or {}).get("refused") else ""


async def traffic_page(request: web.Request) -> web.Response:
    from exporter.web.pages import badge, clock, e, layout, ms

    service = request.app[SERVICE]
    exchanges = await _list(service, request.query)
    rows = (
        "".join(
            f"<tr><td>{badge('success' if x['outcome'] == 'success' else 'error')}</td>"
            f'<td><a href="traffic/{e(x["exchange_id"])}">{e(clock(x["started_at"]))}</a></td>'
            f"<td>{e(x['proxy'])}</td><td>{e(x['model'])}</td>"
            f"<td class=mono>{e(x['conversation_id'])}</td>"
            f'<td class="num">{ms(x["ttft_seconds"])}</td>'
            f'<td class="num">{ms(x["duration_seconds"])}</td>'
            f"<td>{e(_why(x))}</td></tr>"
            for x in exchanges
        )
        or '<tr><td colspan="8" class="empty">No captured exchanges (capture is off by '
        "default; see docs/proxy.md).</td></tr>"
    )
    body = (
        "<h1>Real traffic</h1><p class=muted>What users' requests met, measured by the "
        "proxies; compare with the canary runs. Content is kept only where a proxy sets "
        "<code>capture: true</code>.</p>"
        f"{_summary(service)}<h2>Captured exchanges "
        '<span class="muted" style="font-weight:400">(<a href="api/v1/traffic">JSON</a>)'
        "</span></h2><table><thead><tr><th>Outcome</th><th>Started</th><th>Proxy</th>"
        "<th>Model</th><th>Conversation</th><th class=num>TTFT</th><th class=num>Duration</th>"
        f"<th>Why</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    return web.Response(text=layout("Traffic", body, current="Traffic"), content_type="text/html")


async def exchange_page(request: web.Request) -> web.Response:
    from exporter.web.pages import clock, e, layout, message, ms, not_found

    found = await _one(request.app[SERVICE], request.match_info["exchange_id"])
    if found is None:
        page = not_found("No such captured exchange: it may have aged out.")
        return web.Response(text=page, status=404, content_type="text/html")
    x = found
    facts = " · ".join(
        part
        for part in (
            f"HTTP {x['http_status']}" if x["http_status"] else "",
            f"finish_reason {x['finish_reason']}" if x["finish_reason"] else "",
            f"{x['output_tokens']} tokens" if x["output_tokens"] is not None else "",
            f"TTFT {ms(x['ttft_seconds'])}",
            f"total {ms(x['duration_seconds'])}",
            f"trace {x['trace_id']}" if x["trace_id"] else "",
        )
        if part
    )
    feedback = "".join(
        f"<li>{e(clock(f['received_at']))}: <b>{e(f['rating'])}</b> {e(f['category'])} "
        f"{e(f['comment'])}</li>"
        for f in x["feedback"]
    )
    body = (
        f"<h1>{e(x['proxy'])} · {e(clock(x['started_at']))}</h1>"
        f"<p class=muted>conversation <span class=mono>{e(x['conversation_id'])}</span> · "
        f"{e(facts)}</p>"
        f'<div class="exchange">{message("user (redacted)", x["prompt"], "user")}'
        f"{message('assistant (redacted)', x['answer'] or '(empty)', 'assistant')}</div>"
        f"<h2>Feedback on this conversation</h2><ul>{feedback or '<li>none</li>'}</ul>"
    )
    page = layout("Traffic exchange", body, root="../", current="Traffic")
    return web.Response(text=page, content_type="text/html")
