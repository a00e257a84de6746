"""The shared PDF helpers: CJK font, styles, wrapping, the A4 document."""

from __future__ import annotations

import io

from reportlab.lib.colors import HexColor, grey
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.pdfbase import pdfmetrics

from minan.core import pdf


def test_the_cjk_font_is_registered_once() -> None:
    pdf.register_cjk_font()
    pdf.register_cjk_font()
    assert pdfmetrics.getFont(pdf.CJK_FONT).fontName == "STSong-Light"
    assert pdfmetrics.stringWidth("一院一码", pdf.CJK_FONT, 10) == 40


def test_styles() -> None:
    styles = pdf.styles(10.5, 16, small_size=8.5, small_leading=11)
    assert (styles.body.fontName, styles.body.fontSize, styles.body.leading, styles.body.wordWrap) == (
        "STSong-Light", 10.5, 16, "CJK",
    )  # fmt: skip
    assert (styles.title.fontSize, styles.title.leading, styles.title.alignment) == (20, 28, TA_CENTER)
    assert styles.right.alignment == TA_RIGHT
    assert styles.label.textColor == HexColor("#333333")
    assert (styles.small.fontSize, styles.small.leading, styles.small.textColor) == (8.5, 11, grey)


def test_para_escapes_markup_keeps_line_breaks_and_shows_a_dash_for_nothing() -> None:
    body = pdf.styles().body
    assert pdf.para("a<b>\nc", body).text == "a&lt;b&gt;<br/>c"
    assert pdf.para(None, body).text == "—"
    assert pdf.para("", body).text == "—"
    assert pdf.para(0, body).text == "0"


def test_wrap_breaks_chinese_per_character_and_fit_picks_the_largest_size() -> None:
    assert pdf.wrap("一二三四五", pdf.CJK_FONT, 10, 25) == ["一二", "三四", "五"]
    assert pdf.wrap("", pdf.CJK_FONT, 10, 25) == []
    assert pdf.fit("一二三四", pdf.CJK_FONT, (20, 10), 25, 2) == (10, ["一二", "三四"])
    assert pdf.fit("一二三四五六", pdf.CJK_FONT, (20, 10), 25, 2) == (10, ["一二", "三四", "五六"])


def test_build_writes_an_a4_document_with_title_and_author() -> None:
    styles = pdf.styles()
    data = pdf.build(
        [
            pdf.para("隐患整改通知书", styles.title),
            pdf.fact_table([("隐患编号", "#1")], styles, label_width_mm=38),
        ],
        title="通知书 #1",
    )
    assert data.startswith(b"%PDF-")
    assert b"/Author (MinAn)" in data and b"/MediaBox [ 0 0 595.2756 841.8898 ]" in data
    page = pdf.canvas(io.BytesIO(), title="一院一码")
    assert page._pagesize == (595.2755905511812, 841.8897637795277)
    assert pdf.FOOTER.format(date="2026-01-02") == "民政服务机构安全监管平台 · 生成于 2026-01-02"
