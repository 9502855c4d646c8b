"""When the periods of a site's profile step, and which allowance a reading is judged by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.site_load import allowance_at, profile_start, profile_steps, schedule_periods

BOUNDARY = datetime(2026, 12, 5, 17, 0, tzinfo=UTC)  # a scheduled limit change (whole second)


def test_the_periods_step_exactly_at_the_scheduled_change():
    """OCPP's startPeriod is whole seconds: from a start at .7 s, a change 14.3 s later was
    sent as 14 s and the charger stepped 0.7 s early (the flaky schedule test's cause)."""
    for fraction in (0, 1, 300_000, 700_000, 999_999):
        now = BOUNDARY - timedelta(seconds=15) + timedelta(microseconds=fraction)
        start = profile_start(now)
        periods = schedule_periods(profile_steps(start, 16.0, [(BOUNDARY, 6.0)]), 4)
        sent = [int(offset) for offset, _ in periods]  # as the translators send startPeriod
        assert start <= now
        assert start + timedelta(seconds=sent[1]) == BOUNDARY, (now, periods)


def test_a_reading_is_judged_by_the_allowance_in_force_when_it_was_taken():
    start = BOUNDARY - timedelta(seconds=15)
    periods = [(0.0, 16.0), (15.0, 6.0)]
    assert allowance_at(periods, start, BOUNDARY - timedelta(seconds=1)) == 16.0
    assert allowance_at(periods, start, BOUNDARY) == 6.0
    assert allowance_at(periods, start, start - timedelta(seconds=1)) is None
