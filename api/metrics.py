"""Prometheus metrics of the API: `/metrics` on the API port (prometheus_client's ASGI app).

- `ampflow_api_requests_total{method, route, status}`: requests by route template and status;
- `ampflow_api_request_seconds{method, route}`: time to the start of the response (for the
  `/live` stream: until the stream opens).
The route label is the matched template (`/sessions/{session_id}`), never the raw path, so the
label set stays small; unmatched paths count as `unmatched`. `/metrics` needs no API key
(scrapers); with `AMPFLOW_METRICS_TOKEN` set it needs `Authorization: Bearer <token>` (401
otherwise), so the API port may face the internet.
"""

from __future__ import annotations

import hmac
import time

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from prometheus_client import Counter, Histogram, make_asgi_app
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "ampflow_api_requests", "API requests by route and status", ["method", "route", "status"]
)
LATENCY = Histogram(
    "ampflow_api_request_seconds",
    "Time to the start of the API response",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class MetricsMiddleware:
    """Pure ASGI middleware: serves `/metrics` (prometheus_client's ASGI app) and measures
    every other request (streams pass through untouched)."""

    def __init__(self, app: ASGIApp, token: str | None = None) -> None:
        self.app = app
        self.exposition = make_asgi_app()
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/metrics":
            if self.token and not _bearer_matches(scope, self.token):
                await _unauthorized(send)
                return
            await self.exposition(scope, receive, send)
            return
        started = time.monotonic()
        status = 500

        async def send_and_measure(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                LATENCY.labels(scope["method"], _route(scope)).observe(time.monotonic() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_and_measure)
        finally:
            REQUESTS.labels(scope["method"], _route(scope), str(status)).inc()


def _bearer_matches(scope: Scope, token: str) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, given = value.decode("latin-1").partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(
                given.strip().encode("latin-1"), token.encode("utf-8")
            )
    return False


async def _unauthorized(send: Send) -> None:
    body = b'{"detail":"/metrics needs its bearer token"}'
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b"Bearer"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _route(scope: Scope) -> str:
    """The matched route's full template (included routers' prefixes too)."""
    route = scope.get("route")
    if route is None:
        return "unmatched"
    app = scope.get("app")
    paths = getattr(getattr(app, "state", None), "metric_route_paths", None)
    if paths is None and app is not None:
        paths = {
            id(context.original_route): context.path
            for context in iter_route_contexts(app.routes)
            if context.path
        }
        app.state.metric_route_paths = paths
    return (paths or {}).get(id(route)) or getattr(route, "path", None) or "unmatched"


def install(app: FastAPI, token: str | None = None) -> None:
    """Count every request and serve `/metrics` (outside the routes: no API key, not in the
    OpenAPI document; with `token`, only to `Authorization: Bearer <token>`)."""
    app.add_middleware(MetricsMiddleware, token=token)
