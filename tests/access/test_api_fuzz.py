"""Schemathesis against our OpenAPI, signed in as one driver: no 5xx, and nothing of another
driver in any answer. Bounded: at most 100 generated requests, every operation a driver or an
anonymous caller may use, valid and invalid inputs."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import pytest

from ampflow.seed import DEMO_STATION
from api import login_sessions
from domain.roles import ROUTE_ROLES, Role, route_key
from store.tables import ChargingSession
from tests.access.helpers import ADMIN, driver_account

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")

MAX_REQUESTS = 100
# Found by this test in routes of other owners, reported, skipped until fixed:
KNOWN_ISSUES: set[str] = set()  # routes excused from fuzzing (none now)
OTHER = {
    "email": "benedict.other@example.com",
    "name": "Benedict Other",
    "card": "BEN-SECRET-CARD",
    "session": "session-DEMO-1-902",
}


def _cases(app, targets: dict[str, object]) -> list:
    """Up to MAX_REQUESTS cases: one valid and one invalid per driver/anonymous operation, and
    one aimed at the other driver's data where the path names a session or a credential."""
    schema = schemathesis.openapi.from_dict(app.openapi())
    cases = []
    for result in schema.get_all_operations():
        operation = result.ok()
        key = route_key(operation.method.upper(), operation.path)
        roles = ROUTE_ROLES.get(key, frozenset())
        if not roles & {Role.DRIVER, Role.ANONYMOUS} or key in KNOWN_ISSUES:
            continue
        aimed = {k: v for k, v in targets.items() if "{" + k + "}" in operation.path}
        strategies = [
            operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
        ]
        if aimed:
            strategies.append(operation.as_strategy(path_parameters=aimed))
        for strategy in strategies:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    cases.append(strategy.example())
            except Exception:  # some operations have nothing to make invalid
                continue
    return cases[:MAX_REQUESTS]


async def test_fuzzing_as_a_driver_finds_no_5xx_and_no_foreign_data(app, http, seeded, settings):
    ann = await driver_account(http, "ann@example.com", name="Ann")
    ben = await driver_account(http, OTHER["email"], name=OTHER["name"])
    response = await http.post(
        f"/drivers/{ben['driver_id']}/tokens", json={"token": OTHER["card"]}, headers=ADMIN
    )
    assert response.status_code == 201
    targets = {"session_id": OTHER["session"], "token_id": response.json()["id"]}
    with seeded.session() as session:
        session.add(
            ChargingSession(
                id=OTHER["session"],
                station_id=DEMO_STATION,
                transaction_id="902",
                id_token=OTHER["card"],
                driver_id=ben["driver_id"],
                state="Completed",
                tariff={},
                started_at=datetime(2030, 1, 1, tzinfo=UTC),
            )
        )

    def as_ann() -> dict[str, str]:
        """A fresh sign-in per request (some requests sign the caller out)."""
        with seeded.session() as session:
            pair = login_sessions.start_session(
                session, settings, "driver", ann["driver_id"], "driver"
            )
        return {"Authorization": f"Bearer {pair.access_token}"}

    cases = _cases(app, targets)
    assert len(cases) >= 40
    failures = [await _failure(http, case, as_ann()) for case in cases]
    failures = [f for f in failures if f]
    assert not failures, "\n".join(failures)


async def _failure(http, case, credentials: dict[str, str]) -> str | None:
    """What is wrong with the answer to `case` (None: nothing)."""
    kwargs = case.as_transport_kwargs(base_url="http://api")
    headers = {
        k: v
        for k, v in (kwargs.get("headers") or {}).items()
        if k.lower() not in ("authorization", "x-api-key")
    }
    body = {k: v for k, v in kwargs.items() if k in ("json", "content", "data", "files")}
    where = f"{case.method} {case.formatted_path}"
    try:
        response = await http.request(
            kwargs["method"],
            kwargs["url"],
            headers={**headers, **credentials},
            params=kwargs.get("params"),
            **body,
        )
    except Exception as err:  # the app raised: a 500
        return f"{where}: {err!r}"[:300]
    if response.status_code >= 500:
        return f"{where}: {response.status_code} {response.text[:300]}"
    leaked = [secret for secret in OTHER.values() if secret in response.text]
    return f"{where} leaks {leaked}" if leaked else None
