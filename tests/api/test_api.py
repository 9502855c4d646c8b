"""The operator API: authentication on every route, and the resources behind it.

Every route needs the operator key in `X-API-Key` (401 without it or with a wrong one), except
health, the OpenAPI docs and the few routes that are public by design (listed below with their
reason: logins, webhooks, token links for drivers and chargers, price information). The walk over
`app.routes` is checked against the OpenAPI document, so a new route cannot slip past it. The
resources are checked for their status codes and for what they leave in the store.
"""

from __future__ import annotations

import re

import orjson
import pytest
from fastapi.routing import APIRoute
from sqlmodel import select
from starlette.routing import Route

from api.main import create_app
from domain.credentials import hash_password, verify_password, verify_station_password
from runtime.station_keys import station_keys
from store.tables import IdToken, Station
from store.tables import Tariff as TariffRow
from tests.conftest import ADMIN_KEY

PUBLIC_PATHS = {"/health", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"}
# Routes that are public by design: they authenticate otherwise, or serve drivers and chargers.
PUBLIC_BY_DESIGN = {
    "/auth/token": "driver login",
    "/auth/operators/token": "operator login",
    "/auth/register": "driver self-registration",
    "/auth/register/confirm": "completes a registration with the mailed code",
    "/auth/logout": "ends the caller's own login session",
    "/auth/password-reset": "password reset request",
    "/auth/password-reset/confirm": "password reset with the mailed token",
    "/webhooks/stripe": "Stripe-Signature authenticates",
    "/pay/{token}": "guest payment link",
    "/pay/{station_id}/{connector_id}": "guest payment (QR code at the connector)",
    "/pay/{station_id}/{connector_id}/checkout": "guest payment on Stripe's checkout page",
    "/receipts/{token}": "receipt by its public token",
    "/receipts/{token}.pdf": "receipt by its public token",
    "/firmware/files/{token}/{file_name}": "chargers download firmware by a per-image token",
    "/uploads/{token}": "chargers upload diagnostics by a per-request token",
    "/uploads/{token}/{file_name}": "chargers upload diagnostics by a per-request token",
    "/tariffs/{tariff_id}/preview": "public price information",
    "/stations/{station_id}/price-preview": "public price information",
    "/": "leads to the console",
    "/console/login": "the console's sign-in (checked by /auth/operators/token)",
    "/console/logout": "the console's sign-out (the session cookie and its CSRF token)",
    "/driver/login": "the driver pages' sign-in (checked by /auth/token)",
    "/driver/logout": "the driver pages' sign-out",
    "/charge/{station_id}/{connector_id}": "a charger's QR code: the price before paying",
    "/guest/{token}": "a guest's payment by its token",
    "/guest/{token}/live": "a guest's session by its payment token",
}


def _walk(routes) -> list[tuple[str, str]]:
    """(method, path template) of every HTTP route, descending into included routers."""
    found = []
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:  # FastAPI keeps included routers as nested route objects
            assert not getattr(route.include_context, "prefix", ""), "prefix not handled"
            found.extend(_walk(included.routes))
        elif isinstance(route, APIRoute | Route):
            found.extend((m, route.path) for m in route.methods - {"HEAD", "OPTIONS"})
    return found


def _protected_requests(settings, database_url) -> list[tuple[str, str]]:
    """(method, concrete path) for every operator route of the app."""
    app = create_app(settings, database_url)
    walked = _walk(app.routes)
    # The walk is complete: it finds every operation the OpenAPI document lists.
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert documented <= set(walked)
    templates = {template for _, template in walked}
    assert not set(PUBLIC_BY_DESIGN) - templates, "stale PUBLIC_BY_DESIGN entries"
    requests = []
    for method, template in sorted(set(walked)):
        if template in PUBLIC_PATHS or template in PUBLIC_BY_DESIGN:
            continue
        requests.append((method, re.sub(r"\{[^}]+\}", "1", template)))
    return requests


async def test_every_operator_route_needs_the_key(api, settings, database_url):
    requests = _protected_requests(settings, database_url)
    # The walk really found the API (not an empty list that passes vacuously).
    assert ("POST", "/stations") in requests
    assert ("PATCH", "/tokens/1") in requests
    assert ("GET", "/sessions/1/receipt") in requests
    assert len(requests) >= 12
    api.headers.pop("X-API-Key")
    wrong = []
    for method, path in requests:
        for headers in (
            {},
            {"X-API-Key": ""},
            {"X-API-Key": "wrong"},
            {"X-API-Key": ADMIN_KEY + "x"},
        ):
            response = await api.request(method, path, headers=headers, json={})
            if response.status_code != 401:
                wrong.append((method, path, headers, response.status_code, response.text[:80]))
    assert wrong == []


async def test_request_without_the_key_header_is_401(api):
    api.headers.pop("X-API-Key")
    response = await api.get("/stations")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "APIKey"


async def test_non_ascii_key_is_401_not_a_crash(api):
    response = await api.get("/stations", headers={"X-API-Key": "cl\xe9".encode("latin-1")})
    assert response.status_code == 401


async def test_public_routes_need_no_key(api):
    api.headers.pop("X-API-Key")
    assert (await api.get("/health")).status_code == 200
    assert (await api.get("/openapi.json")).status_code == 200
    assert (await api.get("/docs")).status_code == 200


# ---- stations ------------------------------------------------------------------------------


async def test_register_station(api, db, settings):
    response = await api.post(
        "/stations", json={"id": "ST-1", "password": "s3cret-station-pass", "connector_count": 2}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] == "ST-1"
    assert body["connector_count"] == 2
    assert body["ocpp_versions"] == ["ocpp1.6", "ocpp2.0.1"]
    assert body["connected"] is False
    assert body["password"] is None and "password_hash" not in body  # given, not generated
    with db.session() as session:
        station = session.get(Station, "ST-1")
    assert station is not None
    keys = station_keys(settings)
    assert verify_station_password("s3cret-station-pass", station.password_hash, keys)
    assert not verify_station_password("other-station-pass", station.password_hash, keys)

    listed = await api.get("/stations")
    assert [s["id"] for s in listed.json()] == ["ST-1"]
    assert (await api.get("/stations/ST-1")).json()["id"] == "ST-1"
    assert (await api.get("/stations/NOPE")).status_code == 404


async def test_duplicate_station_is_409(api, db):
    with db.session() as session:
        session.add(Station(id="ST-1", password_hash=hash_password("s3cret-station-pass")))
    response = await api.post("/stations", json={"id": "ST-1", "password": "0ther-station-pass"})
    assert response.status_code == 409
    with db.session() as session:  # the existing station is untouched
        assert verify_password("s3cret-station-pass", session.get(Station, "ST-1").password_hash)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "bad id", "password": "s3cret-station-pass"},
        {"id": "a/b", "password": "s3cret-station-pass"},
        {"id": "", "password": "s3cret-station-pass"},
        {"id": "x" * 49, "password": "s3cret-station-pass"},
        {"id": "ST-1", "password": "short"},
        {"id": "ST-1", "password": "s3cret-station-pass", "ocpp_versions": ["ocpp1.5"]},
        {"id": "ST-1", "password": "s3cret-station-pass", "ocpp_versions": []},
        {"id": "ST-1", "password": "s3cret-station-pass", "connector_count": 0},
        {"id": "ST-1", "password": "s3cret-station-pass", "tariff_id": 999},
        {"password": "s3cret-station-pass"},
    ],
    ids=repr,
)
async def test_invalid_station_is_422(api, db, body):
    response = await api.post("/stations", json=body)
    assert response.status_code == 422, response.text
    with db.session() as session:
        assert session.exec(select(Station)).all() == []


