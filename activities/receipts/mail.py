"""E-mail a receipt (HTML body, PDF attached) when SMTP is configured (`AMPFLOW_SMTP_*`)."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from activities.receipts.data import ReceiptData
from runtime.settings import Settings


def smtp_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def send_receipt(settings: Settings, to: str, data: ReceiptData, html: str, pdf: bytes) -> None:
    """Send one receipt; raises on SMTP errors (the caller retries)."""
    message = EmailMessage()
    message["Subject"] = f"Your charging receipt no. {data.number} ({data.total})"
    message["From"] = settings.smtp_from
    message["To"] = to
    message.set_content(
        f"Receipt no. {data.number}: {data.energy_kwh} kWh at {data.station_id}, "
        f"total {data.total}."
    )
    message.add_alternative(html, subtype="html")
    message.add_attachment(
        pdf, maintype="application", subtype="pdf", filename=f"receipt-{data.number}.pdf"
    )
    assert settings.smtp_host is not None
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password or "")
        smtp.send_message(message)
