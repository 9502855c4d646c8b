"""Field behaviours of virtual chargers against the real gateway and workflows: lost
connections, offline queues and replay, retries, meter resets, clock skew, vendor quirks."""

from __future__ import annotations

import pytest

from ampflow.devstack import free_port
from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers import Behaviour
from tests.helpers import eventually

FAST = {
    "1.6": {"MeterValueSampleInterval": "1"},
    "2.0.1": {"SampledDataCtrlr/TxUpdatedInterval": "1"},
}
VERSIONS = ["1.6", "2.0.1"]


def behaviour(**switches) -> Behaviour:
    return Behaviour(reconnect_min_s=0.1, reconnect_max_s=0.5, **switches)


async def session_of(api, charger, tx) -> dict:
    """The CSMS's completed session for the charger's transaction."""

    async def completed():
        if charger.v201:
            listed = (await api.get("/sessions", params={"station_id": DEMO_STATION})).json()
            body = listed[0] if listed else None
        else:
            response = await api.get(f"/sessions/session-{DEMO_STATION}-{tx.transaction_id}")
            body = response.json() if response.status_code == 200 else None
        return body if body and body["state"] == "Completed" else None

    return await eventually(completed, timeout=60)


async def charge(charger, readings: int = 2):
    """A local session with `readings` periodic meter values; returns the transaction."""
    tx = await charger.sessions.start_local(DEMO_TAG)
    assert tx is not None
    action = "TransactionEvent" if charger.v201 else "MeterValues"
    await eventually(
        lambda: len(charger.journal.find("call", action=action)) >= readings, timeout=30
    )
    await charger.sessions.stop(1, "Local")
    return tx


def assert_billed_as_metered(body: dict, tx) -> None:
    assert body["energy_wh"] == tx.meter_stop_wh - tx.meter_start_wh


@pytest.mark.parametrize("version", VERSIONS)
async def test_lost_connection_reconnects_and_boots_again(seeded, worker, make_charger, version):
    charger = await make_charger(version=version, behaviour=behaviour())
    await charger.go_offline(0.3)
    await charger.wait_booted(2)
    assert charger.connections == 2
    assert [
        e["ev"] for e in charger.journal.events if e["ev"] in ("network_down", "network_up")
    ] == [
        "network_down",
        "network_up",
    ]


async def test_random_drops_reconnect_with_back_off(seeded, worker, make_charger):
    charger = await make_charger(behaviour=behaviour(drop_mean_s=0.3, drop_offline_s=0.1))
    await charger.wait_booted(3, timeout_s=30)
    assert len(charger.journal.find("network_down")) >= 2


async def test_refused_handshake_is_retried_with_back_off(seeded, make_charger):
    charger = await make_charger(password="not-the-password", behaviour=behaviour(), boot=False)
    await eventually(lambda: len(charger.journal.find("connect_failed")) >= 3)
    assert charger.refused == 401 and charger.accepted_boots == 0
    assert {e["status"] for e in charger.journal.find("connect_failed")} == {401}


async def test_unreachable_csms_moves_the_charger_to_its_backup_url(
    seeded, worker, make_charger, gateway_url
):
    gone = f"ws://127.0.0.1:{free_port()}/ocpp"  # nothing listens there
    charger = await make_charger(url=gone, backup_urls=(gateway_url,), behaviour=behaviour())
    assert charger.config.url == gateway_url and charger.config.backup_urls == (gone,)
    assert [e["url"] for e in charger.journal.find("url_changed")] == [gateway_url]
    assert len(charger.journal.find("connect_failed")) == 1


