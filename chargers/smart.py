"""Smart charging: installed charging profiles per stack level and purpose, and the composite
limit they impose on each connector over time (what the meter's power follows).

Profiles of both versions are read into one neutral `Profile`. Purposes: `max` (1.6
ChargePointMaxProfile / 2.0.1 ChargingStationMaxProfile), `default` (TxDefaultProfile), `tx`
(TxProfile). The composite limit at a moment is the lowest of: the hardware limit, the
highest-stack max profile in force, and the highest-stack TxProfile of the running transaction
in force, or else the highest-stack TxDefaultProfile of the connector, or else of the station.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chargers.clock import parse_iso

PURPOSES = {
    "ChargePointMaxProfile": "max",
    "ChargingStationMaxProfile": "max",
    "TxDefaultProfile": "default",
    "TxProfile": "tx",
    "ChargingStationExternalConstraints": "external",
}
_RECURRENCE = {"Daily": timedelta(days=1), "Weekly": timedelta(days=7)}


@dataclass(slots=True)
class Period:
    start_s: float
    limit: float
    phases: int | None


@dataclass(slots=True)
class Profile:
    id: int
    connector: int  # 0 = the whole station
    stack_level: int
    purpose: str  # max | default | tx | external
    kind: str  # Absolute | Recurring | Relative
    recurrency: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    transaction_id: str | None
    start: datetime | None
    duration_s: float | None
    unit: str  # A | W
    periods: list[Period]
    installed_at: datetime
    raw: dict  # as the CSMS sent it

    @classmethod
    def parse(cls, connector: int, raw: dict, installed_at: datetime) -> Profile:
        """From a 1.6 `csChargingProfiles` or a 2.0.1 `chargingProfile`."""
        schedule = raw["chargingSchedule"]
        if isinstance(schedule, list):  # 2.0.1: one to three schedules; the first applies
            schedule = schedule[0]
        tx = raw.get("transactionId")
        return cls(
            id=raw.get("chargingProfileId", raw.get("id")),
            connector=connector,
            stack_level=raw["stackLevel"],
            purpose=PURPOSES[raw["chargingProfilePurpose"]],
            kind=raw["chargingProfileKind"],
            recurrency=raw.get("recurrencyKind"),
            valid_from=_time(raw.get("validFrom")),
            valid_to=_time(raw.get("validTo")),
            transaction_id=None if tx is None else str(tx),
            start=_time(schedule.get("startSchedule")),
            duration_s=schedule.get("duration"),
            unit=schedule["chargingRateUnit"],
            periods=[
                Period(p["startPeriod"], float(p["limit"]), p.get("numberPhases"))
                for p in sorted(schedule["chargingSchedulePeriod"], key=lambda p: p["startPeriod"])
            ],
            installed_at=installed_at,
            raw=raw,
        )

    def origin(self, at: datetime, tx_start: datetime | None) -> datetime | None:
        """When the schedule's period 0 starts for the moment `at`."""
        if self.kind == "Relative":
            return tx_start or at
        base = self.start or self.valid_from or self.installed_at
        if self.kind == "Recurring" and self.recurrency in _RECURRENCE and at >= base:
            step = _RECURRENCE[self.recurrency]
            return base + step * ((at - base) // step)
        return base

    def limit_w(self, at: datetime, tx_start: datetime | None, volts: float, phases: int):
        """The limit in W at `at`, or None when this profile says nothing then."""
        if (self.valid_from and at < self.valid_from) or (self.valid_to and at >= self.valid_to):
            return None
        origin = self.origin(at, tx_start)
        if origin is None:
            return None
        offset = (at - origin).total_seconds()
        if offset < 0 or (self.duration_s is not None and offset >= self.duration_s):
            return None
        period = None
        for candidate in self.periods:
            if candidate.start_s <= offset:
                period = candidate
        if period is None:
            return None
        if self.unit == "W":
            return period.limit
        return period.limit * volts * (period.phases or phases)

    def changes(self, t0: datetime, t1: datetime, tx_start: datetime | None) -> list[datetime]:
        """Moments in (t0, t1) where this profile's limit may change."""
        points = [p for p in (self.valid_from, self.valid_to) if p is not None]
        origins = {self.origin(t0, tx_start), self.origin(t1, tx_start)}
        if self.kind == "Recurring" and self.recurrency in _RECURRENCE:
            step, first = _RECURRENCE[self.recurrency], self.origin(t0, tx_start)
            while first is not None and first < t1:
                origins.add(first)
                first += step
        for origin in origins:
            if origin is None:
                continue
            points += [origin + timedelta(seconds=p.start_s) for p in self.periods]
            if self.duration_s is not None:
                points.append(origin + timedelta(seconds=self.duration_s))
        return [p for p in points if t0 < p < t1]


def _time(value: str | None) -> datetime | None:
    return parse_iso(value) if value else None


class ProfileStore:
    """The installed profiles of one charger and the composite limits they give."""

    def __init__(self, hardware_w: float, volts: float, phases: int) -> None:
        self.hardware_w, self.volts, self.phases = hardware_w, volts, phases
        self.profiles: list[Profile] = []

    def install(self, profile: Profile) -> None:
        """Replaces a profile with the same id, or the same stack level, purpose and connector."""
        self.profiles = [
            p
            for p in self.profiles
            if p.id != profile.id
            and not (
                p.stack_level == profile.stack_level
                and p.purpose == profile.purpose
                and p.connector == profile.connector
            )
        ]
        self.profiles.append(profile)

    def clear(
        self,
        profile_id: int | None = None,
        connector: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> bool:
        """Remove the matching profiles; whether any was removed."""

        def matches(p: Profile) -> bool:
            if profile_id is not None:
                return p.id == profile_id
            return (
                (connector is None or p.connector == connector)
                and (purpose is None or p.purpose == purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )

        kept = [p for p in self.profiles if not matches(p)]
        removed = len(kept) != len(self.profiles)
        self.profiles = kept
        return removed

    def drop_transaction(self, transaction_id: str | None) -> None:
        """TxProfiles end with their transaction."""
        self.profiles = [
            p
            for p in self.profiles
            if not (p.purpose == "tx" and p.transaction_id in (None, transaction_id))
        ]

    def _best(self, candidates: list[Profile], at, tx_start) -> float | None:
        for profile in sorted(candidates, key=lambda p: -p.stack_level):
            limit = profile.limit_w(at, tx_start, self.volts, self.phases)
            if limit is not None:
                return limit
        return None

    def limit_w(
        self, connector: int, at: datetime, tx_id: str | None, tx_start: datetime | None
    ) -> float:
        """The power the connector may deliver at `at` (W)."""
        limits = [self.hardware_w]
        station = self._best(
            [p for p in self.profiles if p.purpose in ("max", "external")], at, tx_start
        )
        if station is not None:
            limits.append(station)
        tx = None
        if tx_id is not None:
            tx = self._best(
                [
                    p
                    for p in self.profiles
                    if p.purpose == "tx"
                    and p.connector in (connector, 0)
                    and p.transaction_id in (None, tx_id)
                ],
                at,
                tx_start,
            )
        if tx is None:
            defaults = [p for p in self.profiles if p.purpose == "default"]
            tx = self._best([p for p in defaults if p.connector == connector], at, tx_start)
            if tx is None:
                tx = self._best([p for p in defaults if p.connector == 0], at, tx_start)
        if tx is not None:
            limits.append(tx)
        return max(min(limits), 0.0)

    def changes(self, t0: datetime, t1: datetime, tx_start: datetime | None) -> list[datetime]:
        points = sorted({c for p in self.profiles for c in p.changes(t0, t1, tx_start)})
        return points

    def composite(
        self,
        connector: int,
        start: datetime,
        duration_s: int,
        unit: str,
        tx_id: str | None,
        tx_start: datetime | None,
    ) -> list[dict]:
        """`chargingSchedulePeriod` entries for [start, start + duration) in `unit`."""
        end = start + timedelta(seconds=duration_s)
        periods: list[dict] = []
        for at in [start, *self.changes(start, end, tx_start)]:
            watts = self.limit_w(connector, at, tx_id, tx_start)
            limit = watts if unit == "W" else watts / (self.volts * self.phases)
            limit = round(limit, 1)
            if periods and periods[-1]["limit"] == limit:
                continue
            periods.append({"startPeriod": int((at - start).total_seconds()), "limit": limit})
        return periods
