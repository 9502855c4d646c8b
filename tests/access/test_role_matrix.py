"""Every route of the app, called by every role, is allowed or denied exactly as the matrix
written by hand below says (and `docs/access.md` repeats) — not as `domain.roles.ROUTE_ROLES`
says: the code's table is what is tested, never the expectation. Every route has an entry in
both tables, and no entry names a route that does not exist."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from fastapi.routing import iter_route_contexts

from api import login_sessions
from api.main import create_app
from domain.roles import ROUTE_ROLES, Role, allowed_roles, route_key
from store.access_tables import Operator
from tests.access.helpers import ADMIN, api_key, driver_account
from tests.conftest import ADMIN_KEY

_NO_BODY = {"GET", "DELETE"}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "access.md"
COLUMNS = [Role.ADMIN, Role.TECHNICIAN, Role.SUPPORT, Role.ANALYST, Role.DRIVER, Role.ANONYMOUS]

# route × role → allowed (✓) or denied (–); reviewed route by route, kept in docs/access.md.
MATRIX = """
| route | admin | technician | support | analyst | driver | anonymous |
|---|:-:|:-:|:-:|:-:|:-:|:-:|
| `GET /alerts` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /alerts/{alert_id}` | ✓ | ✓ | ✓ | ✓ | – | – |
| `POST /alerts/{alert_id}/acknowledge` | ✓ | ✓ | – | – | – | – |
| `POST /alerts/{alert_id}/resolve` | ✓ | ✓ | – | – | – | – |
| `GET /analytics/charts/{chart}.{fmt}` | ✓ | – | ✓ | ✓ | – | – |
| `GET /analytics/failures` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /analytics/heatmap` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /analytics/revenue` | ✓ | – | ✓ | ✓ | – | – |
| `GET /analytics/summary` | ✓ | – | ✓ | ✓ | – | – |
| `GET /analytics/uptime` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /analytics/usage` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /analytics/utilization` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /analytics/{table}.csv` | ✓ | – | ✓ | ✓ | – | – |
| `GET /api-keys` | ✓ | – | – | – | – | – |
| `POST /api-keys` | ✓ | – | – | – | – | – |
| `DELETE /api-keys/{key_id}` | ✓ | – | – | – | – | – |
| `GET /audit` | ✓ | – | ✓ | ✓ | – | – |
| `POST /auth/logout` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `POST /auth/logout-all` | ✓ | ✓ | ✓ | ✓ | ✓ | – |
| `GET /auth/me` | ✓ | ✓ | ✓ | ✓ | ✓ | – |
| `POST /auth/operators/token` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `POST /auth/password` | ✓ | ✓ | ✓ | ✓ | ✓ | – |
| `POST /auth/password-reset` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `POST /auth/password-reset/confirm` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `POST /auth/register` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `POST /auth/register/confirm` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `POST /auth/token` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `POST /codec/decode` | ✓ | – | ✓ | – | – | – |
| `POST /codec/encode` | ✓ | – | – | – | – | – |
| `GET /dev/mailbox` | ✓ | – | – | – | – | – |
| `GET /docs` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `GET /docs/oauth2-redirect` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `GET /drivers` | ✓ | – | ✓ | ✓ | – | – |
| `POST /drivers` | ✓ | – | – | – | – | – |
| `DELETE /drivers/{driver_id}` | ✓ | – | – | – | – | – |
| `GET /drivers/{driver_id}` | ✓ | – | ✓ | ✓ | – | – |
| `GET /drivers/{driver_id}/account` | ✓ | – | ✓ | ✓ | – | – |
| `PUT /drivers/{driver_id}/account` | ✓ | – | – | – | – | – |
| `POST /drivers/{driver_id}/cards` | ✓ | – | ✓ | – | – | – |
| `DELETE /drivers/{driver_id}/plan` | ✓ | – | ✓ | – | – | – |
| `POST /drivers/{driver_id}/plan` | ✓ | – | ✓ | – | – | – |
| `GET /drivers/{driver_id}/plan/usage` | ✓ | – | ✓ | ✓ | – | – |
| `GET /drivers/{driver_id}/statement` | ✓ | – | ✓ | ✓ | – | – |
| `POST /drivers/{driver_id}/tokens` | ✓ | – | – | – | – | – |
| `POST /drivers/{driver_id}/top-ups` | ✓ | – | ✓ | – | – | – |
| `GET /firmware` | ✓ | ✓ | ✓ | ✓ | – | – |
| `POST /firmware` | ✓ | ✓ | – | – | – | – |
| `GET /firmware/files/{token}/{file_name}` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `GET /firmware/{firmware_id}` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /firmware/{firmware_id}/content` | ✓ | ✓ | – | – | – | – |
| `GET /fleet` | ✓ | ✓ | ✓ | ✓ | – | – |
| `POST /fleet-commands` | ✓ | ✓ | – | – | – | – |
| `GET /fleet-commands/{workflow_id}` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /health` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `GET /live` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /locations` | ✓ | ✓ | ✓ | ✓ | – | – |
| `POST /locations` | ✓ | ✓ | – | – | – | – |
| `GET /locations/{location_id}` | ✓ | ✓ | ✓ | ✓ | – | – |
| `PATCH /locations/{location_id}` | ✓ | ✓ | – | – | – | – |
| `DELETE /locations/{location_id}` | ✓ | ✓ | – | – | – | – |
| `GET /maintenance-windows` | ✓ | ✓ | ✓ | ✓ | – | – |
| `POST /maintenance-windows` | ✓ | ✓ | – | – | – | – |
| `DELETE /maintenance-windows/{window_id}` | ✓ | ✓ | – | – | – | – |
| `GET /maintenance/alerts` | ✓ | ✓ | ✓ | ✓ | – | – |
| `POST /maintenance/alerts/{alert_id}/resolve` | ✓ | ✓ | – | – | – | – |
| `GET /maintenance/jobs` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /maintenance/jobs/{workflow_id}` | ✓ | ✓ | ✓ | ✓ | – | – |
| `POST /maintenance/jobs/{workflow_id}/cancel` | ✓ | ✓ | – | – | – | – |
| `GET /maintenance/jobs/{workflow_id}/file` | ✓ | ✓ | – | – | – | – |
| `DELETE /me` | – | – | – | – | ✓ | – |
| `GET /me` | – | – | – | – | ✓ | – |
| `PATCH /me` | – | – | – | – | ✓ | – |
| `GET /me/sessions` | – | – | – | – | ✓ | – |
| `POST /me/sessions` | – | – | – | – | ✓ | – |
| `GET /me/sessions/{session_id}` | – | – | – | – | ✓ | – |
| `GET /me/sessions/{session_id}/receipt` | – | – | – | – | ✓ | – |
| `GET /me/sessions/{session_id}/receipt.pdf` | – | – | – | – | ✓ | – |
| `POST /me/sessions/{session_id}/stop` | – | – | – | – | ✓ | – |
| `GET /me/stations` | – | – | – | – | ✓ | – |
| `GET /me/stations/{station_id}` | – | – | – | – | ✓ | – |
| `GET /me/tokens` | – | – | – | – | ✓ | – |
| `POST /me/tokens/{token_id}/block` | – | – | – | – | ✓ | – |
| `GET /openapi.json` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `GET /operators` | ✓ | – | – | – | – | – |
| `POST /operators` | ✓ | – | – | – | – | – |
| `GET /operators/{operator_id}` | ✓ | – | – | – | – | – |
| `PATCH /operators/{operator_id}` | ✓ | – | – | – | – | – |
| `POST /pay/{station_id}/{connector_id}` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `POST /pay/{station_id}/{connector_id}/checkout` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `GET /pay/{token}` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `GET /payments/reconciliation` | ✓ | – | ✓ | ✓ | – | – |
| `GET /plans` | ✓ | ✓ | ✓ | ✓ | – | – |
| `POST /plans` | ✓ | – | – | – | – | – |
| `POST /plans/billing-runs` | ✓ | – | – | – | – | – |
| `GET /receipts/{token}` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `GET /receipts/{token}.pdf` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `GET /redoc` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `GET /reports` | ✓ | – | ✓ | ✓ | – | – |
| `POST /reports/monthly` | ✓ | – | – | – | – | – |
| `GET /reports/schedule` | ✓ | – | ✓ | ✓ | – | – |
| `PUT /reports/schedule` | ✓ | – | – | – | – | – |
| `GET /reports/sessions.csv` | ✓ | – | ✓ | ✓ | – | – |
| `GET /reports/{report_id}` | ✓ | – | ✓ | ✓ | – | – |
| `GET /reports/{report_id}/download` | ✓ | – | ✓ | ✓ | – | – |
| `POST /rollouts` | ✓ | ✓ | – | – | – | – |
| `GET /rollouts/{name}` | ✓ | ✓ | ✓ | ✓ | – | – |
| `POST /rollouts/{name}/cancel` | ✓ | ✓ | – | – | – | – |
| `POST /rollouts/{name}/pause` | ✓ | ✓ | – | – | – | – |
| `POST /rollouts/{name}/resume` | ✓ | ✓ | – | – | – | – |
| `GET /sessions` | ✓ | – | ✓ | ✓ | – | – |
| `POST /sessions` | ✓ | ✓ | – | – | – | – |
| `GET /sessions/{session_id}` | ✓ | – | ✓ | ✓ | – | – |
| `GET /sessions/{session_id}/payments` | ✓ | – | ✓ | ✓ | – | – |
| `GET /sessions/{session_id}/receipt` | ✓ | – | ✓ | ✓ | – | – |
| `GET /sessions/{session_id}/receipt.pdf` | ✓ | – | ✓ | ✓ | – | – |
| `POST /sessions/{session_id}/refunds` | ✓ | – | ✓ | – | – | – |
| `POST /sessions/{session_id}/stop` | ✓ | ✓ | – | – | – | – |
| `GET /sites` | ✓ | ✓ | ✓ | ✓ | – | – |
| `PUT /sites/{site_id}` | ✓ | – | – | – | – | – |
| `GET /sites/{site_id}/load` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /sites/{site_id}/load-limit` | ✓ | ✓ | ✓ | ✓ | – | – |
| `PUT /sites/{site_id}/load-limit` | ✓ | ✓ | – | – | – | – |
| `DELETE /sites/{site_id}/load-limit` | ✓ | ✓ | – | – | – | – |
| `PUT /stations/{station_id}/load-limit` | ✓ | ✓ | – | – | – | – |
| `DELETE /stations/{station_id}/load-limit` | ✓ | ✓ | – | – | – | – |
| `GET /stations/{station_id}/composite-schedule` | ✓ | ✓ | – | – | – | – |
| `GET /stations` | ✓ | ✓ | ✓ | ✓ | – | – |
| `POST /stations` | ✓ | – | – | – | – | – |
| `GET /stations/{station_id}` | ✓ | ✓ | ✓ | ✓ | – | – |
| `POST /stations/{station_id}/approve` | ✓ | ✓ | – | – | – | – |
| `POST /stations/{station_id}/availability` | ✓ | ✓ | – | – | – | – |
| `GET /stations/{station_id}/certificates` | ✓ | ✓ | ✓ | ✓ | – | – |
| `POST /stations/{station_id}/certificates/renew` | ✓ | ✓ | – | – | – | – |
| `GET /stations/{station_id}/commands` | ✓ | ✓ | ✓ | ✓ | – | – |
| `POST /stations/{station_id}/commands` | ✓ | ✓ | – | – | – | – |
| `GET /stations/{station_id}/configuration` | ✓ | ✓ | – | – | – | – |
| `PUT /stations/{station_id}/configuration` | ✓ | ✓ | – | – | – | – |
| `GET /stations/{station_id}/customer-information/{request_id}` | ✓ | – | ✓ | – | – | – |
| `GET /stations/{station_id}/customer-information/{request_id}/text` | ✓ | – | ✓ | – | – | – |
| `PUT /stations/{station_id}/location` | ✓ | ✓ | – | – | – | – |
| `PUT /stations/{station_id}/connectors/{connector_id}/spec` | ✓ | ✓ | – | – | – | – |
| `PUT /stations/{station_id}/connectors/{connector_id}/tariff` | ✓ | – | – | – | – | – |
| `GET /stations/{station_id}/device-model` | ✓ | ✓ | ✓ | ✓ | – | – |
| `POST /stations/{station_id}/device-model/refresh` | ✓ | ✓ | – | – | – | – |
| `POST /stations/{station_id}/diagnostics` | ✓ | ✓ | – | – | – | – |
| `POST /stations/{station_id}/firmware-update` | ✓ | ✓ | – | – | – | – |
| `GET /stations/{station_id}/local-list` | ✓ | ✓ | ✓ | ✓ | – | – |
| `PUT /stations/{station_id}/local-list` | ✓ | ✓ | – | – | – | – |
| `POST /stations/{station_id}/local-list/check` | ✓ | ✓ | – | – | – | – |
| `POST /stations/{station_id}/local-list/sync` | ✓ | ✓ | – | – | – | – |
| `GET /stations/{station_id}/local-list/versions` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /stations/{station_id}/messages` | ✓ | ✓ | ✓ | ✓ | – | – |
| `PUT /stations/{station_id}/pending-next-boot` | ✓ | ✓ | – | – | – | – |
| `GET /stations/{station_id}/price-preview` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `POST /stations/{station_id}/reject` | ✓ | ✓ | – | – | – | – |
| `GET /stations/{station_id}/reports` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /stations/{station_id}/reports/{kind}/{request_id}` | ✓ | ✓ | ✓ | ✓ | – | – |
| `POST /stations/{station_id}/reset` | ✓ | ✓ | – | – | – | – |
| `POST /stations/{station_id}/unlock` | ✓ | ✓ | – | – | – | – |
| `PUT /tariff-groups/{group_id}` | ✓ | – | – | – | – | – |
| `GET /tariffs` | ✓ | ✓ | ✓ | ✓ | – | – |
| `POST /tariffs` | ✓ | – | – | – | – | – |
| `GET /tariffs/{tariff_id}` | ✓ | ✓ | ✓ | ✓ | – | – |
| `PATCH /tariffs/{tariff_id}` | ✓ | – | – | – | – | – |
| `GET /tariffs/{tariff_id}/preview` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `GET /tokens` | ✓ | – | ✓ | ✓ | – | – |
| `POST /tokens` | ✓ | – | – | – | – | – |
| `PATCH /tokens/{token}` | ✓ | – | ✓ | – | – | – |
| `POST /uploads/{token}` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `PUT /uploads/{token}` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `POST /uploads/{token}/{file_name}` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `PUT /uploads/{token}/{file_name}` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `POST /webhooks/stripe` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `GET /` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `GET /console/login` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `POST /console/login` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `POST /console/logout` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `GET /console` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /console/stations/{station_id}` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /console/sessions` | ✓ | – | ✓ | ✓ | – | – |
| `GET /console/sessions/{session_id}` | ✓ | – | ✓ | ✓ | – | – |
| `GET /console/sessions/{session_id}/stream` | ✓ | – | ✓ | ✓ | – | – |
| `GET /console/maintenance` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /console/maintenance/{workflow_id}` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /console/maintenance/{workflow_id}/stream` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /console/alerts` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /console/analytics` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /console/drivers` | ✓ | – | ✓ | ✓ | – | – |
| `GET /console/drivers/{driver_id}` | ✓ | – | ✓ | ✓ | – | – |
| `GET /console/tariffs` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /console/network` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /console/audit` | ✓ | – | ✓ | ✓ | – | – |
| `GET /console/admin` | ✓ | – | – | – | – | – |
| `GET /console/account` | ✓ | ✓ | ✓ | ✓ | – | – |
| `GET /driver/login` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `POST /driver/login` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `POST /driver/logout` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `GET /driver` | – | – | – | – | ✓ | – |
| `GET /driver/sessions` | – | – | – | – | ✓ | – |
| `GET /driver/sessions/{session_id}` | – | – | – | – | ✓ | – |
| `GET /driver/sessions/{session_id}/stream` | – | – | – | – | ✓ | – |
| `GET /driver/account` | – | – | – | – | ✓ | – |
| `GET /charge/{station_id}/{connector_id}` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `GET /guest/{token}` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
| `GET /guest/{token}/live` | ✓ | ✓ | ✓ | ✓ | ✓ | ✓ |
"""


def parse_matrix(text: str) -> dict[str, frozenset[Role]]:
    """`{"METHOD /path": allowed roles}` from the markdown rows of `text`."""
    rows: dict[str, frozenset[Role]] = {}
    for line in text.splitlines():
        match = re.fullmatch(r"\| `([A-Z]+ [^`]+)` \|(.*)\|", line.strip())
        if not match:
            continue
        cells = [c.strip() for c in match.group(2).split("|")]
        assert len(cells) == len(COLUMNS) and set(cells) <= {"✓", "–"}, line
        key = match.group(1)
        assert key not in rows, f"{key} twice"
        rows[key] = frozenset(r for r, c in zip(COLUMNS, cells, strict=True) if c == "✓")
    return rows


EXPECTED = parse_matrix(MATRIX)


def app_routes(app) -> set[str]:
    """`METHOD /template` of every HTTP route, included routers and docs too."""
    keys = set()
    for context in iter_route_contexts(app.routes):
        for method in context.methods or ():
            if method not in ("HEAD", "OPTIONS") and context.path:
                keys.add(route_key(method, context.path))
    return keys


def test_every_route_has_exactly_one_entry(settings, database_url):
    routes = app_routes(create_app(settings, database_url))
    assert len(routes) > 50  # the walk found the API (and not an empty list)
    for name, table in (("domain/roles.py ROUTE_ROLES", ROUTE_ROLES), ("MATRIX", EXPECTED)):
        missing = sorted(routes - set(table))
        assert not missing, f"add these routes to {name}: {missing}"
        stale = sorted(set(table) - routes)
        assert not stale, f"remove these entries from {name} (no such route): {stale}"


def test_the_documented_matrix_is_the_tested_one():
    assert parse_matrix(DOCS.read_text()) == EXPECTED, "docs/access.md and MATRIX differ"


async def test_an_unlisted_route_is_admin_only(settings, database_url, temporal_client, db):
    import httpx

    app = create_app(settings, database_url, temporal=temporal_client)

    @app.get("/zz-unlisted")
    def unlisted() -> dict:
        return {}

    assert "GET /zz-unlisted" not in ROUTE_ROLES
    assert allowed_roles("GET", "/zz-unlisted") == {Role.ADMIN}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            assert (await client.get("/zz-unlisted")).status_code == 401
            analyst = await api_key(client, "analyst")
            assert (await client.get("/zz-unlisted", headers=analyst)).status_code == 403
            assert (await client.get("/zz-unlisted", headers=ADMIN)).status_code == 200


async def test_role_matrix_over_every_route(app, http, db, settings):
    """Each (route, role) as the hand-written MATRIX says: allowed → neither 401 nor 403 (nor
    5xx); denied → 401 for anonymous callers, 403 for the others."""
    driver = await driver_account(http, "matrix.driver@example.com")
    with db.session() as session:
        operators = {}
        for role in ("technician", "support"):
            row = Operator(email=f"{role}@m.example.com", name=role, role=role, password_hash="-")
            session.add(row)
            session.flush()
            operators[role] = row.id
    analyst_key = await api_key(http, "analyst")

    def credentials(role: Role) -> dict[str, str]:
        """Fresh credentials per request (some routes sign the caller out)."""
        if role == Role.ANONYMOUS:
            return {}
        if role == Role.ADMIN:
            return {"X-API-Key": ADMIN_KEY}
        if role == Role.ANALYST:
            return analyst_key
        kind, subject = (
            ("driver", driver["driver_id"])
            if role == Role.DRIVER
            else ("operator", operators[role])
        )
        with db.session() as session:
            pair = login_sessions.start_session(session, settings, kind, subject, role.value)
        return {"Authorization": f"Bearer {pair.access_token}"}

    checked = 0
    for key in sorted(app_routes(app)):
        method, template = key.split(" ", 1)
        path = re.sub(r"\{[^}]+\}", "999999", template)
        for role in Role:
            kwargs = {} if method in _NO_BODY else {"json": {}}
            request = http.request(method, path, headers=credentials(role), **kwargs)
            response = await asyncio.wait_for(request, timeout=30)  # no endless streams
            code = response.status_code
            where = f"{key} as {role}: {code} {response.text[:200]}"
            assert code < 500, where
            if role in EXPECTED[key]:
                assert code not in (401, 403), where
            elif role == Role.ANONYMOUS:
                assert code == 401, where
            else:
                assert code == 403, where
            checked += 1
    assert checked == len(app_routes(app)) * len(Role)
