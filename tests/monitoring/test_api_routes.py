"""Every monitoring route answers garbage input without a server error (as the role-matrix
walk calls them: placeholder path ids, empty JSON bodies, no query)."""

from __future__ import annotations

import re

from fastapi.routing import iter_route_contexts

from domain.analytics import report_schedule_id

PREFIXES = ("/live", "/fleet", "/alerts", "/analytics", "/reports", "/maintenance-windows")
PREFIXES += ("/sites",)


async def test_monitoring_routes_never_fail_on_empty_input(seeded, api, temporal_client, settings):
    app = api._transport.app
    routes = sorted(
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        if context.path
        and any(context.path == p or context.path.startswith(p + "/") for p in PREFIXES)
        for method in context.methods or ()
        if method not in ("HEAD", "OPTIONS")
    )
    assert len(routes) == 31
    try:
        for method, template in routes:
            path = re.sub(r"\{[^}]+\}", "999999", template)
            kwargs = {} if method in ("GET", "DELETE") else {"json": {}}
            response = await api.request(method, path, **kwargs)
            assert response.status_code < 500, (method, template, response.text[:200])
    finally:
        await temporal_client.get_schedule_handle(report_schedule_id(settings.task_queue)).delete()
