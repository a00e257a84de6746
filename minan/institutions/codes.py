"""一院一码: the institution's public code.

Each institution carries a random, unguessable `public_token` (never its id). The code is the URL
`/p/<token>/`; rotating replaces the token (old printed codes answer 404), revoking switches the code
off, restoring switches it back on with the same token.

The services below are the only writers of the code fields. The rest renders the code: QR images
(SVG and PNG via segno), the printable A4 sheet (reportlab, with the built-in CID font STSong-Light so
Chinese needs no font file) and the batch ZIP of a county.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from io import BytesIO
from typing import Any

import segno
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.audit.services import record, record_denial
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.regions.models import Region

from .models import Institution, new_public_token

CHANGE_PERMISSION = "institutions.change_institution"
# About 20 ms an institution: 500 stays well inside the web worker timeout; larger sets pick a township.
BATCH_LIMIT = 500
REASON_MAX = 200

# Printed on every sheet. The sheet is meant for the public in front of a Chinese institution, so its
# text is Chinese whatever the language of the person who prints it.
SHEET_TITLE = "一院一码"
SHEET_INSTRUCTIONS = (
    "扫码查看机构公开信息，可对服务与安全问题进行投诉建议。",
    "请使用手机微信、支付宝或浏览器扫描二维码。",
    "如无法扫码，请在浏览器中输入下方网址。",
)
SHEET_NOTICE = "本码由民政部门统一制发，请张贴于机构入口等醒目位置，勿遮挡、勿涂改。"
SHEET_FOOTER = "民政服务机构安全监管平台 · 生成于 {date}"


# --- services -------------------------------------------------------------------------------------------


def _target(actor: Any, institution: Institution, request: Any, action: str) -> None:
    """Refuse (and audit the refusal, outside any transaction) unless the actor may change it."""
    if actor is None or not actor.has_perm(CHANGE_PERMISSION):
        record_denial(f"{action}: no permission", user=actor, request=request, obj=institution)
        raise NotPermitted(_("You do not have permission to do this."))
    if not Institution.objects.for_user(actor, "change").filter(pk=institution.pk).exists():
        record_denial(f"{action}: outside the scope", user=actor, request=request, obj=institution)
        raise OutOfScope(_("The institution is outside your scope."))


def _refresh(institution: Institution) -> None:
    institution.refresh_from_db(fields=["public_token", "public_code_active", "public_token_rotated_at"])


def _token_hint(token: str) -> str:
    # The audit trail names which code was concerned without storing a working code in full.
    return f"{token[:4]}…"


def rotate_code(actor: Any, institution: Institution, request: Any = None) -> Institution:
    """Give the institution a new token: the old code stops working at once; the code is active."""
    _target(actor, institution, request, "institution.code_rotate")
    with transaction.atomic():
        before = Institution.objects.select_for_update().get(pk=institution.pk)
        token = new_public_token()
        Institution.objects.filter(pk=before.pk).update(
            public_token=token, public_code_active=True, public_token_rotated_at=timezone.now()
        )
        _refresh(institution)
        changes: dict[str, list[Any]] = {
            "public_token": [_token_hint(before.public_token), _token_hint(token)]
        }
        if not before.public_code_active:
            changes["public_code_active"] = [False, True]
        record("institution.code_rotate", user=actor, request=request, obj=institution, changes=changes)
    return institution


def revoke_code(actor: Any, institution: Institution, reason: str, request: Any = None) -> Institution:
    """Switch the code off (the page answers 404) until it is restored or rotated; a reason is required."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Give a reason for revoking the code."), field="reason")
    if len(reason) > REASON_MAX:
        raise DomainError(_("The reason is too long (at most 200 characters)."), field="reason")
    _target(actor, institution, request, "institution.code_revoke")
    with transaction.atomic():
        if not Institution.objects.filter(pk=institution.pk, public_code_active=True).update(
            public_code_active=False
        ):
            raise DomainError(_("The public code is already revoked."), code="conflict")
        _refresh(institution)
        record(
            "institution.code_revoke",
            user=actor,
            request=request,
            obj=institution,
            changes={"public_code_active": [True, False]},
            detail=reason,
        )
    return institution


