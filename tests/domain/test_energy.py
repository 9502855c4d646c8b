"""Energy delivered is robust to resets, duplicates, reordering and missing registers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.energy import INTERVAL, EnergyReading, delivered_energy

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def registers(values: list[float]) -> list[EnergyReading]:
    return [
        EnergyReading(timestamp=T0 + timedelta(minutes=i + 1), value_wh=v)
        for i, v in enumerate(values)
    ]


def test_plain_register_is_last_minus_start():
    result = delivered_energy(registers([1100, 1500, 2500]), 1000, 2600)
    assert (result.energy_wh, result.source, result.resets) == (1600, "register", 0)


def test_counter_reset_counts_the_energy_after_it():
    # 1000 -> 1800 (+800), reset to 0 -> 300 (+300), stop 500 (+200)
    result = delivered_energy(registers([1800, 0, 300]), 1000, 500)
    assert (result.energy_wh, result.resets) == (1300, 1)


def test_stop_below_last_sample_does_not_add_energy():
    assert delivered_energy(registers([1500, 2000]), 1000, 1990).energy_wh == 1000


def test_interval_sums_when_no_register():
    readings = [
        EnergyReading(timestamp=T0 + timedelta(minutes=i), measurand=INTERVAL, value_wh=250)
        for i in range(4)
    ]
    result = delivered_energy(readings, None, None)
    assert (result.energy_wh, result.source) == (1000, "interval")


def test_start_stop_only_and_nothing():
    assert delivered_energy([], 100, 350).energy_wh == 250
    assert delivered_energy([], 100, None).energy_wh == 0
    assert delivered_energy([], None, None).source == "none"


increments = st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=40)


@given(start=st.integers(min_value=0, max_value=10**7), steps=increments, seed=st.integers())
def test_duplicates_and_reordering_do_not_change_the_result(start, steps, seed):
    values, value = [], start
    for step in steps:
        value += step
        values.append(value)
    readings = registers(values)
    expected = delivered_energy(readings, start, value).energy_wh
    assert expected == value - start
    shuffled = readings + random.Random(seed).sample(readings, len(readings) // 2)
    random.Random(seed).shuffle(shuffled)
    assert delivered_energy(shuffled, start, value).energy_wh == expected


@given(
    start=st.integers(min_value=0, max_value=10**6),
    values=st.lists(st.integers(min_value=0, max_value=10**6), max_size=30),
    stop=st.one_of(st.none(), st.integers(min_value=0, max_value=10**6)),
)
def test_never_negative_and_register_is_preferred(start, values, stop):
    result = delivered_energy(registers(values), start, stop)
    assert result.energy_wh >= 0
    assert result.source == ("register" if values else "start_stop" if stop is not None else "none")


@given(
    start=st.integers(min_value=0, max_value=10**6),
    values=st.lists(st.integers(min_value=0, max_value=10**6), max_size=30),
    stop=st.one_of(st.none(), st.integers(min_value=0, max_value=10**6)),
)
def test_the_rating_timeline_ends_at_the_same_energy(start, values, stop):
    """Rating walks the timeline (activities/payments/rating.py); its last point must be the
    energy this module computes, so the bill and the session record agree."""
    from activities.payments.rating import cumulative_energy

    readings = registers(values)
    samples = [(r.timestamp, r.measurand, int(r.value_wh)) for r in readings]
    points = cumulative_energy(samples, T0, T0 + timedelta(days=1), start, stop)
    assert points[-1].energy_wh == delivered_energy(readings, start, stop).energy_wh
