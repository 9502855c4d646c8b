"""The station outbox against real PostgreSQL: per-station order, one gateway at a time, retries
from the failed row, rows written while a drain runs, and no station left undrained."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from gateway.outbox import OutboxRow, StationOutbox
from gateway.station_store import StationStore
from tests.helpers import eventually


class Recorder:
    """A deliverer that records what reached 'Temporal'; it can fail or stall on purpose."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, int]] = []
        self.fail_next: int = 0
        self.stall = asyncio.Event()
        self.stall.set()

    async def __call__(self, row: OutboxRow) -> None:
        await self.stall.wait()
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("Temporal unreachable")
        self.delivered.append((row.station_id, row.payload["n"]))


@pytest.fixture
async def store(database_url, db):
    station_store = StationStore(database_url)
    await station_store.open()
    yield station_store
    await station_store.close()


def outbox_of(store: StationStore, recorder: Recorder) -> StationOutbox:
    return StationOutbox(None, store, recorder)  # type: ignore[arg-type]  # no client needed


def undelivered(db) -> int:
    with db.session() as session:
        return session.exec(  # type: ignore[call-overload]
            text("SELECT count(*) FROM station_outbox WHERE delivered_at IS NULL")
        ).scalar_one()


async def test_each_station_in_order_once_across_many_puts(store, db):
    recorder = Recorder()
    outbox = outbox_of(store, recorder)
    for n in range(30):
        for station in ("A", "B", "C"):
            await outbox.put(station, f"session-{station}", "status", {"n": n})
    await eventually(lambda: len(recorder.delivered) == 90, timeout=30)
    for station in ("A", "B", "C"):
        assert [n for s, n in recorder.delivered if s == station] == list(range(30))
    assert undelivered(db) == 0
    await outbox.close()


async def test_a_failed_delivery_is_retried_from_that_row(store, db):
    recorder = Recorder()
    recorder.fail_next = 2
    outbox = outbox_of(store, recorder)
    for n in range(5):
        await outbox.put("A", "session-A", "status", {"n": n})
    await eventually(lambda: len(recorder.delivered) == 5, timeout=30)
    assert [n for _, n in recorder.delivered] == [0, 1, 2, 3, 4]
    assert undelivered(db) == 0
    await outbox.close()


async def test_rows_written_while_a_drain_delivers_are_delivered_too(store, db):
    recorder = Recorder()
    outbox = outbox_of(store, recorder)
    recorder.stall.clear()  # the first drain holds its batch
    await outbox.put("A", "session-A", "status", {"n": 0})
    await asyncio.sleep(0.3)
    for n in range(1, 4):  # written while that drain waits on delivery
        await outbox.put("A", "session-A", "status", {"n": n})
    recorder.stall.set()
    await eventually(lambda: len(recorder.delivered) == 4, timeout=30)
    assert [n for _, n in recorder.delivered] == [0, 1, 2, 3]
    await asyncio.sleep(0.5)
    assert len(recorder.delivered) == 4 and undelivered(db) == 0
    await outbox.close()


async def test_a_second_gateway_waits_for_the_head_lease_then_adopts_the_rest(store, db):
    first, second = Recorder(), Recorder()
    gateway_1, gateway_2 = outbox_of(store, first), outbox_of(store, second)
    first.stall.clear()  # gateway 1 leases the station's rows, then hangs (as if it died)
    for n in range(3):
        await gateway_1.put("A", "session-A", "status", {"n": n})
    await asyncio.sleep(0.3)
    gateway_2.kick("A")  # while gateway 1's lease is live: nothing delivered by gateway 2
    await asyncio.sleep(1.0)
    assert second.delivered == []
    await gateway_1.close()  # hands its leases back (a SIGKILL would let them lapse)
    gateway_2.kick("A")
    await eventually(lambda: len(second.delivered) == 3, timeout=30)
    assert [n for _, n in second.delivered] == [0, 1, 2]
    assert first.delivered == [] and undelivered(db) == 0
    await gateway_2.close()
