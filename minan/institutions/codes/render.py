"""一院一码: the institution's public code.

Each institution carries a random, unguessable `public_token` (never its id). The code is the URL
`/p/<token>/`; rotating replaces the token (old printed codes answer 404), revoking switches the code
off, restoring switches it back on with the same token.

The writers of the code fields (rotate, revoke, restore) are in `codes/services.py`. This module renders
the code: QR images (SVG and PNG via segno), the printable A4 sheet (reportlab, Chinese through the
shared CJK font of `minan.core.pdf`) and the batch ZIP of a county.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable
from datetime import datetime
from io import BytesIO
from typing import Any

import segno
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader

from minan.core import pdf
from minan.core.pdf import CJK_FONT
from minan.regions.models import Region
from minan.regions.paths import codes as codes_of

from ..models import Institution

# About 20 ms an institution: 500 stays well inside the web worker timeout; larger sets pick a township.
BATCH_LIMIT = 500

# Printed on every sheet. The sheet is meant for the public in front of a Chinese institution, so its
# text is Chinese whatever the language of the person who prints it.
SHEET_TITLE = "一院一码"
SHEET_INSTRUCTIONS = (
    "扫码查看机构公开信息，可对服务与安全问题进行投诉建议。",
    "请使用手机微信、支付宝或浏览器扫描二维码。",
    "如无法扫码，请在浏览器中输入下方网址。",
)
SHEET_NOTICE = "本码由民政部门统一制发，请张贴于机构入口等醒目位置，勿遮挡、勿涂改。"
SHEET_FOOTER = pdf.FOOTER


# --- URLs -------------------------------------------------------------------------------------------------


def public_base(request_or_base: Any) -> str:
    """Scheme and host the public codes point at, without a trailing slash.

    A string is taken as it is; otherwise MINAN_PUBLIC_BASE_URL (the address the public reaches, which
    the bureau's intranet address often is not) wins over the address of the request.
    """
    if isinstance(request_or_base, str):
        return request_or_base.rstrip("/")
    configured = getattr(settings, "MINAN_PUBLIC_BASE_URL", "")
    if configured:
        return str(configured).rstrip("/")
    return str(request_or_base.build_absolute_uri("/")).rstrip("/")


def public_path(institution: Institution) -> str:
    return reverse("public:code", args=[institution.public_token])


def public_url(request_or_base: Any, institution: Institution) -> str:
    """The absolute URL `<base>/p/<token>/` the QR code encodes."""
    return public_base(request_or_base) + public_path(institution)


# --- images -----------------------------------------------------------------------------------------------


def _qr(url: str) -> segno.QRCode:
    # A full QR code (never Micro QR, which phone cameras do not read), error correction M at least.
    return segno.make_qr(url, error="m")


def _svg(qr: segno.QRCode, url: str) -> bytes:
    buffer = BytesIO()
    qr.save(buffer, kind="svg", scale=8, border=4, xmldecl=True, svgns=True, title=url)
    return buffer.getvalue()


def _png(qr: segno.QRCode) -> bytes:
    buffer = BytesIO()
    qr.save(buffer, kind="png", scale=10, border=4)
    return buffer.getvalue()


def qr_svg(url: str) -> bytes:
    return _svg(_qr(url), url)


def qr_png(url: str) -> bytes:
    return _png(_qr(url))


# --- region labels ----------------------------------------------------------------------------------------


def region_labels(region_paths: Iterable[str]) -> dict[str, str]:
    """{region_path: "山东省济宁市任城区古槐街道"} for the given paths, with one query."""
    chains = {path: codes_of(path) for path in set(region_paths)}
    names = dict(
        Region.objects.filter(code__in={c for chain in chains.values() for c in chain}).values_list(
            "code", "name"
        )
    )
    return {path: "".join(names.get(code, "") for code in chain) for path, chain in chains.items()}


def region_label(institution: Institution) -> str:
    return region_labels([institution.region_path])[institution.region_path]


# --- the printable sheet ----------------------------------------------------------------------------------


def _draw_sheet(
    canvas: Any, institution: Institution, url: str, png: bytes, region: str, generated: datetime
) -> None:
    page_width, page_height = A4
    margin = 20 * mm
    width = page_width - 2 * margin
    centre = page_width / 2

    y = page_height - margin - 10 * mm
    canvas.setFillColorRGB(0.6, 0.1, 0.1)
    canvas.setFont(CJK_FONT, 18)
    canvas.drawCentredString(centre, y, SHEET_TITLE)
    canvas.setFillColorRGB(0, 0, 0)

    size, lines = pdf.fit(institution.name, CJK_FONT, (34, 30, 26, 22, 18), width, 2)
    y -= 16 * mm
    for line in lines:
        canvas.setFont(CJK_FONT, size)
        canvas.drawCentredString(centre, y, line)
        y -= size * 1.3
    if region:
        canvas.setFont(CJK_FONT, 14)
        canvas.drawCentredString(centre, y - 2 * mm, region)
        y -= 10 * mm

    qr_size = 95 * mm
    qr_top = y - 6 * mm
    image = ImageReader(BytesIO(png))
    canvas.drawImage(image, centre - qr_size / 2, qr_top - qr_size, qr_size, qr_size)
    y = qr_top - qr_size - 8 * mm

    canvas.setFont("Helvetica", 11 if len(url) <= 70 else 8)
    canvas.drawCentredString(centre, y, url)
    y -= 14 * mm

    for index, text in enumerate(SHEET_INSTRUCTIONS):
        size = 15 if index == 0 else 12
        canvas.setFont(CJK_FONT, size)
        for line in pdf.wrap(text, CJK_FONT, size, width):
            canvas.drawCentredString(centre, y, line)
            y -= size * 1.6
        y -= 2 * mm if index == 0 else 0

    # Bottom up: the footer on the margin, the notice above it.
    canvas.setFont(CJK_FONT, 10)
    canvas.setFillColorRGB(0.3, 0.3, 0.3)
    canvas.drawCentredString(centre, margin, SHEET_FOOTER.format(date=generated.strftime("%Y-%m-%d")))
    y = margin + 7 * mm
    for line in reversed(pdf.wrap(SHEET_NOTICE, CJK_FONT, 10, width)):
        canvas.drawCentredString(centre, y, line)
        y += 14
    canvas.setFillColorRGB(0, 0, 0)


def sheet_pdf(institutions: Iterable[Institution], base_url: Any) -> bytes:
    """One A4 page per institution: name, region, QR code, URL and short instructions in Chinese."""
    return _sheets(list(institutions), public_base(base_url), {})


def _sheets(rows: list[Institution], base: str, pngs: dict[int, bytes]) -> bytes:
    """The sheets of `rows`; `pngs` holds QR images already rendered, by institution id."""
    labels = region_labels(i.region_path for i in rows)
    generated = timezone.localtime()
    buffer = BytesIO()
    canvas = pdf.canvas(buffer, title=f"{SHEET_TITLE} {rows[0].name}" if len(rows) == 1 else SHEET_TITLE)
    for institution in rows:
        url = public_url(base, institution)
        png = pngs.get(institution.pk) or qr_png(url)
        _draw_sheet(canvas, institution, url, png, labels[institution.region_path], generated)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# --- the county batch -------------------------------------------------------------------------------------

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def file_stem(institution: Institution) -> str:
    """`<uscc or id>-<name>` with the characters file systems refuse removed."""
    name = _UNSAFE.sub("_", institution.name).strip(" ._") or "institution"
    return f"{institution.uscc or institution.pk}-{name[:60]}"


def county_zip(institutions: Iterable[Institution], base_url: Any) -> bytes:
    """A ZIP with `<stem>.svg` and `<stem>.png` per institution, and `sheets.pdf` with all their pages.

    Each code is encoded once (segno's mask selection is the costly step) and its PNG reused in the PDF.
    """
    rows = list(institutions)
    base = public_base(base_url)
    pngs: dict[int, bytes] = {}
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for institution in rows:
            url = public_url(base, institution)
            qr = _qr(url)
            stem = file_stem(institution)
            pngs[institution.pk] = _png(qr)
            archive.writestr(f"{stem}.svg", _svg(qr, url))
            # PNG is compressed already.
            archive.writestr(f"{stem}.png", pngs[institution.pk], compress_type=zipfile.ZIP_STORED)
        archive.writestr("sheets.pdf", _sheets(rows, base, pngs))
    return buffer.getvalue()
