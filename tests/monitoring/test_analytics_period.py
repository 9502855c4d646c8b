"""Analytics periods: time is counted only up to now (a fixed clock here), `from`/`to` default to
the last 30 days, and no date, time zone or number a client sends ends in a 5xx."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.monitoring_activities import MonitoringActivities
from ampflow.seed import DEMO_STATION, DEMO_TAG
from api.main import create_app
from api.routes.analytics import clock
from domain.analytics import MonthlyReportRequest
from runtime.settings import Settings
from store.db import Database
from tests.conftest import ADMIN_KEY
from tests.helpers import charger_session_result, eventually
from tests.stations import demo_201

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ten_minutes = timedelta(minutes=10)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


@pytest.fixture
def fixed_now() -> list[datetime]:
    """The API's now (a test may move it)."""
    return [NOW]


@pytest.fixture
async def api(
    settings: Settings,
    database_url: str,
    temporal_client: Client,
    db: Database,
    fixed_now: list[datetime],
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with its clock fixed (at NOW unless the test moves it)."""
    app = create_app(settings, database_url, temporal=temporal_client)
    app.dependency_overrides[clock] = lambda: fixed_now[0]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers={"X-API-Key": ADMIN_KEY}
        ) as client:
            yield client


def station(db: Database, station_id: str, *connectors: int) -> None:
    with db.session() as s:
        s.connection().exec_driver_sql(
            "INSERT INTO stations (id, security_profile, ocpp_versions, connector_count, "
            "registration_status, connected) VALUES (%s, 1, 'ocpp2.0.1', 2, 'Accepted', true)",
            (station_id,),
        )
        for connector in connectors:
            s.connection().exec_driver_sql(
                "INSERT INTO connectors (station_id, connector_id, status) VALUES (%s, %s, '-')",
                (station_id, connector),
            )


def status(db: Database, station_id: str, connector: int, value: str, when: str, **kw) -> None:
    received = at(kw.get("received", when))
    with db.session() as s:
        s.connection().exec_driver_sql(
            "INSERT INTO connector_status_history (station_id, connector_id, status, at, "
            "received_at) VALUES (%s, %s, %s, %s, %s)",
            (station_id, connector, value, at(when), received),
        )


def link(db: Database, station_id: str, online: bool, when: str) -> None:
    with db.session() as s:
        s.connection().exec_driver_sql(
            "INSERT INTO station_link_history (station_id, online, at) VALUES (%s, %s, %s)",
            (station_id, online, at(when)),
        )


def tx_frame(db: Database, station_id: str, tx: str, kind: str, when: str, **info) -> None:
    """A 2.0.1 TransactionEvent in the message log (received when it says it happened)."""
    payload: dict = {
        "eventType": kind,
        "timestamp": at(when).isoformat(),
        "triggerReason": "ChargingStateChanged",
        "seqNo": 0,
        "transactionInfo": {"transactionId": tx} | info,
    }
    if kind == "Started":
        payload["evse"] = {"id": 1, "connectorId": 1}
    with db.session() as s:
        s.connection().exec_driver_sql(
            "INSERT INTO ocpp_messages (station_id, direction, message_type, unique_id, action, "
            "payload, at) VALUES (%s, 'in', 2, 'u', 'TransactionEvent', %s, %s)",
            (station_id, json.dumps([2, "u", "TransactionEvent", payload]), at(when)),
        )


async def rows(api: httpx.AsyncClient, path: str, **params) -> list[dict]:
    response = await api.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


DAY = {"from": "2026-03-10T00:00:00Z", "to": "2026-03-11T00:00:00Z"}


# ---- 1. only up to now, and not before the connector appeared ------------------------------


async def test_a_new_station_is_observed_only_since_it_appeared_and_up_to_now(db, api):
    """It connected two minutes ago: 120 s observed today, not the rest of the day."""
    station(db, "NEW", 1)
    link(db, "NEW", True, "2026-03-10 11:58")
    status(db, "NEW", 1, "Available", "2026-03-10 11:58")
    [uptime] = await rows(api, "/analytics/uptime", **DAY)
    assert (uptime["observed_s"], uptime["available_s"], uptime["uptime"]) == (120, 120, 1.0)
    [use] = await rows(api, "/analytics/utilization", **DAY)
    assert use["observed_s"] == 120


async def test_a_skewed_charger_clock_does_not_predate_the_connector(db, api):
    """Its first status says 09:00 but reached us at 11:00: observed from 10:55 (five minutes'
    tolerance for latency and clocks that report whole seconds)."""
    station(db, "SKEW", 1)
    status(db, "SKEW", 1, "Available", "2026-03-10 09:00", received="2026-03-10 11:00")
    status(db, "SKEW", 1, "Faulted", "2026-03-10 11:30")
    [uptime] = await rows(api, "/analytics/uptime", **DAY)
    assert (uptime["observed_s"], uptime["faulted_s"], uptime["available_s"]) == (
        3_900,
        1_800,
        2_100,
    )


async def test_a_period_in_the_future_has_nothing_observed(db, api):
    station(db, "ST", 1)
    status(db, "ST", 1, "Available", "2026-03-01 00:00")
    later = {"from": "2026-03-11T00:00:00Z", "to": "2026-03-12T00:00:00Z"}
    [uptime] = await rows(api, "/analytics/uptime", **later)
    assert (uptime["observed_s"], uptime["uptime"]) == (0, None)


async def test_monthly_report_of_the_current_month_counts_up_to_now(db, settings):
    """Run on the 4th, March shows 3.5 days observed and 100 % uptime, not 31 days and 11 %."""
    station(db, "ST", 1)
    link(db, "ST", True, "2026-02-20 00:00")
    status(db, "ST", 1, "Available", "2026-02-20 00:00")
    fourth = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
    acts = MonitoringActivities(db, settings, clock=lambda: fourth)
    report = ActivityEnvironment().run(
        acts.build_monthly_report, MonthlyReportRequest(month="2026-03")
    )
    with db.session() as s:
        html = (
            s.connection()
            .exec_driver_sql("SELECT content FROM reports WHERE id = %s", (report.report_id,))
            .scalar_one()
        )
    observed = 3 * 86_400 + 12 * 3_600
    uptime_row = f"<td>ST</td><td>1</td><td>{observed}</td><td>0</td><td>0</td><td>0</td>"
    assert f"{uptime_row}<td>{observed}</td><td>1</td>" in html
    assert "time counted up to 2026-03-04T12:00:00+00:00" in html


# ---- 2. 2.0.1 charging: the chargingState of transactions --------------------------------


async def test_201_charging_of_a_transaction_running_since_before_the_period(db, api):
    """Started yesterday, Charging since 23:00, SuspendedEV 01:00–02:00, still charging now:
    charging 00:00–01:00 and 02:00–12:00 today (11 h), bounded by now."""
    station(db, "V2", 1)
    status(db, "V2", 1, "Occupied", "2026-03-09 22:30")
    tx_frame(db, "V2", "A", "Started", "2026-03-09 22:30", chargingState="EVConnected")
    tx_frame(db, "V2", "A", "Updated", "2026-03-09 23:00", chargingState="Charging")
    tx_frame(db, "V2", "A", "Updated", "2026-03-10 01:00", chargingState="SuspendedEV")
    tx_frame(db, "V2", "A", "Updated", "2026-03-10 02:00", chargingState="Charging")
    tx_frame(db, "V2", "A", "Updated", "2026-03-10 03:00")  # meter values only
    [use] = await rows(api, "/analytics/utilization", **DAY)
    assert (use["observed_s"], use["occupied_s"], use["charging_s"]) == (
        12 * 3_600,
        12 * 3_600,
        11 * 3_600,
    )


async def test_201_a_transaction_without_its_end_stops_when_the_vehicle_leaves(db, api):
    """B never reports its end: it stops counting when the connector is free (09:00) and is
    over when C starts on the same EVSE; C counts until its Ended (10:30), not to 10:40."""
    station(db, "V2", 1)
    status(db, "V2", 1, "Occupied", "2026-03-10 08:00")
    tx_frame(db, "V2", "B", "Started", "2026-03-10 08:00", chargingState="Charging")
    status(db, "V2", 1, "Available", "2026-03-10 09:00")
    status(db, "V2", 1, "Occupied", "2026-03-10 09:50")
    tx_frame(db, "V2", "C", "Started", "2026-03-10 09:50", chargingState="Charging")
    tx_frame(db, "V2", "C", "Ended", "2026-03-10 10:30", chargingState="Charging")
    status(db, "V2", 1, "Available", "2026-03-10 10:40")
    [use] = await rows(api, "/analytics/utilization", **DAY)
    assert (use["occupied_s"], use["charging_s"]) == (3_600 + 3_000, 3_600 + 2_400)


async def test_201_charging_time_agrees_with_the_idle_fee(
    seeded, worker, gateway_url, temporal_client, api, fixed_now
):
    """A real 2.0.1 session through the gateway: charging 10 min, SuspendedEV 10 min (idle),
    charging 1 min. Analytics' charging time is the session's duration minus its idle time."""
    async with demo_201(gateway_url) as station:
        started = station.clock
        await station.status(1, "Occupied")
        tx = station.transaction(1, DEMO_TAG)
        await station.event(tx.started())
        for state in ("SuspendedEV", "Charging"):
            trigger = "ChargingStateChanged"
            await station.event(tx.updated(0, trigger, charging_state=state, after=ten_minutes))
        await station.event(tx.ended())
        await station.status(1, "Available")
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.idle_s == 600
    fixed_now[0] = started + timedelta(hours=1)
    period = {
        "from": (started - timedelta(hours=1)).isoformat(),
        "to": fixed_now[0].isoformat(),
        "station_id": DEMO_STATION,
        "connector_id": 1,
    }

    async def charging() -> float | None:
        found = await rows(api, "/analytics/utilization", **period)
        return found[0]["charging_s"] if found and found[0]["occupied_s"] else None

    charging_s = await eventually(charging, timeout=20)
    duration = (view.stopped_at - view.started_at).total_seconds()
    assert charging_s == duration - view.idle_s == 660


# ---- 4. from / to default to the last 30 days; bad values are 422 --------------------------


def session(db: Database, session_id: str, started: datetime) -> None:
    with db.session() as s:
        s.connection().exec_driver_sql(
            "INSERT INTO sessions (id, station_id, connector_id, transaction_id, state, tariff, "
            "started_at, created_at, energy_wh, duration_s) VALUES "
            "(%s, 'ST', 1, %s, 'Completed', '{}', %s, %s, 1000, 60)",
            (session_id, session_id, started, started),
        )


async def test_the_period_defaults_to_the_last_30_days(db, api):
    session(db, "OLD", NOW - timedelta(days=30, seconds=1))
    session(db, "IN", NOW - timedelta(days=30))
    session(db, "LAST", NOW - timedelta(seconds=1))
    summary = await rows(api, "/analytics/summary")
    assert summary["sessions_started"] == 2
    only_to = await rows(api, "/analytics/summary", to=(NOW - timedelta(days=1)).isoformat())
    assert only_to["sessions_started"] == 2  # 30 days before `to`: OLD and IN, not LAST
    export = await api.get("/reports/sessions.csv")
    assert [r["id"] for r in csv.DictReader(io.StringIO(export.text))] == ["IN", "LAST"]
    assert 'filename="sessions_20260208_20260310.csv"' in export.headers["content-disposition"]
    usage = await rows(api, "/analytics/usage")
    assert (usage[0]["period"], usage[-1]["period"], len(usage)) == (
        "2026-02-08",
        "2026-03-10",
        31,
    )


async def test_openapi_says_what_from_and_to_default_to(api):
    spec = (await api.get("/openapi.json")).json()
    for path in ("/analytics/usage", "/analytics/{table}.csv", "/reports/sessions.csv"):
        params = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        assert not params["from"].get("required") and not params["to"].get("required")
        assert "30 days before `to`" in params["from"]["description"]
        assert "Default: now" in params["to"]["description"]


ROUTES = [
    "/analytics/usage",
    "/analytics/utilization",
    "/analytics/summary.csv",
    "/analytics/charts/uptime.svg",
    "/reports/sessions.csv",
]
BAD = [
    ({"from": "9999-12-31T23:59:59-12:00"}, "from: date-time out of range after conversion"),
    ({"to": "9999-12-31T23:59:59+00:00"}, "to: date-time must lie between 1900 and 9000"),
    ({"from": "10000-01-01T00:00:00Z"}, "from: not an ISO 8601 date-time"),
    ({"from": "0001-01-01T00:00:00+14:00"}, "from: date-time out of range after conversion"),
    ({"from": "2026-03-01T00:00:00+15:00"}, "from: UTC offset must lie within"),
    ({"to": "1900-01-15T00:00:00Z"}, "from: 30 days before `to` is before 1900"),
    ({"from": "99999999999999999999"}, "from: not an ISO 8601 date-time"),
    ({"to": "2026-02-30T00:00:00Z"}, "to: not an ISO 8601 date-time"),
    ({"from": "2026-03-01T00:00:00Z", "to": "2030-03-01T00:00:00Z"}, "at most three years"),
    ({"tz": "Mars/Olympus"}, "unknown time zone"),
    ({"tz": "right/UTC"}, "unknown to the database"),  # Python's tzdata has it, PostgreSQL not
    ({"connector_id": "99999999999999999999"}, "less than or equal to"),
    ({"connector_id": "2147483648"}, "less than or equal to"),
]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("params", "message"), BAD, ids=[str(p) for p, _ in BAD])
async def test_bad_dates_zones_and_numbers_are_422(db, api, route, params, message):
    if params.get("tz") == "right/UTC":
        try:
            ZoneInfo("right/UTC")
        except Exception:
            pytest.skip("this machine's tzdata has no right/ zones")
    response = await api.get(route, params=params)
    assert response.status_code == 422, response.text
    assert message in response.text


async def test_other_numbers_and_dates_are_422(db, api):
    for path in ("/reports/99999999999999999999", "/reports/2147483648/download"):
        assert (await api.get(path)).status_code == 422
    assert (await api.delete("/maintenance-windows/99999999999999999999")).status_code == 422
    window = {"starts_at": "9999-12-31T20:00:00-12:00", "ends_at": "9999-12-31T23:00:00-12:00"}
    refused = await api.post("/maintenance-windows", json=window)
    assert refused.status_code == 422 and "out of range after conversion" in refused.text
    window = {"starts_at": "2026-03-01T00:00:00Z", "ends_at": "2026-03-02T00:00:00Z"}
    refused = await api.post("/maintenance-windows", json=window | {"connector_id": 2**31})
    assert refused.status_code == 422
    for month, reason in (("9999-12", "out of range"), ("2026-04", "has not begun")):
        response = await api.post("/reports/monthly", json={"month": month})
        assert response.status_code == 422 and reason in response.text
