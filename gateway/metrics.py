"""Prometheus metrics of the gateway, served on `AMPFLOW_GATEWAY_METRICS_PORT` (0: off).

- `ampflow_gateway_connections`: stations connected to this gateway;
- `ampflow_gateway_messages_total{action, result}`: CALLs from stations answered (`ok`,
  `error`) or refused by the rate limit (`rate_limited`);
- `ampflow_gateway_call_seconds{action}`: time to handle a station's CALL;
- `ampflow_gateway_decisions_total{action, path}`: Authorize and transaction-start answers by
  how they were decided: `primary` (the session workflow) or `fallback` (ADR-005);
- `ampflow_gateway_clamped_values_total{field}`: station values replaced by the gateway (a
  timestamp that cannot be real is taken as the time received);
- `ampflow_gateway_handshakes_rejected_total{status}`: refused WebSocket handshakes by HTTP
  status (404 unknown station or path, 401 wrong password, 400 no usable subprotocol, ...).
The helpers are cheap (a dict lookup and a counter increment) and never raise.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram, start_http_server

if TYPE_CHECKING:
    from gateway.services import GatewayServices

log = logging.getLogger(__name__)

CONNECTIONS = Gauge("ampflow_gateway_connections", "Stations connected to this gateway")
MESSAGES = Counter(
    "ampflow_gateway_messages", "CALLs from stations by action and result", ["action", "result"]
)
CALL_SECONDS = Histogram(
    "ampflow_gateway_call_seconds",
    "Time to handle a CALL from a station",
    ["action"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DECISIONS = Counter(
    "ampflow_gateway_decisions",
    "Authorize/start answers by how they were decided (gateway: from the store by the "
    "workflow's rule, the workflow recording it; primary: the session workflow within the "
    "deadline; fallback: the store, past it)",
    ["action", "path"],
)
CLAMPED = Counter(
    "ampflow_gateway_clamped_values",
    "Values from stations replaced because they could not be real (e.g. timestamps)",
    ["field"],
)
HANDSHAKES_REJECTED = Counter(
    "ampflow_gateway_handshakes_rejected", "Refused WebSocket handshakes", ["status"]
)

_MAX_ACTIONS = 200  # a label value per OCPP action; anything beyond is "other"
_actions: set[str] = set()


def _action(action: str | None) -> str:
    if action is None:
        return "none"
    if action in _actions:
        return action
    if len(_actions) < _MAX_ACTIONS and action.isalnum() and len(action) <= 40:
        _actions.add(action)
        return action
    return "other"


_answered: dict[tuple[str | None, bool], tuple] = {}  # (action, ok) -> its two metric children


def call_answered(action: str | None, response: str, started: float) -> None:
    """Count an answered CALL (`response` is the frame sent) and observe its latency."""
    ok = response.startswith("[3")
    children = _answered.get((action, ok))
    if children is None:  # looked up once per action and outcome (labels() is not free)
        label = _action(action)
        children = (MESSAGES.labels(label, "ok" if ok else "error"), CALL_SECONDS.labels(label))
        if label != "other":
            _answered[(action, ok)] = children
    children[0].inc()
    children[1].observe(time.monotonic() - started)


def rate_limited(action: str | None) -> None:
    MESSAGES.labels(_action(action), "rate_limited").inc()


def handshake_refused(status: int) -> None:
    HANDSHAKES_REJECTED.labels(str(int(status))).inc()


def start(services: GatewayServices):
    """Track the connection count; serve /metrics on the gateway host at
    `gateway_metrics_port` unless it is 0. Returns the server (for `stop`)."""
    CONNECTIONS.set_function(lambda: len(services.connections))
    settings = services.settings
    if not settings.gateway_metrics_port:
        return None
    server, _thread = start_http_server(settings.gateway_metrics_port, settings.gateway_host)
    log.info(
        "gateway metrics on http://%s:%d/metrics",
        settings.gateway_host,
        settings.gateway_metrics_port,
    )
    return server


def stop(server) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


def decision(action: str, path: str) -> None:
    """Count an Authorize/start answer decided on `path` (`gateway`, `primary`, `fallback`)."""
    DECISIONS.labels(action, path).inc()


def clamped(field: str) -> None:
    """Count a station value the gateway had to replace."""
    CLAMPED.labels(field).inc()
