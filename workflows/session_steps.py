"""The activity calls a `ChargingSession` makes, with their timeouts and retry policies.

Kept apart from the workflow class so the session's control flow reads on its own.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.command_activities import CommandActivities
    from activities.payments.activities import PaymentActivities
    from activities.payments.rating import RatingActivities
    from activities.receipts.activities import ReceiptActivities
    from activities.session_activities import SessionActivities
    from domain.commands import CommandRecord, StationCommand
    from domain.payments import (
        HoldOutcome,
        HoldRequest,
        ReleaseRequest,
        SettleRequest,
        TimelineRateRequest,
    )
    from domain.payments import PaymentOutcome as SettledPayment
    from domain.session import (
        Authorization,
        AuthorizeRequest,
        PendingStart,
        RatedSession,
        ReceiptRequest,
        SessionRecord,
        StartedSession,
    )
    from workflows.station_command import send_to_station

_TIMEOUT = timedelta(seconds=30)
# Database work retries until it succeeds: a store outage must never lose a session.
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30)
)


# The steps a charger waits for (authorize, hold, record the start) run as *local* activities:
# in the worker, without a round trip through the Temporal server's task queues, so an
# Authorize or StartTransaction is answered in milliseconds rather than several server hops.


async def authorize(
    id_token: str,
    token_type: str = "ISO14443",
    station_id: str | None = None,
    session_id: str | None = None,
) -> Authorization:
    request = AuthorizeRequest(
        id_token=id_token, token_type=token_type, station_id=station_id, session_id=session_id
    )
    return await workflow.execute_local_activity_method(
        SessionActivities.authorize_token,
        request,
        start_to_close_timeout=timedelta(seconds=10),
        retry_policy=STORE_RETRY,
    )


async def record(session: SessionRecord) -> StartedSession:
    return await workflow.execute_local_activity_method(
        SessionActivities.record_session,
        session,
        start_to_close_timeout=_TIMEOUT,
        retry_policy=STORE_RETRY,
    )


async def start_pending(session_id: str) -> bool:
    """A charger's start for this session is stored in the outbox, not delivered yet."""
    result = await workflow.execute_local_activity_method(
        SessionActivities.start_pending,
        PendingStart(session_id=session_id),
        start_to_close_timeout=timedelta(seconds=10),
        retry_policy=STORE_RETRY,
    )
    return result.pending


async def command(station_id: str, name: str, params: dict, requested_by: str) -> CommandRecord:
    """Send a command to the station from inside the session (never raises)."""
    return await send_to_station(
        StationCommand(station_id=station_id, name=name, params=params, requested_by=requested_by)
    )


async def station_version(station_id: str) -> str | None:
    route = await workflow.execute_activity_method(
        CommandActivities.route_for_station,
        station_id,
        start_to_close_timeout=timedelta(seconds=10),
        retry_policy=STORE_RETRY,
    )
    return route.version if route.connected else None


# Payments: transient provider outages retry with backoff; declines come back as outcomes.
_PAYMENT_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=60))


async def place_hold(request: HoldRequest) -> HoldOutcome:
    return await workflow.execute_local_activity_method(
        PaymentActivities.place_hold,
        request,
        start_to_close_timeout=_TIMEOUT,
        retry_policy=_PAYMENT_RETRY,
    )


async def release_hold(session_id: str, reason: str) -> None:
    await workflow.execute_activity_method(
        PaymentActivities.release_hold,
        ReleaseRequest(session_id=session_id, reason=reason),
        start_to_close_timeout=_TIMEOUT,
        retry_policy=_PAYMENT_RETRY,
    )


async def rate_timeline(request: TimelineRateRequest) -> RatedSession:
    return await workflow.execute_activity_method(
        RatingActivities.rate_session_timeline,
        request,
        start_to_close_timeout=_TIMEOUT,
        retry_policy=STORE_RETRY,
    )


async def settle(request: SettleRequest) -> SettledPayment:
    """Capture / charge the rated total (idempotent); a decline is a `failed` outcome."""
    try:
        return await workflow.execute_activity_method(
            PaymentActivities.settle_payment,
            request,
            start_to_close_timeout=_TIMEOUT,
            retry_policy=_PAYMENT_RETRY,
        )
    except ActivityError as err:
        cause = err.cause
        reason = cause.message if isinstance(cause, ApplicationError) else str(err)
        return SettledPayment(
            payment_id=0,
            status="failed",
            provider="?",
            amount=request.amount,
            failure_reason=reason,
        )


async def issue_session_receipt(session_id: str) -> None:
    await workflow.execute_activity_method(
        ReceiptActivities.issue_session_receipt,
        ReceiptRequest(session_id=session_id),
        start_to_close_timeout=_TIMEOUT,
        retry_policy=STORE_RETRY,
    )
