"""Analytics over a replayed history (rows inserted with exact timestamps), checked against
values computed by hand; CSV and chart endpoints return valid files.

The period: Monday 2026-03-02 00:00Z to Wednesday 2026-03-04 00:00Z (172 800 s).

ST-A/1: Available (from 03-01 23:00) · 03-02 08:00 Preparing · 08:15 Charging ·
        10:15 SuspendedEV · 10:45 Finishing · 11:00 Available · 03-03 14:00 Faulted ·
        18:00 Available. ST-A offline 03-03 16:00–17:00; maintenance window for ST-A/1
        03-03 13:00–15:00.
  charging 08:15–10:15 = 7 200 s; occupied 08:00–11:00 = 10 800 s; excluded 7 200 s;
  offline 16–17 = 3 600 s; faulted 14–18 minus the window (14–15) minus offline (16–17)
  = 15–16 + 17–18 = 7 200 s; available 172 800 − 7 200 − 3 600 − 7 200 = 154 800 s;
  uptime 154 800 / 165 600.
ST-A/2: first status 03-02 12:00 Available · 03-03 00:00 Charging · 06:00 Available.
  observed 129 600 s; charging = occupied = 21 600 s; offline 3 600 s (the station's);
  available 126 000 s; uptime 126 000 / 129 600.
ST-B/1 (OCPP 2.0.1): Available (from 03-01) · 03-02 09:00 Occupied · 10:00 Available ·
        03-03 00:00 Unavailable · 02:00 Available. No link history (online). Window for
        the whole station 03-03 01:00–03:00. Its transaction T3 (TransactionEvent frames in the
        message log): 09:00:30 Started EVConnected · 09:05 Charging · 09:35 SuspendedEV ·
        09:40 Charging · 09:50 Ended.
  charging 09:05–09:35 + 09:40–09:50 = 2 400 s (the session's 2 970 s minus the 570 s its idle
  tracking counts); occupied 3 600 s; excluded 7 200 s; available 165 600 s; uptime 1.
S8 at ST-B is still running: started, but in no energy, duration or average.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import xml.etree.ElementTree as ET
import zlib
from datetime import UTC, datetime

import pytest

from store.db import Database

PERIOD = {"from": "2026-03-02T00:00:00Z", "to": "2026-03-04T00:00:00Z"}
DAY = 86_400


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def cost(energy: int, time: int, fee: int) -> dict:
    net = energy + time + fee
    lines = [
        {"component": "energy", "quantity": "", "unit_price": 35, "amount": energy},
        {"component": "time", "quantity": "", "unit_price": 120, "amount": time},
        {"component": "session", "quantity": "", "unit_price": 50, "amount": fee},
    ]
    return {"currency": "EUR", "lines": lines, "net": net, "vat": net // 5, "total": net * 6 // 5}


SESSIONS = [
    # id, station, connector, state, started, stopped, energy, duration, stop reason, cost
    ("S1", "ST-A", 1, "Completed", "2026-03-02 08:15", "2026-03-02 10:45", 22_000, 9_000,
     "EVDisconnected", cost(770, 300, 50)),
    ("S2", "ST-A", 2, "Completed", "2026-03-03 00:00", "2026-03-03 06:00", 30_000, 21_600,
     "Local", cost(1050, 720, 50)),
    ("S3", "ST-B", 1, "PaymentFailed", "2026-03-02 09:00", "2026-03-02 10:00", 5_000, 3_600,
     "Local", cost(175, 120, 50)),
    ("S4", "ST-A", 1, "Rejected", "2026-03-03 14:00", None, None, None, "Local", None),
    ("S5", "ST-B", 1, "Completed", "2026-03-03 20:30", "2026-03-03 21:00", 1_000, 1_800,
     "PowerLoss", cost(35, 60, 50)),
    ("S6", "ST-A", 1, "Completed", "2026-03-04 01:00", "2026-03-04 02:00", 9_999, 3_600,
     "Local", cost(350, 120, 50)),  # after the period
    ("S7", "ST-A", 2, "Expired", None, None, None, None, None, None),  # created 03-02 12:00
    ("S8", "ST-B", 1, "Charging", "2026-03-03 23:00", None, None, None, None, None),  # running
]  # fmt: skip

STATUSES = {
    ("ST-A", 1): [
        ("2026-03-01 23:00", "Available"),
        ("2026-03-02 08:00", "Preparing"),
        ("2026-03-02 08:15", "Charging"),
        ("2026-03-02 10:15", "SuspendedEV"),
        ("2026-03-02 10:45", "Finishing"),
        ("2026-03-02 11:00", "Available"),
        ("2026-03-03 14:00", "Faulted"),
        ("2026-03-03 18:00", "Available"),
    ],
    ("ST-A", 2): [
        ("2026-03-02 12:00", "Available"),
        ("2026-03-03 00:00", "Charging"),
        ("2026-03-03 06:00", "Available"),
    ],
    ("ST-B", 1): [
        ("2026-03-01 00:00", "Available"),
        ("2026-03-02 09:00", "Occupied"),
        ("2026-03-02 10:00", "Available"),
        ("2026-03-03 00:00", "Unavailable"),
        ("2026-03-03 02:00", "Available"),
    ],
}
LINKS = [("ST-A", "2026-03-01 20:00", True), ("ST-A", "2026-03-03 16:00", False)]
LINKS += [("ST-A", "2026-03-03 17:00", True)]
AUTH_ANSWERS = [  # (station, frame we sent)
    *[("ST-A", {"idTagInfo": {"status": "Accepted"}})] * 3,
    *[("ST-A", {"idTagInfo": {"status": "Invalid"}})] * 2,
    ("ST-B", {"idTagInfo": {"status": "Blocked"}}),
    ("ST-B", {"idTokenInfo": {"status": "Unknown"}}),  # 2.0.1
    ("ST-B", {}),  # a TransactionEvent answer without a token: not an authorization
]


def tx_event(event_type: str, when: str, state: str | None, evse: int | None = None) -> list:
    """A TransactionEvent CALL frame of ST-B's transaction T3 as the charger sent it."""
    info = {"transactionId": "T3"} | ({"chargingState": state} if state else {})
    payload = {
        "eventType": event_type,
        "timestamp": at(when).isoformat().replace("+00:00", "Z"),
        "triggerReason": "ChargingStateChanged",
        "seqNo": 0,
        "transactionInfo": info,
    } | ({"evse": {"id": evse, "connectorId": 1}} if evse else {})
    return [2, f"tx-{when}", "TransactionEvent", payload]


