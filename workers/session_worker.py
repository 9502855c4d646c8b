"""The session worker: `ChargingSession` workflows and their activities on one task queue.

`WORKFLOWS` and `workflow_runner()` are shared with `build_replayer()`, so the replay tests
(tests/replay) run stored histories exactly as production runs them.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib.machinery import ModuleSpec
from types import CodeType
from typing import Any, ClassVar

from temporalio.client import Client
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
from activities.site_load_activities import site_load_activities
from domain.access import ThrottlePolicy
from domain.analytics import preload_charts
from runtime.settings import Settings
from runtime.temporal import converter_for
from store.db import Database
from workflows.alerts import AlertSweep
from workflows.charging_session import ChargingSession
from workflows.diagnostics import Diagnostics
from workflows.firmware_rollout import FirmwareRollout
from workflows.firmware_update import FirmwareUpdate
from workflows.fleet_command import FleetCommandWorkflow
from workflows.local_list import LocalListSync
from workflows.monthly_report import MonthlyReport
from workflows.self_healing import SelfHealing
from workflows.site_load import SiteLoad
from workflows.station_command import StationCommandWorkflow

WORKFLOWS: list[type] = [ChargingSession, StationCommandWorkflow, FleetCommandWorkflow]
WORKFLOWS += [LocalListSync]
WORKFLOWS += [Diagnostics, FirmwareUpdate, FirmwareRollout, SelfHealing]  # maintenance
WORKFLOWS += [AlertSweep, MonthlyReport]  # monitoring
WORKFLOWS += [SiteLoad]  # smart charging


# Imported once and shared by every workflow run instead of re-imported per run: the pure
# models and functions workflows use (`domain`; pydantic is passed through by default) and the
# activity classes they name. The workflow modules themselves (`workflows.*`) are not: each run
# imports them afresh into its sandbox, so `datetime.now()`, `os.environ` or I/O in workflow
# code fail the workflow task instead of passing unnoticed.
PASSTHROUGH_MODULES = ("domain", "activities")


def workflow_runner() -> WorkflowRunner:
    """The sandbox every workflow of this worker runs in (the worker and the replayer)."""
    _compile_workflow_modules_once()
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


class _CompiledOnce(importlib.machinery.SourceFileLoader):
    """Compiles a module's source once per process (keyed by path and mtime) and hands the same
    code object to every later import: sandboxed runs re-execute it, never re-compile it."""

    _code: ClassVar[dict[tuple[str, int], CodeType]] = {}

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        key = (path, os.stat(path).st_mtime_ns)
        code = self._code.get(key)
        if code is None:
            code = self._code[key] = super().get_code(fullname)
        return code  # type: ignore[return-value]


class _WorkflowModuleFinder(importlib.abc.MetaPathFinder):
    """Finds `workflows.*` as usual, with `_CompiledOnce` as the loader."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> ModuleSpec | None:
        if name != "workflows" and not name.startswith("workflows."):
            return None
        for finder in sys.meta_path:  # the finder that would have found it (editable installs)
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(name, path, target)
                if spec is not None:
                    if type(spec.loader) is importlib.machinery.SourceFileLoader:
                        spec.loader = _CompiledOnce(spec.loader.name, spec.loader.path)
                    return spec
        return None


def _compile_workflow_modules_once() -> None:
    """Sandboxed runs import the workflow modules once per run. With bytecode caching off
    (PYTHONDONTWRITEBYTECODE, as in the image) each import would compile the source again,
    a large part of a short workflow's CPU: compile once per process instead."""
    if not any(isinstance(finder, _WorkflowModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _WorkflowModuleFinder())


def build_replayer(settings: Settings | None = None) -> Replayer:
    """A replayer configured like the worker: same workflows, sandbox and data converter (its
    codec decrypts stored histories and passes unencrypted ones through)."""
    return Replayer(
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
        data_converter=converter_for(settings or Settings()),
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
    # Charts (report activities) import matplotlib: do it now, outside any workflow activation,
    # so its first import never races the sandbox's importer in another thread.
    preload_charts()
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
            session_activities.start_pending,
            payment_activities.place_hold,
            payment_activities.settle_payment,
            payment_activities.release_hold,
            payment_activities.release_stale_guest_holds,
            payment_activities.refund_payment,
            RatingActivities(db).rate_session_timeline,
            receipts.issue_session_receipt,
            command_activities.route_for_station,
            command_activities.record_command,
            command_activities.group_stations_by_route,
            command_activities.record_fleet_outcomes,
            *local_list_activities(db),
            *maintenance_activities(db),
            *monitoring_activities(db, settings),
            *site_load_activities(db),
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

    address = f"127.0.0.1:{settings.worker_metrics_port}"
    telemetry = TelemetryConfig(metrics=PrometheusConfig(bind_address=address))
    Runtime.set_default(Runtime(telemetry=telemetry), error_if_already_set=False)
