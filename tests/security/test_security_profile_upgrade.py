"""The CSMS raises a station's security profile (OCTT TC_A_19, OCPP 2.0.1 A05 SetVariables
SecurityCtrlr.SecurityProfile; 1.6 security whitepaper ChangeConfiguration SecurityProfile): the
new profile is recorded once the charger accepts it, and from then on a connection below it
(plain ws://, or TLS without the station's certificate at profile 3) is refused. A lower profile
is never sent, nor one this gateway could not admit.

Real gateway with its TLS listener (certificates made by the test), workflow and API; DEMO-1 is
a virtual charger answering the change as the test says."""

from __future__ import annotations

import ssl

import pytest
from sqlmodel import select

from ampflow.seed import DEMO_STATION
from chargers.script import scripted
from gateway.server import Gateway
from store.tables import Station
from tests.conftest import DEMO_PASSWORD
from tests.gateway.certificates import Pki, tls_gateway

KEY = {"1.6": "SecurityProfile", "2.0.1": "SecurityCtrlr.SecurityProfile"}
ACTION = {"1.6": "ChangeConfiguration", "2.0.1": "SetVariables"}


@pytest.fixture
def pki(tmp_path) -> Pki:
    return Pki(tmp_path)


@pytest.fixture
async def gw(settings, temporal_client, database_url, db, pki):
    async with tls_gateway(settings, temporal_client, database_url, pki) as gateway:
        yield gateway


def tls(pki: Pki, cn: str | None = None) -> ssl.SSLContext:
    return pki.client_context(cn)


def answer_profile(script, version: str, status: str) -> list[str]:
    sent: list[str] = []

    def answer(payload: dict) -> dict:
        if version == "1.6":
            sent.append(payload["value"])
            return {"status": status}
        item = payload["setVariableData"][0]
        sent.append(item["attributeValue"])
        result = {k: item[k] for k in ("component", "variable")}
        return {"setVariableResult": [{**result, "attributeStatus": status}]}

    script.charger.answer_with(ACTION[version], answer)
    return sent


async def set_profile(api, version: str, profile: int):
    return await api.post(
        f"/stations/{DEMO_STATION}/commands",
        json={"name": "change_configuration", "params": {"key": KEY[version], "value": profile}},
    )


async def boot_answer(gw: Gateway, version: str, *, context: ssl.SSLContext | None) -> str:
    """What DEMO-1 gets connecting over ws:// (no context) or wss:// with `context`."""
    url = f"wss://127.0.0.1:{gw.tls_port}/ocpp" if context else f"ws://127.0.0.1:{gw.port}/ocpp"
    options = {"ssl_context": context} if context else {}
    async with scripted(
        url, DEMO_STATION, DEMO_PASSWORD, version=version, boot=False, **options
    ) as script:
        return await script.charger.wait_boot_answer()


def recorded_profile(db) -> int:
    with db.session() as s:
        return s.exec(select(Station.security_profile).where(Station.id == DEMO_STATION)).one()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_accepted_upgrade_is_recorded_and_no_downgrade_follows(
    seeded, worker, gw, api, pki, db, version
):
    plain = f"ws://127.0.0.1:{gw.port}/ocpp"
    async with scripted(plain, DEMO_STATION, DEMO_PASSWORD, version=version) as script:
        sent = answer_profile(script, version, "Accepted")
        reply = await set_profile(api, version, 2)
        assert reply.status_code == 200, reply.text
        assert sent == ["2"]
    assert recorded_profile(db) == 2
    # Profile 2: Basic auth over TLS only; the same password over plain ws:// is refused.
    assert await boot_answer(gw, version, context=None) == "Refused"
    assert await boot_answer(gw, version, context=tls(pki)) == "Accepted"

    # A lower profile is never sent.
    async with scripted(
        f"wss://127.0.0.1:{gw.tls_port}/ocpp",
        DEMO_STATION,
        DEMO_PASSWORD,
        version=version,
        ssl_context=tls(pki),
    ) as script:
        sent = answer_profile(script, version, "Accepted")
        down = await set_profile(api, version, 1)
        assert down.status_code == 422, down.text
        assert "no downgrade" in down.json()["error"]
        assert sent == []
        # Up to 3: the station's own certificate from then on.
        assert (await set_profile(api, version, 3)).status_code == 200
    assert recorded_profile(db) == 3
    assert await boot_answer(gw, version, context=tls(pki)) == "Refused"
    assert await boot_answer(gw, version, context=tls(pki, "OTHER-1")) == "Refused"
    assert await boot_answer(gw, version, context=tls(pki, DEMO_STATION)) == "Accepted"


async def test_refused_upgrade_changes_nothing(seeded, worker, gw, api, db):
    plain = f"ws://127.0.0.1:{gw.port}/ocpp"
    async with scripted(plain, DEMO_STATION, DEMO_PASSWORD, version="2.0.1") as script:
        answer_profile(script, "2.0.1", "Rejected")
        assert (await set_profile(api, "2.0.1", 2)).status_code == 200
    assert recorded_profile(db) == 1
    assert await boot_answer(gw, "2.0.1", context=None) == "Accepted"


