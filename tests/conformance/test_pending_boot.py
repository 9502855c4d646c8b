"""An operator marks a known station to be answered Pending at its next boot (OCTT TC_B_02,
1.6 TC_073/TC_077; OCPP 2.0.1 B02, 1.6 §4.2), and a Pending station is limited as the
specification says: the CSMS may query and configure it, not start or stop transactions; the
station's own messages other than BootNotification (and the Heartbeat and StatusNotification a
TriggerMessage asks for) are answered with a CALLERROR SecurityError; it is Accepted at the boot
after an operator approves it.

Real gateway, workflow and API; DEMO-1 is a virtual charger."""

from __future__ import annotations

import pytest
from sqlmodel import select

from ampflow.seed import DEMO_STATION
from chargers.rpc import CallError
from chargers.script import scripted
from store.access_tables import AuditEntry
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually

VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1"])
READ = {
    "1.6": {"keys": ["HeartbeatInterval"]},
    "2.0.1": {"variables": ["OCPPCommCtrlr.HeartbeatInterval"]},
}
WRITE = {
    "1.6": {"key": "HeartbeatInterval", "value": "120"},
    "2.0.1": {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "120"},
}
AUTHORIZE = {
    "1.6": {"idTag": "DEMO-TAG"},
    "2.0.1": {"idToken": {"idToken": "DEMO-TAG", "type": "ISO14443"}},
}


async def command(api, name: str, **params):
    return await api.post(
        f"/stations/{DEMO_STATION}/commands", json={"name": name, "params": params}
    )


def _results(script) -> set[str]:
    """Actions of the charger's own CALLs the CSMS answered with a result."""
    return {e["action"] for e in script.charger.journal.find("result")}


def station(url: str, version: str):
    return scripted(url, DEMO_STATION, DEMO_PASSWORD, version=version, boot=False)


@VERSIONS
async def test_marked_station_boots_pending_is_limited_and_accepted_once_approved(
    seeded, worker, gateway_url, api, version
):
    async with station(gateway_url, version) as script:
        assert await script.charger.wait_boot_answer() == "Accepted"
        mark = await api.put(f"/stations/{DEMO_STATION}/pending-next-boot", json={"pending": True})
        assert mark.status_code == 200, mark.text
        assert mark.json()["pending_next_boot"] is True
        # Nothing changes for the running connection: the mark is for the next boot.
        assert (await command(api, "get_configuration", **READ[version])).status_code == 200

    async with station(gateway_url, version) as script:
        assert await script.charger.wait_boot_answer() == "Pending"
        inbox = await api.get("/stations", params={"registration": "Pending"})
        assert [s["id"] for s in inbox.json()] == [DEMO_STATION]

        # The CSMS may query, configure and trigger (once the station's route is recorded) ...
        async def connected() -> bool:
            return (await api.get(f"/stations/{DEMO_STATION}")).json().get("connected") is True

        await eventually(connected, timeout=30)
        for name, params in (
            ("get_configuration", READ[version]),
            ("change_configuration", WRITE[version]),
            ("trigger_message", {"message": "Heartbeat"}),
        ):
            reply = await command(api, name, **params)
            assert reply.status_code == 200, reply.text
        # ... but not start a transaction (refused, never sent).
        start = await command(api, "remote_start", id_token="DEMO-TAG", connector_id=1)
        assert start.status_code == 422, start.text
        assert "until the station is Accepted" in start.json()["error"]
        assert not {"RemoteStartTransaction", "RequestStartTransaction"} & set(
            script.actions_received()
        )
        # The station's own messages: SecurityError.
        with pytest.raises(CallError) as refused:
            await script.call("Authorize", AUTHORIZE[version])
        assert refused.value.code == "SecurityError"
        if (
            version == "2.0.1"
        ):  # B02: a base report may be asked for, and is answered, while Pending
            report = await command(api, "get_base_report", report_base="ConfigurationInventory")
            assert report.status_code == 200, report.text
            await eventually(lambda: "NotifyReport" in _results(script), timeout=15)
            assert not script.charger.journal.find("error", action="NotifyReport")
        assert (await api.post(f"/stations/{DEMO_STATION}/approve")).status_code == 200

    async with station(gateway_url, version) as script:
        assert await script.charger.wait_boot_answer() == "Accepted"
        answer = await script.call("DataTransfer", {"vendorId": "ampflow.test"})
        assert answer["status"] == "UnknownVendorId"


async def test_the_mark_is_audited_withdrawn_and_only_for_accepted_stations(
    seeded, worker, gateway_url, api, db
):
    path = f"/stations/{DEMO_STATION}/pending-next-boot"
    assert (await api.put(path, json={"pending": True})).status_code == 200
    assert (await api.put(path, json={"pending": False})).status_code == 200
    async with station(gateway_url, "2.0.1") as script:
        assert await script.charger.wait_boot_answer() == "Accepted"
    with db.session() as s:
        entries = s.exec(
            select(AuditEntry).where(AuditEntry.action == "station.pending_next_boot")
        ).all()
    assert [(e.actor, e.target, e.detail) for e in entries] == [
        ("admin", f"station:{DEMO_STATION}", {"pending": True}),
        ("admin", f"station:{DEMO_STATION}", {"pending": False}),
    ]
    assert (
        await api.put("/stations/NOPE/pending-next-boot", json={"pending": True})
    ).status_code == 404
    assert (await api.put(path, json={"pending": "soon"})).status_code == 422
    await api.put(path, json={"pending": True})
    async with station(gateway_url, "1.6") as script:
        assert await script.charger.wait_boot_answer() == "Pending"
    again = await api.put(path, json={"pending": True})
    assert again.status_code == 409  # waiting in the inbox already: approve or reject it
