"""Rating: a pure function from a tariff snapshot and what was measured to a price breakdown.

Two entry points:

* `rate(tariff, Consumption)` — energy and duration only (the live cost, the old callers);
* `rate_timeline(tariff, SessionTimeline, plan)` — the meter readings (time, register Wh),
  the idle intervals and the start/stop times; time-of-day and weekday bands, energy and
  duration steps, idle fees with grace and cap, min/max price and plan adjustments.

Method: the session is cut at every instant where a price may change (readings, idle
boundaries, band edges, DST changes, duration and energy thresholds). Energy between two readings
is spread linearly over their interval. Every piece is priced with the first matching element per
component type; volumes are summed exactly (fractions) into one line per component and price.

Rounding (the one rule): each line's exact amount is rounded **half-up** (`money.round_half_up`)
to whole minor units; min/max adjustments, VAT and the total are computed from the rounded
lines, so the lines always add up to the stated total. Lines are ordered energy, time, session,
other (idle, adjustments).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from pydantic import BaseModel, Field

from domain.money import round_half_up, vat_in_gross, vat_of_net
from domain.tariff import ComponentType, PlanTerms, Tariff, TariffElement

_EPOCH = datetime(2001, 1, 1, tzinfo=UTC)  # a Monday: start of a `Consumption` without a start
_UNIT = {  # volume units per priced unit
    ComponentType.ENERGY: 1000,  # Wh per kWh
    ComponentType.TIME: 3600,  # s per hour
    ComponentType.PARKING_TIME: 3600,
    ComponentType.FLAT: 1,
}
_COMPONENT = {
    ComponentType.ENERGY: "energy",
    ComponentType.TIME: "time",
    ComponentType.FLAT: "session",
    ComponentType.PARKING_TIME: "idle",
}
_ORDER = ["energy", "time", "session", "idle", "adjustment"]


class CostLine(BaseModel):
    """One priced component of a session (energy, time, session fee, idle, adjustment)."""

    component: str  # energy | time | session | idle | adjustment
    quantity: str  # human quantity, e.g. "12.345 kWh"
    unit_price: int  # per kWh, per hour, per session; 0 for adjustments
    amount: int  # as stated by the tariff: gross when prices include VAT, else net
    label: str | None = None  # e.g. "off-peak", "included in plan", "minimum price"
    volume: str | None = None  # exact billed volume (Wh or s) as a fraction string
    vat_rate_bp: int | None = None


class TaxLine(BaseModel):
    """VAT per rate: the net base, the tax and the gross."""

    rate_bp: int
    net: int
    vat: int
    gross: int


class RatingResult(BaseModel):
    """A session's price: lines in the order energy, time, session, other; then tax and total."""

    currency: str
    lines: list[CostLine]
    net: int
    vat: int
    total: int
    vat_rate_bp: int
    taxes: list[TaxLine] = Field(default_factory=list)
    prices_include_vat: bool = False
    included_wh_used: int = 0  # plan allowance consumed by this session


class Consumption(BaseModel):
    """What a session used, as measured."""

    energy_wh: int
    duration_s: int
    started_at: datetime | None = None  # needed only by time-of-day/weekday tariffs


class MeterPoint(BaseModel):
    """A reading of the energy register (Wh) at a time."""

    timestamp: datetime
    energy_wh: int


class StatusInterval(BaseModel):
    """A span of the session in one state; `idle` = plugged in but not charging (EV's choice)."""

    start: datetime
    end: datetime
    idle: bool
    status: str | None = None  # the OCPP-neutral status it came from, for display


class SessionTimeline(BaseModel):
    """What happened during a session, as the rating sees it."""

    started_at: datetime
    stopped_at: datetime
    readings: list[MeterPoint] = Field(default_factory=list)
    statuses: list[StatusInterval] = Field(default_factory=list)


class PlanPricing(BaseModel):
    """A plan's adjustments as rating input: its terms and the allowance left this month."""

    terms: PlanTerms
    included_wh_remaining: int = Field(default=0, ge=0)