TX_FRAMES = [  # (frame text, received at)
    (json.dumps(tx_event("Started", "2026-03-02 09:00:30", "EVConnected", 1)), "09:00:31"),
    (json.dumps(tx_event("Updated", "2026-03-02 09:05", "Charging")), "09:05:01"),
    (json.dumps(tx_event("Updated", "2026-03-02 09:20", None)), "09:20:01"),  # meter values
    (json.dumps(tx_event("Updated", "2026-03-02 09:35", "SuspendedEV")), "09:35:01"),
    (json.dumps(tx_event("Updated", "2026-03-02 09:40", "Charging")), "09:40:01"),
    (json.dumps(tx_event("Ended", "2026-03-02 09:50", "Idle")), "09:50:01"),
    # Logged frames the gateway refused are never fatal: not JSON PostgreSQL accepts, a bad
    # timestamp, no transactionInfo.
    ('[2, "x1", "TransactionEvent", {"seqNo": NaN}]', "09:06"),
    (json.dumps(tx_event("Updated", "2026-03-02 09:07", "Charging")).replace("03-02", "02-30"),
     "09:07"),
    ('[2, "x3", "TransactionEvent", {"timestamp": "yesterday"}]', "09:08"),
]  # fmt: skip


@pytest.fixture
def history(db: Database) -> Database:
    with db.session() as s:
        run = s.connection().exec_driver_sql
        for station in ("ST-A", "ST-B"):
            run(
                "INSERT INTO stations (id, security_profile, ocpp_versions, connector_count, "
                "registration_status, connected) VALUES (%s, 1, 'ocpp1.6', 2, 'Accepted', true)",
                (station,),
            )
        run("INSERT INTO locations (id, name) VALUES ('north', 'North'), ('south', 'South')")
        run("UPDATE stations SET location_id = 'north' WHERE id = 'ST-A'")
        run("UPDATE stations SET location_id = 'south' WHERE id = 'ST-B'")
        for (station, connector), changes in STATUSES.items():
            run(
                "INSERT INTO connectors (station_id, connector_id, status) VALUES (%s, %s, %s)",
                (station, connector, changes[-1][1]),
            )
            for when, status in changes:
                run(
                    "INSERT INTO connector_status_history (station_id, connector_id, status, at, "
                    "received_at) VALUES (%s, %s, %s, %s, %s)",
                    (station, connector, status, at(when), at(when)),
                )
        for station, when, online in LINKS:
            run(
                "INSERT INTO station_link_history (station_id, online, at) VALUES (%s, %s, %s)",
                (station, online, at(when)),
            )
        run(
            "INSERT INTO maintenance_windows (station_id, connector_id, starts_at, ends_at, "
            "created_by) VALUES ('ST-A', 1, %s, %s, 'test'), ('ST-B', NULL, %s, %s, 'test')",
            (
                at("2026-03-03 13:00"),
                at("2026-03-03 15:00"),
                at("2026-03-03 01:00"),
                at("2026-03-03 03:00"),
            ),
        )
        for sid, station, conn, state, start, stop, wh, secs, reason, rated in SESSIONS:
            run(
                "INSERT INTO sessions (id, station_id, connector_id, transaction_id, state, "
                "tariff, started_at, stopped_at, energy_wh, duration_s, stop_reason, cost, "
                "total_amount, currency, created_at) VALUES (%s, %s, %s, %s, %s, '{}', %s, %s, "
                "%s, %s, %s, %s, %s, %s, %s)",
                (
                    sid,
                    station,
                    conn,
                    sid[1:],
                    state,
                    at(start) if start else None,
                    at(stop) if stop else None,
                    wh,
                    secs,
                    reason,
                    json.dumps(rated) if rated else None,
                    rated["total"] if rated else None,
                    "EUR" if rated else None,
                    at(start) if start else at("2026-03-02 12:00"),
                ),
            )
        for n, (station, answer) in enumerate(AUTH_ANSWERS):
            action = "TransactionEvent" if not answer else "Authorize"
            run(
                "INSERT INTO ocpp_messages (station_id, direction, action, payload, at) "
                "VALUES (%s, 'out', %s, %s, %s)",
                (station, action, json.dumps([3, f"u{n}", answer]), at("2026-03-02 12:00")),
            )
        for frame, received in TX_FRAMES:
            run(
                "INSERT INTO ocpp_messages (station_id, direction, message_type, unique_id, "
                "action, payload, at) VALUES ('ST-B', 'in', 2, 'u', 'TransactionEvent', %s, %s)",
                (frame, at(f"2026-03-02 {received}")),
            )
    return db