def restore_code(actor: Any, institution: Institution, request: Any = None) -> Institution:
    """Switch a revoked code back on, with the same token (codes already printed work again)."""
    _target(actor, institution, request, "institution.code_restore")
    with transaction.atomic():
        if not Institution.objects.filter(pk=institution.pk, public_code_active=False).update(
            public_code_active=True
        ):
            raise DomainError(_("The public code is already active."), code="conflict")
        _refresh(institution)
        record(
            "institution.code_restore",
            user=actor,
            request=request,
            obj=institution,
            changes={"public_code_active": [False, True]},
        )
    return institution


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
    paths = set(region_paths)
    codes = {code for path in paths for code in path.split("/") if code}
    names = dict(Region.objects.filter(code__in=codes).values_list("code", "name"))
    return {path: "".join(names.get(code, "") for code in path.split("/") if code) for path in paths}


def region_label(institution: Institution) -> str:
    return region_labels([institution.region_path])[institution.region_path]


# --- the printable sheet ----------------------------------------------------------------------------------

CJK_FONT = "STSong-Light"


@cache
def _setup_reportlab() -> None:
    from reportlab import rl_config
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    # Binary streams: ASCII85 only makes the file larger, and without reportlab's C accelerator it
    # costs more than everything else on a page.
    rl_config.useA85 = 0


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Break text into lines no wider than `width` (per character: Chinese has no spaces to break at)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines: list[str] = []
    line = ""
    for char in text:
        if line and stringWidth(line + char, font, size) > width:
            lines.append(line)
            line = ""
        line += char
    if line:
        lines.append(line)
    return lines


def _fit(
    text: str, font: str, sizes: Sequence[float], width: float, max_lines: int
) -> tuple[float, list[str]]:
    """The largest size at which the text fits in `max_lines` lines (the smallest size otherwise)."""
    for size in sizes:
        lines = _wrap(text, font, size, width)
        if len(lines) <= max_lines:
            return size, lines
    size = sizes[-1]
    return size, _wrap(text, font, size, width)


def _draw_sheet(
    canvas: Any, institution: Institution, url: str, png: bytes, region: str, generated: datetime
) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.lib.utils import ImageReader

    page_width, page_height = A4
    margin = 20 * mm
    width = page_width - 2 * margin
    centre = page_width / 2

    y = page_height - margin - 10 * mm
    canvas.setFillColorRGB(0.6, 0.1, 0.1)
    canvas.setFont(CJK_FONT, 18)
    canvas.drawCentredString(centre, y, SHEET_TITLE)
    canvas.setFillColorRGB(0, 0, 0)

    size, lines = _fit(institution.name, CJK_FONT, (34, 30, 26, 22, 18), width, 2)
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
        for line in _wrap(text, CJK_FONT, size, width):
            canvas.drawCentredString(centre, y, line)
            y -= size * 1.6
        y -= 2 * mm if index == 0 else 0

    # Bottom up: the footer on the margin, the notice above it.
    canvas.setFont(CJK_FONT, 10)
    canvas.setFillColorRGB(0.3, 0.3, 0.3)
    canvas.drawCentredString(centre, margin, SHEET_FOOTER.format(date=generated.strftime("%Y-%m-%d")))
    y = margin + 7 * mm
    for line in reversed(_wrap(SHEET_NOTICE, CJK_FONT, 10, width)):
        canvas.drawCentredString(centre, y, line)
        y += 14
    canvas.setFillColorRGB(0, 0, 0)


def sheet_pdf(institutions: Iterable[Institution], base_url: Any) -> bytes:
    """One A4 page per institution: name, region, QR code, URL and short instructions in Chinese."""
    return _sheets(list(institutions), public_base(base_url), {})


def _sheets(rows: list[Institution], base: str, pngs: dict[int, bytes]) -> bytes:
    """The sheets of `rows`; `pngs` holds QR images already rendered, by institution id."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen.canvas import Canvas

    _setup_reportlab()
    labels = region_labels(i.region_path for i in rows)
    generated = timezone.localtime()
    buffer = BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(f"{SHEET_TITLE} {rows[0].name}" if len(rows) == 1 else SHEET_TITLE)
    canvas.setAuthor("MinAn")
    canvas.setCreator("MinAn")
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
