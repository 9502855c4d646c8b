"""The payment, rating and receipt activities run on a real Temporal worker (payload round trip)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio import workflow
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.payments.activities import PaymentActivities
from activities.payments.rating import RatingActivities
from activities.payments.service import Payments
from activities.receipts.activities import ReceiptActivities
from domain.payments import (
    HoldRequest,
    HoldStatus,
    PaymentOutcome,
    SettleRequest,
    TimelineRateRequest,
)
from domain.session import ReceiptRequest
from runtime.settings import Settings
from tests.billing.conftest import demo_driver_id, make_session, save_card

_T = timedelta(seconds=30)


@workflow.defn(sandboxed=False)
class BillingFlow:
    """What the session workflow will do: hold at authorize, rate, settle and receipt at stop."""

    @workflow.run
    async def run(self, request: HoldRequest) -> PaymentOutcome:
        hold = await workflow.execute_activity_method(
            PaymentActivities.place_hold, request, start_to_close_timeout=_T
        )
        if hold.status != HoldStatus.HELD:
            raise ApplicationError(f"hold {hold.status}", non_retryable=True)
        rated = await workflow.execute_activity_method(
            RatingActivities.rate_session_timeline,
            TimelineRateRequest(session_id=request.session_id),
            start_to_close_timeout=_T,
        )
        settled = await workflow.execute_activity_method(
            PaymentActivities.settle_payment,
            SettleRequest(
                session_id=request.session_id,
                driver_id=request.driver_id,
                amount=rated.rating.total,
                currency=rated.rating.currency,
            ),
            start_to_close_timeout=_T,
        )
        await workflow.execute_activity_method(
            ReceiptActivities.issue_session_receipt,
            ReceiptRequest(session_id=request.session_id),
            start_to_close_timeout=_T,
        )
        return settled


async def test_billing_activities_on_a_worker(
    temporal_client: Client, payments: Payments, stripe_settings: Settings
) -> None:
    driver = demo_driver_id(payments.db)
    save_card(payments, driver, "pm_card_visa_applepay")
    make_session(payments.db, "wf-1", driver_id=driver, energy_wh=7_000)
    pay = PaymentActivities(payments)
    rating = RatingActivities(payments.db)
    receipts = ReceiptActivities(payments.db, stripe_settings)
    async with Worker(
        temporal_client,
        task_queue=stripe_settings.task_queue,
        workflows=[BillingFlow],
        activities=[
            pay.place_hold,
            pay.settle_payment,
            rating.rate_session_timeline,
            receipts.issue_session_receipt,
        ],
        activity_executor=ThreadPoolExecutor(4),
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        settled = await temporal_client.execute_workflow(
            BillingFlow.run,
            HoldRequest(session_id="wf-1", station_id="DEMO-1", connector_id=1, driver_id=driver),
            id="billing-flow-wf-1",
            task_queue=stripe_settings.task_queue,
            result_type=PaymentOutcome,
        )
    assert (settled.status, settled.amount, settled.captured) == ("succeeded", 498, 498)
    assert settled.card is not None and settled.card.wallet == "apple_pay"