# ---- drivers and tokens --------------------------------------------------------------------


async def _driver(api, email="ada@example.com") -> dict:
    response = await api.post("/drivers", json={"name": "Ada", "email": email})
    assert response.status_code == 201, response.text
    return response.json()


async def test_drivers_and_tokens(api, db):
    driver = await _driver(api)
    assert driver["name"] == "Ada" and driver["email"] == "ada@example.com"
    assert (await api.get(f"/drivers/{driver['id']}")).json()["id"] == driver["id"]
    assert [d["id"] for d in (await api.get("/drivers")).json()] == [driver["id"]]

    issued = await api.post(f"/drivers/{driver['id']}/tokens", json={"token": "CARD-1"})
    assert issued.status_code == 201, issued.text
    token = issued.json()
    assert (token["token"], token["driver_id"], token["status"]) == (
        "CARD-1",
        driver["id"],
        "Accepted",
    )
    listed = await api.get("/tokens")
    assert [t["token"] for t in listed.json()] == ["CARD-1"]

    blocked = await api.patch("/tokens/CARD-1", json={"status": "Blocked"})
    assert blocked.status_code == 200
    assert blocked.json()["status"] == "Blocked"
    with db.session() as session:
        row = session.exec(select(IdToken).where(IdToken.token == "CARD-1")).one()
    assert row.status == "Blocked"
    assert [t["status"] for t in (await api.get("/tokens")).json()] == ["Blocked"]


