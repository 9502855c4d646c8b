"""The session worker: `ChargingSession` workflows and their activities on one task queue.

`WORKFLOWS` and `workflow_runner()` are shared with `build_replayer()`, so the replay tests
(tests/replay) run stored histories exactly as production runs them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.command_activities import CommandActivities
from activities.local_list_activities import local_list_activities
from activities.maintenance_activities import maintenance_activities
from activities.monitoring_activities import monitoring_activities
from activities.payments.activities import PaymentActivities
from activities.payments.rating import RatingActivities
from activities.payments.service import Payments
from activities.receipts.activities import ReceiptActivities
from activities.session_activities import SessionActivities
from ampflow.settings import Settings
from domain.access import ThrottlePolicy
from store.db import Database
from workflows.alerts import AlertSweep
from workflows.charging_session import ChargingSession
from workflows.diagnostics import Diagnostics
from workflows.firmware_rollout import FirmwareRollout
from workflows.firmware_update import FirmwareUpdate
from workflows.local_list import LocalListSync
from workflows.monthly_report import MonthlyReport
from workflows.self_healing import SelfHealing
from workflows.station_command import StationCommandWorkflow

WORKFLOWS: list[type] = [ChargingSession, StationCommandWorkflow, LocalListSync]
WORKFLOWS += [Diagnostics, FirmwareUpdate, FirmwareRollout, SelfHealing]  # maintenance
WORKFLOWS += [AlertSweep, MonthlyReport]  # monitoring


def workflow_runner() -> WorkflowRunner:
    """The sandbox every workflow of this worker runs in (the worker and the replayer)."""
    # Workflow code stays sandboxed (no I/O, no wall clock), but modules are imported once
    # and shared instead of re-imported for every workflow run: far less CPU per task.
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
    )


def build_replayer() -> Replayer:
    """A replayer configured like the worker: same workflows, sandbox and data converter."""
    return Replayer(
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
        data_converter=pydantic_data_converter,
    )


def build_worker(
    client: Client,
    db: Database,
    task_queue: str,
    *,
    max_threads: int = 32,
    settings: Settings | None = None,  # payments, limits, monitoring (default: environment)
) -> Worker:
    """A worker running every session workflow and activity (sync activities on a pool).

    Payments go to Stripe when `settings.stripe_api_key` is set, else to the local ledger.
    """
    settings = settings or Settings()
    session_activities = SessionActivities(
        db,
        authorize_policy=ThrottlePolicy(
            max_failures=settings.authorize_max_invalid,
            window_s=settings.authorize_window_s,
            lockout_s=settings.authorize_lockout_s,
        ),
    )
    command_activities = CommandActivities(db)
    payment_activities = PaymentActivities(Payments.from_settings(db, settings))
    receipts = ReceiptActivities(db, settings)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            session_activities.authorize_token,
            session_activities.record_session,
            payment_activities.place_hold,
            payment_activities.settle_payment,
            payment_activities.release_hold,
            payment_activities.refund_payment,
            RatingActivities(db).rate_session_timeline,
            receipts.issue_session_receipt,
            command_activities.route_for_station,
            command_activities.record_command,
            *local_list_activities(db),
            *maintenance_activities(db),
            *monitoring_activities(db, settings),
        ],
        activity_executor=ThreadPoolExecutor(max_workers=max_threads),
        workflow_runner=workflow_runner(),
        max_concurrent_activities=max_threads,
    )


def install_worker_metrics(settings: Settings) -> None:
    """Temporal's runtime metrics (task latencies, slots, ...) on `worker_metrics_port`; call
    before the worker's client connects. 0: off."""
    if not settings.worker_metrics_port:
        return
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

    address = f"0.0.0.0:{settings.worker_metrics_port}"
    telemetry = TelemetryConfig(metrics=PrometheusConfig(bind_address=address))
    Runtime.set_default(Runtime(telemetry=telemetry), error_if_already_set=False)
