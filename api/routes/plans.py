"""Subscription plans: create and list plans, put drivers on them, included-energy usage."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field
from sqlmodel import select

from activities.payments import plans
from activities.payments.stripe_provider import StripeUnavailable
from api.deps import OperatorDep, SessionDep
from api.inputs import INT32_MAX, PRICE_MAX, PositiveId, RowId
from api.payments_service import payments_of
from store.billing_tables import Plan, PlanSubscription
from store.tables import Driver, Tariff

router = APIRouter(tags=["plans"])


class PlanIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    currency: str = Field(default="EUR", pattern="^[A-Z]{3}$")
    monthly_fee: int = Field(default=0, ge=0, le=INT32_MAX, description="gross, minor units")
    tariff_id: int | None = Field(
        default=None, ge=1, le=INT32_MAX, description="the plan's own tariff (optional)"
    )
    energy_price_per_kwh: int | None = Field(default=None, ge=0, le=PRICE_MAX)
    energy_discount_bp: int = Field(default=0, ge=0, le=10_000)
    included_wh: int = Field(
        default=0, ge=0, le=INT32_MAX, description="free energy per calendar month"
    )
    session_fee_waived: bool = False


class PlanOut(PlanIn):
    id: int
    stripe_price_id: str | None
    active: bool


class SubscribeIn(BaseModel):
    plan_id: PositiveId


class SubscriptionOut(BaseModel):
    id: int
    driver_id: int
    plan_id: PositiveId
    status: str
    provider: str
    external_id: str | None
    started_at: datetime
    canceled_at: datetime | None


class BillingRun(BaseModel):
    period: str = Field(pattern=r"^\d{4}-\d{2}$")


def _payments(request: Request):

    return payments_of(request)


@router.post("/plans", status_code=status.HTTP_201_CREATED)
def create_plan(body: PlanIn, request: Request, db: SessionDep, _: OperatorDep) -> PlanOut:
    if db.exec(select(Plan).where(Plan.name == body.name)).first() is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "a plan with this name exists")
    if body.tariff_id is not None and db.get(Tariff, body.tariff_id) is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown tariff_id")
    try:
        plan = plans.create_plan(db, _payments(request).stripe, Plan(**body.model_dump()))
    except StripeUnavailable as err:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(err)) from err
    return PlanOut.model_validate(plan, from_attributes=True)


@router.get("/plans")
def list_plans(db: SessionDep, _: OperatorDep) -> list[PlanOut]:
    rows = db.exec(select(Plan).order_by(Plan.id)).all()  # type: ignore[arg-type]
    return [PlanOut.model_validate(p, from_attributes=True) for p in rows]


@router.post("/drivers/{driver_id}/plan", status_code=status.HTTP_201_CREATED)
def subscribe(
    driver_id: RowId, body: SubscribeIn, request: Request, db: SessionDep, _: OperatorDep
) -> SubscriptionOut:
    """Put the driver on a plan (billed to their saved card via Stripe, else the ledger)."""
    if db.get(Driver, driver_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown driver")
    try:
        row = plans.subscribe(db, _payments(request).stripe, driver_id, body.plan_id)
    except plans.PlanError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from err
    except StripeUnavailable as err:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(err)) from err
    return _subscription(row)


@router.delete("/drivers/{driver_id}/plan")
def unsubscribe(
    driver_id: RowId, request: Request, db: SessionDep, _: OperatorDep
) -> SubscriptionOut:
    try:
        return _subscription(plans.cancel(db, _payments(request).stripe, driver_id))
    except plans.PlanError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from err


@router.get("/drivers/{driver_id}/plan/usage")
def plan_usage(driver_id: RowId, db: SessionDep, _: OperatorDep, month: str | None = None) -> dict:
    """Included energy of the driver's plan: allowance, used, remaining (`YYYY-MM`)."""
    period = month or plans.period_of(datetime.now(UTC))
    try:
        return plans.usage(db, driver_id, period)
    except plans.PlanError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from err


@router.post("/plans/billing-runs")
def bill_plans(body: BillingRun, db: SessionDep, _: OperatorDep) -> dict:
    """Charge the monthly fee of every ledger-billed plan for `period` (once each)."""
    return {"period": body.period, "subscriptions": plans.bill_ledger_plans(db, body.period)}


def _subscription(row: PlanSubscription) -> SubscriptionOut:
    return SubscriptionOut.model_validate(row, from_attributes=True)