def rate(tariff: Tariff, usage: Consumption) -> RatingResult:
    """Price energy and duration (energy spread evenly over the session, no idle time)."""
    start = usage.started_at or _EPOCH
    duration = timedelta(seconds=max(usage.duration_s, 0))
    energy = max(usage.energy_wh, 0)
    timeline = SessionTimeline(
        started_at=start,
        stopped_at=start + duration,
        readings=[MeterPoint(timestamp=start, energy_wh=0)]
        + [MeterPoint(timestamp=start + duration, energy_wh=energy)],
    )
    return rate_timeline(tariff, timeline)


def preview(
    tariff: Tariff,
    energy_wh: int,
    duration_s: int,
    started_at: datetime | None = None,
    idle_s: int = 0,
    plan: PlanPricing | None = None,
) -> RatingResult:
    """What a session would cost: `energy_wh` over `duration_s` of charging, then `idle_s` idle."""
    start = _aware(started_at or _EPOCH)
    charged = start + timedelta(seconds=max(duration_s, 0))
    stop = charged + timedelta(seconds=max(idle_s, 0))
    statuses = [StatusInterval(start=charged, end=stop, idle=True)] if idle_s > 0 else []
    timeline = SessionTimeline(
        started_at=start,
        stopped_at=stop,
        readings=[
            MeterPoint(timestamp=start, energy_wh=0),
            MeterPoint(timestamp=charged, energy_wh=max(energy_wh, 0)),
        ],
        statuses=statuses,
    )
    return rate_timeline(tariff, timeline, plan)


def rate_timeline(
    tariff: Tariff, timeline: SessionTimeline, plan: PlanPricing | None = None
) -> RatingResult:
    """Price a session from its timeline; see the module docstring for the method and rounding."""
    start = _aware(timeline.started_at)
    stop = max(_aware(timeline.stopped_at), start)
    priced = _Pricer(tariff, plan)
    session = _Session(tariff, start, stop, timeline)
    session.price_into(priced)
    return priced.result()


