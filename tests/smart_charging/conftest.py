"""Fixtures of this package: virtual chargers (tests/virtual_chargers/fixtures.py)."""

from tests.virtual_chargers.fixtures import live_api, make_charger

__all__ = ["live_api", "make_charger"]
