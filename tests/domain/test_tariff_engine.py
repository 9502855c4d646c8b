"""The timeline tariff engine: hand-computed golden cases and properties (hypothesis).

Amounts are integer minor units; each golden case shows its arithmetic in the comments.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.money import round_half_up
from domain.payments import hold_amount
from domain.rating import (
    MeterPoint,
    PlanPricing,
    RatingResult,
    SessionTimeline,
    StatusInterval,
    preview,
    rate,
    rate_timeline,
)
from domain.tariff import (
    ComponentType,
    PlanTerms,
    PriceComponent,
    Tariff,
    TariffElement,
    TariffRestrictions,
)

T0 = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)  # a Tuesday


def energy(price: int, step: int = 1) -> PriceComponent:
    return PriceComponent(type=ComponentType.ENERGY, price=price, step_size=step)


def time_(price: int, step: int = 1) -> PriceComponent:
    return PriceComponent(type=ComponentType.TIME, price=price, step_size=step)


def linear(start: datetime, hours: float, wh: int) -> SessionTimeline:
    stop = start + timedelta(hours=hours)
    return SessionTimeline(
        started_at=start,
        stopped_at=stop,
        readings=[
            MeterPoint(timestamp=start, energy_wh=0),
            MeterPoint(timestamp=stop, energy_wh=wh),
        ],
    )


def amounts(result: RatingResult) -> list[tuple[str, str | None, int]]:
    return [(line.component, line.label, line.amount) for line in result.lines]


# ---- golden cases ------------------------------------------------------------------------


def test_time_of_day_band_crossing_in_local_time():
    # Europe/Berlin is UTC+1 in March: 18:00Z-20:00Z is 19:00-21:00 local.
    # Peak 08:00-20:00 at 0.50/kWh, else 0.30. 20 kWh evenly over 2 h:
    # 10 kWh peak = 500, 10 kWh off-peak = 300; net 800; VAT 19 % = 152; total 952.
    tariff = Tariff(
        energy_price_per_kwh=30,
        vat_rate_bp=1900,
        time_zone="Europe/Berlin",
        elements=[
            TariffElement(
                label="peak",
                price_components=[energy(50)],
                restrictions=TariffRestrictions(start_time="08:00", end_time="20:00"),
            )
        ],
    )
    result = rate_timeline(tariff, linear(T0, 2, 20_000))
    assert amounts(result) == [("energy", "peak", 500), ("energy", None, 300)]
    assert [line.quantity for line in result.lines] == ["10.000 kWh", "10.000 kWh"]
    assert (result.net, result.vat, result.total) == (800, 152, 952)
    assert result.taxes[0].rate_bp == 1900 and result.taxes[0].vat == 152


def test_band_wrapping_past_midnight():
    # Night 22:00-06:00 at 0.20, day 0.40 (UTC). 21:00-23:00, 8 kWh evenly:
    # 21-22 day 4 kWh = 160; 22-23 night 4 kWh = 80; net 240.
    tariff = Tariff(
        energy_price_per_kwh=40,
        elements=[
            TariffElement(
                label="night",
                price_components=[energy(20)],
                restrictions=TariffRestrictions(start_time="22:00", end_time="06:00"),
            )
        ],
    )
    start = datetime(2026, 3, 10, 21, 0, tzinfo=UTC)
    result = rate_timeline(tariff, linear(start, 2, 8_000))
    assert amounts(result) == [("energy", None, 160), ("energy", "night", 80)]  # in time order
    assert result.total == 240


def test_weekday_band():
    # Weekend energy 0.20, weekdays 0.40 (UTC). Friday 23:00 -> Saturday 01:00, 6 kWh evenly:
    # 3 kWh Friday = 120; 3 kWh Saturday = 60; net 180; no VAT.
    tariff = Tariff(
        energy_price_per_kwh=40,
        elements=[
            TariffElement(
                label="weekend",
                price_components=[energy(20)],
                restrictions=TariffRestrictions(day_of_week=["SATURDAY", "SUNDAY"]),
            )
        ],
    )
    start = datetime(2026, 3, 13, 23, 0, tzinfo=UTC)
    result = rate_timeline(tariff, linear(start, 2, 6_000))
    assert amounts(result) == [("energy", None, 120), ("energy", "weekend", 60)]
    assert result.total == 180


def test_energy_tier_and_duration_tier():
    # First 10 kWh at 0.40, then 0.25: 15 kWh = 400 + 125 = 525.
    # First hour of time free (an explicit 0 line), then 2.40/h: 1.5 h -> 0 + 120.
    tariff = Tariff(
        energy_price_per_kwh=25,
        time_price_per_hour=240,
        elements=[
            TariffElement(
                label="first 10 kWh",
                price_components=[energy(40)],
                restrictions=TariffRestrictions(max_wh=10_000),
            ),
            TariffElement(
                label="first hour",
                price_components=[time_(0)],
                restrictions=TariffRestrictions(max_duration_s=3600),
            ),
        ],
    )
    result = rate_timeline(tariff, linear(T0, 1.5, 15_000))
    assert amounts(result) == [
        ("energy", "first 10 kWh", 400),
        ("energy", None, 125),
        ("time", "first hour", 0),
        ("time", None, 120),
    ]
    assert result.total == 645


def test_step_sizes_round_volumes_up():
    # Energy in 1 kWh steps: 12.345 kWh -> 13 kWh * 0.30 = 390.
    # Time in 15 min steps: 1000 s -> 1800 s * 1.20/h = 60. Total 450.
    tariff = Tariff(
        energy_price_per_kwh=30, energy_step_wh=1000, time_price_per_hour=120, time_step_s=900
    )
    result = rate_timeline(tariff, linear(T0, 1000 / 3600, 12_345))
    assert amounts(result) == [("energy", None, 390), ("time", None, 60)]
    assert result.lines[0].quantity == "13.000 kWh"
    assert result.lines[1].quantity == "30 min 0 s"


def test_minimum_price_lifts_a_small_session():
    # 1 kWh * 0.35 = 35 net; minimum 2.00 -> adjustment +165; net 200; VAT 20 % = 40; total 240.
    tariff = Tariff(energy_price_per_kwh=35, vat_rate_bp=2000, min_price=200)
    result = rate_timeline(tariff, linear(T0, 1, 1_000))
    assert amounts(result) == [("energy", None, 35), ("adjustment", "minimum price", 165)]
    assert (result.net, result.vat, result.total) == (200, 40, 240)


def test_maximum_price_caps_a_gross_tariff():
    # Gross 0.42/kWh * 50 kWh = 2100; max 10.00 gross -> adjustment -1100; total 1000;
    # VAT inside = 1000 * 2000 / 12000 = 166.67 -> 167; net 833.
    tariff = Tariff(
        energy_price_per_kwh=42, vat_rate_bp=2000, prices_include_vat=True, max_price=1000
    )
    result = rate_timeline(tariff, linear(T0, 5, 50_000))
    assert amounts(result) == [("energy", None, 2100), ("adjustment", "maximum price", -1100)]
    assert (result.net, result.vat, result.total) == (833, 167, 1000)


def test_gross_and_net_state_lines_as_the_tariff_does():
    # The same 10 kWh + 1 h: net 0.35 + 1.20/h -> 350 + 120 = 470, VAT 94, total 564;
    # gross 0.42 + 1.44/h -> 420 + 144 = 564, VAT inside 94, net 470.
    net = Tariff(energy_price_per_kwh=35, time_price_per_hour=120, vat_rate_bp=2000)
    gross = Tariff(
        energy_price_per_kwh=42, time_price_per_hour=144, vat_rate_bp=2000, prices_include_vat=True
    )
    a, b = rate_timeline(net, linear(T0, 1, 10_000)), rate_timeline(gross, linear(T0, 1, 10_000))
    assert (a.net, a.vat, a.total) == (470, 94, 564)
    assert (b.net, b.vat, b.total) == (470, 94, 564)
    assert [line.amount for line in b.lines] == [420, 144]
    assert b.prices_include_vat and not a.prices_include_vat


def idle_timeline(charge_h: float, idle_h: float, wh: int) -> SessionTimeline:
    charged = T0 + timedelta(hours=charge_h)
    stop = charged + timedelta(hours=idle_h)
    return SessionTimeline(
        started_at=T0,
        stopped_at=stop,
        readings=[
            MeterPoint(timestamp=T0, energy_wh=0),
            MeterPoint(timestamp=charged, energy_wh=wh),
        ],
        statuses=[StatusInterval(start=charged, end=stop, idle=True, status="SuspendedEV")],
    )


IDLE = Tariff(
    time_price_per_hour=120,
    idle_price_per_hour=600,  # 0.10 a minute
    idle_grace_minutes=30,
    idle_fee_cap=1000,
    time_basis="charging",
)


def test_idle_fee_after_grace():
    # 1 h charging: time 120. 2 h idle, 30 min free: 90 min * 0.10 = 900 (under the cap).
    result = rate_timeline(IDLE, idle_timeline(1, 2, 10_000))
    assert amounts(result) == [("time", None, 120), ("idle", None, 900)]
    assert result.lines[1].quantity == "90 min 0 s"


def test_idle_fee_is_capped():
    # 4 h idle: 210 min * 0.10 = 2100 -> capped at 1000.
    result = rate_timeline(IDLE, idle_timeline(1, 4, 10_000))
    assert amounts(result) == [("time", None, 120), ("idle", "idle fee (capped)", 1000)]


def test_idle_within_grace_is_free_and_session_basis_bills_time_throughout():
    # 20 min idle < 30 min grace: no idle line. time_basis=session: 1 h 20 min * 1.20 = 160.
    tariff = IDLE.model_copy(update={"time_basis": "session"})
    result = rate_timeline(tariff, idle_timeline(1, 1 / 3, 10_000))
    assert amounts(result) == [("time", None, 160)]


def test_plan_included_energy_discount_and_waived_fee():
    # Energy 0.35 with 10 % off -> 31.5 -> 32 per kWh (unit price rounded half-up).
    # 8 kWh with 5 kWh left in the allowance: 5 kWh included (0) + 3 kWh * 0.32 = 96.
    # Session fee 0.50 waived. Net 96.
    tariff = Tariff(energy_price_per_kwh=35, session_fee=50)
    plan = PlanPricing(
        terms=PlanTerms(
            plan_id=1,
            name="Flex",
            energy_discount_bp=1000,
            included_wh=20_000,
            session_fee_waived=True,
        ),
        included_wh_remaining=5_000,
    )
    result = rate_timeline(tariff, linear(T0, 1, 8_000), plan)
    assert amounts(result) == [("energy", "included in plan", 0), ("energy", None, 96)]
    assert result.lines[1].unit_price == 32
    assert result.included_wh_used == 5_000
    assert result.total == 96


def test_flat_session_fee_from_a_banded_element_at_start():
    # A night element with its own session fee applies when the session starts in the band.
    tariff = Tariff(
        session_fee=100,
        elements=[
            TariffElement(
                label="night",
                price_components=[PriceComponent(type=ComponentType.FLAT, price=40)],
                restrictions=TariffRestrictions(start_time="22:00", end_time="06:00"),
            )
        ],
    )
    night = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
    assert amounts(rate_timeline(tariff, linear(night, 2, 0))) == [("session", "night", 40)]
    assert amounts(rate_timeline(tariff, linear(T0, 2, 0))) == [("session", None, 100)]


def test_meter_reset_and_readings_out_of_order_never_go_negative():
    # Readings 0 @0, 5000 @1h, 2000 @2h (a reset: counts nothing), 4000 @3h: 5 + 2 = 7 kWh.
    tariff = Tariff(energy_price_per_kwh=10)
    timeline = SessionTimeline(
        started_at=T0,
        stopped_at=T0 + timedelta(hours=3),
        readings=[
            MeterPoint(timestamp=T0 + timedelta(hours=3), energy_wh=4000),
            MeterPoint(timestamp=T0, energy_wh=0),
            MeterPoint(timestamp=T0 + timedelta(hours=2), energy_wh=2000),
            MeterPoint(timestamp=T0 + timedelta(hours=1), energy_wh=5000),
        ],
    )
    assert rate_timeline(tariff, timeline).total == 70


def test_dst_change_moves_the_band_in_utc():
    # Europe/Berlin, 2026-03-29: clocks go 02:00 -> 03:00. A band from 03:00 local starts at
    # 01:00Z that day. Session 00:00Z-02:00Z (01:00 CET - 04:00 CEST), 2 kWh evenly:
    # 00-01Z off-band 1 kWh * 0.40 = 40; 01-02Z band 1 kWh * 0.10 = 10.
    tariff = Tariff(
        energy_price_per_kwh=40,
        time_zone="Europe/Berlin",
        elements=[
            TariffElement(
                label="morning",
                price_components=[energy(10)],
                restrictions=TariffRestrictions(start_time="03:00", end_time="12:00"),
            )
        ],
    )
    start = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    result = rate_timeline(tariff, linear(start, 2, 2_000))
    assert amounts(result) == [("energy", None, 40), ("energy", "morning", 10)]


def test_preview_and_legacy_rate_agree():
    tariff = Tariff(energy_price_per_kwh=35, time_price_per_hour=120, session_fee=50)
    legacy = rate(
        tariff, __import__("domain.rating").rating.Consumption(energy_wh=7404, duration_s=420)
    )
    assert preview(tariff, 7404, 420).total == legacy.total == 323


def test_hold_amount_from_tariff():
    # Demo tariff: 50 kWh * 0.35 + 4 h * 1.20 + 0.50 = 22.80 net + 20 % = 27.36.
    tariff = Tariff(
        energy_price_per_kwh=35, time_price_per_hour=120, session_fee=50, vat_rate_bp=2000
    )
    assert (
        hold_amount(tariff, energy_wh=50_000, duration_s=14_400, floor=1000, ceiling=15_000) == 2736
    )
    assert hold_amount(tariff, energy_wh=0, duration_s=0, floor=1000, ceiling=15_000) == 1000
    capped = tariff.model_copy(update={"max_price": 1500})  # 15.00 net = 18.00 gross
    assert (
        hold_amount(capped, energy_wh=50_000, duration_s=14_400, floor=1000, ceiling=15_000) == 1800
    )
    assert hold_amount(Tariff(), energy_wh=50_000, duration_s=14_400, floor=1000, ceiling=9) == 0


# ---- properties --------------------------------------------------------------------------

prices = st.integers(0, 2_000)
restrictions = st.builds(
    TariffRestrictions,
    start_time=st.none() | st.sampled_from(["00:00", "06:30", "08:00", "20:00", "22:00"]),
    end_time=st.none() | st.sampled_from(["06:00", "08:00", "18:00", "23:30"]),
    day_of_week=st.lists(st.sampled_from(["MONDAY", "SATURDAY", "SUNDAY"]), max_size=2),
    min_wh=st.none() | st.integers(0, 30_000),
    max_wh=st.none() | st.integers(1, 60_000),
    min_duration_s=st.none() | st.integers(0, 7200),
    max_duration_s=st.none() | st.integers(1, 14_400),
)
elements = st.builds(
    TariffElement,
    price_components=st.lists(
        st.builds(
            PriceComponent,
            type=st.sampled_from(list(ComponentType)),
            price=prices,
            step_size=st.sampled_from([1, 1, 100, 900]),
        ),
        min_size=1,
        max_size=3,
    ),
    restrictions=st.none() | restrictions,
)


@st.composite
def tariffs(draw) -> Tariff:
    low = draw(st.none() | st.integers(0, 3000))
    high = draw(st.none() | st.integers(0, 20_000))
    if low is not None and high is not None and low > high:
        low, high = high, low
    return Tariff(
        energy_price_per_kwh=draw(prices),
        time_price_per_hour=draw(prices),
        session_fee=draw(st.integers(0, 500)),
        idle_price_per_hour=draw(prices),
        idle_grace_minutes=draw(st.integers(0, 60)),
        idle_fee_cap=draw(st.none() | st.integers(0, 3000)),
        min_price=low,
        max_price=high,
        vat_rate_bp=draw(st.integers(0, 2500)),
        prices_include_vat=draw(st.booleans()),
        time_basis=draw(st.sampled_from(["session", "charging"])),
        time_zone=draw(st.sampled_from(["UTC", "Europe/Berlin"])),
        elements=draw(st.lists(elements, max_size=3)),
    )


@st.composite
def timelines(draw, deltas=None) -> tuple[SessionTimeline, list[int], list[int]]:
    """Readings every `gaps` seconds with non-negative increments; idle spans in between."""
    start = draw(st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31))).replace(tzinfo=UTC)
    gaps = draw(st.lists(st.integers(0, 3 * 3600), min_size=1, max_size=6))
    increments = deltas or draw(
        st.lists(st.integers(0, 20_000), min_size=len(gaps), max_size=len(gaps))
    )
    moments = [start]
    for gap in gaps:
        moments.append(moments[-1] + timedelta(seconds=gap))
    total = 0
    readings = [MeterPoint(timestamp=start, energy_wh=0)]
    for moment, inc in zip(moments[1:], increments, strict=False):
        total += inc
        readings.append(MeterPoint(timestamp=moment, energy_wh=total))
    tail = draw(st.integers(0, 4 * 3600))
    stop = moments[-1] + timedelta(seconds=tail)
    idle = [StatusInterval(start=moments[-1], end=stop, idle=True)] if tail else []
    timeline = SessionTimeline(started_at=start, stopped_at=stop, readings=readings, statuses=idle)
    return timeline, gaps, increments


def check_whole(tariff: Tariff, result: RatingResult) -> None:
    stated = sum(line.amount for line in result.lines)
    assert all(type(line.amount) is int for line in result.lines)
    assert all(line.amount >= 0 for line in result.lines if line.component != "adjustment")
    assert result.total >= 0 and result.net >= 0 and result.vat >= 0
    assert result.net + result.vat == result.total
    assert stated == (result.total if tariff.prices_include_vat else result.net)
    order = ["energy", "time", "session", "idle", "adjustment"]
    assert [order.index(line.component) for line in result.lines] == sorted(
        order.index(line.component) for line in result.lines
    )
    if tariff.min_price is not None:
        assert stated >= tariff.min_price
    if tariff.max_price is not None:
        assert stated <= tariff.max_price
    idle = sum(line.amount for line in result.lines if line.component == "idle")
    if tariff.idle_fee_cap is not None:
        assert idle <= tariff.idle_fee_cap


@settings(max_examples=150, deadline=None)
@given(tariffs(), timelines())
def test_never_negative_and_components_sum_to_the_total(tariff, generated):
    check_whole(tariff, rate_timeline(tariff, generated[0]))


def _non_energy_price_by_energy(tariff: Tariff) -> bool:
    """A time, parking or flat price that applies only within an energy range (an OCPI step
    tariff such as "time is charged until 1 kWh"): more energy may then cost less, by design."""
    return any(
        e.restrictions is not None
        and (e.restrictions.min_wh is not None or e.restrictions.max_wh is not None)
        and any(c.type != ComponentType.ENERGY for c in e.price_components)
        for e in tariff.elements
    )


@settings(max_examples=150, deadline=None)
@given(tariffs(), st.data())
def test_monotonic_in_energy(tariff, data):
    assume(not _non_energy_price_by_energy(tariff))
    timeline, gaps, increments = data.draw(timelines())
    extra = data.draw(
        st.lists(st.integers(0, 5_000), min_size=len(increments), max_size=len(increments))
    )
    more = [a + b for a, b in zip(increments, extra, strict=True)]
    total = 0
    readings = [timeline.readings[0]]
    for reading, inc in zip(timeline.readings[1:], more, strict=True):
        total += inc
        readings.append(MeterPoint(timestamp=reading.timestamp, energy_wh=total))
    bigger = timeline.model_copy(update={"readings": readings})
    low, high = rate_timeline(tariff, timeline), rate_timeline(tariff, bigger)
    assert low.total <= high.total


@settings(max_examples=150, deadline=None)
@given(tariffs(), timelines(), st.integers(0, 6 * 3600))
def test_monotonic_in_time(tariff, generated, extra_s):
    timeline = generated[0]
    later = timeline.stopped_at + timedelta(seconds=extra_s)
    statuses = [s.model_copy(update={"end": later}) for s in timeline.statuses]
    longer = timeline.model_copy(update={"stopped_at": later, "statuses": statuses})
    assert rate_timeline(tariff, timeline).total <= rate_timeline(tariff, longer).total


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 5_000),
    st.integers(0, 120),
    st.none() | st.integers(0, 5_000),
    st.integers(0, 6 * 3600),
)
def test_idle_fee_only_after_grace_and_never_over_its_cap(price, grace_min, cap, idle_s):
    tariff = Tariff(idle_price_per_hour=price, idle_grace_minutes=grace_min, idle_fee_cap=cap)
    timeline = idle_timeline(0.5, idle_s / 3600, 1_000)
    result = rate_timeline(tariff, timeline)
    fee = sum(line.amount for line in result.lines if line.component == "idle")
    billable = max(Fraction(idle_s) - grace_min * 60, 0)
    expected = round_half_up(billable * price / 3600)
    if cap is not None:
        expected = min(expected, cap)
    assert fee == expected
    if idle_s <= grace_min * 60:
        assert not [line for line in result.lines if line.component == "idle"]


@settings(max_examples=100, deadline=None)
@given(tariffs(), timelines(), st.integers(0, 60_000), st.integers(0, 10_000))
def test_plan_never_costs_more_and_uses_at_most_the_allowance(tariff, generated, left, bp):
    timeline = generated[0]
    plan = PlanPricing(
        terms=PlanTerms(plan_id=1, name="p", energy_discount_bp=bp, included_wh=left),
        included_wh_remaining=left,
    )
    without, with_plan = rate_timeline(tariff, timeline), rate_timeline(tariff, timeline, plan)
    assert with_plan.total <= without.total
    delivered = timeline.readings[-1].energy_wh
    assert with_plan.included_wh_used == min(left, delivered)
    check_whole(tariff, with_plan)