# ---- the session, cut into pieces ---------------------------------------------------------


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _seconds(delta: timedelta) -> Fraction:
    return Fraction(delta // timedelta(microseconds=1), 1_000_000)


@dataclass(frozen=True)
class _Piece:
    """Energy delivered between two offsets (equal offsets: a jump at one instant)."""

    t0: Fraction
    t1: Fraction
    e0: Fraction  # session energy before the piece
    e1: Fraction


class _Session:
    """A session's timeline as offsets (seconds from start) and cumulative energy."""

    def __init__(self, tariff: Tariff, start: datetime, stop: datetime, timeline: SessionTimeline):
        self.tariff = tariff
        self.start = start
        self.total = _seconds(stop - start)
        self.elements = tariff.effective_elements()
        self.zone = tariff.zone() if tariff.uses_clock else None
        self.pieces = self._energy_pieces(timeline.readings)
        self.piece_starts = [p.t0 for p in self.pieces]
        self.idle = self._idle_spans(timeline.statuses)
        self.cuts = self._cuts(stop)

    def _offset(self, moment: datetime) -> Fraction:
        return min(max(_seconds(_aware(moment) - self.start), Fraction(0)), self.total)

    def _energy_pieces(self, readings: list[MeterPoint]) -> list[_Piece]:
        ordered = sorted(readings, key=lambda r: _aware(r.timestamp))
        pieces: list[_Piece] = []
        energy = Fraction(0)
        for before, after in zip(ordered, ordered[1:], strict=False):
            delta = after.energy_wh - before.energy_wh
            if delta <= 0:  # no energy, or a meter reset: never negative
                continue
            t0, t1 = self._offset(before.timestamp), self._offset(after.timestamp)
            pieces.append(_Piece(t0, t1, energy, energy + delta))
            energy += delta
        return pieces

    def _idle_spans(self, statuses: list[StatusInterval]) -> list[tuple[Fraction, Fraction]]:
        spans = [(self._offset(s.start), self._offset(s.end)) for s in statuses if s.idle]
        merged: list[tuple[Fraction, Fraction]] = []
        for lo, hi in sorted(s for s in spans if s[1] > s[0]):
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        return merged

    def energy_at(self, t: Fraction) -> Fraction:
        """Session energy delivered up to and including offset `t`."""
        k = bisect_right(self.piece_starts, t)
        if k == 0:
            return Fraction(0)
        piece = self.pieces[k - 1]
        if t >= piece.t1:
            return piece.e1
        return piece.e0 + (piece.e1 - piece.e0) * (t - piece.t0) / (piece.t1 - piece.t0)

    def time_of_energy(self, threshold: int) -> Fraction | None:
        """The first offset at which session energy reaches `threshold` Wh."""
        for piece in self.pieces:
            if piece.e0 < threshold <= piece.e1:
                if piece.t1 == piece.t0:
                    return piece.t0
                return piece.t0 + (threshold - piece.e0) * (piece.t1 - piece.t0) / (
                    piece.e1 - piece.e0
                )
        return None

    def _cuts(self, stop: datetime) -> list[Fraction]:
        cuts = {Fraction(0), self.total}
        for piece in self.pieces:
            cuts.update((piece.t0, piece.t1))
        for lo, hi in self.idle:
            cuts.update((lo, hi))
        for moment in self.tariff.clock_boundaries(self.start, stop):
            cuts.add(self._offset(moment))
        for element in self.elements:
            r = element.restrictions
            if r is None:
                continue
            for seconds in (r.min_duration_s, r.max_duration_s):
                if seconds is not None and 0 < seconds < self.total:
                    cuts.add(Fraction(seconds))
            for wh in (r.min_wh, r.max_wh):
                crossing = self.time_of_energy(wh) if wh else None
                if crossing is not None:
                    cuts.add(crossing)
        return sorted(cuts)

    def energy_thresholds(self) -> list[int]:
        found = set()
        for element in self.elements:
            r = element.restrictions
            if r is not None:
                found.update(v for v in (r.min_wh, r.max_wh) if v)
        return sorted(found)

    def local(self, t: Fraction) -> datetime | None:
        if self.zone is None:
            return None
        micros = math.floor(t * 1_000_000)
        return (self.start + timedelta(microseconds=micros)).astimezone(self.zone)

    def element_for(
        self, kind: ComponentType, t: Fraction, energy: Fraction
    ) -> tuple[int, TariffElement] | None:
        local = self.local(t)
        for index, element in enumerate(self.elements):
            if element.component(kind) is not None and element.matches(local, t, energy):
                return index, element
        return None

    def is_idle(self, lo: Fraction, hi: Fraction) -> bool:
        middle = (lo + hi) / 2
        return any(a <= middle < b for a, b in self.idle)

    def time_segments(self) -> Iterator[tuple[Fraction, Fraction]]:
        yield from zip(self.cuts, self.cuts[1:], strict=False)

    def energy_slices(self) -> Iterator[tuple[Fraction, Fraction]]:
        """(offset, Wh) slices of every piece, cut at every cut and energy threshold."""
        thresholds = self.energy_thresholds()
        for piece in self.pieces:
            if piece.t1 == piece.t0:  # a jump: split in energy space only
                marks = [piece.e0, *(w for w in thresholds if piece.e0 < w < piece.e1), piece.e1]
                for e0, e1 in zip(marks, marks[1:], strict=False):
                    yield piece.t0, e1 - e0
                continue
            # cuts are sorted: find the ones inside the piece by bisection, not a scan
            inner = self.cuts[bisect_right(self.cuts, piece.t0) : bisect_left(self.cuts, piece.t1)]
            marks = [piece.t0, *inner, piece.t1]
            rate = (piece.e1 - piece.e0) / (piece.t1 - piece.t0)
            for t0, t1 in zip(marks, marks[1:], strict=False):
                yield t0, (t1 - t0) * rate

    def price_into(self, priced: _Pricer) -> None:
        self._price_flat(priced)
        self._price_energy(priced)
        self._price_time(priced)

    def _price_flat(self, priced: _Pricer) -> None:
        found = self.element_for(ComponentType.FLAT, Fraction(0), Fraction(0))
        if found is not None:
            priced.add(ComponentType.FLAT, found, Fraction(1))

    def _price_energy(self, priced: _Pricer) -> None:
        running = Fraction(0)
        for t, wh in self.energy_slices():
            if wh <= 0:
                continue
            found = self.element_for(ComponentType.ENERGY, t, running)
            running += wh
            if found is not None:
                priced.add_energy(found, wh)

    def _price_time(self, priced: _Pricer) -> None:
        charging_only = self.tariff.time_basis == "charging"
        grace = Fraction(self.tariff.idle_grace_minutes * 60)
        for lo, hi in self.time_segments():
            seconds = hi - lo
            idle = self.is_idle(lo, hi)
            energy = self.energy_at(lo)
            if not (idle and charging_only):
                found = self.element_for(ComponentType.TIME, lo, energy)
                if found is not None:
                    priced.add(ComponentType.TIME, found, seconds)
            if idle:
                free = min(grace, seconds)
                grace -= free
                found = self.element_for(ComponentType.PARKING_TIME, lo, energy)
                if found is not None and seconds > free:
                    priced.add(ComponentType.PARKING_TIME, found, seconds - free)


# ---- lines -------------------------------------------------------------------------------


@dataclass
class _Bucket:
    component: str
    kind: ComponentType
    price: int
    step: int
    label: str | None
    volume: Fraction = Fraction(0)
    keep_if_free: bool = False
    keep_if_empty: bool = False


class _Pricer:
    """Collects volumes per (component, price) and turns them into rounded lines."""

    def __init__(self, tariff: Tariff, plan: PlanPricing | None):
        self.tariff = tariff
        self.plan = plan
        self.base_index = len(tariff.elements)
        self.included_left = Fraction(plan.included_wh_remaining if plan else 0)
        self.buckets: dict[tuple, _Bucket] = {}
        if plan is not None:  # the included energy is listed first
            self._included()
        if not tariff.elements:  # a flat tariff lists its priced energy and time even at zero
            base = tariff.base_element()
            self._energy_bucket(self.base_index, base)
            self.add(ComponentType.TIME, (self.base_index, base), Fraction(0))
            for bucket in self.buckets.values():
                bucket.keep_if_empty = True

    def _bucket(self, key: tuple, **fields) -> _Bucket:
        if key not in self.buckets:
            self.buckets[key] = _Bucket(**fields)
        return self.buckets[key]

    def add(self, kind: ComponentType, found: tuple[int, TariffElement], volume: Fraction) -> None:
        index, element = found
        component = element.component(kind)
        assert component is not None
        price = component.price
        if kind == ComponentType.FLAT and self.plan and self.plan.terms.session_fee_waived:
            price = 0
        bucket = self._bucket(
            (kind, index, price),
            component=_COMPONENT[kind],
            kind=kind,
            price=price,
            step=component.step_size,
            label=element.label,
            keep_if_free=index != self.base_index,
        )
        bucket.volume += volume

    def add_energy(self, found: tuple[int, TariffElement], wh: Fraction) -> None:
        if self.included_left > 0:
            free = min(self.included_left, wh)
            self.included_left -= free
            wh -= free
            self._included().volume += free
        if wh > 0:
            self._energy_bucket(*found).volume += wh

    def _included(self) -> _Bucket:
        return self._bucket(
            ("included",),
            component="energy",
            kind=ComponentType.ENERGY,
            price=0,
            step=1,
            label="included in plan",
            keep_if_free=True,
        )

    def _energy_bucket(self, index: int, element: TariffElement) -> _Bucket:
        component = element.component(ComponentType.ENERGY)
        assert component is not None
        price = self._plan_energy_price(component.price)
        return self._bucket(
            (ComponentType.ENERGY, index, price),
            component="energy",
            kind=ComponentType.ENERGY,
            price=price,
            step=component.step_size,
            label=element.label,
            keep_if_free=index != self.base_index,
        )

    def _plan_energy_price(self, price: int) -> int:
        if self.plan is None:
            return price
        terms = self.plan.terms
        if terms.energy_price_per_kwh is not None:
            price = terms.energy_price_per_kwh
        # A discounted unit price is itself rounded half-up to whole minor units.
        return round_half_up(Fraction(price * (10_000 - terms.energy_discount_bp), 10_000))

    def result(self) -> RatingResult:
        tariff = self.tariff
        lines = [self._line(b) for b in self.buckets.values() if b.price or b.keep_if_free]
        lines = [line for line in lines if line is not None]
        lines = self._cap_idle(lines)
        lines.sort(key=lambda line: _ORDER.index(line.component))
        stated = sum(line.amount for line in lines)
        if tariff.min_price is not None and stated < tariff.min_price:
            lines.append(_adjustment(tariff.min_price - stated, "minimum price", tariff))
        elif tariff.max_price is not None and stated > tariff.max_price:
            lines.append(_adjustment(tariff.max_price - stated, "maximum price", tariff))
        stated = sum(line.amount for line in lines)
        if tariff.prices_include_vat:
            vat = vat_in_gross(stated, tariff.vat_rate_bp)
            net, total = stated - vat, stated
        else:
            vat = vat_of_net(stated, tariff.vat_rate_bp)
            net, total = stated, stated + vat
        included = self.buckets.get(("included",))
        return RatingResult(
            currency=tariff.currency,
            lines=lines,
            net=net,
            vat=vat,
            total=total,
            vat_rate_bp=tariff.vat_rate_bp,
            taxes=[TaxLine(rate_bp=tariff.vat_rate_bp, net=net, vat=vat, gross=total)],
            prices_include_vat=tariff.prices_include_vat,
            included_wh_used=round_half_up(included.volume) if included else 0,
        )

    def _line(self, bucket: _Bucket) -> CostLine | None:
        volume = bucket.volume
        if volume <= 0 and not bucket.keep_if_empty:
            return None
        if bucket.step > 1:
            volume = math.ceil(volume / bucket.step) * bucket.step
        amount = round_half_up(volume * bucket.price / _UNIT[bucket.kind])
        return CostLine(
            component=bucket.component,
            quantity=_quantity(bucket.kind, volume),
            unit_price=bucket.price,
            amount=amount,
            label=bucket.label,
            volume=str(volume),
            vat_rate_bp=self.tariff.vat_rate_bp,
        )

    def _cap_idle(self, lines: list[CostLine]) -> list[CostLine]:
        cap = self.tariff.idle_fee_cap
        idle = [line for line in lines if line.component == "idle"]
        if cap is None or sum(line.amount for line in idle) <= cap:
            return lines
        seconds = sum(Fraction(line.volume or 0) for line in idle)
        capped = CostLine(
            component="idle",
            quantity=_quantity(ComponentType.PARKING_TIME, seconds),
            unit_price=0,
            amount=cap,
            label="idle fee (capped)",
            volume=str(seconds),
            vat_rate_bp=self.tariff.vat_rate_bp,
        )
        return [line for line in lines if line.component != "idle"] + [capped]


def _adjustment(amount: int, label: str, tariff: Tariff) -> CostLine:
    return CostLine(
        component="adjustment",
        quantity="1",
        unit_price=0,
        amount=amount,
        label=label,
        vat_rate_bp=tariff.vat_rate_bp,
    )


def _quantity(kind: ComponentType, volume: Fraction) -> str:
    if kind == ComponentType.ENERGY:
        wh = round_half_up(volume)
        return f"{wh // 1000}.{wh % 1000:03d} kWh"
    if kind == ComponentType.FLAT:
        return "1"
    seconds = round_half_up(volume)
    return f"{seconds // 60} min {seconds % 60} s"
