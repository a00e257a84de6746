"""The inspection report (检查报告) as an A4 PDF: institution, kind, checklist and its version, team,
start and finish time, result and points, every item with its answer and note, the findings with the
hazards they created or joined, thumbnails of the photos of failed items, and the two signatures.

The report goes to a Chinese institution, so its text is Chinese whatever the language of the person who
prints it (like the rectification notice, `minan.hazards.notice`; both use the shared `minan.core.pdf`: the
built-in CID font STSong-Light, no font file). It lists the items of the checklist version the
inspection was carried out on, never a later one.
"""

from __future__ import annotations

import datetime as dt
from io import BytesIO
from typing import Any

from django.utils import timezone
from PIL import Image as PILImage
from PIL import ImageOps
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Image, KeepTogether, Spacer, Table, TableStyle

from minan.core import pdf

from ..models import Answer, ChecklistItem, Inspection

TITLE = "检查报告"
FOOTER = "民政服务机构安全监管平台　生成于 {date}"  # a full-width space; pdf.FOOTER has " · "
KINDS = {
    "duty": "包保督查",
    "sector": "行业检查",
    "expert": "专家勘察",
    "cross": "交叉互查",
    "video": "视频巡查",
    "self": "机构自查",
}
RESULTS = {"pass": "合格", "findings": "基本合格（发现问题）", "fail": "不合格"}
OUTCOMES = {"pass": "合格", "fail": "不合格", "na": "不适用"}
THUMB_MM = 52  # width of a photo thumbnail
THUMBS_PER_ROW = 3


