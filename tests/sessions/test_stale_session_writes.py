"""A worker cut off from Temporal may retry an old write of the session row after another worker
has finished the workflow: the store must not let that write move the session back.

Found by the chaos suite: PostgreSQL SIGKILLed during settlement while one worker's link to
Temporal was slowed; that worker kept retrying `record_session(Stopped)` until the store came
back, after the other worker had recorded `Completed`, and two paid sessions were left `Stopped`.
"""

from __future__ import annotations

import pytest
from temporalio.testing import ActivityEnvironment

from activities.session_activities import SessionActivities
from ampflow.seed import DEMO_STATION, DEMO_TAG
from domain.session import SessionRecord, SessionState
from store.tables import ChargingSession
from tests.helpers import eventually
from tests.virtual_chargers.fixtures import make_charger

__all__ = ["make_charger"]  # the fixture, used by the end-to-end test

SESSION = "session-DEMO-1-900001"


def _write(db, state: SessionState, seq: int | None, **fields) -> None:
    record = SessionRecord(
        session_id=SESSION,
        station_id=DEMO_STATION,
        transaction_id="900001",
        state=state,
        seq=seq,
        **fields,
    )
    ActivityEnvironment().run(SessionActivities(db).record_session, record)


def _row(db, session_id: str = SESSION) -> ChargingSession:
    with db.session() as s:
        row = s.get(ChargingSession, session_id)
        s.expunge(row)
        return row


def test_an_older_write_arriving_late_is_ignored(seeded):
    _write(seeded, SessionState.CHARGING, 1, connector_id=1, meter_start_wh=0)
    _write(seeded, SessionState.STOPPED, 2, meter_stop_wh=4000, stop_reason="Local")
    _write(seeded, SessionState.COMPLETED, 3)
    _write(seeded, SessionState.STOPPED, 2, meter_stop_wh=3999, stop_reason="Local")  # the zombie
    row = _row(seeded)
    assert (row.state, row.meter_stop_wh, row.record_seq) == ("Completed", 4000, 3)


def test_a_retried_write_of_the_same_number_is_applied_again(seeded):
    _write(seeded, SessionState.CHARGING, 1, connector_id=1)
    _write(seeded, SessionState.CHARGING, 1, connector_id=1)
    assert _row(seeded).state == "Charging"


def test_writes_without_a_number_still_apply(seeded):
    """Workflows that ran before writes were numbered (their history replays without seq)."""
    _write(seeded, SessionState.CHARGING, None, connector_id=1)
    _write(seeded, SessionState.COMPLETED, None)
    assert _row(seeded).state == "Completed"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_session_numbers_its_writes_so_a_late_stop_write_cannot_reopen_it(
    seeded,
    worker,
    make_charger,
    version,
):
    """End to end: after a real session completes, replaying its `Stopped` write (as a cut-off
    worker would) leaves it Completed."""
    charger = await make_charger(version=version, max_power_w=50_000)
    tx = await charger.sessions.start_local(DEMO_TAG, connector=1)
    assert tx is not None
    await charger.sessions.stop(1, "Local")

    def completed() -> ChargingSession | None:
        with seeded.session() as s:
            rows = s.query(ChargingSession).filter(ChargingSession.state == "Completed").all()
            for row in rows:
                s.expunge(row)
            return rows[0] if len(rows) == 1 else None

    row = await eventually(completed, timeout=60)
    assert row.record_seq is not None and row.record_seq >= 3
    late = SessionRecord(
        session_id=row.id,
        station_id=row.station_id,
        transaction_id=row.transaction_id,
        state=SessionState.STOPPED,
        stopped_at=row.stopped_at,
        meter_stop_wh=row.meter_stop_wh,
        stop_reason=row.stop_reason,
        seq=row.record_seq - 1,  # the Stopped write, just before Completed
    )
    ActivityEnvironment().run(SessionActivities(seeded).record_session, late)
    assert _row(seeded, row.id).state == "Completed"
