"""Tariffs: what a session costs. Snapshotted onto each session at start.

Shaped like OCPI 2.2 tariffs so roaming can map them later: a tariff is a list of *elements*,
each a set of price components (ENERGY per kWh, TIME per hour of charging, PARKING_TIME per hour
idle, FLAT per session) valid under restrictions (time of day, weekday, energy and duration
ranges). For every moment and component type the first element whose restrictions match sets the
price (OCPI's rule).

The flat fields (`energy_price_per_kwh`, `time_price_per_hour`, `session_fee`,
`idle_price_per_hour`) form an unrestricted last element, the fallback; a tariff without
`elements` is exactly the old flat tariff. All prices are integer minor units of `currency`,
net or gross as `prices_include_vat` says; energy in Wh, durations in seconds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from functools import cache
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, field_validator, model_validator

_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class ComponentType(StrEnum):
    """OCPI price component types."""

    ENERGY = "ENERGY"  # per kWh
    TIME = "TIME"  # per hour of charging time
    PARKING_TIME = "PARKING_TIME"  # per hour idle (plugged in, not charging), after the grace
    FLAT = "FLAT"  # once per session


class DayOfWeek(StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


_WEEKDAYS = list(DayOfWeek)


class PriceComponent(BaseModel):
    """One price: per kWh (ENERGY), per hour (TIME, PARKING_TIME) or per session (FLAT).

    `step_size` is the billing increment (Wh for ENERGY, seconds for TIME and PARKING_TIME): a
    line's volume is rounded up to a multiple of it. 1 means exact (no rounding).
    """

    type: ComponentType
    price: int = Field(ge=0)
    step_size: int = Field(default=1, ge=1)


class TariffRestrictions(BaseModel):
    """When an element applies; every given condition must hold. Clock values are local time."""

    start_time: str | None = Field(default=None, pattern=_HHMM, description="from HH:MM")
    end_time: str | None = Field(default=None, pattern=_HHMM, description="until HH:MM")
    day_of_week: list[DayOfWeek] = Field(default_factory=list)
    min_wh: int | None = Field(default=None, ge=0, description="session energy so far >= this")
    max_wh: int | None = Field(default=None, ge=0, description="session energy so far < this")
    min_duration_s: int | None = Field(default=None, ge=0, description="session time >= this")
    max_duration_s: int | None = Field(default=None, ge=0, description="session time < this")

    @property
    def uses_clock(self) -> bool:
        return bool(self.start_time or self.end_time or self.day_of_week)

    def matches(self, local: datetime | None, duration_s: object, energy_wh: object) -> bool:
        """Whether the element applies at this local time, session duration and energy."""
        if self.uses_clock:
            assert local is not None
            if self.day_of_week and _WEEKDAYS[local.weekday()] not in self.day_of_week:
                return False
            if not _in_band(local.time(), self.start_time, self.end_time):
                return False
        if self.min_wh is not None and energy_wh < self.min_wh:  # type: ignore[operator]
            return False
        if self.max_wh is not None and energy_wh >= self.max_wh:  # type: ignore[operator]
            return False
        if self.min_duration_s is not None and duration_s < self.min_duration_s:  # type: ignore[operator]
            return False
        if self.max_duration_s is not None and duration_s >= self.max_duration_s:  # type: ignore[operator]
            return False
        return True


class TariffElement(BaseModel):
    """Price components valid under restrictions (OCPI TariffElement)."""

    price_components: list[PriceComponent] = Field(min_length=1)
    restrictions: TariffRestrictions | None = None
    label: str | None = Field(default=None, description="shown on receipts, e.g. 'off-peak'")

    def component(self, kind: ComponentType) -> PriceComponent | None:
        return next((c for c in self.price_components if c.type == kind), None)

    def matches(self, local: datetime | None, duration_s: object, energy_wh: object) -> bool:
        return self.restrictions is None or self.restrictions.matches(local, duration_s, energy_wh)


class PlanTerms(BaseModel):
    """A subscription plan's price adjustments, snapshotted with the tariff at session start."""

    plan_id: int
    name: str
    energy_price_per_kwh: int | None = Field(default=None, ge=0, description="replaces it")
    energy_discount_bp: int = Field(default=0, ge=0, le=10_000, description="off energy")
    included_wh: int = Field(default=0, ge=0, description="free energy per calendar month")
    session_fee_waived: bool = False


