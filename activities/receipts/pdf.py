"""Receipt PDFs with fpdf2 and Unicode fonts from installed packages (nothing fetched at run time).

- DejaVu Sans, Sans Bold and Sans Mono, the TrueType fonts the matplotlib wheel ships (matplotlib
  is a dependency anyway): Latin (with Vietnamese), Greek and Cyrillic, and much more.
- Noto Sans CJK JP Regular (the `noto-cjk-sans-jp-regular` package) as the fallback for what
  DejaVu lacks: Chinese, Japanese and Korean. It is loaded only for a receipt that needs it
  (16 MB), which also makes that PDF 1.6 (a CID-keyed OpenType/CFF font).

Fonts are embedded as subsets. Text is NFC-normalized; right-to-left scripts are not shaped; a
character neither font has is left out (fpdf2 logs a warning).
Layout is line by line on A4 in points, like the writer this replaces: `text` and `right` put
text on the current line, `newline` moves down (a new page at the bottom margin).
"""

from __future__ import annotations

import importlib.util
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF

PAGE_WIDTH, PAGE_HEIGHT = 595.28, 841.89  # A4 in points
MARGIN = 50
_FAMILY = {"F1": ("dejavu", ""), "F2": ("dejavu", "B"), "F3": ("dejavu-mono", "")}
_DEJAVU = {
    ("dejavu", ""): "DejaVuSans.ttf",
    ("dejavu", "B"): "DejaVuSans-Bold.ttf",
    ("dejavu-mono", ""): "DejaVuSansMono.ttf",
}


@cache
def dejavu_dir() -> Path:
    """matplotlib's bundled TrueType fonts, found without importing matplotlib."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        raise RuntimeError("matplotlib (which ships the DejaVu fonts for receipts) is missing")
    return Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"


@cache
def cjk_font() -> Path:
    import noto_cjk_sans_jp_regular

    return Path(str(noto_cjk_sans_jp_regular.FONT_PATH))


@cache
def dejavu_coverage() -> frozenset[int]:
    """Code points every DejaVu face used here has (the fallback is needed beyond them)."""
    maps = [set(TTFont(dejavu_dir() / name).getBestCmap()) for name in _DEJAVU.values()]
    return frozenset(set.intersection(*maps))


def clean(value: str) -> str:
    """NFC (so 'e' + combining diaeresis prints as one glyph), one line."""
    return " ".join(unicodedata.normalize("NFC", value).splitlines())


class PdfDocument:
    """Text lines top to bottom on A4 pages, rendered by fpdf2."""

    def __init__(self, *, title: str, texts: Iterable[str], created: datetime | None = None):
        self.pdf = FPDF(orientation="P", unit="pt", format="A4")
        self.pdf.set_auto_page_break(False)
        self.pdf.set_margins(MARGIN, MARGIN, MARGIN)
        self.pdf.c_margin = 0
        for (family, style), name in _DEJAVU.items():
            self.pdf.add_font(family, style, dejavu_dir() / name)
        covered = dejavu_coverage()
        if any(ord(ch) not in covered for text in texts for ch in clean(text)):
            self.pdf.add_font("noto-cjk", "", cjk_font())
            self.pdf.set_fallback_fonts(["noto-cjk"], exact_match=False)
        self.pdf.set_title(title)
        self.pdf.set_producer("Ampflow")
        self.pdf.set_creator("Ampflow")
        if created is not None:
            self.pdf.set_creation_date(created)
        self.pdf.add_page()
        self.y = float(MARGIN)
        self._row = 0.0  # extra height a wrapped text on the current line needs

    def _font(self, font: str, size: float) -> None:
        """Select a font; called inside `local_context()` for every text. fpdf2 2.8.9 can lose
        track of the font set on the page when a text starts with fallback (CJK) glyphs: the
        text after it was then drawn with no font (seen on a receipt, pinned by the CJK test).
        A local context per text restores the state and makes the next text set its font."""
        family, style = _FAMILY[font]
        self.pdf.set_font(family, style, size)

    def text(
        self,
        x: float,
        value: str,
        *,
        size: float = 10,
        font: str = "F1",
        width: float | None = None,
    ) -> None:
        """Put `value` at x on the current line; with `width`, wrap it within that width."""
        value = clean(value)
        with self.pdf.local_context():  # see `_font`
            self._font(font, size)
            self.pdf.set_xy(x, self.y)
            if width is None:
                self.pdf.cell(self.pdf.get_string_width(value), 14, value)
                return
            lines = self.pdf.multi_cell(width, 14, value, dry_run=True, output="LINES")
            self.pdf.set_xy(x, self.y)
            self.pdf.multi_cell(width, 14, value)
        self._row = max(self._row, 14.0 * (len(lines) - 1))

    def right(self, x_right: float, value: str, *, size: float = 10, font: str = "F3") -> None:
        """Text (monospaced by default) ending at `x_right`."""
        value = clean(value)
        with self.pdf.local_context():  # see `_font`
            self._font(font, size)
            w = self.pdf.get_string_width(value)
            self.pdf.set_xy(x_right - w, self.y)
            self.pdf.cell(w, 14, value)

    def newline(self, height: float = 14) -> None:
        self.y += height + self._row
        self._row = 0.0
        if self.y > PAGE_HEIGHT - MARGIN - 14:
            self.pdf.add_page()
            self.y = float(MARGIN)

    def rule(self) -> None:
        """A thin horizontal line across the text width, above the current line."""
        self.pdf.set_line_width(0.5)
        self.pdf.line(MARGIN, self.y, PAGE_WIDTH - MARGIN, self.y)

    def render(self) -> bytes:
        return bytes(self.pdf.output())
