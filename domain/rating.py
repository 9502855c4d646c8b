"""Rating: a pure function from a tariff snapshot and what was measured to a price breakdown."""

from __future__ import annotations

from fractions import Fraction

from pydantic import BaseModel

from domain.money import round_half_up, vat_in_gross, vat_of_net
from domain.tariff import Tariff


class CostLine(BaseModel):
    """One priced component of a session (energy, time, session fee, ...)."""

    component: str
    quantity: str  # human quantity, e.g. "12.345 kWh"
    unit_price: int
    amount: int  # as stated by the tariff: gross when prices include VAT, else net


class RatingResult(BaseModel):
    """A session's price: lines in the order energy, time, session; then tax and total."""

    currency: str
    lines: list[CostLine]
    net: int
    vat: int
    total: int
    vat_rate_bp: int


class Consumption(BaseModel):
    """What a session used, as measured."""

    energy_wh: int
    duration_s: int


def rate(tariff: Tariff, usage: Consumption) -> RatingResult:
    """Price a session. Each line is rounded half-up on its own; totals are sums of lines."""
    energy_wh = max(usage.energy_wh, 0)
    duration_s = max(usage.duration_s, 0)
    lines: list[CostLine] = []
    if tariff.energy_price_per_kwh:
        lines.append(
            CostLine(
                component="energy",
                quantity=f"{energy_wh // 1000}.{energy_wh % 1000:03d} kWh",
                unit_price=tariff.energy_price_per_kwh,
                amount=round_half_up(Fraction(energy_wh * tariff.energy_price_per_kwh, 1000)),
            )
        )
    if tariff.time_price_per_hour:
        lines.append(
            CostLine(
                component="time",
                quantity=f"{duration_s // 60} min {duration_s % 60} s",
                unit_price=tariff.time_price_per_hour,
                amount=round_half_up(Fraction(duration_s * tariff.time_price_per_hour, 3600)),
            )
        )
    if tariff.session_fee:
        lines.append(
            CostLine(
                component="session",
                quantity="1",
                unit_price=tariff.session_fee,
                amount=tariff.session_fee,
            )
        )
    stated = sum(line.amount for line in lines)
    if tariff.prices_include_vat:
        vat = vat_in_gross(stated, tariff.vat_rate_bp)
        net, total = stated - vat, stated
    else:
        vat = vat_of_net(stated, tariff.vat_rate_bp)
        net, total = stated, stated + vat
    return RatingResult(
        currency=tariff.currency,
        lines=lines,
        net=net,
        vat=vat,
        total=total,
        vat_rate_bp=tariff.vat_rate_bp,
    )
