"""`SelfHealing`: probe, soft reset, hard reset, alert — started by the gateway's listener."""

from __future__ import annotations

import pytest
from sqlmodel import select

from ampflow.seed import DEMO_STATION
from domain.maintenance import healing_workflow_id
from store.maintenance_tables import MaintenanceJob
from tests.helpers import eventually
from tests.maintenance.conftest import finished_job
from tests.maintenance.test_firmware_update import charging_session

HEALING = healing_workflow_id(DEMO_STATION)


async def healing_job(api, db) -> dict:
    """The self-healing job the listener started (asynchronously), once it has ended."""
    await eventually(lambda: runs(db), timeout=15)
    return await finished_job(api, HEALING)


def runs(db) -> list[MaintenanceJob]:
    with db.session() as session:
        statement = select(MaintenanceJob).where(MaintenanceJob.workflow_id == HEALING)
        return list(session.exec(statement.order_by(MaintenanceJob.started_at)).all())


def idle(listener) -> bool:
    """The maintenance listener has delivered every event it was given."""
    return not listener._queue and (listener._drainer is None or listener._drainer.done())


def steps(job: dict) -> list[tuple[str, str]]:
    return [(s["step"], s["outcome"]) for s in job["progress"]["steps"]]


@pytest.mark.parametrize(
    "heals_on, done",
    [
        ("probe", [("probe", "Accepted")]),
        ("Soft", [("probe", "Accepted"), ("soft_reset", "Accepted")]),
        ("Hard", [("probe", "Accepted"), ("soft_reset", "Accepted"), ("hard_reset", "Accepted")]),
    ],
)
async def test_faulted_connector_is_healed_step_by_step(
    fast_healing, station, api, db, heals_on, done
):
    station.heals_on = {heals_on}
    await station.status("Faulted")
    job = await healing_job(api, db)
    assert job["state"] == "succeeded", job
    assert steps(job) == done
    assert job["reason"] == f"healthy after {done[-1][0]}"
    assert job["progress"]["trigger"] == "fault"
    assert job["requested_by"] == "self-healing"
    alerts = await api.get("/maintenance/alerts")
    assert alerts.json() == []


async def test_unhealable_station_gets_an_alert_then_rest(fast_healing, station, api, db, gateway):
    await station.status("Faulted")
    job = await healing_job(api, db)
    assert job["state"] == "failed"
    assert job["progress"]["state"] == "alerted"
    assert steps(job)[:3] == [
        ("probe", "Accepted"),
        ("soft_reset", "Accepted"),
        ("hard_reset", "Accepted"),
    ]
    alerts = (await api.get("/maintenance/alerts", params={"station_id": DEMO_STATION})).json()
    assert len(alerts) == 1
    assert alerts[0]["message"].startswith(f"{DEMO_STATION} still faulted [1] after: probe")
    assert alerts[0]["workflow_id"] == HEALING

    # While the alert is open, a new fault starts nothing; once resolved, healing resumes.
    resets = sum(1 for name, _ in station.received if name == "Reset")
    await station.status("Available")
    await station.status("Faulted")
    await eventually(lambda: idle(gateway.maintenance))  # the listener handled the fault
    assert len(runs(db)) == 1
    assert sum(1 for name, _ in station.received if name == "Reset") == resets

    resolved = await api.post(f"/maintenance/alerts/{alerts[0]['id']}/resolve")
    assert resolved.json()["resolved_by"] == "admin"
    assert (await api.get("/maintenance/alerts")).json() == []
    station.heals_on = {"probe"}
    await station.status("Faulted")
    await eventually(lambda: len(runs(db)) == 2 and runs(db)[-1].state != "running")
    assert runs(db)[-1].state == "succeeded"


async def test_never_resets_while_a_session_is_charging(fast_healing, station, api, db):
    charging_session(db)
    await station.status("Faulted")
    job = await healing_job(api, db)
    assert [name for name, _ in station.received if name == "Reset"] == []
    session = f"session-{DEMO_STATION}-999"
    assert steps(job)[:3] == [
        ("probe", "Accepted"),
        ("soft_reset", f"skipped: session {session} charging"),
        ("hard_reset", f"skipped: session {session} charging"),
    ]
    assert job["progress"]["state"] == "alerted"


async def test_silent_station_is_probed(fast_healing, settings, station, api, db):
    fast_healing.silent_after_s = 3.0  # Temporal timers fire to about a second
    settings.healing_sweep_interval_s = 0.3
    await station.reboot()  # reconnect: the sweep starts with the new settings
    job = await healing_job(api, db)
    assert job["progress"]["trigger"] == "silent"
    assert job["state"] == "succeeded", job
    assert steps(job) == [("probe", "Accepted")]
    assert ("TriggerMessage", {"message": "Heartbeat"}) in station.received