async def test_token_errors(api):
    driver = await _driver(api)
    url = f"/drivers/{driver['id']}/tokens"
    assert (await api.post(url, json={"token": "CARD-1"})).status_code == 201
    assert (await api.post(url, json={"token": "CARD-1"})).status_code == 409
    assert (await api.post(url, json={"token": "x" * 21})).status_code == 422
    assert (await api.post(url, json={"token": "has space"})).status_code == 422
    assert (await api.post("/drivers/999/tokens", json={"token": "CARD-2"})).status_code == 404
    assert (await api.patch("/tokens/NOPE", json={"status": "Blocked"})).status_code == 404
    assert (await api.patch("/tokens/CARD-1", json={"status": "Stolen"})).status_code == 422


async def test_token_status_cannot_be_set_to_null(api, db):
    driver = await _driver(api)
    await api.post(f"/drivers/{driver['id']}/tokens", json={"token": "CARD-1"})
    response = await api.patch("/tokens/CARD-1", json={"status": None})
    assert response.status_code in (200, 422)
    with db.session() as session:
        row = session.exec(select(IdToken).where(IdToken.token == "CARD-1")).one()
    assert row.status == "Accepted"


async def test_duplicate_driver_email_is_409(api):
    await _driver(api)
    response = await api.post("/drivers", json={"name": "Other", "email": "ada@example.com"})
    assert response.status_code == 409
    assert (
        await api.post("/drivers", json={"name": "X", "email": "not-an-email"})
    ).status_code == 422
    assert (await api.get("/drivers/999")).status_code == 404


# ---- tariffs -------------------------------------------------------------------------------


async def test_tariffs_and_the_default(api, db):
    first = await api.post(
        "/tariffs",
        json={"name": "A", "energy_price_per_kwh": 30, "vat_rate_bp": 2000, "is_default": True},
    )
    assert first.status_code == 201, first.text
    assert first.json()["is_default"] is True
    second = await api.post("/tariffs", json={"name": "B", "session_fee": 100, "is_default": True})
    assert second.status_code == 201
    third = await api.post("/tariffs", json={"name": "C"})
    assert third.status_code == 201

    listed = {t["name"]: t for t in (await api.get("/tariffs")).json()}
    assert {name: t["is_default"] for name, t in listed.items()} == {
        "A": False,
        "B": True,
        "C": False,
    }
    assert listed["A"]["energy_price_per_kwh"] == 30
    assert listed["B"]["session_fee"] == 100
    with db.session() as session:
        defaults = session.exec(select(TariffRow).where(TariffRow.is_default)).all()
    assert [t.name for t in defaults] == ["B"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "X", "currency": "eur"},
        {"name": "X", "energy_price_per_kwh": -1},
        {"name": "X", "vat_rate_bp": 10_001},
    ],
    ids=repr,
)
async def test_invalid_tariff_is_422(api, body):
    assert (await api.post("/tariffs", json=body)).status_code == 422


# ---- sessions, health, docs ----------------------------------------------------------------


async def test_unknown_session_is_404(api):
    assert (await api.get("/sessions/unknown")).status_code == 404
    assert (await api.get("/sessions/unknown/receipt")).status_code == 404
    assert (await api.get("/sessions")).json() == []


async def test_health(api):
    response = await api.get("/health")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "temporal": "ok", "status": "ok"}


async def test_openapi_lists_the_routes(api):
    response = await api.get("/openapi.json")
    assert response.headers["content-type"].startswith("application/json")
    spec = orjson.loads(response.content)
    assert spec["info"]["title"] == "Ampflow API"
    paths = spec["paths"]
    for path, method in [
        ("/health", "get"),
        ("/stations", "post"),
        ("/stations", "get"),
        ("/stations/{station_id}/messages", "get"),
        ("/drivers", "post"),
        ("/drivers/{driver_id}/tokens", "post"),
        ("/tokens", "get"),
        ("/tokens/{token}", "patch"),
        ("/tariffs", "post"),
        ("/sessions", "get"),
        ("/sessions/{session_id}", "get"),
        ("/sessions/{session_id}/receipt", "get"),
    ]:
        assert method in paths.get(path, {}), (method, path)
