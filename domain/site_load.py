"""Site load management: the limits of a site and the pure allocation of its capacity.

A site (a location) has a grid connection: a limit in A per phase and/or in W in total, and an
optional daily schedule of other limits. Stations may have their own limits (an operator's
temporary one included). `allocate` shares the capacity among the connectors with an EV:

1. Loads we cannot steer come first: a connector whose charger rejects profiles, is offline or
   draws more than allowed is counted at its last allowed current (else its maximum) and takes
   no part in the sharing.
2. Admission: EVs are taken by priority (higher first), then by arrival (earlier first), each at
   its minimum (6 A for AC, IEC 61851); an EV whose minimum no longer fits is paused (0 A)
   rather than offered less. So when the limit cannot give everyone the minimum, **the lowest
   priority, then the latest arrival, waits** (a single-phase EV on a phase with room may still
   be admitted after one that waits).
3. Sharing: per priority tier (highest first), the admitted EVs' currents rise together
   (max-min fair, progressive filling) until each reaches its cap or a limit it takes part in
   is full. A cap is the connector's maximum, the EV's own maximum (2.0.1
   NotifyEVChargingNeeds) and, for an EV measured drawing clearly less than it was allowed,
   its measured current plus a buffer: the rest goes to the others.

Limits are per phase: a three-phase EV draws on every phase, a single-phase EV on its phase
only; a limit in W counts voltage × phases × current. Currents are rounded down to 0.1 A, so
the sum never exceeds a limit.
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, model_validator

SITE_LOAD = "SiteLoad"  # workflow type
SIGNAL_SESSION = "session"
SIGNAL_STATUS = "status"
SIGNAL_METERS = "meters"
SIGNAL_LINK = "link"
SIGNAL_LIMITS = "limits"
SIGNAL_EV_NEEDS = "ev_needs"
SIGNAL_RENEGOTIATE = "renegotiate"
QUERY_ALLOCATION = "allocation"

AC_MIN_A = 6.0  # IEC 61851: below this AC charging stops
STEP_A = 0.1  # currents are offered in steps of 0.1 A
STICKY_BUFFER_A = 2.0  # an EV drawing less than allowed keeps its draw plus this
UNDERDRAW_MARGIN_A = 1.0  # drawing this much less than allowed counts as drawing less
OVERDRAW_MARGIN_A = 1.0  # drawing more than allowed × 1.1 + this counts as overdrawing
PHASES = (1, 2, 3)


def site_load_id(site_id: str) -> str:
    """The workflow id of a site's load management, e.g. `site-load-berlin-1`."""
    return f"site-load-{site_id}"


# ---- limits -------------------------------------------------------------------------------


class Limit(BaseModel):
    """A limit in A per phase and/or W in total (None: no limit of that kind)."""

    limit_a: float | None = Field(default=None, ge=0, le=10_000)
    limit_w: float | None = Field(default=None, ge=0, le=10_000_000)


class SchedulePeriod(Limit):
    """From `start` (HH:MM, the site's local time) until the next period's start, every day."""

    start: time

    @model_validator(mode="after")
    def _some_limit(self) -> SchedulePeriod:
        if self.limit_a is None and self.limit_w is None:
            raise ValueError("a schedule period needs limit_a or limit_w")
        return self


class SiteLimits(Limit):
    """A site's grid connection: a limit, an optional daily schedule replacing it in its
    periods, the nominal phase voltage, and the priority of each driver group."""

    voltage_v: float = Field(default=230.0, gt=0, le=1000)
    schedule: list[SchedulePeriod] = Field(default_factory=list, max_length=48)
    time_zone: str = "UTC"
    group_priorities: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> SiteLimits:
        starts = [p.start for p in self.schedule]
        if len(set(starts)) != len(starts):
            raise ValueError("schedule periods must start at different times")
        self.schedule = sorted(self.schedule, key=lambda p: p.start)
        return self

    def _zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.time_zone)
        except Exception:
            return ZoneInfo("UTC")

    def limit_at(self, at: datetime) -> Limit:
        """The limit in force at `at` (the schedule's period, else the base limit)."""
        if not self.schedule:
            return Limit(limit_a=self.limit_a, limit_w=self.limit_w)
        local = at.astimezone(self._zone()).time().replace(tzinfo=None)
        current = self.schedule[-1]  # before the first start: yesterday's last period
        for period in self.schedule:
            if period.start <= local:
                current = period
        return Limit(limit_a=current.limit_a, limit_w=current.limit_w)

    def boundaries(self, start: datetime, horizon: timedelta) -> list[datetime]:
        """Moments in (start, start + horizon] where the scheduled limit changes."""
        if not self.schedule:
            return []
        zone = self._zone()
        local = start.astimezone(zone)
        out: list[datetime] = []
        for day in range(-1, horizon.days + 2):
            date = (local + timedelta(days=day)).date()
            for period in self.schedule:
                moment = datetime.combine(date, period.start, zone).astimezone(start.tzinfo)
                if start < moment <= start + horizon:
                    out.append(moment)
        return sorted(set(out))


