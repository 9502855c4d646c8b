"""Whether an EV's charging schedule (2.0.1 NotifyEVChargingSchedule, ISO 15118) stays within
the charging profiles the CSMS set on its EVSE (K15.FR.11/12, K16.FR.06/07, K17.FR.11/12).

What the CSMS offered is read from the profiles a charger accepted (`OfferedProfile`, as sent:
either OCPP version's shape). The limit offered at a moment is the lowest of the highest-stack
station maximum in force and the highest-stack TxProfile of the EVSE's transaction in force,
or else its TxDefaultProfile (the EVSE's own before the station-wide one) — the composite
schedule a charger computes (OCPP 2.0.1 K01, 1.6 §3.13.4). Currents are compared as power
(A × phase voltage × phases, three phases unless a period says otherwise).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel

MAX_PURPOSES = ("ChargingStationMaxProfile", "ChargePointMaxProfile")
TOLERANCE = 1.01  # an EV may round up by 1 %
_RECURRENCE = {"Daily": timedelta(days=1), "Weekly": timedelta(days=7)}
_HORIZON = timedelta(hours=24)  # an EV schedule without a duration is checked this far


class OfferedProfile(BaseModel):
    """A charging profile the charger accepted from us, as sent (1.6 or 2.0.1 shape)."""

    evse_id: int  # 0: the whole station
    purpose: str  # TxProfile | TxDefaultProfile | ChargingStationMaxProfile | ...
    stack_level: int
    transaction_id: str | None = None
    profile: dict
    set_at: datetime


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _schedule(profile: dict) -> dict:
    schedule = profile["chargingSchedule"]
    return schedule[0] if isinstance(schedule, list) else schedule


def _watts(limit: float, unit: str, phases: int | None, volts: float) -> float:
    return limit if unit == "W" else limit * volts * (phases or 3)


def _origin(offered: OfferedProfile, at: datetime) -> datetime:
    profile, schedule = offered.profile, _schedule(offered.profile)
    if profile.get("chargingProfileKind") == "Relative":
        return offered.set_at  # the transaction runs already when a TxProfile is set
    base = _parse(schedule.get("startSchedule")) or _parse(profile.get("validFrom"))
    base = base or offered.set_at
    step = _RECURRENCE.get(profile.get("recurrencyKind") or "")
    if profile.get("chargingProfileKind") == "Recurring" and step and at >= base:
        return base + step * ((at - base) // step)
    return base


def profile_limit_w(offered: OfferedProfile, at: datetime, volts: float = 230.0) -> float | None:
    """The limit one profile sets at `at` in W, or None when it says nothing then."""
    profile, schedule = offered.profile, _schedule(offered.profile)
    valid_from, valid_to = _parse(profile.get("validFrom")), _parse(profile.get("validTo"))
    if (valid_from and at < valid_from) or (valid_to and at >= valid_to):
        return None
    offset = (at - _origin(offered, at)).total_seconds()
    duration = schedule.get("duration")
    if offset < 0 or (duration is not None and offset >= duration):
        return None
    chosen = None
    for period in sorted(schedule["chargingSchedulePeriod"], key=lambda p: p["startPeriod"]):
        if period["startPeriod"] <= offset:
            chosen = period
    if chosen is None:
        return None
    return _watts(
        float(chosen["limit"]), schedule["chargingRateUnit"], chosen.get("numberPhases"), volts
    )


def _highest(profiles: list[OfferedProfile], at: datetime, volts: float) -> float | None:
    for offered in sorted(profiles, key=lambda p: -p.stack_level):
        limit = profile_limit_w(offered, at, volts)
        if limit is not None:
            return limit
    return None


def offered_limit_w(
    profiles: list[OfferedProfile], evse_id: int, at: datetime, volts: float = 230.0
) -> float | None:
    """The composite limit of `evse_id` at `at` in W (None: we set nothing that applies).
    TxProfiles count for the EVSE's newest transaction we set one for."""
    limits = []
    station = _highest([p for p in profiles if p.purpose in MAX_PURPOSES], at, volts)
    if station is not None:
        limits.append(station)
    tx_profiles = [p for p in profiles if p.purpose == "TxProfile" and p.evse_id == evse_id]
    tx = None
    if tx_profiles:
        newest = max(tx_profiles, key=lambda p: p.set_at).transaction_id
        tx = _highest([p for p in tx_profiles if p.transaction_id == newest], at, volts)
    if tx is None:
        defaults = [p for p in profiles if p.purpose == "TxDefaultProfile"]
        tx = _highest([p for p in defaults if p.evse_id == evse_id], at, volts)
        if tx is None:
            tx = _highest([p for p in defaults if p.evse_id == 0], at, volts)
    if tx is not None:
        limits.append(tx)
    return min(limits) if limits else None


def _changes(offered: OfferedProfile, start: datetime, end: datetime) -> list[datetime]:
    schedule = _schedule(offered.profile)
    origin = _origin(offered, start)
    points = [
        origin + timedelta(seconds=p["startPeriod"]) for p in schedule["chargingSchedulePeriod"]
    ]
    if schedule.get("duration") is not None:
        points.append(origin + timedelta(seconds=schedule["duration"]))
    return [p for p in points if start < p < end]


def ev_schedule_excess(
    schedule: dict,
    time_base: datetime,
    profiles: list[OfferedProfile],
    evse_id: int,
    volts: float = 230.0,
) -> str | None:
    """Where the EV's schedule (periods relative to `time_base`) asks for more than we offered
    on `evse_id`, in words; None when it stays within (or we offered nothing to check)."""
    periods = sorted(schedule["chargingSchedulePeriod"], key=lambda p: p["startPeriod"])
    if not periods:
        return None
    duration = schedule.get("duration")
    end = time_base + (timedelta(seconds=duration) if duration else _HORIZON)
    moments = {time_base + timedelta(seconds=p["startPeriod"]) for p in periods}
    for offered in profiles:
        moments.update(_changes(offered, time_base, end))
    unit = schedule["chargingRateUnit"]
    for at in sorted(m for m in moments if time_base <= m < end):
        offset = (at - time_base).total_seconds()
        current = [p for p in periods if p["startPeriod"] <= offset]
        if not current:
            continue
        period = current[-1]
        wanted = _watts(float(period["limit"]), unit, period.get("numberPhases"), volts)
        allowed = offered_limit_w(profiles, evse_id, at, volts)
        if allowed is not None and wanted > allowed * TOLERANCE + 1e-6:
            return (
                f"{int(offset)} s after the time base the EV asks {period['limit']:g} {unit}, "
                f"more than the {allowed:.0f} W offered"
            )
    return None
