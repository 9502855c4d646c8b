"""`SelfHealing`: probe, soft reset, hard reset, alert — started by the gateway's listener."""

from __future__ import annotations

import pytest
from sqlmodel import select

from ampflow.seed import DEMO_STATION
from domain.maintenance import healing_workflow_id
from store.maintenance_tables import MaintenanceJob
from tests.helpers import eventually
from tests.maintenance.conftest import finished_job, received
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


def resets(station) -> int:
    return len(received(station, "Reset"))


@pytest.mark.parametrize(
    "clears_on, done",
    [
        ("probe", [("probe", "Accepted")]),
        ("soft", [("probe", "Accepted"), ("soft_reset", "Accepted")]),
        ("hard", [("probe", "Accepted"), ("soft_reset", "Accepted"), ("hard_reset", "Accepted")]),
    ],
)
async def test_faulted_connector_is_healed_step_by_step(
    fast_healing, station, api, db, clears_on, done
):
    await station.fault(1, clears_on={clears_on})  # the fault clears after that step
    job = await healing_job(api, db)
    assert job["state"] == "succeeded", job
    assert steps(job) == done
    assert job["reason"] == f"healthy after {done[-1][0]}"
    assert job["progress"]["trigger"] == "fault"
    assert job["requested_by"] == "self-healing"
    assert station.connectors[1].fault is None
    assert station.journal.find("recovered")[0]["by"] == clears_on
    alerts = await api.get("/maintenance/alerts")
    assert alerts.json() == []


async def test_unhealable_station_gets_an_alert_then_rest(fast_healing, station, api, db, gateway):
    await station.fault(1)  # nothing clears it
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
    before = resets(station)
    await station.recover(1)
    await station.fault(1)
    await eventually(lambda: idle(gateway.maintenance))  # the listener handled the fault
    assert len(runs(db)) == 1
    assert resets(station) == before

    resolved = await api.post(f"/maintenance/alerts/{alerts[0]['id']}/resolve")
    assert resolved.json()["resolved_by"] == "admin"
    assert (await api.get("/maintenance/alerts")).json() == []
    await station.fault(1, clears_on={"probe"})
    await eventually(lambda: len(runs(db)) == 2 and runs(db)[-1].state != "running")
    assert runs(db)[-1].state == "succeeded"


async def test_never_resets_while_a_session_is_charging(fast_healing, station, api, db):
    charging_session(db)
    await station.fault(1)
    job = await healing_job(api, db)
    assert resets(station) == 0
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
    await station.reboot("PowerUp", hard=False)  # reconnect: the sweep starts with the new settings
    await station.wait_booted(2)
    job = await healing_job(api, db)
    assert job["progress"]["trigger"] == "silent"
    assert job["state"] == "succeeded", job
    assert steps(job) == [("probe", "Accepted")]
    triggered = [p["requestedMessage"] for p in received(station, "TriggerMessage")]
    assert triggered == ["Heartbeat"]