async def get(api, path: str, **params) -> dict | list:
    response = await api.get(path, params={**PERIOD, **params})
    assert response.status_code == 200, response.text
    return response.json()


async def test_utilization_per_connector(history, api):
    rows = await get(api, "/analytics/utilization")
    assert rows == [
        {
            "station_id": "ST-A",
            "connector_id": 1,
            "observed_s": 2 * DAY,
            "charging_s": 7_200,
            "occupied_s": 10_800,
            "charging_share": 7_200 / (2 * DAY),
            "occupied_share": 10_800 / (2 * DAY),
        },
        {
            "station_id": "ST-A",
            "connector_id": 2,
            "observed_s": 129_600,
            "charging_s": 21_600,
            "occupied_s": 21_600,
            "charging_share": 21_600 / 129_600,
            "occupied_share": 21_600 / 129_600,
        },
        {
            "station_id": "ST-B",
            "connector_id": 1,
            "observed_s": 2 * DAY,
            "charging_s": 2_400,
            "occupied_s": 3_600,
            "charging_share": 2_400 / (2 * DAY),
            "occupied_share": 3_600 / (2 * DAY),
        },
    ]


async def test_uptime_per_connector(history, api):
    rows = await get(api, "/analytics/uptime")
    assert [
        (r["excluded_s"], r["offline_s"], r["faulted_s"], r["available_s"], r["uptime"])
        for r in rows
    ] == [
        (7_200, 3_600, 7_200, 154_800, 154_800 / 165_600),
        (0, 3_600, 0, 126_000, 126_000 / 129_600),
        (7_200, 0, 0, 165_600, 1.0),
    ]


async def test_scopes_site_station_connector(history, api):
    south = await get(api, "/analytics/uptime", site="south")
    assert [(r["station_id"], r["connector_id"]) for r in south] == [("ST-B", 1)]
    one = await get(api, "/analytics/utilization", station_id="ST-A", connector_id=2)
    assert [(r["station_id"], r["connector_id"], r["charging_s"]) for r in one] == [
        ("ST-A", 2, 21_600)
    ]
    north = await get(api, "/analytics/summary", site="north")
    assert (north["sessions_started"], north["ended_energy_wh"]) == (2, 52_000)


