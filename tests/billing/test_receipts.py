"""Receipts: gap-free numbers, HTML and a real PDF (parsed), wallet, signed data, e-mail."""

from __future__ import annotations

import io

import httpx
import pypdf
from temporalio.testing import ActivityEnvironment

from activities.payments.service import Payments
from activities.receipts.activities import ReceiptActivities
from domain.payments import HoldRequest, SettleRequest
from domain.session import ReceiptRequest
from runtime.settings import Settings
from tests.billing.conftest import demo_driver_id, make_session, rate_stored, save_card
from tests.billing.smtp_server import SmtpServer

SIGNED = 'OCMF|{"FV":"1.0","RD":[{"RV":8.0,"RU":"kWh"}]}|{"SD":"3045022100ab"}'


def _settled_session(payments: Payments, session_id: str, card: str = "pm_card_visa_applepay"):
    driver = demo_driver_id(payments.db)
    save_card(payments, driver, card)
    payments.place_hold(HoldRequest(session_id=session_id, station_id="DEMO-1", driver_id=driver))
    make_session(payments.db, session_id, driver_id=driver, energy_wh=7_000, signed=SIGNED)
    total = rate_stored(payments.db, session_id)
    payments.settle(
        SettleRequest(session_id=session_id, driver_id=driver, amount=total, currency="EUR")
    )
    return total


def _pdf_text(pdf: bytes) -> str:
    """The text of a PDF, read with pypdf (a dev dependency)."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert reader.pages, "no pages"
    return "\n".join(page.extract_text() for page in reader.pages)


async def test_receipt_html_pdf_and_numbers(
    payments: Payments, stripe_settings: Settings, billing_api: httpx.AsyncClient
) -> None:
    # 7 kWh * 0.35 = 245; 1 h * 1.20 = 120; session 50; net 415; VAT 20 % = 83; total 498.
    assert _settled_session(payments, "rc-1") == 498
    settings = stripe_settings.model_copy(
        update={"operator_name": "Ampflow Charging GmbH", "operator_vat_id": "DE123456789"}
    )
    env = ActivityEnvironment()
    receipts = ReceiptActivities(payments.db, settings)
    first = env.run(receipts.issue_session_receipt, ReceiptRequest(session_id="rc-1"))
    again = env.run(receipts.issue_session_receipt, ReceiptRequest(session_id="rc-1"))
    assert first == again and first.receipt_number == 1

    make_session(payments.db, "rc-2", driver_id=None, energy_wh=1_000)
    rate_stored(payments.db, "rc-2")
    assert (
        env.run(receipts.issue_session_receipt, ReceiptRequest(session_id="rc-2")).receipt_number
        == 2
    )

    html = await billing_api.get("/sessions/rc-1/receipt")
    assert html.status_code == 200
    for text in (
        "Ampflow Charging GmbH",
        "DE123456789",
        "Visa •••• 4242 (Apple Pay)",
        "4.98 EUR",
        "VAT 20 %",
        "OCMF|",
    ):
        assert text in html.text

    response = await billing_api.get("/sessions/rc-1/receipt.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-1.")
    text = _pdf_text(response.content)
    assert "Charging receipt no. 1" in text
    assert "Total" in text and "4.98 EUR" in text
    for line in (
        "Energy",
        "7.000 kWh",
        "2.45 EUR",
        "Charging time",
        "1.20 EUR",
        "Session fee",
        "0.50 EUR",
        "VAT 20 % on 4.15 EUR",
        "0.83 EUR",
        "DEMO-1 / 1",
        "Apple Pay",
        "Signed meter data",
        "OCMF|",
    ):
        assert line in text, line
    missing = await billing_api.get("/sessions/nope/receipt.pdf")
    assert missing.status_code == 404


def test_receipt_is_emailed_when_smtp_is_configured(
    payments: Payments, stripe_settings: Settings
) -> None:
    _settled_session(payments, "rc-mail", card="pm_card_visa")
    with SmtpServer() as smtp:
        settings = stripe_settings.model_copy(
            update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_from": "r@ampflow.test"}
        )
        env = ActivityEnvironment()
        receipts = ReceiptActivities(payments.db, settings)
        env.run(receipts.issue_session_receipt, ReceiptRequest(session_id="rc-mail"))
        env.run(receipts.issue_session_receipt, ReceiptRequest(session_id="rc-mail"))  # not twice
        assert len(smtp.messages) == 1
        sent = smtp.messages[0]
    assert sent.rcpt_to == ["demo.driver@example.com"]
    message = sent.message
    assert "Your charging receipt no. 1" in message["Subject"]
    attachments = [p for p in message.walk() if p.get_content_type() == "application/pdf"]
    assert len(attachments) == 1
    assert "4.98 EUR" in _pdf_text(attachments[0].get_payload(decode=True))