@pytest.mark.parametrize("value", [2, 0, "high"])
async def test_profile_the_gateway_cannot_admit_is_not_sent(
    seeded, worker, gateway_url, api, db, value
):
    """This gateway has no TLS listener: profile 2 would lock the station out."""
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD, version="2.0.1") as script:
        sent = answer_profile(script, "2.0.1", "Accepted")
        reply = await set_profile(api, "2.0.1", value)
        assert reply.status_code == 422, reply.text
        assert sent == []
    assert recorded_profile(db) == 1


async def test_network_profile_raises_the_profile_once_it_has_priority(
    seeded, worker, gw, api, pki, db
):
    """2.0.1 A05 as OCTT TC_A_19 drives it: SetNetworkProfile puts profile 2 in slot 1, then
    NetworkConfigurationPriority makes the station use it. Recorded only when every slot the
    station may use is one the CSMS set; a slot below the recorded profile is never sent."""
    sent: list[tuple[str, dict]] = []

    def accept_all(payload: dict) -> dict:
        sent.append(("SetVariables", payload))
        return {
            "setVariableResult": [
                {
                    "component": i["component"],
                    "variable": i["variable"],
                    "attributeStatus": "Accepted",
                }
                for i in payload["setVariableData"]
            ]
        }

    def network_profile(payload: dict) -> dict:
        sent.append(("SetNetworkProfile", payload))
        return {"status": "Accepted"}

    def set_network_profile(slot: int, profile: int):
        connection = {
            "ocppVersion": "OCPP20",
            "ocppTransport": "JSON",
            "ocppCsmsUrl": f"wss://127.0.0.1:{gw.tls_port}/ocpp",
            "messageTimeout": 30,
            "securityProfile": profile,
            "ocppInterface": "Wired0",
        }
        payload = {"configurationSlot": slot, "connectionData": connection}
        return api.post(
            f"/stations/{DEMO_STATION}/commands",
            json={"name": "raw", "params": {"action": "SetNetworkProfile", "payload": payload}},
        )

    def priority(value: str):
        return api.post(
            f"/stations/{DEMO_STATION}/commands",
            json={
                "name": "change_configuration",
                "params": {"key": "OCPPCommCtrlr.NetworkConfigurationPriority", "value": value},
            },
        )

    plain = f"ws://127.0.0.1:{gw.port}/ocpp"
    async with scripted(plain, DEMO_STATION, DEMO_PASSWORD, version="2.0.1") as script:
        script.charger.answer_with("SetNetworkProfile", network_profile)
        script.charger.answer_with("SetVariables", accept_all)
        assert (await set_network_profile(1, 2)).status_code == 200
        assert recorded_profile(db) == 1  # in a slot, not in use yet
        assert (await priority("1,0")).status_code == 200
        assert recorded_profile(db) == 1  # slot 0 is the station's own: profile unknown
        assert (await priority("1")).status_code == 200
        assert recorded_profile(db) == 2
        # From now on a lower profile is not put in any slot.
        down = await set_network_profile(2, 1)
        assert down.status_code == 422 and "no downgrade" in down.json()["error"]
        assert [action for action, _ in sent] == [
            "SetNetworkProfile",
            "SetVariables",
            "SetVariables",
        ]
    assert await boot_answer(gw, "2.0.1", context=None) == "Refused"
    assert await boot_answer(gw, "2.0.1", context=tls(pki)) == "Accepted"


async def test_a_refused_network_profile_is_not_used_for_the_priority(seeded, worker, gw, api, db):
    plain = f"ws://127.0.0.1:{gw.port}/ocpp"
    async with scripted(plain, DEMO_STATION, DEMO_PASSWORD, version="2.0.1") as script:
        script.charger.answer_with("SetNetworkProfile", lambda p: {"status": "Rejected"})
        answer_profile(script, "2.0.1", "Accepted")  # SetVariables accepted
        payload = {
            "configurationSlot": 1,
            "connectionData": {
                "ocppVersion": "OCPP20",
                "ocppTransport": "JSON",
                "ocppCsmsUrl": f"wss://127.0.0.1:{gw.tls_port}/ocpp",
                "messageTimeout": 30,
                "securityProfile": 2,
                "ocppInterface": "Wired0",
            },
        }
        raw = {"name": "raw", "params": {"action": "SetNetworkProfile", "payload": payload}}
        assert (await api.post(f"/stations/{DEMO_STATION}/commands", json=raw)).status_code == 200
        change = {
            "name": "change_configuration",
            "params": {"key": "OCPPCommCtrlr.NetworkConfigurationPriority", "value": "1"},
        }
        assert (
            await api.post(f"/stations/{DEMO_STATION}/commands", json=change)
        ).status_code == 200
    assert recorded_profile(db) == 1
