"""Exact money arithmetic in integer minor units (cents). Never floats.

Rounding rule (the one rule used everywhere): **half-up per component line** — a line's exact
rational amount is rounded to the nearest minor unit, ties away from zero.
"""

from __future__ import annotations

from fractions import Fraction


def round_half_up(value: Fraction | int) -> int:
    """Round an exact non-negative or negative amount to whole minor units, ties away from zero."""
    value = Fraction(value)
    sign = -1 if value < 0 else 1
    magnitude = abs(value)
    whole, remainder = divmod(magnitude.numerator, magnitude.denominator)
    if 2 * remainder >= magnitude.denominator:
        whole += 1
    return sign * whole


def vat_of_net(net: int, vat_rate_bp: int) -> int:
    """VAT on a net amount; the rate is in basis points (2000 = 20 %)."""
    return round_half_up(Fraction(net * vat_rate_bp, 10_000))


def vat_in_gross(gross: int, vat_rate_bp: int) -> int:
    """The VAT contained in a gross (VAT-inclusive) amount."""
    return round_half_up(Fraction(gross * vat_rate_bp, 10_000 + vat_rate_bp))


def format_amount(amount: int, currency: str) -> str:
    """Human form of a minor-unit amount, e.g. `12.34 EUR` (two-decimal currencies)."""
    sign = "-" if amount < 0 else ""
    whole, cents = divmod(abs(amount), 100)
    return f"{sign}{whole}.{cents:02d} {currency}"
