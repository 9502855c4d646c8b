"""The 2.0.1 route table: every charger-initiated message gets a deliberate, schema-valid answer."""

from __future__ import annotations

import pytest
from sqlmodel import select

from ampflow.seed import DEMO_STATION
from chargers.rpc import CallError
from chargers.script import iso
from gateway import events
from gateway.schemas import known_actions
from gateway.v201.routes import ROUTES
from store.tables import MeterSample
from tests.helpers import eventually
from tests.records import EventLog, station_events
from tests.stations import demo_201

NOW = "2026-01-01T12:00:00Z"

# Actions the station may send that this CSMS deliberately answers with NotSupported.
# (ISO 15118 contract-certificate requests get a schema-valid Failed instead:
# tests/conformance/test_station_certificates.py.)
NOT_SUPPORTED = [
    ("Reset", {"type": "Immediate"}),  # a CSMS-to-station action sent the wrong way
]


def test_the_route_table_covers_the_charger_initiated_messages_we_support():
    assert set(ROUTES) <= known_actions("ocpp2.0.1")
    assert {action for action, _ in NOT_SUPPORTED}.isdisjoint(ROUTES)


async def test_unsupported_actions_get_an_explicit_not_supported(seeded, gateway_url):
    async with demo_201(gateway_url) as station:
        for action, payload in NOT_SUPPORTED:
            with pytest.raises(CallError) as refused:
                await station.call(action, payload)
            assert refused.value.code == "NotSupported", action
        # The connection is still usable afterwards.
        assert (await station.call("Heartbeat", {}))["currentTime"]


async def test_station_reports_are_answered_recorded_and_published(
    seeded, worker, gateway, gateway_url
):
    log = EventLog()
    gateway.services.events.subscribe(log)
    async with demo_201(gateway_url) as station:
        signed = await station.call("SignCertificate", {"csr": "-----BEGIN CSR-----"})
        assert signed["status"] == "Rejected" and signed["statusInfo"]["reasonCode"]
        needs = await station.call(
            "NotifyEVChargingNeeds",
            {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "AC_three_phase"}},
        )
        assert needs["status"] == "Rejected"
        transfer = await station.call("DataTransfer", {"vendorId": "com.example", "data": "x"})
        assert transfer["status"] == "UnknownVendorId"
        await station.call("FirmwareStatusNotification", {"status": "Downloading", "requestId": 7})
        await station.call("LogStatusNotification", {"status": "Uploaded", "requestId": 8})
        await station.call(
            "SecurityEventNotification", {"type": "TamperDetectionActivated", "timestamp": NOW}
        )
        await station.call(
            "ReservationStatusUpdate", {"reservationId": 3, "reservationUpdateStatus": "Expired"}
        )
        await station.call(
            "NotifyReport", {"requestId": 4, "generatedAt": NOW, "seqNo": 0, "tbc": True}
        )
        await station.call(
            "NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": "EMS"}, "evseId": 1}
        )
        await station.call("ClearedChargingLimit", {"chargingLimitSource": "EMS", "evseId": 1})
        # The main meter (evseId 0) in kWh with a multiplier: stored in base units.
        await station.call(
            "MeterValues",
            {
                "evseId": 0,
                "meterValue": [
                    {
                        "timestamp": iso(station.clock),
                        "sampledValue": [
                            {
                                "value": 12.5,
                                "measurand": "Energy.Active.Import.Register",
                                "unitOfMeasure": {"unit": "kWh", "multiplier": 1},
                            }
                        ],
                    }
                ],
            },
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