class Tariff(BaseModel):
    """A price list; all prices in integer minor units of `currency`.

    `prices_include_vat` says whether the prices (and min/max price) are gross or net.
    """

    id: int | None = None
    name: str = "Standard"
    currency: str = Field(default="EUR", min_length=3, max_length=3)
    energy_price_per_kwh: int = Field(default=0, ge=0)
    time_price_per_hour: int = Field(default=0, ge=0)
    session_fee: int = Field(default=0, ge=0)
    vat_rate_bp: int = Field(default=0, ge=0, le=10_000, description="VAT in basis points")
    prices_include_vat: bool = False
    # ---- extensions (all optional; defaults keep the flat tariff above unchanged) ----
    idle_price_per_hour: int = Field(default=0, ge=0, description="idle fee, per hour")
    idle_grace_minutes: int = Field(default=0, ge=0, description="free idle time per session")
    idle_fee_cap: int | None = Field(default=None, ge=0, description="most idle fee per session")
    min_price: int | None = Field(default=None, ge=0, description="least a session costs")
    max_price: int | None = Field(default=None, ge=0, description="most a session costs")
    time_basis: Literal["session", "charging"] = Field(
        default="session",
        description="TIME is billed for the whole session, or only while not idle",
    )
    energy_step_wh: int = Field(default=1, ge=1)
    time_step_s: int = Field(default=1, ge=1)
    time_zone: str = Field(default="UTC", description="IANA zone of clock restrictions")
    elements: list[TariffElement] = Field(default_factory=list)
    hold_amount: int | None = Field(default=None, ge=0, description="card pre-authorisation")
    plan: PlanTerms | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            _zone(value)
        except (KeyError, ValueError, OSError) as err:  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"unknown time zone {value!r}") from err
        return value

    @model_validator(mode="after")
    def _min_below_max(self) -> Tariff:
        if self.min_price is not None and self.max_price is not None:
            if self.min_price > self.max_price:
                raise ValueError("min_price must not exceed max_price")
        return self

    def base_element(self) -> TariffElement:
        """The flat fields as the unrestricted fallback element."""
        return TariffElement(
            label=None,
            price_components=[
                PriceComponent(
                    type=ComponentType.ENERGY,
                    price=self.energy_price_per_kwh,
                    step_size=self.energy_step_wh,
                ),
                PriceComponent(
                    type=ComponentType.TIME,
                    price=self.time_price_per_hour,
                    step_size=self.time_step_s,
                ),
                PriceComponent(type=ComponentType.FLAT, price=self.session_fee),
                PriceComponent(type=ComponentType.PARKING_TIME, price=self.idle_price_per_hour),
            ],
        )

    def effective_elements(self) -> list[TariffElement]:
        """Elements in priority order, the flat fallback last."""
        return [*self.elements, self.base_element()]

    @property
    def uses_clock(self) -> bool:
        return any(e.restrictions is not None and e.restrictions.uses_clock for e in self.elements)

    def zone(self) -> tzinfo:
        return _zone(self.time_zone)

    def clock_boundaries(self, start: datetime, stop: datetime) -> list[datetime]:
        """Every instant in [start, stop] where a clock restriction may change its answer.

        Local midnights (weekdays), each element's start/end time on every day, and the
        zone's UTC-offset changes (DST), as aware UTC datetimes.
        """
        if not self.uses_clock:
            return []
        zone = self.zone()
        marks = {time(0, 0)}
        for element in self.elements:
            r = element.restrictions
            if r is not None:
                marks.update(_hhmm(v) for v in (r.start_time, r.end_time) if v)
        first = start.astimezone(zone).date() - timedelta(days=1)
        last = stop.astimezone(zone).date() + timedelta(days=1)
        found: set[datetime] = set()
        day = first
        while day <= last:
            for mark in marks:
                for fold in (0, 1):
                    local = datetime.combine(day, mark, tzinfo=zone).replace(fold=fold)
                    found.add(local.astimezone(UTC))
            found.update(_offset_changes(day, zone))
            day += timedelta(days=1)
        return sorted(t for t in found if start <= t <= stop)


def _in_band(now: time, start: str | None, end: str | None) -> bool:
    lo = _hhmm(start) if start else None
    hi = _hhmm(end) if end else None
    if lo is not None and hi is not None and lo > hi:  # wraps past midnight, e.g. 22:00-06:00
        return now >= lo or now < hi
    return (lo is None or now >= lo) and (hi is None or now < hi)


@cache
def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


@cache
def _zone(name: str) -> tzinfo:
    if name == "UTC":
        return UTC
    return ZoneInfo(name)


def _offset_changes(day: date, zone: tzinfo) -> list[datetime]:
    """UTC instants during `day` (local) where the zone's offset changes (DST)."""
    lo = datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(UTC)
    hi = lo + timedelta(days=1)
    if lo.astimezone(zone).utcoffset() == hi.astimezone(zone).utcoffset():
        return []
    before = lo.astimezone(zone).utcoffset()
    low, high = 0, int((hi - lo).total_seconds())
    while high - low > 1:  # first second with the new offset
        middle = (low + high) // 2
        if (lo + timedelta(seconds=middle)).astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return [lo + timedelta(seconds=high)]