async def test_sessions_and_energy_per_bucket(history, api):
    days = await get(api, "/analytics/usage", bucket="day")
    assert days == [
        {
            "period": "2026-03-02",
            "sessions_started": 2,
            "sessions_ended": 2,
            "ended_energy_wh": 27_000,
            "ended_duration_s": 12_600,
        },
        {
            "period": "2026-03-03",
            "sessions_started": 3,
            "sessions_ended": 2,
            "ended_energy_wh": 31_000,
            "ended_duration_s": 23_400,
        },
    ]
    weeks = await get(api, "/analytics/usage", bucket="week")
    assert weeks == [
        {
            "period": "2026-03-02",
            "sessions_started": 5,
            "sessions_ended": 4,
            "ended_energy_wh": 58_000,
            "ended_duration_s": 36_000,
        }
    ]
    months = await get(api, "/analytics/usage", bucket="month")
    assert [(m["period"], m["sessions_started"]) for m in months] == [("2026-03-01", 5)]
    # In Berlin (UTC+1) the local days shift: S2 (00:00Z) is 01:00 on 03-03 and S8 (23:00Z)
    # 00:00 on 03-04; the local period 03-02 00:00 – 03-04 00:00 holds S1, S3 and S2, S5.
    berlin = await get(api, "/analytics/usage", tz="Europe/Berlin", **{
        "from": "2026-03-02T00:00:00", "to": "2026-03-04T00:00:00"
    })  # fmt: skip
    started = [(d["period"], d["sessions_started"]) for d in berlin]
    assert started == [("2026-03-02", 2), ("2026-03-03", 2)]


async def test_summary_heatmap_revenue_failures(history, api):
    summary = await get(api, "/analytics/summary")
    assert summary == {  # the running S8 is started and open, in no energy or average
        "sessions_started": 5,
        "sessions_ended": 4,
        "sessions_open": 1,
        "ended_energy_wh": 58_000,
        "ended_duration_s": 36_000,
        "avg_energy_wh_per_ended": 14_500.0,
        "avg_duration_s_per_ended": 9_000.0,
    }
    heat = await get(api, "/analytics/heatmap")
    assert len(heat) == 7 * 24
    busy = {(c["weekday"], c["hour"]): c["ended_energy_wh"] for c in heat if c["sessions_started"]}
    assert busy == {(1, 8): 22_000, (1, 9): 5_000, (2, 0): 30_000, (2, 20): 1_000, (2, 23): 0}

    revenue = await get(api, "/analytics/revenue")
    assert revenue["components"] == [
        {"currency": "EUR", "component": "energy", "amount": 2_030, "sessions": 4},
        {"currency": "EUR", "component": "session", "amount": 200, "sessions": 4},
        {"currency": "EUR", "component": "time", "amount": 1_200, "sessions": 4},
    ]
    assert revenue["totals"] == [
        {"currency": "EUR", "sessions": 4, "net": 3_430, "vat": 686, "total": 4_116}
    ]

    failures = await get(api, "/analytics/failures")
    assert failures["sessions"] == [
        {"cause": cause, "count": 1, "total": 6, "rate": 1 / 6}
        for cause in ("Expired", "PaymentFailed", "Rejected", "Stopped:PowerLoss")
    ]
    assert failures["authorizations"] == [
        {"cause": "Invalid", "count": 2, "total": 7, "rate": 2 / 7},
        {"cause": "Blocked", "count": 1, "total": 7, "rate": 1 / 7},
        {"cause": "Unknown", "count": 1, "total": 7, "rate": 1 / 7},
    ]


