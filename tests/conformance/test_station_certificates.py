"""Station certificates signed by the operator's CA (#19; OCPP 2.0.1 A02/A03, 1.6 security
whitepaper; OCTT 2.0.1 TC_A_11-14, 1.6 TC_074/TC_077).

The operator asks a station for a new certificate; the station sends a CSR (SignCertificate); the
CSMS checks it — common name = the station's own identity, a sound key, a valid signature —
answers Accepted and sends CertificateSigned with the chain, then records how the station
answered. The certificate admits the station at security profile 3 on the real TLS listener. A
CSR for another station's identity (or with a second name, a weak key, a broken signature) is
Rejected and no certificate is sent. ISO 15118 contract-certificate requests get a schema-valid
refusal, not NotSupported.

Real gateway (ws:// and wss://, test CA), workflow worker and API; DEMO-1 is a scripted virtual
charger whose answers the test spells out."""

from __future__ import annotations

import asyncio
import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlmodel import select

from ampflow.seed import DEMO_STATION
from chargers.rpc import CallError
from chargers.script import scripted
from store.certificate_tables import StationCertificate
from store.tables import OcppMessage, Station
from tests.conftest import DEMO_PASSWORD
from tests.gateway.certificates import Pki, csr, tls_gateway, weak_rsa_key, write_chain
from tests.helpers import eventually

TRIGGER = {
    "1.6": ("ExtendedTriggerMessage", "SignChargePointCertificate"),
    "2.0.1": ("TriggerMessage", "SignChargingStationCertificate"),
}


@pytest.fixture
def pki(tmp_path) -> Pki:
    return Pki(tmp_path)


@pytest.fixture
async def gw(settings, temporal_client, database_url, db, pki):
    async with tls_gateway(settings, temporal_client, database_url, pki) as gateway:
        yield gateway


class CertificateInbox:
    """What the scripted station received: CertificateSigned payloads, answered as told."""

    def __init__(self, script, answer: str = "Accepted") -> None:
        self.signed: list[dict] = []
        self.arrived = asyncio.Event()

        def certificate_signed(payload: dict) -> dict:
            self.signed.append(payload)
            self.arrived.set()
            return {"status": answer}

        script.charger.answer_with("CertificateSigned", certificate_signed)


def certificates(db) -> list[StationCertificate]:
    with db.session() as s:
        return list(
            s.exec(
                select(StationCertificate)
                .where(StationCertificate.station_id == DEMO_STATION)
                .order_by(StationCertificate.id)
            ).all()
        )


