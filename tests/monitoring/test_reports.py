"""The monthly report: a Temporal Schedule (created idempotently) runs `MonthlyReport`, which
stores an HTML report with embedded charts, listed and downloadable through the API."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

from temporalio.client import Client

from domain.analytics import previous_month, report_schedule_id
from store.db import Database
from tests.helpers import eventually


def _insert_session(db: Database, session_id: str, started: datetime, energy_wh: int) -> None:
    with db.session() as s:
        s.connection().exec_driver_sql(
            "INSERT INTO sessions (id, station_id, connector_id, transaction_id, state, tariff, "
            "started_at, stopped_at, energy_wh, duration_s, cost, total_amount, currency) "
            "VALUES (%s, 'DEMO-1', 1, %s, 'Completed', '{}', %s, %s, %s, 600, %s, 150, 'EUR')",
            (
                session_id,
                session_id,
                started,
                started,
                energy_wh,
                '{"currency": "EUR", "net": 125, "vat": 25, "total": 150, "lines": '
                '[{"component": "energy", "quantity": "", "unit_price": 35, "amount": 125}]}',
            ),
        )


def _reports(db: Database) -> list:
    with db.session() as s:
        return s.connection().exec_driver_sql("SELECT id, label FROM reports").all()


async def test_schedule_runs_the_monthly_report(
    seeded, worker, api, temporal_client: Client, settings
):
    month = previous_month(datetime.now(UTC))
    year, number = (int(p) for p in month.split("-"))
    _insert_session(seeded, "R1", datetime(year, number, 3, 10, tzinfo=UTC), 12_000)
    await api.put("/sites/main", json={"station_ids": ["DEMO-1"]})

    first = await api.put("/reports/schedule")
    again = await api.put("/reports/schedule")  # idempotent: the same schedule, updated
    assert first.status_code == again.status_code == 200, first.text
    schedule_id = report_schedule_id(settings.task_queue)
    assert first.json()["schedule_id"] == again.json()["schedule_id"] == schedule_id
    next_run = datetime.fromisoformat(first.json()["next_runs"][0])
    assert (next_run.day, next_run.hour, next_run.minute) == (1, 2, 0)
    handle = temporal_client.get_schedule_handle(schedule_id)
    try:
        await handle.trigger()  # as if it were 02:00 on the 1st
        await eventually(lambda: _reports(seeded), timeout=60)
    finally:
        await handle.delete()

    [listed] = (await api.get("/reports")).json()
    assert listed["label"] == month and listed["kind"] == "monthly"
    assert listed["workflow_id"].startswith(f"monthly-report-{settings.task_queue}")
    download = await api.get(f"/reports/{listed['id']}/download")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/html")
    assert f'filename="ampflow-monthly-{month}.html"' in download.headers["content-disposition"]
    html = download.text
    assert html.startswith("<!doctype html>") and f"monthly report {month}" in html
    images = re.findall(r"src='data:image/png;base64,([^']+)'", html)
    assert len(images) == 5
    assert all(base64.b64decode(i).startswith(b"\x89PNG\r\n\x1a\n") for i in images)
    assert "<h2>Fleet</h2>" in html and "<h2>Site main</h2>" in html
    assert "<td>12000</td>" in html  # the month's energy in the usage table


async def test_run_a_month_on_demand(seeded, worker, api):
    _insert_session(seeded, "R2", datetime(2026, 2, 14, 18, tzinfo=UTC), 7_000)
    started = await api.post("/reports/monthly", json={"month": "2026-02"})
    assert started.status_code == 202, started.text
    await eventually(lambda: _reports(seeded), timeout=60)
    [(report_id, label)] = _reports(seeded)
    assert label == "2026-02"
    info = (await api.get(f"/reports/{report_id}")).json()
    assert info["period_start"] == "2026-02-01T00:00:00Z"
    assert info["period_end"] == "2026-03-01T00:00:00Z"
    assert info["created_by"] == "admin"
    assert (await api.post("/reports/monthly", json={"month": "2026-13"})).status_code == 422
    assert (await api.get("/reports/999999/download")).status_code == 404
