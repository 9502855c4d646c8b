"""Site load allocation (domain/site_load.py): examples and properties."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.site_load import (
    PHASES,
    ConnectorLoad,
    SchedulePeriod,
    SiteLimits,
    StationLimit,
    allocate,
    schedule_periods,
)

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def ev(n: int, **kw) -> ConnectorLoad:
    kw.setdefault("max_a", 32.0)
    return ConnectorLoad(
        station_id=kw.pop("station", "S"),
        connector_id=n,
        active=True,
        arrival=T0 + timedelta(seconds=n),
        **kw,
    )


def amps(result) -> dict[int, float]:
    return {a.connector_id: a.current_a for a in result.connectors}


def test_fair_share_per_phase():
    result = allocate(SiteLimits(limit_a=48), [ev(1), ev(2), ev(3)], T0)
    assert amps(result) == {1: 16.0, 2: 16.0, 3: 16.0}


def test_single_phase_evs_share_only_their_phase():
    evs = [ev(1, phases=1, phase=1), ev(2, phases=1, phase=1), ev(3, phases=1, phase=2)]
    result = allocate(SiteLimits(limit_a=20), evs, T0)
    assert amps(result) == {1: 10.0, 2: 10.0, 3: 20.0}


def test_surplus_of_an_ev_drawing_less_goes_to_the_others():
    slow = ev(1, allowed_a=16, measured_a=5)
    result = allocate(SiteLimits(limit_a=40), [slow, ev(2), ev(3)], T0)
    got = amps(result)
    assert got[1] == 7.0  # its draw + 2 A buffer
    assert got[2] == got[3] == 16.5
    assert "draws 5.0 A" in result.by_key()["S/1"].reason


def test_who_waits_when_the_minimum_does_not_fit():
    """Lowest priority first, then the latest arrival: they are paused, not given < 6 A."""
    evs = [ev(1), ev(2, priority=1), ev(3), ev(4)]
    result = allocate(SiteLimits(limit_a=13), evs, T0)
    got = amps(result)
    assert got[2] == 7.0  # the higher priority is admitted first and filled first
    assert got[1] == 6.0  # then the earliest arrival, at its minimum
    assert got[3] == got[4] == 0.0
    assert result.by_key()["S/4"].status == "paused"


def test_uncontrollable_connector_counted_at_its_last_allowance():
    rejecting = ev(1, controllable=False, allowed_a=16, uncontrolled_reason="rejects profiles")
    result = allocate(SiteLimits(limit_a=32), [rejecting, ev(2), ev(3)], T0)
    got = amps(result)
    assert got[1] == 16.0 and got[2] == got[3] == 8.0
    assert result.by_key()["S/1"].status == "fixed"


def test_station_limit_and_power_limit():
    evs = [ev(1, station="A"), ev(2, station="A"), ev(3, station="B")]
    stations = {"A": StationLimit(station_id="A", limit_a=16)}
    result = allocate(SiteLimits(limit_w=3 * 230 * 40), evs, T0, stations)
    assert amps(result) == {1: 8.0, 2: 8.0, 3: 24.0}
    expired = {"A": StationLimit(station_id="A", limit_a=16, until=T0)}
    assert amps(allocate(SiteLimits(limit_w=3 * 230 * 40), evs, T0, expired))[1] == 13.3


def test_schedule_limit_and_boundaries():
    limits = SiteLimits(
        limit_a=32,
        schedule=[
            SchedulePeriod(start=time(17, 0), limit_a=10),
            SchedulePeriod(start=time(21, 0), limit_a=32),
        ],
    )
    assert limits.limit_at(T0).limit_a == 32  # 12:00: yesterday's 21:00 period
    assert limits.limit_at(T0.replace(hour=18)).limit_a == 10
    assert limits.boundaries(T0, timedelta(hours=12)) == [
        T0.replace(hour=17),
        T0.replace(hour=21),
    ]


def test_schedule_cut_to_max_periods_keeps_the_lowest():
    steps = [(0, 16.0), (60, 16.0), (120, 8.0), (180, 12.0), (240, 6.0)]
    assert schedule_periods(steps, 10) == [(0, 16.0), (120, 8.0), (180, 12.0), (240, 6.0)]
    assert schedule_periods(steps, 2) == [(0, 16.0), (120, 6.0)]
    assert schedule_periods(steps, 1) == [(0, 6.0)]


connector = st.builds(
    lambda n, phases, phase, max_a, prio, measured, allowed, ctrl, active, ev_max: ConnectorLoad(
        station_id=f"S{n % 4}",
        connector_id=n,
        phases=phases,
        phase=phase,
        max_a=max_a,
        priority=prio,
        arrival=T0 + timedelta(seconds=n),
        measured_a=measured,
        allowed_a=allowed,
        controllable=ctrl,
        active=active,
        ev_max_a=ev_max,
    ),
    st.integers(1, 10_000),
    st.sampled_from([1, 3]),
    st.sampled_from([1, 2, 3]),
    st.floats(0, 63),
    st.integers(0, 2),
    st.none() | st.floats(0, 70),
    st.none() | st.floats(0, 63),
    st.booleans(),
    st.booleans(),
    st.none() | st.floats(0, 63),
)
limits = st.builds(
    SiteLimits,
    limit_a=st.none() | st.floats(0, 400),
    limit_w=st.none() | st.floats(0, 300_000),
)


@settings(max_examples=400, deadline=None)
@given(limits, st.lists(connector, max_size=30, unique_by=lambda c: c.connector_id))
def test_never_above_the_limit_never_below_the_minimum_unless_paused(site, connectors):
    result = allocate(site, connectors, T0)
    got = {a.connector_id: a for a in result.connectors}
    fixed = {c.connector_id for c in connectors if c.active and not c.controllable}
    by_id = {c.connector_id: c for c in connectors}
    for c in connectors:
        a = got[c.connector_id]
        if c.connector_id in fixed:
            continue
        assert a.current_a == 0 or a.current_a >= c.min_a  # never below the minimum
        assert a.current_a <= max(c.max_a, 0) + 1e-9
        if c.ev_max_a is not None:
            assert a.current_a <= c.ev_max_a + 1e-9
        if a.current_a == 0 and c.active:
            assert a.status == "paused"
    # never above the limit, unless the loads we cannot steer already exceed it
    for phase in PHASES:
        steered = sum(
            got[c.connector_id].current_a
            for c in connectors
            if c.on_phase(phase) and c.connector_id not in fixed
        )
        fixed_load = sum(by_id[k].fixed_a() for k in fixed if by_id[k].on_phase(phase))
        if site.limit_a is not None:
            if fixed_load > site.limit_a:
                assert steered == 0
            else:
                assert steered + fixed_load <= site.limit_a + 1e-6
    if site.limit_w is not None:
        total = sum(a.power_w for k, a in got.items() if k not in fixed)
        fixed_w = sum(by_id[k].fixed_a() * 230 * by_id[k].phases for k in fixed)
        if fixed_w <= site.limit_w:
            assert total + fixed_w <= site.limit_w + 1e-6


@settings(max_examples=200, deadline=None)
@given(
    st.floats(20, 200),
    st.lists(connector, min_size=1, max_size=20, unique_by=lambda c: c.connector_id),
)
def test_paused_evs_are_the_lowest_priority_or_latest(limit_a, connectors):
    """With identical three-phase EVs, nobody waits while a later or lower EV charges."""
    evs = [
        c.model_copy(
            update={
                "phases": 3,
                "controllable": True,
                "active": True,
                "max_a": 32,
                "ev_max_a": None,
                "measured_a": None,
            }
        )
        for c in connectors
    ]
    result = allocate(SiteLimits(limit_a=limit_a), evs, T0).by_key()
    order = sorted(evs, key=lambda c: (-c.priority, c.arrival))
    seen_paused = False
    for c in order:
        if result[c.key].status == "paused":
            seen_paused = True
        else:
            assert not seen_paused, "a later or lower-priority EV charges while one waits"
