"""Which tariff is in force for a session: plan > driver group > connector > station > default.

The driver's active plan also adds its price adjustments (`Tariff.plan`) to the snapshot.
"""

from __future__ import annotations

from sqlmodel import Session, select

from domain.tariff import PlanTerms, Tariff
from store.billing_tables import GroupTariff, Plan, PlanSubscription
from store.tables import Connector, IdToken, Station
from store.tables import Tariff as TariffRow


def resolve_tariff(
    db: Session,
    station_id: str,
    connector_id: int | None = None,
    driver_id: int | None = None,
    group_id: str | None = None,
    id_token: str | None = None,
) -> Tariff:
    """The tariff snapshot for a session starting now (a free tariff if none is set up)."""
    if id_token is not None and (group_id is None or driver_id is None):
        token = db.exec(select(IdToken).where(IdToken.token == id_token)).first()
        if token is not None:
            group_id = group_id or token.group_id
            driver_id = driver_id if driver_id is not None else token.driver_id
    plan = active_plan(db, driver_id)
    row = _tariff_row(db, station_id, connector_id, group_id, plan)
    tariff = (
        Tariff(name="Free") if row is None else Tariff.model_validate(row, from_attributes=True)
    )
    if plan is not None and plan.id is not None:
        tariff.plan = PlanTerms(
            plan_id=plan.id,
            name=plan.name,
            energy_price_per_kwh=plan.energy_price_per_kwh,
            energy_discount_bp=plan.energy_discount_bp,
            included_wh=plan.included_wh,
            session_fee_waived=plan.session_fee_waived,
        )
    return tariff


def active_plan(db: Session, driver_id: int | None) -> Plan | None:
    if driver_id is None:
        return None
    subscription = active_subscription(db, driver_id)
    return db.get(Plan, subscription.plan_id) if subscription is not None else None


def active_subscription(
    db: Session, driver_id: int, *, lock: bool = False
) -> PlanSubscription | None:
    query = select(PlanSubscription).where(
        PlanSubscription.driver_id == driver_id, PlanSubscription.status == "active"
    )
    return db.exec(query.with_for_update() if lock else query).first()


def _tariff_row(
    db: Session,
    station_id: str,
    connector_id: int | None,
    group_id: str | None,
    plan: Plan | None,
) -> TariffRow | None:
    candidates: list[int | None] = [plan.tariff_id if plan else None]
    if group_id:
        group = db.get(GroupTariff, group_id)
        candidates.append(group.tariff_id if group else None)
    if connector_id is not None:
        connector = db.get(Connector, (station_id, connector_id))
        candidates.append(connector.tariff_id if connector else None)
    station = db.get(Station, station_id)
    candidates.append(station.tariff_id if station else None)
    for tariff_id in candidates:
        if tariff_id is not None:
            row = db.get(TariffRow, tariff_id)
            if row is not None:
                return row
    query = select(TariffRow).where(TariffRow.is_default).order_by(TariffRow.id.desc())
    return db.exec(query).first()
