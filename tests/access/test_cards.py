"""Card lifecycle through a scripted OCPP 1.6 virtual charger: issue, block (refused at the next
Authorize and pushed to the charger's local list), unblock, expiry, concurrency limit, group
stop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from ampflow.seed import DEMO_STATION, DEMO_TAG
from gateway.local_list_listener import LocalListListener
from store.access_tables import AuditEntry
from store.tables import ChargingSession, Station
from tests.access.conftest import (
    connected_charger,
    list_version,
    lists,
    local_list,
    stopped_transactions,
)
from tests.access.helpers import ADMIN, bearer, driver_account, operator_account
from tests.helpers import eventually, session_result
from workflows import contract

LIST = f"/stations/{DEMO_STATION}/local-list"


async def _synced(http, charger, version: int) -> None:
    """The charger holds `version` and the server has recorded it."""

    async def recorded():
        state = (await http.get(LIST, headers=ADMIN)).json()
        return list_version(charger) == version and state["version"] == version

    try:
        await eventually(recorded, timeout=15)
    except AssertionError as err:
        state = (await http.get(LIST, headers=ADMIN)).json()
        raise AssertionError(f"charger got {lists(charger)}; server: {state}") from err


async def _until_offline(db) -> None:
    """Wait for the gateway to record a closed connection before the station reconnects (a
    reconnect racing the old socket's clean-up can leave the station marked offline)."""

    def offline() -> bool:
        with db.session() as session:
            return not session.get(Station, DEMO_STATION).connected

    await eventually(offline)


async def _enable_list(http, charger) -> None:
    response = await http.put(LIST, json={"enabled": True}, headers=ADMIN)
    assert response.status_code == 202, response.text
    await _synced(http, charger, 1)


async def test_blocked_card_is_refused_and_pushed_to_the_charger(http, charger):
    await _enable_list(http, charger)
    first = lists(charger)[0]
    assert (first["version"], first["type"]) == (1, "Full")
    assert {"idTag": DEMO_TAG, "idTagInfo": {"status": "Accepted"}} in first["entries"]
    assert (await charger.authorize(DEMO_TAG))["status"] == "Accepted"

    blocked = await http.patch(f"/tokens/{DEMO_TAG}", json={"status": "Blocked"}, headers=ADMIN)
    assert blocked.status_code == 200 and blocked.json()["status"] == "Blocked"
    assert (await charger.authorize(DEMO_TAG))["status"] == "Blocked"  # the very next Authorize
    await _synced(http, charger, 2)
    assert lists(charger)[1] == {
        "version": 2,
        "type": "Differential",
        "entries": [{"idTag": DEMO_TAG, "idTagInfo": {"status": "Blocked"}}],
    }
    assert local_list(charger)[DEMO_TAG] == {"status": "Blocked"}

    state = (await http.get(LIST, headers=ADMIN)).json()
    assert (state["enabled"], state["version"], state["entries"]) == (True, 2, 1)
    assert [(v["version"], v["update_type"], v["outcome"]) for v in state["history"]] == [
        (2, "Differential", "accepted"),
        (1, "Full", "accepted"),
    ]
    check = await http.post(f"{LIST}/check", headers=ADMIN)
    assert check.json() == {
        "outcome": "ok",
        "station_version": 2,
        "server_version": 2,
        "in_sync": True,
    }

    # Support unblocks (and may do nothing else); the charger gets the change too.
    support = await operator_account(http, "support")
    expiry = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    refused = await http.patch(
        f"/tokens/{DEMO_TAG}",
        json={"status": "Accepted", "expires_at": expiry},
        headers=support["headers"],
    )
    assert refused.status_code == 403
    unblocked = await http.patch(
        f"/tokens/{DEMO_TAG}", json={"status": "Accepted"}, headers=support["headers"]
    )
    assert unblocked.status_code == 200
    await _synced(http, charger, 3)
    assert local_list(charger)[DEMO_TAG] == {"status": "Accepted"}
    assert (await charger.authorize(DEMO_TAG))["status"] == "Accepted"

    audit = (await http.get("/audit", params={"target": "id_token:1"}, headers=ADMIN)).json()
    assert [(e["actor"], e["action"]) for e in audit] == [
        (f"operator:{support['id']}", "token.unblock"),
        ("admin", "token.block"),
    ]


async def test_a_refused_differential_is_sent_again_in_full(http, charger):
    await _enable_list(http, charger)

    def refuse_once(payload: dict) -> dict:
        charger.charger.answer_with("SendLocalList", None)  # the next list: its own answer
        return {"status": "VersionMismatch"}

    charger.charger.answer_with("SendLocalList", refuse_once)
    issued = await http.post("/tokens", json={"token": "STOCK-1"}, headers=ADMIN)
    assert issued.status_code == 201 and issued.json()["driver_id"] is None
    await _synced(http, charger, 3)
    assert [(p["version"], p["type"]) for p in lists(charger)] == [
        (1, "Full"),
        (2, "Differential"),
        (3, "Full"),  # a new number for every list sent
    ]
    assert set(local_list(charger)) == {DEMO_TAG, "STOCK-1"}
    history = (await http.get(f"{LIST}/versions", headers=ADMIN)).json()
    assert [v["outcome"] for v in history] == ["accepted", "refused", "accepted"]
    assert history[1]["status"] == "VersionMismatch"


async def test_an_offline_station_gets_its_list_when_it_comes_back(
    http, seeded, worker, gateway_url, settings, local_list_translators
):
    db = seeded
    settings.local_list_retry_s = 1
    response = await http.put(LIST, json={"enabled": True}, headers=ADMIN)
    assert response.status_code == 202

    async def offline_recorded():
        history = (await http.get(f"{LIST}/versions", headers=ADMIN)).json()
        return history and history[0]["outcome"] == "offline"

    await eventually(offline_recorded)
    async with connected_charger(gateway_url) as charger:
        await eventually(lambda: list_version(charger) >= 1, timeout=15)
        assert lists(charger)[0]["type"] == "Full"
    await _until_offline(db)
    # Disabling clears the list on the charger (a full, empty list).
    async with connected_charger(gateway_url) as charger:
        await http.put(LIST, json={"enabled": False}, headers=ADMIN)
        await eventually(lambda: lists(charger) and lists(charger)[-1]["entries"] == [], timeout=15)
        assert lists(charger)[-1]["type"] == "Full"


async def test_a_rebooted_charger_gets_the_whole_list_again(
    http, seeded, worker, gateway, gateway_url, temporal_client, settings, local_list_translators
):
    db = seeded
    if not any(isinstance(x, LocalListListener) for x in gateway.services.events.listeners):
        listener = LocalListListener(temporal_client, gateway.store, settings.task_queue)
        gateway.services.events.subscribe(listener)
    async with connected_charger(gateway_url) as charger:
        await _enable_list(http, charger)
    await _until_offline(db)
    async with connected_charger(gateway_url) as replaced:  # boots with an empty list
        await _synced(http, replaced, 2)
        assert [(p["version"], p["type"]) for p in lists(replaced)] == [(2, "Full")]
        assert set(local_list(replaced)) == {DEMO_TAG}


async def test_expiry_and_concurrency_limit(http, charger, db):
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    driver = (
        await http.post("/drivers", json={"name": "F", "email": "f@x.example"}, headers=ADMIN)
    ).json()
    url = f"/drivers/{driver['id']}/tokens"
    expired = await http.post(url, json={"token": "OLD-CARD", "expires_at": past}, headers=ADMIN)
    assert expired.status_code == 201
    assert (await charger.authorize("OLD-CARD"))["status"] == "Expired"

    limited = await http.post(
        url, json={"token": "ONE-AT-A-TIME", "max_concurrent_sessions": 1}, headers=ADMIN
    )
    assert limited.json()["max_concurrent_sessions"] == 1
    start = await charger.start_transaction("ONE-AT-A-TIME", connector_id=1)
    tx = start["transactionId"]
    assert start["idTagInfo"]["status"] == "Accepted"
    await charger.status("Charging", 1)
    assert (await charger.authorize("ONE-AT-A-TIME"))["status"] == "ConcurrentTx"
    await charger.stop_transaction()

    def state() -> str | None:
        with db.session() as session:
            row = session.get(ChargingSession, contract.session_workflow_id(DEMO_STATION, tx))
            return row.state if row else None

    await eventually(lambda: state() not in ("Charging", None))
    assert (await charger.authorize("ONE-AT-A-TIME"))["status"] == "Accepted"
    # Raising the limit by PATCH.
    patched = await http.patch(
        "/tokens/ONE-AT-A-TIME", json={"max_concurrent_sessions": 2}, headers=ADMIN
    )
    assert patched.json()["max_concurrent_sessions"] == 2


async def test_group_stop_by_card_and_by_app(http, charger, db, temporal_client):
    owner = await driver_account(http, "fleet.a@example.com")
    colleague = await driver_account(http, "fleet.b@example.com")
    outsider = await driver_account(http, "other@example.com")
    for account, token in ((owner, "FLEET-A"), (colleague, "FLEET-B"), (outsider, "LONE-C")):
        group = None if token == "LONE-C" else "FLEET-1"
        response = await http.post(
            f"/drivers/{account['driver_id']}/tokens",
            json={"token": token, "group_id": group},
            headers=ADMIN,
        )
        assert response.status_code == 201

    # On the charger: B's card stops A's session (same parentIdTag, OCPP 1.6 group stop).
    start = await charger.start_transaction("FLEET-A", connector_id=1)
    tx = start["transactionId"]
    assert start["idTagInfo"] == {"status": "Accepted", "parentIdTag": "FLEET-1"}
    await charger.status("Charging", 1)
    assert (await charger.authorize("FLEET-B"))["parentIdTag"] == "FLEET-1"
    await charger.stop_transaction(id_tag="FLEET-B")
    view = await session_result(temporal_client, DEMO_STATION, tx)
    assert view.state.value == "Completed"

    # In the app: the colleague may stop A's next session, the outsider may not even see it.
    tx = (await charger.start_transaction("FLEET-A", connector_id=2))["transactionId"]
    await charger.status("Charging", 2)
    session_id = contract.session_workflow_id(DEMO_STATION, tx)
    denied = await http.post(f"/me/sessions/{session_id}/stop", headers=outsider["headers"])
    assert denied.status_code == 404
    assert (
        await http.get(f"/me/sessions/{session_id}", headers=colleague["headers"])
    ).status_code == 404
    stopped = await http.post(f"/me/sessions/{session_id}/stop", headers=colleague["headers"])
    assert stopped.status_code == 202, stopped.text
    assert stopped.json()["status"] == "Accepted"
    await eventually(lambda: tx in stopped_transactions(charger))
    view = await session_result(temporal_client, DEMO_STATION, tx)
    assert view.state.value == "Completed" and view.stop_reason == "Remote"
    with db.session() as session:
        entry = session.exec(
            select(AuditEntry).where(AuditEntry.action == "session.remote_stop")
        ).one()
    assert entry.actor == f"driver:{colleague['driver_id']}"


async def test_driver_blocks_a_lost_card(http, charger):
    account = await driver_account(http, "lost@example.com")
    await http.post(
        f"/drivers/{account['driver_id']}/tokens", json={"token": "LOST-CARD"}, headers=ADMIN
    )
    [card] = (await http.get("/me/tokens", headers=account["headers"])).json()
    other = await driver_account(http, "thief@example.com")
    stolen = await http.post(f"/me/tokens/{card['id']}/block", headers=other["headers"])
    assert stolen.status_code == 404
    blocked = await http.post(f"/me/tokens/{card['id']}/block", headers=account["headers"])
    assert blocked.json()["status"] == "Blocked"
    assert (await charger.authorize("LOST-CARD"))["status"] == "Blocked"
    # Drivers cannot unblock (support can), nor use the operator routes.
    assert (
        await http.patch(
            "/tokens/LOST-CARD", json={"status": "Accepted"}, headers=account["headers"]
        )
    ).status_code == 403
    assert bearer(account["access_token"]) == account["headers"]
