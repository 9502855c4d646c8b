"""Receipt documents: HTML (Jinja template) and PDF (`pdf.PdfDocument`) from `ReceiptData`."""

from __future__ import annotations

import textwrap
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from activities.receipts.data import ReceiptData
from activities.receipts.pdf import MARGIN, PAGE_WIDTH, PdfDocument

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent.parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
_RIGHT = PAGE_WIDTH - MARGIN


def render_html(data: ReceiptData) -> str:
    return _TEMPLATES.get_template("billing_receipt.html").render(r=data)


def render_pdf(data: ReceiptData) -> bytes:
    operator = data.operator
    heading = [
        operator.name,
        *operator.address.splitlines(),
        operator.vat_id and f"VAT ID {operator.vat_id}",
        operator.email,
    ]
    facts = [
        ("Issued", data.issued_at.strftime("%Y-%m-%d %H:%M UTC")),
        *([("Driver", data.driver_name)] if data.driver_name else []),
        ("Session", data.session_id),
        ("Station / connector", f"{data.station_id} / {data.connector_id}"),
        ("Started", str(data.started_at or "")),
        ("Stopped", str(data.stopped_at or "")),
        ("Energy", f"{data.energy_kwh} kWh"),
        (
            "Tariff",
            f"{data.tariff_name} (prices {'incl.' if data.prices_include_vat else 'excl.'} VAT)",
        ),
        ("Payment", f"{data.payment_method} - {data.payment_status}"),
    ]
    texts = [*filter(None, heading), *(value for _, value in facts)]
    texts += [part for line in data.lines for part in (line.label, line.quantity, line.unit_price)]
    texts += data.signed_meter_data
    doc = PdfDocument(title=f"Receipt {data.number}", texts=texts, created=data.issued_at)
    doc.text(MARGIN, f"Charging receipt no. {data.number}", size=16, font="F2")
    doc.newline(22)
    for text in heading:
        if text:
            doc.text(MARGIN, text, width=_RIGHT - MARGIN)
            doc.newline()
    doc.newline(6)
    for label, value in facts:
        doc.text(MARGIN, label, font="F2")
        doc.text(MARGIN + 130, value, width=_RIGHT - MARGIN - 130)
        doc.newline()
    doc.newline(8)
    doc.text(MARGIN, "Charges", size=12, font="F2")
    doc.newline(18)
    for line in data.lines:
        doc.text(MARGIN, line.label)
        doc.text(MARGIN + 200, line.quantity)
        doc.text(MARGIN + 300, line.unit_price, size=8)
        doc.right(_RIGHT, line.amount)
        doc.newline()
    doc.rule()
    doc.text(MARGIN, "Net")
    doc.right(_RIGHT, data.net)
    doc.newline()
    for tax in data.taxes:
        doc.text(MARGIN, f"VAT {tax.rate} on {tax.net}")
        doc.right(_RIGHT, tax.vat)
        doc.newline()
    doc.text(MARGIN, "Total", font="F2")
    doc.right(_RIGHT, data.total, size=11)
    doc.newline(20)
    if data.signed_meter_data:
        doc.text(MARGIN, "Signed meter data", size=12, font="F2")
        doc.newline(16)
        for signed in data.signed_meter_data:
            for chunk in textwrap.wrap(signed, 95) or [""]:
                doc.text(MARGIN, chunk, size=7, font="F3")
                doc.newline(9)
            doc.newline(4)
    return doc.render()