# ---- connectors -----------------------------------------------------------------------------


class ConnectorLoad(BaseModel):
    """One connector as the allocation sees it (currents in A per phase)."""

    station_id: str
    connector_id: int
    phases: int = Field(default=3, ge=1, le=3)  # how many phases the EV draws on
    phase: int = Field(default=1, ge=1, le=3)  # the site phase of a single-phase connector
    max_a: float = Field(default=16.0, ge=0)  # the connector's (or station's) hardware limit
    min_a: float = Field(default=AC_MIN_A, ge=0)
    active: bool = False  # an EV is connected in a transaction
    priority: int = 0
    arrival: datetime | None = None  # when the session started (earlier is admitted first)
    ev_max_a: float | None = None  # the EV's own maximum (NotifyEVChargingNeeds)
    measured_a: float | None = None  # drawn under the current allowance (None: not known)
    allowed_a: float | None = None  # the allowance in force (last accepted profile)
    controllable: bool = True  # False: rejects profiles, offline, or overdraws
    uncontrolled_reason: str | None = None

    @property
    def key(self) -> str:
        return f"{self.station_id}/{self.connector_id}"

    def on_phase(self, phase: int) -> bool:
        return self.phases == 3 or (self.phases == 2 and phase != 3) or self.phase == phase

    def fixed_a(self) -> float:
        """An uncontrollable connector's assumed draw: its last allowance, else its maximum."""
        assumed = self.allowed_a if self.allowed_a is not None else self.max_a
        if self.measured_a is not None:
            assumed = max(assumed, self.measured_a)
        return assumed


class StationLimit(Limit):
    """A station's own limit over its connectors (an operator's temporary one included)."""

    station_id: str
    until: datetime | None = None
    reason: str | None = None


class Allocation(BaseModel):
    """What one connector was given and why."""

    station_id: str
    connector_id: int
    current_a: float  # per phase
    power_w: float
    phases: int
    status: str  # charging | paused | idle | fixed
    reason: str


class AllocationResult(BaseModel):
    connectors: list[Allocation]
    limit: Limit
    fixed_a: dict[str, float] = Field(default_factory=dict)  # per phase, not steerable
    used_a: dict[str, float] = Field(default_factory=dict)  # per phase, all connectors
    used_w: float = 0.0

    def by_key(self) -> dict[str, Allocation]:
        return {f"{a.station_id}/{a.connector_id}": a for a in self.connectors}


class _Constraint:
    """sum(weight_i * current_i) <= capacity over the connectors with a weight."""

    __slots__ = ("name", "capacity", "weights")

    def __init__(self, name: str, capacity: float, weights: dict[str, float]) -> None:
        self.name, self.capacity, self.weights = name, capacity, weights

    def load(self, currents: dict[str, float]) -> float:
        return sum(w * currents.get(k, 0.0) for k, w in self.weights.items())


def _constraints(
    limit: Limit,
    voltage_v: float,
    connectors: list[ConnectorLoad],
    stations: dict[str, StationLimit],
) -> list[_Constraint]:
    out: list[_Constraint] = []

    def add(name: str, own: Limit, members: list[ConnectorLoad]) -> None:
        if own.limit_a is not None:
            for phase in PHASES:
                weights = {c.key: 1.0 for c in members if c.on_phase(phase)}
                out.append(_Constraint(f"{name} L{phase} {own.limit_a:g} A", own.limit_a, weights))
        if own.limit_w is not None:
            weights = {c.key: voltage_v * c.phases for c in members}
            out.append(_Constraint(f"{name} {own.limit_w:g} W", own.limit_w, weights))

    add("site", limit, connectors)
    for station_id, station_limit in sorted(stations.items()):
        members = [c for c in connectors if c.station_id == station_id]
        add(f"station {station_id}", station_limit, members)
    return out


