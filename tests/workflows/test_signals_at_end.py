"""Signals that arrive as `LocalListSync`, `SelfHealing` or `AlertSweep` end are not dropped.

Each test runs the production workflow code and activities on the real Temporal dev server and
PostgreSQL, with one activity held at a gate so that a signal lands exactly while the workflow
finishes (the store being slow at that moment): the held activity then runs the real one.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import select
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from activities.command_activities import CommandActivities
from activities.local_list_activities import LocalListActivities
from activities.maintenance_activities import MaintenanceActivities
from activities.monitoring_activities import MonitoringActivities
from ampflow.seed import DEMO_STATION
from domain.access import (
    LOCAL_LIST_SYNC,
    SIGNAL_LOCAL_LIST_CHANGED,
    LocalListChanged,
    LocalListNext,
    LocalListOutcome,
    LocalListSyncInput,
)
from domain.alerts import ALERT_SWEEP, SIGNAL_WAKE, AlertRaise, SweepInput, job_failed
from domain.alerts import JobKind as AlertJobKind
from domain.maintenance import (
    SELF_HEALING,
    SIGNAL_STATION_EVENT,
    HealingPolicy,
    HealingProgress,
    HealingRequest,
    HealingState,
    HealingTrigger,
    JobRecord,
    SignalKind,
    StationSignal,
)
from runtime.settings import Settings
from store.access_tables import LocalList, LocalListVersion
from store.db import Database
from store.maintenance_tables import MaintenanceAlert
from store.tables import Connector, Station
from tests.helpers import eventually
from workers.session_worker import workflow_runner
from workflows.alerts import AlertSweep
from workflows.local_list import LocalListSync
from workflows.self_healing import SelfHealing
from workflows.station_command import StationCommandWorkflow


class Gate:
    """Holds the first activity that reaches it until the test opens it."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.opened = asyncio.Event()

    async def passage(self) -> None:
        if not self.opened.is_set():
            self.reached.set()
            await self.opened.wait()


@asynccontextmanager
async def running(client: Client, queue: str, workflows: list, activities: list) -> AsyncIterator:
    """A worker like the production one (same sandbox) for just these workflows."""
    with ThreadPoolExecutor(8) as pool:
        async with Worker(
            client,
            task_queue=queue,
            workflows=workflows,
            activities=activities,
            activity_executor=pool,
            workflow_runner=workflow_runner(),
        ):
            yield


async def has_event(client: Client, workflow_id: str, run_id: str, kind: EventType.V) -> bool:
    """The run's history holds an event of this kind (a signal: delivered to that very run)."""
    run = client.get_workflow_handle(workflow_id, run_id=run_id)
    async for event in run.fetch_history_events():
        if event.event_type == kind:
            return True
    return False


SIGNALED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED


# ---- SelfHealing ---------------------------------------------------------------------------


def _station_healthy(db: Database) -> None:
    now = datetime.now(UTC)
    with db.session() as s:
        station = s.get(Station, DEMO_STATION)
        assert station is not None
        station.connected, station.last_seen_at = True, now
        s.add(station)
        for number in (1, 2):
            s.merge(Connector(station_id=DEMO_STATION, connector_id=number, status="Available"))


def _fault(db: Database, connector_id: int) -> None:
    with db.session() as s:
        s.merge(Connector(station_id=DEMO_STATION, connector_id=connector_id, status="Faulted"))


async def test_a_fault_reported_while_healing_ends_is_healed_too(
    seeded: Database, temporal_client: Client, settings: Settings
) -> None:
    """Healed, recording its end: connector 2 faults then. That fault gets a playbook."""
    db = seeded
    _station_healthy(db)
    gate = Gate()
    store = MaintenanceActivities(db)

    @activity.defn(name="record_job")
    async def record_job(job: JobRecord) -> None:
        if job.finished_at is not None:  # the run's last record
            await gate.passage()
        await asyncio.to_thread(store.record_job, job)

    activities = [record_job, store.check_station_health, store.open_alert]
    workflow_id = f"healing-{uuid.uuid4().hex[:12]}"
    async with running(temporal_client, settings.task_queue, [SelfHealing], activities):
        handle = await temporal_client.start_workflow(
            SELF_HEALING,
            HealingRequest(
                station_id=DEMO_STATION,
                trigger=HealingTrigger.FAULT,
                connector_id=1,
                policy=HealingPolicy(steps=["alert"]),
            ),
            id=workflow_id,
            task_queue=settings.task_queue,
            result_type=HealingProgress,
        )
        await asyncio.wait_for(gate.reached.wait(), 30)  # connector 1 recovered: healed
        _fault(db, 2)  # what the gateway stores, then tells the running self-healing
        fault = StationSignal(
            kind=SignalKind.CONNECTOR_STATUS,
            station_id=DEMO_STATION,
            at=datetime.now(UTC),
            status="Faulted",
            connector_id=2,
        )
        await handle.signal(SIGNAL_STATION_EVENT, fault)
        await eventually(
            lambda: has_event(temporal_client, handle.id, handle.result_run_id or "", SIGNALED)
        )
        gate.opened.set()
        result: HealingProgress = await asyncio.wait_for(handle.result(), 30)

    assert result.state == HealingState.ALERTED, result  # the playbook ran for connector 2
    assert result.trigger == HealingTrigger.FAULT
    with db.session() as s:
        alerts = s.exec(select(MaintenanceAlert)).all()
    assert [a.workflow_id for a in alerts] == [workflow_id]
    assert "faulted [2]" in alerts[0].message