@pytest.mark.parametrize("version", VERSIONS)
async def test_meter_values_queued_offline_are_replayed_and_billed(
    seeded, worker, live_api, make_charger, version
):
    charger = await make_charger(
        version=version, behaviour=behaviour(), configuration=FAST[version], max_power_w=50_000
    )
    tx = await charger.sessions.start_local(DEMO_TAG)
    await charger.go_offline()
    action = "TransactionEvent" if version == "2.0.1" else "MeterValues"
    await eventually(lambda: len(charger.outbox) >= 2, timeout=30)  # readings while offline
    await charger.sessions.stop(1, "Local")
    queued = len(charger.outbox)
    charger.go_online()
    await eventually(lambda: len(charger.outbox) == 0, timeout=30)
    assert len(charger.journal.find("result", action=action)) >= queued - 1
    assert not charger.journal.find("given_up")
    if version == "2.0.1":
        replayed = [e["payload"] for e in charger.journal.find("call", action="TransactionEvent")]
        assert replayed[-1]["eventType"] == "Ended" and replayed[-1]["offline"] is True
        assert [e["seqNo"] for e in replayed] == list(range(len(replayed)))
    assert_billed_as_metered(await session_of(live_api, charger, tx), tx)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_unanswered_start_is_retried_once_answered(
    seeded, worker, live_api, make_charger, version
):
    charger = await make_charger(
        version=version,
        behaviour=behaviour(),
        configuration={**FAST[version], **_retry_now(version)},
        max_power_w=50_000,
    )
    charger.rpc.timeout_s = 0.001  # the CSMS's answer arrives after the charger gave up

    async def answer_in_time_again():
        await eventually(lambda: charger.journal.find("retry"))
        charger.rpc.timeout_s = 10

    charger.spawn(answer_in_time_again())
    await charger.sessions.plug(1)  # no Authorize first: the start itself is unanswered
    tx = await charger.sessions.start(1, DEMO_TAG)
    await eventually(lambda: tx.transaction_id is not None and not len(charger.outbox))
    await charger.sessions.stop(1, "Local")
    body = await session_of(live_api, charger, tx)
    assert_billed_as_metered(body, tx)
    sessions = (await live_api.get("/sessions", params={"station_id": DEMO_STATION})).json()
    assert len(sessions) == 1, sessions  # the retried start made no second session


def _retry_now(version: str) -> dict:
    """Retry after a second: time for the test to make the next answer arrive in time."""
    if version == "2.0.1":
        return {"OCPPCommCtrlr/MessageAttemptIntervalTransactionEvent": "1"}
    return {"TransactionMessageRetryInterval": "1"}


async def test_meter_reset_after_reboot_bills_each_session_right(
    seeded, worker, live_api, make_charger
):
    charger = await make_charger(
        behaviour=behaviour(meter_reset_on_reboot=True),
        configuration=FAST["1.6"],
        max_power_w=50_000,
    )
    first = await charge(charger)
    assert_billed_as_metered(await session_of(live_api, charger, first), first)
    await charger.reboot("RemoteReset", hard=False)
    await charger.wait_booted(2)
    second = await charge(charger)
    assert second.meter_start_wh < first.meter_stop_wh  # the register restarted
    assert_billed_as_metered(await session_of(live_api, charger, second), second)


@pytest.mark.parametrize("version", VERSIONS)
async def test_skewed_clock_is_what_the_charger_reports(
    seeded, worker, live_api, make_charger, version
):
    charger = await make_charger(
        version=version, clock_skew_s=-3600, configuration=FAST[version], max_power_w=50_000
    )
    tx = await charger.sessions.start_local(DEMO_TAG)
    started = charger.journal.find("tx_start")[0]
    from chargers.clock import parse_iso

    assert (parse_iso(started["t"]) - parse_iso(started["startedAt"])).total_seconds() > 3000
    await charger.sessions.stop(1, "Local")
    assert_billed_as_metered(await session_of(live_api, charger, tx), tx)


QUIRKS = [
    ("1.6", "meter_values_without_tx_id"),
    ("1.6", "interval_energy"),
    ("2.0.1", "interval_energy"),
    ("1.6", "duplicate_message_ids"),
    ("2.0.1", "duplicate_message_ids"),
    ("1.6", "late_status_s"),
    ("2.0.1", "late_status_s"),
]


@pytest.mark.parametrize("version, quirk", QUIRKS)
async def test_vendor_quirks_still_bill_what_was_metered(
    seeded, worker, live_api, make_charger, version, quirk
):
    switch = {quirk: 0.5 if quirk == "late_status_s" else True}
    charger = await make_charger(
        version=version,
        behaviour=behaviour(**switch),
        configuration=FAST[version],
        max_power_w=50_000,
    )
    tx = await charge(charger)
    assert_billed_as_metered(await session_of(live_api, charger, tx), tx)
    assert not charger.journal.find("given_up")


async def test_start_offline_with_a_refused_card_stops_after_the_replay(
    seeded, worker, make_charger
):
    charger = await make_charger(
        behaviour=behaviour(), configuration={"AllowOfflineTxForUnknownId": "true"}
    )
    await charger.go_offline()
    tx = await charger.sessions.start_local("NOT-A-CARD")
    assert tx is not None and tx.started_offline  # unknown cards may charge offline
    charger.go_online()
    await eventually(lambda: charger.journal.find("tx_stop"), timeout=30)
    assert charger.journal.find("tx_refused")[0]["status"] != "Accepted"
    assert charger.journal.find("tx_stop")[0]["reason"] == "DeAuthorized"