def _floor(value: float) -> float:
    return math.floor(value / STEP_A + 1e-9) * STEP_A


def _cap(c: ConnectorLoad) -> tuple[float, str]:
    """The most this EV may get, and what sets it."""
    cap, why = c.max_a, f"the connector's maximum {c.max_a:g} A"
    if c.ev_max_a is not None and c.ev_max_a < cap:
        cap, why = c.ev_max_a, f"the EV's maximum {c.ev_max_a:g} A"
    if (
        c.measured_a is not None
        and c.allowed_a is not None
        and c.measured_a < c.allowed_a - UNDERDRAW_MARGIN_A
    ):
        sticky = max(c.min_a, c.measured_a + STICKY_BUFFER_A)
        if sticky < cap:
            cap = sticky
            why = f"draws {c.measured_a:.1f} A: its draw + {STICKY_BUFFER_A:g} A, rest shared"
    return max(cap, 0.0), why


def allocate(
    limits: SiteLimits,
    connectors: list[ConnectorLoad],
    at: datetime,
    stations: dict[str, StationLimit] | None = None,
) -> AllocationResult:
    """Share the site's capacity at `at` among `connectors` (see the module doc)."""
    limit = limits.limit_at(at)
    in_force = {
        s: lim for s, lim in (stations or {}).items() if lim.until is None or lim.until > at
    }
    constraints = _constraints(limit, limits.voltage_v, connectors, in_force)
    currents: dict[str, float] = {}
    reasons: dict[str, str] = {}
    status: dict[str, str] = {}
    # 1. loads we cannot steer
    for c in connectors:
        if not c.active:
            currents[c.key], status[c.key], reasons[c.key] = 0.0, "idle", "no EV charging"
        elif not c.controllable:
            currents[c.key], status[c.key] = c.fixed_a(), "fixed"
            reasons[c.key] = (
                f"{c.uncontrolled_reason or 'not controllable'}: counted at {c.fixed_a():g} A, "
                "left out of sharing"
            )

    # each constraint's load so far, and the constraints each connector takes part in
    loads = [k.load(currents) for k in constraints]
    members: dict[str, list[tuple[int, float]]] = {}
    for i, k in enumerate(constraints):
        for key, weight in k.weights.items():
            members.setdefault(key, []).append((i, weight))

    def room(key: str, amps: float) -> bool:
        return all(
            loads[i] + w * amps <= constraints[i].capacity + 1e-6 for i, w in members.get(key, [])
        )

    # 2. admission at the minimum, by priority then arrival
    candidates = [c for c in connectors if c.active and c.controllable]
    candidates.sort(
        key=lambda c: (-c.priority, c.arrival or datetime.max.replace(tzinfo=at.tzinfo), c.key)
    )
    admitted: list[ConnectorLoad] = []
    for c in candidates:
        cap, _ = _cap(c)
        if cap < c.min_a or not room(c.key, c.min_a):
            currents[c.key], status[c.key] = 0.0, "paused"
            reasons[c.key] = (
                f"paused: the limit cannot give it the minimum {c.min_a:g} A "
                f"(priority {c.priority}; earlier or higher-priority EVs keep theirs)"
                if cap >= c.min_a
                else f"paused: its cap {cap:g} A is below the minimum {c.min_a:g} A"
            )
            continue
        currents[c.key] = c.min_a
        for i, w in members.get(c.key, []):
            loads[i] += w * c.min_a
        admitted.append(c)
    # 3. progressive filling, tier by tier
    for tier in sorted({c.priority for c in admitted}, reverse=True):
        group = [c for c in admitted if c.priority == tier]
        _fill(group, currents, constraints, loads, members, reasons)
    for c in admitted:
        currents[c.key] = max(_floor(currents[c.key]), c.min_a)
        status[c.key] = "charging"
    result = []
    for c in connectors:
        amps = round(currents[c.key], 1)
        result.append(
            Allocation(
                station_id=c.station_id,
                connector_id=c.connector_id,
                current_a=amps,
                power_w=round(amps * limits.voltage_v * c.phases, 1),
                phases=c.phases,
                status=status[c.key],
                reason=reasons[c.key],
            )
        )
    used = {
        f"L{p}": round(sum(currents[c.key] for c in connectors if c.on_phase(p)), 1) for p in PHASES
    }
    fixed = {
        f"L{p}": round(
            sum(currents[c.key] for c in connectors if c.on_phase(p) and status[c.key] == "fixed"),
            1,
        )
        for p in PHASES
    }
    used_w = sum(currents[c.key] * limits.voltage_v * c.phases for c in connectors)
    return AllocationResult(
        connectors=result, limit=limit, fixed_a=fixed, used_a=used, used_w=round(used_w, 1)
    )


