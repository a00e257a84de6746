"""What the PDF documents share (一院一码 sheet, rectification notice, inspection report): the built-in CJK
font, paragraph styles, the key/value table, the A4 page template and the footer line.

The documents go to Chinese institutions, so their text is Chinese whatever the reader's language. The
font is reportlab's built-in CID font STSong-Light: Chinese needs no font file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape

from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

CJK_FONT = "STSong-Light"
AUTHOR = "MinAn"
FOOTER = "民政服务机构安全监管平台 · 生成于 {date}"
MARGIN_MM = 20
LABEL_COLOUR = "#333333"
SHADE_COLOUR = "#f2f2f2"
GRID_STYLE: list[tuple[Any, ...]] = [
    ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
]


@cache
def register_cjk_font() -> None:
    """Register the CJK font once per process (every document calls this before drawing)."""
    pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    # Binary streams: ASCII85 only makes the file larger, and without reportlab's C accelerator it
    # costs more than everything else on a page.
    rl_config.useA85 = 0


@dataclass(frozen=True)
class Styles:
    """The paragraph styles of a document, all in the CJK font with Chinese line breaking."""

    body: ParagraphStyle
    title: ParagraphStyle
    right: ParagraphStyle
    label: ParagraphStyle
    small: ParagraphStyle


def styles(
    size: float = 11, leading: float = 17, *, small_size: float = 9, small_leading: float = 12
) -> Styles:
    """Body text of `size` / `leading` points, a 20 pt centred title, right-aligned, label and small grey."""
    register_cjk_font()
    body = ParagraphStyle("body", fontName=CJK_FONT, fontSize=size, leading=leading, wordWrap="CJK")
    return Styles(
        body=body,
        title=ParagraphStyle("title", parent=body, fontSize=20, leading=28, alignment=TA_CENTER),
        right=ParagraphStyle("right", parent=body, alignment=TA_RIGHT),
        label=ParagraphStyle("label", parent=body, textColor=colors.HexColor(LABEL_COLOUR)),
        small=ParagraphStyle(
            "small", parent=body, fontSize=small_size, leading=small_leading, textColor=colors.grey
        ),
    )


def para(text: Any, style: ParagraphStyle) -> Paragraph:
    """Plain text as a paragraph (markup escaped, line breaks kept); None or "" shows as "—"."""
    return Paragraph(escape(str(text if text not in (None, "") else "—")).replace("\n", "<br/>"), style)


def fact_table(rows: Sequence[tuple[str, Any]], styles: Styles, *, label_width_mm: float) -> Table:
    """A two-column grid, labels on a shaded left column, values wrapping on the right."""
    table = Table(
        [[para(key, styles.label), para(value, styles.body)] for key, value in rows],
        colWidths=[label_width_mm * mm, None],
    )
    table.setStyle(TableStyle([*GRID_STYLE, ("BACKGROUND", (0, 0), (0, -1), colors.HexColor(SHADE_COLOUR))]))
    return table


def build(
    story: Sequence[Any], *, title: str, top_mm: float = MARGIN_MM, bottom_mm: float = MARGIN_MM
) -> bytes:
    """The A4 document of these flowables (20 mm side margins), with title and author set."""
    register_cjk_font()
    buffer = BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=MARGIN_MM * mm, rightMargin=MARGIN_MM * mm, topMargin=top_mm * mm,
        bottomMargin=bottom_mm * mm, title=title, author=AUTHOR, creator=AUTHOR,
    )  # fmt: skip
    doc.build(list(story))
    return buffer.getvalue()


def canvas(buffer: BytesIO, *, title: str) -> Canvas:
    """An A4 canvas for documents drawn by hand (the 一院一码 sheet), with title and author set."""
    register_cjk_font()
    page = Canvas(buffer, pagesize=A4, pageCompression=1)
    page.setTitle(title)
    page.setAuthor(AUTHOR)
    page.setCreator(AUTHOR)
    return page


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Break text into lines no wider than `width` (per character: Chinese has no spaces to break at)."""
    register_cjk_font()
    lines: list[str] = []
    line = ""
    for char in text:
        if line and pdfmetrics.stringWidth(line + char, font, size) > width:
            lines.append(line)
            line = ""
        line += char
    if line:
        lines.append(line)
    return lines


def fit(
    text: str, font: str, sizes: Sequence[float], width: float, max_lines: int
) -> tuple[float, list[str]]:
    """The largest size at which the text fits in `max_lines` lines (the smallest size otherwise)."""
    for size in sizes:
        lines = wrap(text, font, size, width)
        if len(lines) <= max_lines:
            return size, lines
    size = sizes[-1]
    return size, wrap(text, font, size, width)
