"""Every route of the app, called by every role, is allowed or denied exactly as the single
table `domain.roles.ROUTE_ROLES` says — and every route has an entry there."""

from __future__ import annotations

import asyncio
import re

from fastapi.routing import iter_route_contexts

from api import login_sessions
from api.main import create_app
from domain.roles import ROUTE_ROLES, Role, allowed_roles, route_key
from store.access_tables import Operator
from tests.access.helpers import ADMIN, api_key, driver_account
from tests.conftest import ADMIN_KEY

_NO_BODY = {"GET", "DELETE"}


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
    missing = sorted(routes - set(ROUTE_ROLES))
    assert not missing, f"add these routes to domain/roles.py ROUTE_ROLES: {missing}"
    stale = sorted(set(ROUTE_ROLES) - routes)
    assert not stale, f"remove these entries from ROUTE_ROLES (no such route): {stale}"


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
    """Each (route, role): allowed → neither 401 nor 403 (nor 5xx); denied → 401 / 403."""
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
            if role in ROUTE_ROLES[key]:
                assert code not in (401, 403), where
            elif role == Role.ANONYMOUS:
                assert code == 401, where
            else:
                assert code == 403, where
            checked += 1
    assert checked == len(app_routes(app)) * len(Role)