def _fill(
    tier: list[ConnectorLoad],
    currents: dict[str, float],
    constraints: list[_Constraint],
    loads: list[float],
    members: dict[str, list[tuple[int, float]]],
    reasons: dict[str, str],
) -> None:
    """Raise the tier's currents together until each hits its cap or a full constraint
    (`loads` is kept up to date; each round is linear in the tier's size)."""
    caps = {c.key: _cap(c) for c in tier}
    rising = {c.key for c in tier}
    for c in tier:
        reasons[c.key] = f"fair share, capped: {caps[c.key][1]}"
    while rising:
        # the level at which the next cap or constraint stops someone
        step = min(caps[k][0] - currents[k] for k in rising)
        growth = [0.0] * len(constraints)
        for key in rising:
            for i, w in members.get(key, []):
                growth[i] += w
        stopper: int | None = None
        for i, k in enumerate(constraints):
            if growth[i] <= 0:
                continue
            headroom = (k.capacity - loads[i]) / growth[i]
            if headroom < step:
                step, stopper = max(headroom, 0.0), i
        for key in rising:
            currents[key] += step
        for i in range(len(constraints)):
            loads[i] += growth[i] * step
        done = {key for key in rising if currents[key] >= caps[key][0] - 1e-9}
        if stopper is not None:
            limit = constraints[stopper]
            full = {key for key in rising if limit.weights.get(key, 0) > 0}
            for key in full - done:
                reasons[key] = f"fair share of the {limit.name} limit"
            done |= full
        if not done:  # numerical corner: nothing moved
            break
        rising -= done


# ---- profiles -------------------------------------------------------------------------------


def schedule_periods(
    steps: list[tuple[float, float]], max_periods: int
) -> list[tuple[float, float]]:
    """`(offset_s, amps)` steps merged where equal and cut to `max_periods`: the last period
    kept takes the lowest of the ones cut, so a cut schedule never allows more."""
    merged: list[tuple[float, float]] = []
    for offset, amps in steps:
        if merged and merged[-1][1] == amps:
            continue
        merged.append((offset, amps))
    limit = max(max_periods, 1)
    if len(merged) <= limit:
        return merged
    kept, cut = merged[: limit - 1], merged[limit - 1 :]
    kept.append((cut[0][0], min(a for _, a in cut)))
    return kept


def allowance_at(periods: list[tuple[float, float]], start: datetime, at: datetime) -> float | None:
    """The current a schedule sent with `start` allows at `at` (None: not started yet)."""
    offset = (at - start).total_seconds()
    allowed = None
    for period_start, amps in periods:
        if period_start <= offset:
            allowed = amps
    return allowed


def profile_start(now: datetime) -> datetime:
    """A profile's start: `now` on the whole second, so that its periods (whole seconds,
    OCPP's `startPeriod` is an integer) step exactly at the scheduled limit changes."""
    return now.replace(microsecond=0)


def profile_steps(
    start: datetime, amps_now: float, later: list[tuple[datetime, float]]
) -> list[tuple[float, float]]:
    """`(offset_s, amps)` from `start`: the current now, then each upcoming limit change."""
    return [(0.0, amps_now)] + [((at - start).total_seconds(), amps) for at, amps in later]


def is_overdrawing(allowed_a: float, measured_a: float) -> bool:
    """Drawing clearly more than allowed (meter noise and ramping tolerated)."""
    return measured_a > allowed_a * 1.1 + OVERDRAW_MARGIN_A


def amps_of(power_w: float, voltage_v: float, phases: int) -> float:
    """Current per phase of a measured power."""
    return power_w / (voltage_v * max(phases, 1))