# ---- LocalListSync -------------------------------------------------------------------------


async def test_a_change_during_the_last_attempt_at_an_offline_station_is_tried(
    seeded: Database, temporal_client: Client, settings: Settings
) -> None:
    """The station is offline and this is the last attempt; a change arrives meanwhile: it is
    planned and sent (attempted) instead of being dropped with the give-up."""
    db = seeded
    with db.session() as s:
        s.add(LocalList(station_id=DEMO_STATION, enabled=True))
    gate = Gate()
    lists, commands = LocalListActivities(db), CommandActivities(db)

    @activity.defn(name="record_local_list")
    async def record_local_list(outcome: LocalListOutcome) -> LocalListNext:
        await gate.passage()
        return await asyncio.to_thread(lists.record_local_list, outcome)

    activities = [
        lists.plan_local_list,
        record_local_list,
        commands.route_for_station,
        commands.record_command,
    ]
    workflows = [LocalListSync, StationCommandWorkflow]
    async with running(temporal_client, settings.task_queue, workflows, activities):
        handle = await temporal_client.start_workflow(
            LOCAL_LIST_SYNC,
            LocalListSyncInput(station_id=DEMO_STATION, max_offline_retries=0),
            id=f"local-list-{uuid.uuid4().hex[:12]}",
            task_queue=settings.task_queue,
            result_type=list[str],
        )
        await asyncio.wait_for(gate.reached.wait(), 30)  # v1 went nowhere: station offline
        await handle.signal(SIGNAL_LOCAL_LIST_CHANGED, LocalListChanged(requested_by="operator"))
        await eventually(
            lambda: has_event(temporal_client, handle.id, handle.result_run_id or "", SIGNALED)
        )
        gate.opened.set()
        pushed = await asyncio.wait_for(handle.result(), 30)

    with db.session() as s:
        versions = s.exec(select(LocalListVersion).order_by(LocalListVersion.id)).all()
    # The change was planned and sent once more (under a new number: every list sent has one).
    assert [(v.version, v.outcome) for v in versions] == [(1, "offline"), (2, "offline")]
    assert pushed == ["v1 Full: retry_later", "v2 Full: retry_later"]


# ---- AlertSweep ----------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[list[dict]]:
    """A webhook endpoint on 127.0.0.1 that records every JSON body it is sent (answers 204)."""
    bodies: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bodies.append({"url": f"http://127.0.0.1:{server.server_address[1]}/alerts"})
    yield bodies
    server.shutdown()
    server.server_close()


async def test_a_wake_in_the_last_interval_delivers_before_the_next_sweep_is_due(
    seeded: Database, temporal_client: Client, settings: Settings, receiver: list[dict]
) -> None:
    """One sweep per run and an hour between sweeps: the run's last act is its wait. An alert
    raised elsewhere wakes it then; its webhook goes out now, not an hour later."""
    db = seeded
    url = receiver.pop(0)["url"]
    monitoring = MonitoringActivities(
        db,
        settings.model_copy(update={"alert_sweep_interval_s": 3600, "alert_webhook_url": url}),
    )
    activities = [monitoring.sweep_alerts, monitoring.deliver_alert_webhooks]
    async with running(temporal_client, settings.task_queue, [AlertSweep], activities):
        handle = await temporal_client.start_workflow(
            ALERT_SWEEP,
            SweepInput(sweeps_per_run=1),
            id=f"alert-sweep-{uuid.uuid4().hex[:12]}",
            task_queue=settings.task_queue,
        )
        first_run = handle.result_run_id or ""
        swept = EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        await eventually(lambda: has_event(temporal_client, handle.id, first_run, swept))
        alert: AlertRaise = job_failed(AlertJobKind.FIRMWARE, DEMO_STATION, "job-1", "checksum")
        await asyncio.to_thread(monitoring.raise_alert, alert)
        await handle.signal(SIGNAL_WAKE)
        await eventually(lambda: [b for b in receiver if b["alert"]["key"] == alert.key], 15)
        await handle.terminate("test over")