def _time(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    local = timezone.localtime(value)
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"


def _number(value: Any) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def answer_text(item: ChecklistItem, given: Answer | None) -> str:
    """The answer as the report shows it: the outcome, with the chosen text or the number and unit."""
    if given is None:
        return "未作答"
    outcome = OUTCOMES.get(given.outcome, given.outcome)
    value = given.text or (f"{_number(given.number)}{item.unit}" if given.number is not None else "")
    return f"{outcome}（{value}）" if value and given.outcome != Answer.Outcome.NA else outcome


def _thumbnail(stored: Any, width_mm: float, *, flatten: bool = False) -> Any:
    """A small JPEG/PNG copy of a stored image, turned upright by its EXIF orientation, as a reportlab
    flowable; None if the file cannot be read."""
    try:
        with stored.open("rb") as handle, PILImage.open(handle) as opened:
            image = ImageOps.exif_transpose(opened)
            image.thumbnail((600, 600))
            out = BytesIO()
            if flatten or image.mode in {"RGBA", "LA", "P"}:
                rgba = image.convert("RGBA")
                canvas = PILImage.new("RGB", rgba.size, (255, 255, 255))
                canvas.paste(rgba, mask=rgba.getchannel("A"))
                canvas.save(out, "PNG")
            else:
                image.convert("RGB").save(out, "JPEG", quality=80)
            width, height = image.size
    except (OSError, ValueError, SyntaxError):
        return None
    out.seek(0)
    shown = width_mm * mm
    return Image(out, width=shown, height=shown * height / max(width, 1))


def report_pdf(inspection: Inspection) -> bytes:
    """The report of a submitted inspection (`inspection` carries institution, template and lead)."""
    styles = pdf.styles(10.5, 16, small_size=8.5, small_leading=11)
    body, label, small = styles.body, styles.label, styles.small
    cell = ParagraphStyle("cell", parent=body, fontSize=9, leading=13)
    heading = ParagraphStyle("heading", parent=body, fontSize=13, leading=20, spaceBefore=6, spaceAfter=4)

    items = list(
        ChecklistItem.objects.filter(template_id=inspection.template_id)
        .select_related("section")
        .order_by("section__order", "section_id", "order", "id")
    )
    answers = {
        a.item_id: a
        for a in Answer.objects.filter(inspection=inspection)
        .select_related("hazard")
        .prefetch_related("photos")
    }
    template = inspection.template
    team = inspection.lead.display_name + (f"；{inspection.team}" if inspection.team else "")
    points = (
        f"{inspection.score} / {inspection.max_score}"
        if inspection.score is not None and inspection.max_score is not None
        else "—"
    )
    facts = [
        ("被检查机构", inspection.institution.name),
        ("检查类型", KINDS.get(inspection.kind, inspection.kind)),
        ("检查表", f"{template.title}（{template.code} 第{template.version}版）"),
        ("检查人员", team),
        ("开始时间", _time(inspection.started_at)),
        ("结束时间", _time(inspection.finished_at)),
        ("检查结果", RESULTS.get(inspection.result, inspection.result or "—")),
        ("得分", points),
        ("机构代表", inspection.representative),
    ]
    fact_table = pdf.fact_table(facts, styles, label_width_mm=30)

    rows = [[pdf.para(h, cell) for h in ("分组", "编号", "检查内容", "检查情况", "备注")]]
    failed: list[tuple[ChecklistItem, Answer]] = []
    for item in items:
        given = answers.get(item.pk)
        rows.append([
            pdf.para(item.section.title, cell), pdf.para(item.code, cell), pdf.para(item.question, cell),
            pdf.para(answer_text(item, given), cell), pdf.para(given.note if given else "", cell),
        ])  # fmt: skip
        if given is not None and given.outcome == Answer.Outcome.FAIL:
            failed.append((item, given))
    item_table = Table(rows, colWidths=[24 * mm, 14 * mm, 66 * mm, 32 * mm, 34 * mm], repeatRows=1)
    item_table.setStyle(
        TableStyle([*pdf.GRID_STYLE, ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor(pdf.SHADE_COLOUR))])
    )

    story: list[Any] = [
        pdf.para(TITLE, styles.title),
        pdf.para(f"编号：第 {inspection.pk} 号", styles.right),
        Spacer(1, 4 * mm),
        fact_table,
        Spacer(1, 4 * mm),
        pdf.para("检查项目", heading),
        item_table,
        pdf.para("发现的问题", heading),
    ]
    if failed:
        for number, (item, given) in enumerate(failed, start=1):
            if given.hazard_id is None:
                linked = ""
            elif given.merged:
                linked = f"（并入已登记隐患 #{given.hazard_id}）"
            else:
                linked = f"（已登记为隐患 #{given.hazard_id}）"
            note = f"：{given.note}" if given.note else ""
            story.append(pdf.para(f"{number}. {item.code} {item.question}{note}{linked}", body))
    else:
        story.append(pdf.para("未发现问题。", body))

    thumbs: list[Any] = []
    for item, given in failed:
        for photo in given.photos.all():
            image = _thumbnail(photo.file, THUMB_MM)
            taken = f" 拍摄于 {_time(photo.taken_at)}" if photo.taken_at else ""
            caption = pdf.para(f"{item.code}{taken}", small)
            thumbs.append(
                [image, caption] if image is not None else [pdf.para("（照片无法读取）", small), caption]
            )
    if thumbs:
        story.append(pdf.para("问题照片", heading))
        cells = [thumbs[i : i + THUMBS_PER_ROW] for i in range(0, len(thumbs), THUMBS_PER_ROW)]
        for line in cells:
            line += [""] * (THUMBS_PER_ROW - len(line))
        photo_table = Table(cells, colWidths=[(THUMB_MM + 4) * mm] * THUMBS_PER_ROW)
        photo_table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(photo_table)

    if inspection.summary:
        story += [pdf.para("检查小结", heading), pdf.para(inspection.summary, body)]

    def signature(stored: Any) -> Any:
        image = _thumbnail(stored, 50, flatten=True) if stored else None
        return image if image is not None else pdf.para("（未签名）", body)

    signatures = Table(
        [
            [pdf.para("检查人签名", label), pdf.para("机构代表签名", label)],
            [signature(inspection.inspector_signature), signature(inspection.representative_signature)],
            [pdf.para(inspection.lead.display_name, body), pdf.para(inspection.representative, body)],
        ],
        colWidths=[85 * mm, 85 * mm],
    )
    signatures.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [
        Spacer(1, 6 * mm),
        KeepTogether([signatures]),
        Spacer(1, 8 * mm),
        pdf.para(FOOTER.format(date=timezone.localdate().isoformat()), small),
    ]
    return pdf.build(story, title=f"{TITLE} #{inspection.pk}", top_mm=18, bottom_mm=18)