def sign_request(version: str, csr_pem: str, certificate_type: str | None = None) -> dict:
    payload = {"csr": csr_pem}
    if version == "2.0.1":
        payload["certificateType"] = certificate_type or "ChargingStationCertificate"
    return payload


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_renewal_signs_the_station_csr_and_the_certificate_admits_it_at_profile_3(
    seeded, worker, gw, api, db, pki, tmp_path, version
):
    csr_pem, key = csr(DEMO_STATION)
    answers: list[dict] = []
    plain = f"ws://127.0.0.1:{gw.port}/ocpp"
    async with scripted(plain, DEMO_STATION, DEMO_PASSWORD, version=version) as script:
        station = CertificateInbox(script)
        action, requested = TRIGGER[version]

        def trigger(payload: dict):
            assert payload["requestedMessage"] == requested

            async def send_csr() -> None:
                answers.append(
                    await script.charger.call("SignCertificate", sign_request(version, csr_pem))
                )

            return {"status": "Accepted"}, send_csr()

        script.charger.answer_with(action, trigger)
        reply = await api.post(f"/stations/{DEMO_STATION}/certificates/renew", json={})
        assert reply.status_code == 200, reply.text
        assert (reply.json()["name"], reply.json()["status"]) == ("renew_certificate", "Accepted")
        await asyncio.wait_for(station.arrived.wait(), 15)
    assert answers == [{"status": "Accepted"}]
    [sent] = station.signed
    if version == "2.0.1":  # A02.FR.14: the type echoed
        assert sent["certificateType"] == "ChargingStationCertificate"
    else:
        assert set(sent) == {"certificateChain"}

    # The chain: the station's certificate first, for its own key and identity, issued by the CA.
    chain = x509.load_pem_x509_certificates(sent["certificateChain"].encode())
    leaf = chain[0]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == DEMO_STATION
    assert leaf.public_key() == key.public_key()
    assert leaf.issuer == pki.cert.subject and chain[1] == pki.cert
    leaf.verify_directly_issued_by(pki.cert)
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usage
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    # The certificate went out only after the SignCertificate answer (the gateway's own log).
    def sent_out() -> list[str]:
        with db.session() as s:
            return list(
                s.exec(
                    select(OcppMessage.action)
                    .where(OcppMessage.station_id == DEMO_STATION, OcppMessage.direction == "out")
                    .where(OcppMessage.action.in_(["SignCertificate", "CertificateSigned"]))
                    .order_by(OcppMessage.id)
                ).all()
            )

    assert await eventually(lambda: len(sent_out()) == 2 and sent_out()) == [
        "SignCertificate",
        "CertificateSigned",
    ]

    # Recorded with the station's answer, and listed for operators.
    [row] = await eventually(lambda: [r for r in certificates(db) if r.status == "Accepted"])
    assert row.serial_number == format(leaf.serial_number, "x")
    listed = (await api.get(f"/stations/{DEMO_STATION}/certificates")).json()
    assert [(c["status"], c["serial_number"]) for c in listed] == [("Accepted", row.serial_number)]
    audit = (await api.get("/audit", params={"action": "station.renew_certificate"})).json()
    assert any(e["target"] == f"station:{DEMO_STATION}" for e in _items(audit))

    # Security profile 3 with the signed certificate and the station's own key.
    with db.session() as s:
        s.get(Station, DEMO_STATION).security_profile = 3
        s.commit()
    context = pki.client_context()
    context.load_cert_chain(*write_chain(tmp_path, "renewed", sent["certificateChain"], key))
    async with scripted(
        f"wss://127.0.0.1:{gw.tls_port}/ocpp",
        DEMO_STATION,
        DEMO_PASSWORD,
        version=version,
        boot=False,
        ssl_context=context,
    ) as script:
        assert await script.charger.wait_boot_answer() == "Accepted"


def _items(page):
    return page["items"] if isinstance(page, dict) else page


# What must never be signed, and the 2.0.1 reason code it is refused with.
BAD_CSRS = {
    "another station's identity": (lambda: csr("OTHER-1")[0], "WrongIdentity"),
    "a second common name": (lambda: csr(DEMO_STATION, extra_cn="OTHER-1")[0], "InvalidSubject"),
    "a 1024-bit RSA key": (lambda: csr(DEMO_STATION, weak_rsa_key())[0], "KeyTooShort"),
    "a curve outside P-256/384/521": (
        lambda: csr(DEMO_STATION, ec.generate_private_key(ec.SECP256K1()))[0],
        "UnsupportedKey",
    ),
    "a broken signature": (lambda: _tampered(csr(DEMO_STATION)[0]), "InvalidSignature"),
    "no CSR at all": (lambda: "-----BEGIN CERTIFICATE REQUEST-----\nAA==\n", "InvalidCSR"),
}


