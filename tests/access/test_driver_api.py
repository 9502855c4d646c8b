"""The driver API: stations with availability and prices, a session started and stopped from
the app through a real charger, live state, history and receipts — and nothing of anyone else."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from ampflow.seed import DEMO_STATION
from chargers.rpc import OcppFault
from store.access_tables import DriverLogin
from store.audit import audit_entries
from store.tables import ChargingSession, IdToken, Receipt
from tests.access.conftest import started_transactions
from tests.access.helpers import ADMIN, driver_account
from tests.helpers import eventually, session_result
from workflows import contract


def _session_row(db, session_id: str, driver_id: int, token: str) -> None:
    with db.session() as session:
        session.add(
            ChargingSession(
                id=session_id,
                station_id=DEMO_STATION,
                transaction_id=session_id[-3:],
                id_token=token,
                driver_id=driver_id,
                state="Completed",
                tariff={},
                energy_wh=1000,
                total_amount=123,
                currency="EUR",
                started_at=datetime(2030, 1, 1, tzinfo=UTC),
            )
        )
        session.flush()
        number = int(session_id[-3:])
        session.add(
            Receipt(
                session_id=session_id,
                number=number,
                total=123,
                currency="EUR",
                html=f"<p>{session_id}</p>",
            )
        )


async def test_a_driver_sees_only_their_own_data(http, seeded):
    ann = await driver_account(http, "ann@example.com", name="Ann")
    ben = await driver_account(http, "ben@example.com", name="Ben")
    _session_row(seeded, "session-DEMO-1-901", ann["driver_id"], "ANN-CARD")
    _session_row(seeded, "session-DEMO-1-902", ben["driver_id"], "BEN-CARD")
    await http.post(
        f"/drivers/{ben['driver_id']}/tokens", json={"token": "BEN-CARD"}, headers=ADMIN
    )

    mine = (await http.get("/me/sessions", headers=ann["headers"])).json()
    assert [s["id"] for s in mine] == ["session-DEMO-1-901"] and mine[0]["has_receipt"]
    own = await http.get("/me/sessions/session-DEMO-1-901", headers=ann["headers"])
    assert own.status_code == 200 and own.json()["total_amount"] == 123
    receipt = await http.get("/me/sessions/session-DEMO-1-901/receipt", headers=ann["headers"])
    assert receipt.status_code == 200 and "session-DEMO-1-901" in receipt.text
    for path in (
        "/me/sessions/session-DEMO-1-902",
        "/me/sessions/session-DEMO-1-902/receipt",
        "/me/sessions/session-DEMO-1-999",
    ):
        assert (await http.get(path, headers=ann["headers"])).status_code == 404
    assert (
        await http.post("/me/sessions/session-DEMO-1-902/stop", headers=ann["headers"])
    ).status_code == 404
    assert (await http.get("/me/tokens", headers=ann["headers"])).json() == []
    assert (await http.get("/me", headers=ann["headers"])).json()["email"] == "ann@example.com"
    # Operator routes stay closed to drivers.
    for path in ("/sessions", "/drivers", "/tokens", f"/drivers/{ben['driver_id']}", "/audit"):
        assert (await http.get(path, headers=ann["headers"])).status_code == 403
    renamed = await http.patch("/me", json={"name": "Anne"}, headers=ann["headers"])
    assert renamed.json()["name"] == "Anne"
    assert (await http.get("/me", headers=ben["headers"])).json()["name"] == "Ben"


async def test_stations_show_availability_and_price(http, charger):
    ann = await driver_account(http, "ann@example.com")
    await charger.status("Charging", 2)
    stations = (await http.get("/me/stations", headers=ann["headers"])).json()
    [station] = [s for s in stations if s["id"] == DEMO_STATION]
    assert station["connected"] is True
    assert [(c["connector_id"], c["status"]) for c in station["connectors"]] == [
        (1, "Available"),
        (2, "Charging"),
    ]
    price = station["price"]
    assert (price["currency"], price["energy"], price["session_fee"]) == (
        "EUR",
        "0.42 EUR",  # with the 20 % VAT, in the currency
        "0.60 EUR",
    )
    assert "password_hash" not in station and "gateway_queue" not in station
    one = await http.get(f"/me/stations/{DEMO_STATION}", headers=ann["headers"])
    assert one.json() == station
    assert (await http.get("/me/stations/NOPE", headers=ann["headers"])).status_code == 404
    busy = await http.post(
        "/me/sessions", json={"station_id": DEMO_STATION, "connector_id": 2}, headers=ann["headers"]
    )
    assert busy.status_code == 409


async def test_start_follow_and_stop_from_the_app(http, charger, db, temporal_client):
    ann = await driver_account(http, "ann@example.com")
    started = await http.post(
        "/me/sessions", json={"station_id": DEMO_STATION, "connector_id": 1}, headers=ann["headers"]
    )
    assert started.status_code == 202, started.text
    session_id = started.json()["session_id"]
    assert started.json()["follow"] == f"/me/sessions/{session_id}"
    followed = await http.get(started.json()["follow"], headers=ann["headers"])
    assert followed.status_code == 200 and followed.json()["state"] in {"Pending", "Charging"}
    await eventually(lambda: started_transactions(charger))
    [tx] = started_transactions(charger)
    await charger.status("Charging", 1)
    assert session_id == contract.session_workflow_id(DEMO_STATION, tx)
    with db.session() as session:  # the app credential: a Central idToken of ≤ 20 characters
        login = session.get(DriverLogin, ann["driver_id"])
        token = session.get(IdToken, login.app_token_id)
        assert token.token_type == "Central" and len(token.token) <= 20
        assert token.token.startswith("APP-") and token.driver_id == ann["driver_id"]
        [started_by] = audit_entries(session, action="session.remote_start")
        assert started_by.actor == f"driver:{ann['driver_id']}"

    mine = (await http.get("/me/sessions", headers=ann["headers"])).json()
    assert [s["id"] for s in mine] == [session_id] and mine[0]["state"] == "Charging"
    await charger.meter(2500, power_w=7400)

    async def live_energy():
        detail = (await http.get(f"/me/sessions/{session_id}", headers=ann["headers"])).json()
        live = detail["live"]
        return live if live and live["energy_wh"] == 2500 else None

    live = await eventually(live_energy)
    assert live["power_w"] == 7400 and live["cost_so_far"] > 0 and live["currency"] == "EUR"
    credentials = (await http.get("/me/tokens", headers=ann["headers"])).json()
    assert [(c["app"], c["token"]) for c in credentials] == [(True, "APP-…")]

    other = await driver_account(http, "ben@example.com")
    assert (
        await http.get(f"/me/sessions/{session_id}", headers=other["headers"])
    ).status_code == 404
    stopped = await http.post(f"/me/sessions/{session_id}/stop", headers=ann["headers"])
    assert stopped.status_code == 202, stopped.text
    view = await session_result(temporal_client, DEMO_STATION, tx)
    assert view.state.value == "Completed"

    async def receipt():
        response = await http.get(f"/me/sessions/{session_id}/receipt", headers=ann["headers"])
        return response if response.status_code == 200 else None

    assert "receipt" in (await eventually(receipt)).text.lower()
    again = await http.post(f"/me/sessions/{session_id}/stop", headers=ann["headers"])
    assert again.status_code == 409


async def test_remote_start_needs_a_known_connected_station(http, seeded, worker, gateway):
    ann = await driver_account(http, "ann@example.com")
    unknown = await http.post(
        "/me/sessions", json={"station_id": "NOPE", "connector_id": 1}, headers=ann["headers"]
    )
    assert unknown.status_code == 404
    offline = await http.post(
        "/me/sessions", json={"station_id": DEMO_STATION, "connector_id": 1}, headers=ann["headers"]
    )
    assert offline.status_code == 409
    assert offline.json()["detail"].startswith(f"Station {DEMO_STATION} is offline")
    # Operators get the same answer (it used to be 202 and a session that silently expired).
    by_operator = await http.post(
        "/sessions", json={"station_id": DEMO_STATION, "id_token": "DEMO-TAG"}, headers=ADMIN
    )
    assert (by_operator.status_code, by_operator.json()) == (409, offline.json())
    assert (await http.get("/sessions", headers=ADMIN)).json() == []
    no_connector = await http.post(
        "/me/sessions", json={"station_id": DEMO_STATION, "connector_id": 9}, headers=ann["headers"]
    )
    assert no_connector.status_code == 404


async def test_a_refused_stop_reads_plainly_and_logs_one_line(http, charger, caplog):
    """A charger answering RemoteStopTransaction with a CALLERROR: the driver reads a plain
    sentence (not the OCPP error), and the logs get one line, no traceback."""
    ann = await driver_account(http, "ann@example.com")
    started = await http.post(
        "/me/sessions", json={"station_id": DEMO_STATION, "connector_id": 1}, headers=ann["headers"]
    )
    session_id = started.json()["session_id"]
    await eventually(lambda: started_transactions(charger))

    def not_implemented(payload: dict):
        raise OcppFault("NotImplemented", "RemoteStop is not built into this firmware")

    charger.charger.answer_with("RemoteStopTransaction", not_implemented)
    caplog.set_level(logging.INFO)
    caplog.clear()
    refused = await http.post(f"/me/sessions/{session_id}/stop", headers=ann["headers"])
    assert refused.status_code == 409
    body = refused.json()
    assert body["detail"] == "The station refused the request."
    assert "NotImplemented" not in refused.text and "RemoteStop" not in refused.text
    tracebacks = [r for r in caplog.records if r.exc_info and r.levelno >= logging.INFO]
    assert tracebacks == []
    assert any("command not carried out" in r.getMessage() for r in caplog.records)
