"""Receipt PDFs print any driver's and operator's name and address, read back exactly.

Latin, Greek and Cyrillic are read back with pypdf. Chinese, Japanese and Korean come from the
CJK fallback font, a CID-keyed OpenType font with its own encoding CMap, which pypdf (7.1) and
pdfminer cannot decode; PDFium (pypdfium2, the engine of Chrome's PDF viewer) reads them.
"""

from __future__ import annotations

import io

import pypdf
import pypdfium2

from activities.receipts.activities import issue, receipt_pdf
from activities.receipts.data import Operator
from store.db import Database
from store.tables import Driver
from tests.billing.conftest import make_session, rate_stored

# 7 kWh * 0.35 = 2.45; 1 h * 1.20 = 1.20; session 0.50; net 4.15; VAT 20 % 0.83; total 4.98.
AMOUNTS = [
    "Energy 7.000 kWh 0.35 EUR/kWh 2.45 EUR",
    "Net 4.15 EUR",
    "VAT 20 % on 4.15 EUR 0.83 EUR",
    "Total 4.98 EUR",
]


def _receipt(db: Database, session_id: str, driver: str, operator: Operator) -> bytes:
    with db.session() as s:
        row = Driver(name=driver, email=f"{session_id}@example.com")
        s.add(row)
        s.flush()
        driver_id = row.id
    make_session(db, session_id, driver_id=driver_id, energy_wh=7_000)
    assert rate_stored(db, session_id) == 498
    with db.session() as s:
        issue(s, session_id, operator)
        pdf = receipt_pdf(s, session_id, operator)
    assert pdf is not None and pdf.startswith(b"%PDF-")
    return pdf


def _lines_pypdf(pdf: bytes) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return [line.strip() for page in reader.pages for line in page.extract_text().splitlines()]


def _lines_pdfium(pdf: bytes) -> list[str]:
    doc = pypdfium2.PdfDocument(pdf)
    try:
        return [
            line.strip()
            for page in doc
            for line in page.get_textpage().get_text_range().splitlines()
        ]
    finally:
        doc.close()


def test_latin_greek_cyrillic_names_and_addresses_print_exactly(seeded: Database) -> None:
    operator = Operator(
        name="Ñandú Ενέργεια ООО",
        address="Ελληνικά 12, 10558 Αθήνα\nул. Тверская 1, Москва",
        vat_id="EL123456789",
        email="info@nandu.example",
    )
    pdf = _receipt(seeded, "rc-latin", "Zoë Łukasiewicz", operator)
    lines = _lines_pypdf(pdf)
    expected = [
        "Charging receipt no. 1",
        "Ñandú Ενέργεια ООО",
        "Ελληνικά 12, 10558 Αθήνα",
        "ул. Тверская 1, Москва",
        "VAT ID EL123456789",
        "info@nandu.example",
    ]
    assert lines[: len(expected)] == expected
    for line in ["Driver Zoë Łukasiewicz", "Station / connector DEMO-1 / 1", *AMOUNTS]:
        assert line in lines, (line, lines)
    assert "?" not in "\n".join(lines)
    assert _lines_pdfium(pdf) == lines  # the two readers agree where both can read


def test_chinese_japanese_korean_names_print_exactly(seeded: Database) -> None:
    operator = Operator(
        name="東京都港区",
        address="東京都港区芝公園4-2-8\n서울특별시 중구 세종대로 110",
        vat_id="JP1234567890123",
    )
    pdf = _receipt(seeded, "rc-cjk", "山田 太郎 (Yamada Tarō)", operator)
    lines = _lines_pdfium(pdf)
    expected = [
        "Charging receipt no. 1",
        "東京都港区",
        "東京都港区芝公園4-2-8",
        "서울특별시 중구 세종대로 110",
        "VAT ID JP1234567890123",  # after a line of fallback glyphs only (fpdf2 font state)
    ]
    assert lines[: len(expected)] == expected
    for line in ["Driver 山田 太郎 (Yamada Tarō)", *AMOUNTS]:
        assert line in lines, (line, lines)
    assert b"NotoSansCJK" in pdf  # the fallback font is embedded (as a subset)
