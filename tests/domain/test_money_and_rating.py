"""Money arithmetic and rating: half-up rounding, VAT, hand-computed golden cases, properties.

All amounts are integer minor units (cents). Golden cases are worked out by hand in the comments
so a change in the rounding rule or in the order of operations shows up as a failing number.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.money import format_amount, round_half_up, vat_in_gross, vat_of_net
from domain.rating import Consumption, RatingResult, rate
from domain.tariff import Tariff

# The demo tariff: 0.35 EUR/kWh + 1.20 EUR/hour + 0.50 EUR per session, net, plus 20 % VAT.
NET_TARIFF = Tariff(
    energy_price_per_kwh=35, time_price_per_hour=120, session_fee=50, vat_rate_bp=2000
)
# The same prices with VAT included (x 1.2): 0.42 EUR/kWh + 1.44 EUR/hour + 0.60 EUR.
GROSS_TARIFF = Tariff(
    energy_price_per_kwh=42,
    time_price_per_hour=144,
    session_fee=60,
    vat_rate_bp=2000,
    prices_include_vat=True,
)


# ---- round_half_up -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(0), 0),
        (Fraction(1, 2), 1),  # a tie goes up (not to even)
        (Fraction(3, 2), 2),
        (Fraction(5, 2), 3),  # banker's rounding would give 2
        (Fraction(-1, 2), -1),  # ties go away from zero
        (Fraction(-5, 2), -3),
        (Fraction(149, 100), 1),
        (Fraction(151, 100), 2),
        (Fraction(-149, 100), -1),
        (Fraction(-151, 100), -2),
        (Fraction(4999, 10_000), 0),  # just below a tie
        (Fraction(5001, 10_000), 1),
        (Fraction(-4999, 10_000), 0),
        (Fraction(1, 3), 0),
        (Fraction(2, 3), 1),
        (Fraction(-2, 3), -1),
        (7, 7),
        (-7, -7),
    ],
)
def test_round_half_up(value, expected):
    result = round_half_up(value)
    assert result == expected
    assert type(result) is int


@given(st.fractions())
def test_round_half_up_is_within_half_and_symmetric(value):
    rounded = round_half_up(value)
    assert abs(Fraction(rounded) - value) <= Fraction(1, 2)
    assert round_half_up(-value) == -rounded


# ---- VAT -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("net", "rate_bp", "vat"),
    [
        (1000, 2000, 200),
        (0, 2000, 0),
        (1, 2000, 0),  # 0.2 -> 0
        (3, 2000, 1),  # 0.6 -> 1
        (25, 1000, 3),  # 2.5 -> 3 (tie, up)
        (15, 1000, 2),  # 1.5 -> 2 (tie, up; half-even would also give 2)
        (45, 1000, 5),  # 4.5 -> 5 (half-even would give 4)
        (323, 2000, 65),  # 64.6 -> 65
        (999, 700, 70),  # 69.93 -> 70
        (1000, 0, 0),
        (1000, 10_000, 1000),  # 100 %
        (-25, 1000, -3),  # refunds round away from zero too
    ],
)
def test_vat_of_net(net, rate_bp, vat):
    assert vat_of_net(net, rate_bp) == vat


@pytest.mark.parametrize(
    ("gross", "rate_bp", "vat"),
    [
        (1200, 2000, 200),
        (0, 2000, 0),
        (100, 2000, 17),  # 100 / 6 = 16.67 -> 17
        (6, 2000, 1),  # 6 / 6 = 1
        (3, 2000, 1),  # 0.5 -> 1 (tie, up)
        (2, 2000, 0),  # 0.33 -> 0
        (624, 2000, 104),
        (119, 1900, 19),
        (1000, 0, 0),
        (-3, 2000, -1),
    ],
)
def test_vat_in_gross(gross, rate_bp, vat):
    assert vat_in_gross(gross, rate_bp) == vat


@given(st.integers(0, 10**9), st.integers(0, 10_000))
def test_vat_round_trip_from_net(net, rate_bp):
    """The VAT inside net + VAT(net) is VAT(net) again, up to one cent of rounding."""
    vat = vat_of_net(net, rate_bp)
    assert 0 <= vat <= net
    assert abs(vat_in_gross(net + vat, rate_bp) - vat) <= 1


@pytest.mark.parametrize(
    ("amount", "text"),
    [(0, "0.00 EUR"), (5, "0.05 EUR"), (1234, "12.34 EUR"), (-5, "-0.05 EUR"), (100, "1.00 EUR")],
)
def test_format_amount(amount, text):
    assert format_amount(amount, "EUR") == text


# ---- rating: golden cases ----------------------------------------------------------------


def _amounts(result: RatingResult) -> dict[str, int]:
    return {line.component: line.amount for line in result.lines}


def test_net_tariff_demo_session():
    # 7.404 kWh * 35 = 259.14 -> 259; 420 s * 120/3600 = 14; session 50.
    # net 323; VAT 20 % = 64.6 -> 65; total 388.
    result = rate(NET_TARIFF, Consumption(energy_wh=7404, duration_s=420))
    assert _amounts(result) == {"energy": 259, "time": 14, "session": 50}
    assert [line.component for line in result.lines] == ["energy", "time", "session"]
    assert (result.net, result.vat, result.total) == (323, 65, 388)
    assert result.currency == "EUR"
    assert result.vat_rate_bp == 2000
    energy, time, session = result.lines
    assert (energy.quantity, energy.unit_price) == ("7.404 kWh", 35)
    assert (time.quantity, time.unit_price) == ("7 min 0 s", 120)
    assert (session.quantity, session.unit_price) == ("1", 50)


def test_each_line_is_rounded_on_its_own_with_ties_up():
    # 100 Wh * 35/1000 = 3.5 -> 4; 15 s * 120/3600 = 0.5 -> 1; session 50.
    # Rounding the sum instead (3.5 + 0.5 + 50 = 54) would give 54, not 55.
    # net 55; VAT = 11.0; total 66.
    result = rate(NET_TARIFF, Consumption(energy_wh=100, duration_s=15))
    assert _amounts(result) == {"energy": 4, "time": 1, "session": 50}
    assert (result.net, result.vat, result.total) == (55, 11, 66)
    assert result.lines[0].quantity == "0.100 kWh"
    assert result.lines[1].quantity == "0 min 15 s"


def test_just_below_a_tie_rounds_down():
    # 14 Wh * 35/1000 = 0.49 -> 0; 14 s * 120/3600 = 0.4667 -> 0; session 50 -> net 50, VAT 10.
    result = rate(NET_TARIFF, Consumption(energy_wh=14, duration_s=14))
    assert _amounts(result) == {"energy": 0, "time": 0, "session": 50}
    assert (result.net, result.vat, result.total) == (50, 10, 60)


def test_gross_tariff_lines_are_gross_and_vat_is_extracted():
    # 10 kWh * 42 = 420; 3600 s * 144/3600 = 144; session 60: 624 gross.
    # VAT inside = 624 * 2000/12000 = 104; net 520; total 624.
    result = rate(GROSS_TARIFF, Consumption(energy_wh=10_000, duration_s=3600))
    assert _amounts(result) == {"energy": 420, "time": 144, "session": 60}
    assert (result.net, result.vat, result.total) == (520, 104, 624)


def test_gross_tariff_with_rounding():
    # 1.234 kWh * 42 = 51.828 -> 52; 125 s * 144/3600 = 5; session 60: 117 gross.
    # VAT inside = 117 / 6 = 19.5 -> 20; net 97.
    result = rate(GROSS_TARIFF, Consumption(energy_wh=1234, duration_s=125))
    assert _amounts(result) == {"energy": 52, "time": 5, "session": 60}
    assert (result.net, result.vat, result.total) == (97, 20, 117)


def test_zero_tariff_is_free_and_has_no_lines():
    result = rate(Tariff(name="Free"), Consumption(energy_wh=50_000, duration_s=7200))
    assert result.lines == []
    assert (result.net, result.vat, result.total) == (0, 0, 0)


def test_session_fee_only():
    result = rate(Tariff(session_fee=199, vat_rate_bp=1900), Consumption(energy_wh=0, duration_s=0))
    # 199 * 0.19 = 37.81 -> 38.
    assert _amounts(result) == {"session": 199}
    assert (result.net, result.vat, result.total) == (199, 38, 237)


def test_negative_measurements_are_priced_as_zero():
    result = rate(NET_TARIFF, Consumption(energy_wh=-500, duration_s=-60))
    assert _amounts(result) == {"energy": 0, "time": 0, "session": 50}
    assert result.total == 60
    assert result.lines[0].quantity == "0.000 kWh"


def test_other_currency_is_kept():
    result = rate(
        Tariff(currency="CHF", energy_price_per_kwh=50), Consumption(energy_wh=1000, duration_s=0)
    )
    assert result.currency == "CHF"
    assert result.total == 50


# ---- rating: properties ------------------------------------------------------------------

tariffs = st.builds(
    Tariff,
    energy_price_per_kwh=st.integers(0, 10_000),
    time_price_per_hour=st.integers(0, 10_000),
    session_fee=st.integers(0, 10_000),
    vat_rate_bp=st.integers(0, 10_000),
    prices_include_vat=st.booleans(),
)
energies = st.integers(0, 10_000_000)  # up to 10 MWh
durations = st.integers(0, 30 * 24 * 3600)  # up to a month


@given(tariffs, energies, durations)
def test_rating_is_whole_non_negative_and_adds_up(tariff, energy_wh, duration_s):
    result = rate(tariff, Consumption(energy_wh=energy_wh, duration_s=duration_s))
    amounts = [line.amount for line in result.lines]
    for value in [*amounts, result.net, result.vat, result.total]:
        assert type(value) is int
        assert value >= 0
    stated = sum(amounts)
    # Lines are stated as the tariff states its prices: net, or gross when VAT is included.
    if tariff.prices_include_vat:
        assert stated == result.total
    else:
        assert stated == result.net
    assert result.net + result.vat == result.total
    assert result.vat <= result.total


@given(tariffs, energies, energies, durations)
def test_rating_is_monotonic_in_energy(tariff, a, b, duration_s):
    low, high = sorted((a, b))
    cheap = rate(tariff, Consumption(energy_wh=low, duration_s=duration_s))
    dear = rate(tariff, Consumption(energy_wh=high, duration_s=duration_s))
    assert cheap.total <= dear.total
    assert cheap.net <= dear.net


@given(tariffs, energies, durations, durations)
def test_rating_is_monotonic_in_duration(tariff, energy_wh, a, b):
    short, long = sorted((a, b))
    cheap = rate(tariff, Consumption(energy_wh=energy_wh, duration_s=short))
    dear = rate(tariff, Consumption(energy_wh=energy_wh, duration_s=long))
    assert cheap.total <= dear.total
    assert cheap.net <= dear.net


@given(tariffs, energies, durations)
def test_each_line_is_the_exact_amount_rounded_half_up(tariff, energy_wh, duration_s):
    result = rate(tariff, Consumption(energy_wh=energy_wh, duration_s=duration_s))
    exact = {
        "energy": Fraction(energy_wh * tariff.energy_price_per_kwh, 1000),
        "time": Fraction(duration_s * tariff.time_price_per_hour, 3600),
        "session": Fraction(tariff.session_fee),
    }
    for line in result.lines:
        assert line.amount == round_half_up(exact[line.component])
        assert abs(line.amount - exact[line.component]) <= Fraction(1, 2)
    priced = {name for name, price in _prices(tariff).items() if price}
    assert {line.component for line in result.lines} == priced


def _prices(tariff: Tariff) -> dict[str, int]:
    return {
        "energy": tariff.energy_price_per_kwh,
        "time": tariff.time_price_per_hour,
        "session": tariff.session_fee,
    }