def _tampered(csr_pem: str) -> str:
    """The same CSR with one byte of its signature flipped."""
    body = "".join(csr_pem.strip().splitlines()[1:-1])
    der = bytearray(base64.b64decode(body))
    der[-1] ^= 0x01
    encoded = base64.b64encode(bytes(der)).decode()
    lines = [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    return "\n".join(
        ["-----BEGIN CERTIFICATE REQUEST-----", *lines, "-----END CERTIFICATE REQUEST-----", ""]
    )


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize("case", list(BAD_CSRS))
async def test_a_csr_the_station_may_not_have_is_rejected_and_nothing_is_sent(
    seeded, gw, db, version, case
):
    make, reason = BAD_CSRS[case]
    plain = f"ws://127.0.0.1:{gw.port}/ocpp"
    async with scripted(plain, DEMO_STATION, DEMO_PASSWORD, version=version) as script:
        station = CertificateInbox(script)
        answer = await script.charger.call("SignCertificate", sign_request(version, make()))
        assert answer["status"] == "Rejected"
        if version == "2.0.1":
            assert answer["statusInfo"]["reasonCode"] == reason
        # The connection goes on; nothing was signed or sent.
        assert (await script.charger.call("Heartbeat", {}))["currentTime"]
    assert station.signed == []
    [row] = certificates(db)
    assert (row.status, row.serial_number, row.certificate) == ("Refused", None, None)
    assert row.detail.startswith(reason)


async def test_a_certificate_the_station_rejects_is_recorded_as_rejected(seeded, gw, db):
    plain = f"ws://127.0.0.1:{gw.port}/ocpp"
    async with scripted(plain, DEMO_STATION, DEMO_PASSWORD, version="2.0.1") as script:
        station = CertificateInbox(script, answer="Rejected")
        request = sign_request("2.0.1", csr(DEMO_STATION)[0], "V2GCertificate")
        assert (await script.charger.call("SignCertificate", request))["status"] == "Accepted"
        await asyncio.wait_for(station.arrived.wait(), 15)
        # TC_A_14: the station then reports the invalid certificate; that is answered too.
        event = {"type": "InvalidChargingStationCertificate", "timestamp": "2026-01-01T12:00:00Z"}
        assert await script.charger.call("SecurityEventNotification", event) == {}
    [sent] = station.signed
    assert sent["certificateType"] == "V2GCertificate"
    leaf = x509.load_pem_x509_certificates(sent["certificateChain"].encode())[0]
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]  # the station serves the EV
    [row] = await eventually(lambda: [r for r in certificates(db) if r.status != "Issued"])
    assert (row.status, row.certificate_type) == ("Rejected", "V2GCertificate")
    assert row.answered_at is not None


async def test_iso15118_contract_certificate_requests_get_a_clear_refusal(seeded, gw):
    plain = f"ws://127.0.0.1:{gw.port}/ocpp"
    async with scripted(plain, DEMO_STATION, DEMO_PASSWORD, version="2.0.1") as script:
        install = await script.charger.call(
            "Get15118EVCertificate",
            {
                "iso15118SchemaVersion": "urn:iso:15118:2:2013:MsgDef",
                "action": "Install",
                "exiRequest": "AA==",
            },
        )
        assert (install["status"], install["exiResponse"]) == ("Failed", "")
        assert install["statusInfo"]["reasonCode"] == "NotSupported"
        ocsp = await script.charger.call(
            "GetCertificateStatus",
            {
                "ocspRequestData": {
                    "hashAlgorithm": "SHA256",
                    "issuerNameHash": "a" * 64,
                    "issuerKeyHash": "b" * 64,
                    "serialNumber": "01",
                    "responderURL": "http://127.0.0.1:9/ocsp",
                }
            },
        )
        assert ocsp["status"] == "Failed" and "ocspResult" not in ocsp
    async with scripted(plain, DEMO_STATION, DEMO_PASSWORD, version="1.6") as script:
        pnc = {"vendorId": "org.openchargealliance.iso15118pnc", "messageId": "Authorize"}
        assert await script.charger.call("DataTransfer", {**pnc, "data": "{}"}) == {
            "status": "Rejected"
        }
        with pytest.raises(CallError):  # a CSMS action sent the wrong way is still refused
            await script.charger.call("CertificateSigned", {"certificateChain": "x"})