async def test_maintenance_windows_api_changes_uptime(history, api):
    before = (await get(api, "/analytics/uptime", station_id="ST-A", connector_id=2))[0]
    assert before["excluded_s"] == 0
    created = await api.post(
        "/maintenance-windows",
        json={
            "station_id": "ST-A",
            "starts_at": "2026-03-03T15:30:00Z",
            "ends_at": "2026-03-03T16:30:00Z",
            "reason": "firmware upgrade",
        },
    )
    assert created.status_code == 201, created.text
    after = (await get(api, "/analytics/uptime", station_id="ST-A", connector_id=2))[0]
    # 15:30–16:30 excluded; of the outage (16–17) only 16:30–17:00 still counts.
    assert (after["excluded_s"], after["offline_s"], after["available_s"]) == (
        3_600,
        1_800,
        124_200,
    )
    assert (await api.get("/maintenance-windows")).json()[0]["reason"] == "firmware upgrade"
    bad = await api.post(
        "/maintenance-windows",
        json={"starts_at": "2026-03-03T16:30:00Z", "ends_at": "2026-03-03T15:30:00Z"},
    )
    assert bad.status_code == 422
    deleted = await api.delete(f"/maintenance-windows/{created.json()['id']}")
    assert deleted.status_code == 204


async def test_sites_api(history, api):
    assert (await api.get("/sites")).json() == [
        {"site_id": "north", "station_ids": ["ST-A"]},
        {"site_id": "south", "station_ids": ["ST-B"]},
    ]
    moved = await api.put("/sites/south", json={"station_ids": ["ST-A", "ST-B"]})
    assert moved.json() == {"site_id": "south", "station_ids": ["ST-A", "ST-B"]}
    assert (await api.get("/sites")).json() == [moved.json()]


async def test_bad_periods_are_refused(history, api):
    reversed_ = {"from": PERIOD["to"], "to": PERIOD["from"]}
    assert (await api.get("/analytics/usage", params=reversed_)).status_code == 422
    unknown_tz = {**PERIOD, "tz": "Mars/Olympus"}
    assert (await api.get("/analytics/usage", params=unknown_tz)).status_code == 422
    assert (await api.get("/analytics/nope.csv", params=PERIOD)).status_code == 404
    assert (await api.get("/analytics/charts/usage.gif", params=PERIOD)).status_code == 404


# ---- files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    [
        "usage",
        "heatmap",
        "summary",
        "revenue",
        "revenue-totals",
        "session-failures",
        "auth-failures",
        "utilization",
        "uptime",
    ],
)
async def test_every_table_as_csv(history, api, table):
    response = await api.get(f"/analytics/{table}.csv", params=PERIOD)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    expected = {"usage": 2, "heatmap": 168, "summary": 1, "revenue": 3, "revenue-totals": 1}
    expected |= {"session-failures": 4, "auth-failures": 3, "utilization": 3, "uptime": 3}
    assert len(rows) == expected[table]
    if table == "uptime":
        assert float(rows[0]["available_s"]) == 154_800
        assert rows[0]["station_id"] == "ST-A"
    if table == "summary":  # every column says what it counts
        assert rows == [
            {
                "sessions_started": "5",
                "sessions_ended": "4",
                "sessions_open": "1",
                "ended_energy_wh": "58000",
                "ended_duration_s": "36000",
                "avg_energy_wh_per_ended": "14500.0",
                "avg_duration_s_per_ended": "9000.0",
            }
        ]


async def test_sessions_csv_export(history, api):
    response = await api.get("/reports/sessions.csv", params=PERIOD)
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["id"] for r in rows] == ["S1", "S3", "S7", "S2", "S4", "S5", "S8"]
    s1 = rows[0]
    assert (s1["energy_wh"], s1["total_amount"], s1["currency"]) == ("22000", "1344", "EUR")
    assert s1["started_at"] == "2026-03-02T08:15:00+00:00"
    failed = await api.get("/reports/sessions.csv", params={**PERIOD, "state": "PaymentFailed"})
    assert [r["id"] for r in csv.DictReader(io.StringIO(failed.text))] == ["S3"]


def png_size(data: bytes) -> tuple[int, int]:
    """Check the PNG signature and the IHDR chunk (length, type, CRC); its width and height."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[16 : 16 + length]
    (crc,) = struct.unpack(">I", data[16 + length : 20 + length])
    assert crc == zlib.crc32(kind + body)
    width, height, depth, color = struct.unpack(">IIBB", body[:10])
    assert depth == 8 and color in (2, 6)  # truecolour (with alpha)
    assert data.endswith(b"IEND\xaeB`\x82")
    return width, height


@pytest.mark.parametrize("chart", ["usage", "heatmap", "utilization", "uptime", "revenue"])
async def test_charts_png_and_svg(history, api, chart):
    png = await api.get(f"/analytics/charts/{chart}.png", params=PERIOD)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png_size(png.content) == (800, 450)
    svg = await api.get(f"/analytics/charts/{chart}.svg", params=PERIOD)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(svg.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
