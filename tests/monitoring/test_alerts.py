"""Every alert cause: raised exactly once, resolved when the cause clears, delivered to a local
webhook with a valid HMAC-SHA256 signature. Thresholds are a second or two (conftest)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sqlalchemy import text
from sqlmodel import select
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from activities.monitoring_activities import monitoring_activities
from ampflow.seed import DEMO_STATION, DEMO_TAG
from api.routes.alerts import wake_sweep
from chargers.script import scripted
from domain.alerts import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    AlertCause,
    JobKind,
    SweepInput,
    alert_key,
    job_failed_key,
    signature_valid,
)
from gateway import events
from store.db import Database
from store.monitoring_tables import Alert, AlertEvent
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually
from tests.monitoring.conftest import WEBHOOK_SECRET, WebhookReceiver
from tests.monitoring.job_workflow import FailingJob
from workflows import contract


def alerts_of(db: Database, key: str) -> list[Alert]:
    with db.session() as s:
        return list(s.exec(select(Alert).where(Alert.key == key).order_by(Alert.id)).all())


def state_of(db: Database, key: str) -> str | None:
    rows = alerts_of(db, key)
    return rows[-1].state if rows else None


def status_rows(db: Database) -> int:
    with db.session() as s:
        return s.exec(text("SELECT count(*) FROM connector_status_history")).scalar_one()


def assert_delivered(webhook: WebhookReceiver, key: str, *expected: str) -> list[dict]:
    """The webhook got exactly these events for the key, in order, each validly signed."""
    received = [r for r in webhook.received if r.json()["alert"]["key"] == key]
    assert [r.json()["event"] for r in received] == list(expected)
    for request in received:
        assert signature_valid(WEBHOOK_SECRET, request.body, request.headers[SIGNATURE_HEADER])
        assert request.headers[EVENT_ID_HEADER] == str(request.json()["event_id"])
        assert request.path == "/hooks/alerts"
    return [r.json() for r in received]


async def sweeps(db: Database, count: int = 3) -> None:
    """Let the sweep run a few more times (it runs every 0.3 s in these tests)."""
    await asyncio.sleep(0.3 * count)


async def test_faulted_connector_16(seeded, worker, gateway_url, webhook):
    key = alert_key(AlertCause.CONNECTOR_FAULTED, DEMO_STATION, 2)
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        await charger.call(*_status(2, "Faulted", "GroundFailure"))
        await charger.call(*_status(2, "Faulted", "GroundFailure"))  # the same cause again
        await eventually(lambda: state_of(seeded, key) == "open")
        await charger.call(*_status(2, "Available"))
        await eventually(lambda: state_of(seeded, key) == "resolved")
        await eventually(lambda: len(webhook.events(key)) == 2)
    [alert] = alerts_of(seeded, key)
    assert alert.cause == "connector_faulted" and alert.severity == "major"
    assert alert.detail == {"fault": "ground_fault", "error_code": "GroundFailure"}
    assert alert.connector_id == 2 and alert.resolved_by == "system"
    raised, resolved = assert_delivered(webhook, key, "raised", "resolved")
    assert raised["alert"]["state"] == "open" and resolved["alert"]["state"] == "resolved"


async def test_faulted_connector_201_maps_to_unspecified(seeded, worker, gateway, webhook):
    """2.0.1 StatusNotification has no error code: the fault is `unspecified`."""
    key = alert_key(AlertCause.CONNECTOR_FAULTED, DEMO_STATION, 1)
    now = datetime.now(UTC)
    bus = gateway.services.events
    await bus.publish(events.ConnectorStatusChanged(DEMO_STATION, now, 1, "Faulted", evse_id=1))
    await eventually(lambda: state_of(seeded, key) == "open")
    [alert] = alerts_of(seeded, key)
    assert alert.detail == {"fault": "unspecified", "error_code": None}
    await bus.publish(events.ConnectorStatusChanged(DEMO_STATION, now, 1, "Available", evse_id=1))
    await eventually(lambda: state_of(seeded, key) == "resolved")
    await eventually(lambda: len(webhook.events(key)) == 2)
    assert_delivered(webhook, key, "raised", "resolved")


async def test_station_offline_beyond_threshold(seeded, worker, gateway_url, webhook):
    key = alert_key(AlertCause.STATION_OFFLINE, DEMO_STATION)
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD):
        pass  # connected, then gone
    await eventually(lambda: state_of(seeded, key) == "open")
    await sweeps(seeded)
    assert len(alerts_of(seeded, key)) == 1  # still one alert, sweep after sweep
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD):
        await eventually(lambda: state_of(seeded, key) == "resolved")
        await eventually(lambda: len(webhook.events(key)) == 2)
    [alert] = alerts_of(seeded, key)
    assert alert.station_id == DEMO_STATION and "offline" in alert.message
    assert_delivered(webhook, key, "raised", "resolved")


async def keep_metering(charger) -> None:
    while True:
        await charger.meter(100)
        await asyncio.sleep(0.2)


async def test_session_stuck_without_meter_values(seeded, worker, gateway_url, webhook):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        await charger.start_transaction(DEMO_TAG)
        session_id = contract.session_workflow_id(DEMO_STATION, charger.transaction_id)
        key = alert_key(AlertCause.SESSION_STUCK, session_id)
        await charger.meter(500)
        await eventually(lambda: state_of(seeded, key) == "open")
        await sweeps(seeded)
        metering = asyncio.create_task(keep_metering(charger))  # the cause clears, for good
        try:
            await eventually(lambda: state_of(seeded, key) == "resolved")
            await eventually(lambda: len(webhook.events(key)) == 2)
        finally:
            metering.cancel()
        await charger.stop_transaction()
    [alert] = alerts_of(seeded, key)
    assert alert.session_id == session_id and alert.connector_id == 1
    assert_delivered(webhook, key, "raised", "resolved")


async def test_repeated_authorization_failures(seeded, worker, gateway_url, webhook):
    key = alert_key(AlertCause.AUTH_FAILURES, DEMO_STATION)
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        for n in range(4):
            assert (await charger.authorize(f"UNKNOWN-{n}"))["status"] == "Invalid"
        await eventually(lambda: state_of(seeded, key) == "open")
        # No refusal for a whole window (2 s): resolved.
        await eventually(lambda: state_of(seeded, key) == "resolved", timeout=15)
        await eventually(lambda: len(webhook.events(key)) == 2)
    [alert] = alerts_of(seeded, key)
    assert alert.detail["refusals"] >= 3 and alert.detail["window_s"] == 2
    assert_delivered(webhook, key, "raised", "resolved")


async def test_failed_payment(seeded, worker, gateway, webhook):
    session_id = "session-DEMO-1-900"
    key = alert_key(AlertCause.PAYMENT_FAILED, session_id)
    with seeded.session() as s:
        s.exec(
            text(
                "INSERT INTO sessions (id, station_id, transaction_id, state, tariff, "
                "review_reason) VALUES (:id, :st, '900', 'PaymentFailed', '{}', 'card declined')"
            ),
            params={"id": session_id, "st": DEMO_STATION},
        )
    await gateway.live.wake_sweep()  # normally started by the first station event
    await eventually(lambda: state_of(seeded, key) == "open")
    await sweeps(seeded)
    [alert] = alerts_of(seeded, key)
    assert alert.message.endswith("card declined")
    with seeded.session() as s:
        s.exec(
            text("UPDATE sessions SET state = 'Completed' WHERE id = :id"),
            params={"id": session_id},
        )
    await eventually(lambda: state_of(seeded, key) == "resolved")
    await eventually(lambda: len(webhook.events(key)) == 2)
    assert len(alerts_of(seeded, key)) == 1
    assert_delivered(webhook, key, "raised", "resolved")


async def test_failed_job_from_another_workflow(seeded, worker, temporal_client, settings, webhook):
    """A workflow raises (twice: one alert) and later resolves through `workflows.alerts`."""
    key = job_failed_key(JobKind.FIRMWARE, DEMO_STATION)
    queue = settings.task_queue + "-jobs"
    async with Worker(
        temporal_client,
        task_queue=queue,
        workflows=[FailingJob],
        activities=monitoring_activities(seeded, settings),
        activity_executor=ThreadPoolExecutor(2),
    ):
        ids = await temporal_client.execute_workflow(
            FailingJob.run, DEMO_STATION, id=f"job-{queue}", task_queue=queue
        )
    assert ids[0] is not None and ids[1] is None  # the second raise found the open alert
    assert state_of(seeded, key) == "resolved"
    [alert] = alerts_of(seeded, key)
    assert alert.detail == {"kind": "firmware", "job_id": "fw-1", "reason": "InstallationFailed"}
    await wake_sweep(temporal_client, settings.task_queue)
    await eventually(lambda: len(webhook.events(key)) == 2)
    assert_delivered(webhook, key, "raised", "resolved")


async def test_operators_acknowledge_and_resolve(seeded, worker, gateway_url, api, webhook):
    key = alert_key(AlertCause.CONNECTOR_FAULTED, DEMO_STATION, 1)
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        await charger.call(*_status(1, "Faulted", "HighTemperature"))
        await eventually(lambda: state_of(seeded, key) == "open")
        [alert] = alerts_of(seeded, key)

        listed = (await api.get("/alerts", params={"cause": "connector_faulted"})).json()
        assert [a["id"] for a in listed] == [alert.id]
        acked = await api.post(f"/alerts/{alert.id}/acknowledge", json={"note": "on my way"})
        assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
        assert acked.json()["acknowledged_by"] == "admin"
        assert (await api.post(f"/alerts/{alert.id}/acknowledge")).status_code == 409

        await charger.call(*_status(1, "Faulted", "HighTemperature"))  # still the same alert
        await eventually(lambda: status_rows(seeded) == 2)
        resolved = await api.post(f"/alerts/{alert.id}/resolve", json={"note": "fan replaced"})
        assert resolved.json()["state"] == "resolved"
        assert resolved.json()["resolution_note"] == "fan replaced"
        assert (await api.post(f"/alerts/{alert.id}/resolve")).status_code == 409
        assert (await api.post("/alerts/999999/resolve")).status_code == 404

        detail = (await api.get(f"/alerts/{alert.id}")).json()
        assert [e["event"] for e in detail["events"]] == ["raised", "acknowledged", "resolved"]
        assert [e["actor"] for e in detail["events"]] == ["system", "admin", "admin"]
        assert (await api.get("/alerts")).json() == []  # nothing active
        await eventually(lambda: len(webhook.events(key)) == 3)
    assert_delivered(webhook, key, "raised", "acknowledged", "resolved")

    def all_marked_delivered() -> bool:  # recorded once the receiver answered
        with seeded.session() as s:
            rows = s.exec(select(AlertEvent).where(AlertEvent.alert_id == alert.id)).all()
            return len(rows) == 3 and all(e.delivered_at is not None for e in rows)

    await eventually(all_marked_delivered)


def _status(connector: int, status: str, error: str = "NoError") -> tuple[str, dict]:
    return "StatusNotification", {"connectorId": connector, "errorCode": error, "status": status}


async def test_sweep_continues_as_new(seeded, worker, temporal_client, settings):
    """The sweep's loop replays deterministically and carries on in a new run."""
    handle = await temporal_client.start_workflow(
        "AlertSweep",
        SweepInput(sweeps_per_run=2),
        id=f"sweep-can-{settings.task_queue}",
        task_queue=settings.task_queue,
    )
    first_run = handle.result_run_id

    async def new_run() -> bool:
        described = await temporal_client.get_workflow_handle(handle.id).describe()
        return described.run_id != first_run

    await eventually(new_run, timeout=20)
    first = temporal_client.get_workflow_handle(handle.id, run_id=first_run)
    history = await first.fetch_history()
    kinds = [e.event_type for e in history.events]
    assert kinds[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    swept = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "sweep_alerts"
    ]
    assert len(swept) == 2  # two sweeps
    await temporal_client.get_workflow_handle(handle.id).terminate("test over")
