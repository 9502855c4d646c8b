"""The 2.0.1 route table: every charger-initiated message gets a deliberate, schema-valid answer."""

from __future__ import annotations

import pytest
from ocpp.exceptions import NotSupportedError
from ocpp.v201 import call
from sqlmodel import select

from ampflow.seed import DEMO_STATION
from ampflow.simulator_v201 import iso
from gateway import events
from gateway.schemas import known_actions
from gateway.v201.routes import ROUTES
from store.tables import MeterSample
from tests.helpers import eventually
from tests.v201.support import EventLog, booted_station, station_events

NOW = "2026-01-01T12:00:00Z"

# Actions the station may send that this CSMS deliberately answers with NotSupported.
NOT_SUPPORTED = [
    call.Get15118EVCertificate(
        iso15118_schema_version="urn:iso:15118:2:2013:MsgDef", action="Install", exi_request="AA"
    ),
    call.GetCertificateStatus(
        ocsp_request_data={
            "hashAlgorithm": "SHA256",
            "issuerNameHash": "a",
            "issuerKeyHash": "b",
            "serialNumber": "c",
            "responderURL": "https://ocsp.example",
        }
    ),
    call.NotifyCustomerInformation(data="x", seq_no=0, generated_at=NOW, request_id=1),
    call.NotifyDisplayMessages(request_id=1),
    call.NotifyMonitoringReport(request_id=1, seq_no=0, generated_at=NOW),
    call.PublishFirmwareStatusNotification(status="Idle"),
    call.Reset(type="Immediate"),  # a CSMS-to-station action sent the wrong way
]


def test_the_route_table_covers_the_charger_initiated_messages_we_support():
    assert set(ROUTES) <= known_actions("ocpp2.0.1")
    assert {type(p).__name__ for p in NOT_SUPPORTED}.isdisjoint(ROUTES)


async def test_unsupported_actions_get_an_explicit_not_supported(seeded, gateway_url):
    async with booted_station(gateway_url) as station:
        for payload in NOT_SUPPORTED:
            with pytest.raises(NotSupportedError):
                await station.call(payload, suppress=False)
        # The connection is still usable afterwards.
        assert (await station.send(call.Heartbeat())).current_time


async def test_station_reports_are_answered_recorded_and_published(
    seeded, worker, gateway, gateway_url
):
    log = EventLog()
    gateway.services.events.subscribe(log)
    async with booted_station(gateway_url) as station:
        signed = await station.send(call.SignCertificate(csr="-----BEGIN CSR-----"))
        assert signed.status == "Rejected" and signed.status_info["reason_code"]
        needs = await station.send(
            call.NotifyEVChargingNeeds(
                evse_id=1, charging_needs={"requestedEnergyTransfer": "AC_three_phase"}
            )
        )
        assert needs.status == "Rejected"
        transfer = await station.send(call.DataTransfer(vendor_id="com.example", data="x"))
        assert transfer.status == "UnknownVendorId"
        await station.send(call.FirmwareStatusNotification(status="Downloading", request_id=7))
        await station.send(call.LogStatusNotification(status="Uploaded", request_id=8))
        await station.send(
            call.SecurityEventNotification(type="TamperDetectionActivated", timestamp=NOW)
        )
        await station.send(
            call.ReservationStatusUpdate(reservation_id=3, reservation_update_status="Expired")
        )
        await station.send(call.NotifyReport(request_id=4, generated_at=NOW, seq_no=0, tbc=True))
        await station.send(
            call.NotifyChargingLimit(charging_limit={"chargingLimitSource": "EMS"}, evse_id=1)
        )
        await station.send(call.ClearedChargingLimit(charging_limit_source="EMS", evse_id=1))
        # The main meter (evseId 0) in kWh with a multiplier: stored in base units.
        await station.send(
            call.MeterValues(
                evse_id=0,
                meter_value=[
                    {
                        "timestamp": iso(station.model.clock),
                        "sampledValue": [
                            {
                                "value": 12.5,
                                "measurand": "Energy.Active.Import.Register",
                                "unitOfMeasure": {"unit": "kWh", "multiplier": 1},
                            }
                        ],
                    }
                ],
            )
        )

    assert [(e.status, e.request_id) for e in log.of(events.FirmwareStatus)] == [("Downloading", 7)]
    assert [(e.status, e.request_id) for e in log.of(events.DiagnosticsStatus)] == [("Uploaded", 8)]
    [booted] = log.of(events.Booted)
    assert (booted.vendor, booted.reason) == ("Ampflow", "PowerUp")
    [reading] = log.of(events.MeterReading)
    assert (reading.connector_id, reading.energy_wh, reading.session_id) == (0, 125_000, None)
    for kind in (
        "SignCertificateRejected",
        "FirmwareStatus",
        "LogStatus",
        "SecurityEvent",
        "ReservationStatusUpdate",
        "NotifyReport",
        "ChargingLimitSet",
        "ChargingLimitCleared",
    ):
        assert len(station_events(seeded, kind)) == 1, kind
    assert station_events(seeded, "NotifyReport")[0].detail["tbc"] is True

    def main_meter():
        with seeded.session() as db:
            return db.exec(select(MeterSample).where(MeterSample.station_id == DEMO_STATION)).all()

    [sample] = await eventually(main_meter)
    assert (sample.connector_id, sample.unit, sample.value) == (0, "kWh", 125.0)
