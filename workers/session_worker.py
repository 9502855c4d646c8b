"""The session worker: `ChargingSession` workflows and their activities on one task queue."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from activities.command_activities import CommandActivities
from activities.payments.base import PaymentProvider
from activities.payments.ledger import LedgerProvider
from activities.session_activities import SessionActivities
from ampflow.settings import Settings
from store.db import Database
from workflows.charging_session import ChargingSession
from workflows.station_command import StationCommandWorkflow

WORKFLOWS = [ChargingSession, StationCommandWorkflow]


def payment_provider(settings: Settings) -> PaymentProvider:
    """The provider chosen by settings; the local ledger when no Stripe key is set."""
    return LedgerProvider()


def build_worker(
    client: Client,
    db: Database,
    task_queue: str,
    payments: PaymentProvider,
    *,
    max_threads: int = 32,
) -> Worker:
    """A worker running every session workflow and activity (sync activities on a pool)."""
    session_activities = SessionActivities(db, payments)
    command_activities = CommandActivities(db)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=[
            session_activities.authorize_token,
            session_activities.record_session,
            session_activities.rate_session,
            session_activities.charge_payment,
            session_activities.issue_receipt,
            command_activities.route_for_station,
            command_activities.record_command,
        ],
        activity_executor=ThreadPoolExecutor(max_workers=max_threads),
        max_concurrent_activities=max_threads,
    )
