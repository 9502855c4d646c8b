"""A minimal PDF 1.4 writer (no dependencies): text lines on A4 pages, standard fonts.

Enough for receipts: Helvetica for text, Helvetica-Bold for headings, Courier for amounts
(monospaced, so right-aligned columns are exact). Text is WinAnsi (cp1252) encoded; characters
outside it become '?'. Content streams are left uncompressed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 in points
MARGIN = 50
_FONTS = {"F1": "Helvetica", "F2": "Helvetica-Bold", "F3": "Courier"}


@dataclass
class PdfDocument:
    """Collects text lines top to bottom and renders them into pages."""

    pages: list[list[str]] = field(default_factory=lambda: [[]])
    y: float = PAGE_HEIGHT - MARGIN
    title: str = ""

    def text(self, x: float, value: str, *, size: float = 10, font: str = "F1") -> None:
        """Put `value` at x on the current line (call `newline` to move down)."""
        self.pages[-1].append(
            f"BT /{font} {size:g} Tf {x:.2f} {self.y:.2f} Td ({_escape(value)}) Tj ET"
        )

    def right(self, x_right: float, value: str, *, size: float = 10) -> None:
        """Courier text ending at `x_right`."""
        self.text(x_right - 0.6 * size * len(value), value, size=size, font="F3")

    def newline(self, height: float = 14) -> None:
        self.y -= height
        if self.y < MARGIN:
            self.pages.append([])
            self.y = PAGE_HEIGHT - MARGIN

    def rule(self) -> None:
        """A thin horizontal line across the text width."""
        y = self.y + 10
        self.pages[-1].append(f"0.5 w {MARGIN} {y:.2f} m {PAGE_WIDTH - MARGIN} {y:.2f} l S")

    def render(self) -> bytes:
        objects: list[bytes] = []
        font_ids = {}
        for name, base in _FONTS.items():
            objects.append(
                f"<< /Type /Font /Subtype /Type1 /BaseFont /{base} "
                "/Encoding /WinAnsiEncoding >>".encode()
            )
            font_ids[name] = len(objects) + 2  # objects 1 and 2 are catalog and pages
        fonts = " ".join(f"/{name} {oid} 0 R" for name, oid in font_ids.items())
        page_ids = []
        for content in self.pages:
            stream = "\n".join(content).encode("cp1252", errors="replace")
            objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
            content_id = len(objects) + 2
            objects.append(
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
                f"/Resources << /Font << {fonts} >> >> /Contents {content_id} 0 R >>".encode()
            )
            page_ids.append(len(objects) + 2)
        objects.append(f"<< /Title ({_escape(self.title)}) /Producer (Ampflow) >>".encode())
        info_id = len(objects) + 2
        kids = " ".join(f"{pid} 0 R" for pid in page_ids)
        head = [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            f"<< /Type /Pages /Kids [{kids}] /Count {len(page_ids)} >>".encode(),
        ]
        return _assemble([*head, *objects], info_id)


def _assemble(objects: list[bytes], info_id: int) -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (len(objects) + 1, info_id)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _escape(value: str) -> str:
    safe = value.encode("cp1252", errors="replace").decode("cp1252")
    return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
