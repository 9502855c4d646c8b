"""E14: an Ended that arrives with seqNos missing before it (the charger still holds queued
events of the transaction) makes the CSMS ask GetTransactionStatus once it has answered the
Ended, and record what the charger says; a transaction without a gap asks nothing."""

from __future__ import annotations

from collections import OrderedDict

from ampflow.seed import DEMO_TAG
from gateway.session_bridge import SessionBridge
from tests.helpers import eventually
from tests.records import station_events
from tests.stations import demo_201


def _asked(station) -> list[dict]:
    return [p for action, p in station.received if action == "GetTransactionStatus"]


async def test_an_ended_with_a_gap_asks_for_the_transaction_status(seeded, worker, gateway_url):
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, DEMO_TAG)
        await station.event(tx.started())
        await station.event(tx.updated(wh=1_000))
        queued = [tx.updated(wh=500), tx.updated(wh=500)]  # built, not sent: still queued
        await station.event(tx.ended())
        [asked] = await eventually(lambda: _asked(station), timeout=20)
        for event in queued:  # the queue drains afterwards
            await station.event(event)
    assert asked == {"transactionId": tx.transaction_id}
    [recorded] = await eventually(lambda: station_events(seeded, "TransactionStatusAsked"))
    assert recorded.detail["missingSeqNos"] == [2, 3]


async def test_no_gap_no_question(seeded, worker, gateway_url, temporal_client):
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, DEMO_TAG)
        await station.event(tx.started())
        await station.event(tx.updated(wh=1_000))
        await station.event(tx.ended())
        second = station.transaction(1, DEMO_TAG)
        await station.event(second.started())
        await station.event(second.ended())
    assert _asked(station) == []


def test_a_huge_seq_no_costs_no_more_than_the_events_seen():
    """A charger may send any seqNo (up to 2^31 - 1): finding the gap walks only past the
    numbers seen, and names at most 100 missing ones."""
    bridge = SessionBridge.__new__(SessionBridge)  # only its seqNo memory is used
    bridge._seq_nos = OrderedDict()
    assert bridge.missing_seq_nos("S", "tx", 0) == []
    assert bridge.missing_seq_nos("S", "tx", 1) == []
    missing = bridge.missing_seq_nos("S", "tx", 2**31 - 1)
    assert missing == list(range(2, 102))
