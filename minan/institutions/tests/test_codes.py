"""一院一码: rotate / revoke / restore, the public resolver, QR images, sheets and county batches."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import re
import shutil
import subprocess
import zipfile
import zlib
from base64 import a85decode
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from conftest import login_client
from minan.core.audit.models import AuditEvent
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.institutions.codes import render as codes
from minan.institutions.codes import services as code_services
from minan.institutions.models import Institution, ScanDaily
from minan.public import services as public_scans

pytestmark = pytest.mark.django_db

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def public(token: str) -> str:
    return f"/p/{token}/"


def code_events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def scans() -> dict[int, int]:
    """Scans counted per institution: the cache's counters folded into the daily rows."""
    public_scans.flush(now=timezone.now() + dt.timedelta(minutes=15))
    return {row.institution_id: row.count for row in ScanDaily.objects.all()}


_caches = itertools.count()


@pytest.fixture(autouse=True)
def _fresh_cache(settings: Any) -> Any:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"codes-{next(_caches)}",
        }
    }
    public_scans.reset_local()
    yield
    public_scans.reset_local()


# --- PDF text ------------------------------------------------------------------------------------------------


def _unescape_pdf_string(raw: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c != 0x5C:  # backslash
            out.append(c)
            i += 1
            continue
        nxt = raw[i + 1 : i + 2]
        if nxt.isdigit():
            octal = re.match(rb"[0-7]{1,3}", raw[i + 1 : i + 4])
            assert octal is not None
            out.append(int(octal.group(), 8) & 0xFF)
            i += 1 + len(octal.group())
            continue
        out += {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}.get(nxt, nxt)
        i += 2
    return bytes(out)


def _reportlab_text(data: bytes) -> str:
    """Text of the strings shown in a reportlab PDF (UCS-2 for the CID font, Latin-1 otherwise)."""
    texts: list[str] = []
    for match in re.finditer(rb"<<(.*?)>>\s*stream\r?\n(.*?)endstream", data, re.S):
        header, body = match.groups()
        if b"/Subtype /Image" in header:
            continue
        if b"/ASCII85Decode" in header:
            body = body.strip()
            body = a85decode(body if body.startswith(b"<~") else b"<~" + body, adobe=True)
        if b"/FlateDecode" in header:
            body = zlib.decompress(body)
        for font, shown in re.findall(rb"/(F\d+) [\d.]+ Tf.*?\(((?:\\.|[^\\)])*)\) Tj", body, re.S):
            raw = _unescape_pdf_string(shown)
            is_cid = bool(re.search(rb"/Name /" + font + rb" /Subtype /Type0", data))
            texts.append(raw.decode("utf-16-be") if is_cid else raw.decode("latin-1"))
    return "\n".join(texts)


def pdf_text(data: bytes) -> str:
    """pdftotext (poppler) when installed; otherwise a decoder of the strings reportlab writes."""
    assert data.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        result = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True)
        return result.stdout.decode()
    return _reportlab_text(data)


def page_count(data: bytes) -> int:
    return len(re.findall(rb"/Type /Page(?![s\w])", data))


# --- rotate, revoke, restore ---------------------------------------------------------------------------------


def test_rotating_makes_the_old_code_404_and_the_new_one_resolve(
    client: Any, rencheng_officer: Any, institutions: dict[str, Any]
) -> None:
    home = institutions["rc_elderly"]
    old = home.public_token
    assert len(old) >= 20 and old != str(home.pk) and home.public_token_rotated_at is None
    anonymous = client.__class__()
    assert anonymous.get(public(old)).status_code == 200

    login_client(client, rencheng_officer)
    response = client.post(reverse("institutions:code_rotate", args=[home.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("institutions:detail", args=[home.pk]) + "?tab=code"
    home.refresh_from_db()
    new = home.public_token
    assert new != old and len(new) >= 20
    assert home.public_code_active is True and home.public_token_rotated_at is not None

    old_page = anonymous.get(public(old))
    assert old_page.status_code == 404 and home.name not in old_page.content.decode()
    new_page = anonymous.get(public(new))
    assert new_page.status_code == 200 and home.name in new_page.content.decode()
    # Counted: the pre-rotation scan and the new token's; the old (now unknown) token is not.
    assert scans() == {home.pk: 2}

    [event] = code_events("institution.code_rotate")
    assert event.user_id == rencheng_officer.pk and event.result == "success"
    assert (event.object_type, event.object_id) == ("institutions.institution", str(home.pk))
    assert event.changes == {"public_token": [f"{old[:4]}…", f"{new[:4]}…"]}
    assert old not in str(event.changes) and new not in str(event.changes)
    assert [m.level_tag for m in get_messages(response.wsgi_request)] == ["success"]


def test_revoke_answers_404_and_restore_brings_the_same_code_back(
    client: Any, rencheng_officer: Any, institutions: dict[str, Any]
) -> None:
    home = institutions["rc_funeral"]
    token = home.public_token
    login_client(client, rencheng_officer)
    anonymous = client.__class__()

    response = client.post(reverse("institutions:code_revoke", args=[home.pk]), {"reason": "机构停业整顿"})
    assert response.status_code == 302
    home.refresh_from_db()
    assert home.public_code_active is False and home.public_token == token
    assert anonymous.get(public(token)).status_code == 404

    response = client.post(reverse("institutions:code_restore", args=[home.pk]))
    assert response.status_code == 302
    home.refresh_from_db()
    assert home.public_code_active is True and home.public_token == token
    assert home.public_token_rotated_at is None
    assert anonymous.get(public(token)).status_code == 200
    # Only the scan after the restore counts: a revoked code is not a valid one.
    assert scans() == {home.pk: 1}

    [revoked] = code_events("institution.code_revoke")
    assert revoked.user_id == rencheng_officer.pk and revoked.detail == "机构停业整顿"
    assert revoked.changes == {"public_code_active": [True, False]} and revoked.object_id == str(home.pk)
    [restored] = code_events("institution.code_restore")
    assert restored.user_id == rencheng_officer.pk and restored.changes == {
        "public_code_active": [False, True]
    }


def test_rotating_a_revoked_code_reactivates_it(rencheng_officer: Any, institutions: dict[str, Any]) -> None:
    home = institutions["rc_elderly"]
    code_services.revoke_code(rencheng_officer, home, "暂停")
    old = home.public_token
    code_services.rotate_code(rencheng_officer, home)
    home.refresh_from_db()
    assert home.public_code_active is True and home.public_token != old
    [event] = code_events("institution.code_rotate")
    assert event.changes["public_code_active"] == [False, True]


def test_revoke_without_reason_is_refused_and_nothing_changes(
    client: Any, rencheng_officer: Any, institutions: dict[str, Any]
) -> None:
    home = institutions["rc_elderly"]
    token = home.public_token
    with pytest.raises(DomainError) as refused:
        code_services.revoke_code(rencheng_officer, home, "   ")
    assert refused.value.field == "reason"
    login_client(client, rencheng_officer)
    response = client.post(reverse("institutions:code_revoke", args=[home.pk]), {"reason": ""})
    assert response.status_code == 302
    assert [m.level_tag for m in get_messages(response.wsgi_request)] == ["error"]
    home.refresh_from_db()
    assert home.public_code_active is True and home.public_token == token
    assert code_events("institution.code_revoke") == []
    assert client.__class__().get(public(token)).status_code == 200


def test_revoking_twice_and_restoring_an_active_code_are_refused(
    rencheng_officer: Any, institutions: dict[str, Any]
) -> None:
    home = institutions["rc_elderly"]
    with pytest.raises(DomainError):
        code_services.restore_code(rencheng_officer, home)
    code_services.revoke_code(rencheng_officer, home, "整改")
    with pytest.raises(DomainError):
        code_services.revoke_code(rencheng_officer, home, "再次")
    assert len(code_events("institution.code_revoke")) == 1 and code_events("institution.code_restore") == []


def test_a_rencheng_officer_cannot_touch_a_zoucheng_code(
    client: Any, rencheng_officer: Any, institutions: dict[str, Any]
) -> None:
    other = institutions["zc_elderly"]
    token = other.public_token
    login_client(client, rencheng_officer)
    for name, data in (("code_rotate", {}), ("code_revoke", {"reason": "x"}), ("code_restore", {})):
        assert client.post(reverse(f"institutions:{name}", args=[other.pk]), data).status_code == 404
    for name in ("code_svg", "code_png", "code_sheet"):
        assert client.get(reverse(f"institutions:{name}", args=[other.pk])).status_code == 404
    with pytest.raises(OutOfScope):
        code_services.rotate_code(rencheng_officer, other)
    other.refresh_from_db()
    assert other.public_token == token and other.public_code_active is True
    assert other.public_token_rotated_at is None
    assert code_events("institution.code_rotate") == [] and code_events("institution.code_revoke") == []
    [denied] = code_events("permission.denied")
    assert denied.result == "denied" and denied.object_id == str(other.pk)
    assert denied.detail == "institution.code_rotate: outside the scope"


def test_a_reader_without_change_permission_cannot_rotate(
    client: Any, make_user: Any, tree: dict[str, Any], institutions: dict[str, Any]
) -> None:
    home = institutions["rc_elderly"]
    token = home.public_token
    cadre = make_user("cadre1", roles=["cadre"], region=tree["rencheng"])
    login_client(client, cadre)
    assert client.post(reverse("institutions:code_rotate", args=[home.pk])).status_code == 403
    with pytest.raises(NotPermitted):
        code_services.rotate_code(cadre, home)
    home.refresh_from_db()
    assert home.public_token == token
    # A reader may still download the code of an institution in scope.
    assert client.get(reverse("institutions:code_png", args=[home.pk])).status_code == 200


# --- images and the sheet ------------------------------------------------------------------------------------


def test_qr_images_encode_the_public_url(
    client: Any, rencheng_officer: Any, institutions: dict[str, Any]
) -> None:
    home = institutions["rc_elderly"]
    url = f"http://testserver/p/{home.public_token}/"
    login_client(client, rencheng_officer)
    svg = client.get(reverse("institutions:code_svg", args=[home.pk]))
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    assert svg["Cache-Control"] == "private, no-store"
    assert svg.content.startswith((b"<?xml", b"<svg")) and b"<svg" in svg.content
    assert svg.content == codes.qr_svg(url)
    png = client.get(reverse("institutions:code_png", args=[home.pk]))
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(PNG_SIGNATURE) and png.content == codes.qr_png(url)
    # Never a Micro QR code (phone cameras do not read them).
    assert not codes._qr(url).is_micro


def test_public_base_url_setting_wins_over_the_request(settings: Any, institutions: dict[str, Any]) -> None:
    home = institutions["rc_elderly"]
    request = RequestFactory().get("/")
    assert codes.public_url(request, home) == f"http://testserver/p/{home.public_token}/"
    settings.MINAN_PUBLIC_BASE_URL = "https://minan.jining.example/"
    assert codes.public_url(request, home) == f"https://minan.jining.example/p/{home.public_token}/"
    assert codes.public_url("https://x.example", home) == f"https://x.example/p/{home.public_token}/"


def test_sheet_pdf_shows_name_region_url_and_instructions(
    client: Any, rencheng_officer: Any, institutions: dict[str, Any]
) -> None:
    home = institutions["rc_elderly"]
    login_client(client, rencheng_officer)
    response = client.get(reverse("institutions:code_sheet", args=[home.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF") and page_count(response.content) == 1
    text = pdf_text(response.content)
    assert "任城区古槐敬老院" in text
    assert "山东省济宁市任城区古槐街道" in text
    assert f"http://testserver/p/{home.public_token}/" in text
    assert "扫码查看机构公开信息，可对服务与安全问题进行投诉建议。" in text
    assert b"/STSong-Light" in response.content and b"/Subtype /Image" in response.content


# --- batches -------------------------------------------------------------------------------------------------


def test_county_zip_holds_the_county_and_nothing_else(
    client: Any, city_office: Any, institutions: dict[str, Any]
) -> None:
    elderly, funeral = institutions["rc_elderly"], institutions["rc_funeral"]
    Institution.objects.filter(pk=funeral.pk).update(uscc="12370811MB2853321X")
    login_client(client, city_office)
    response = client.get(reverse("institutions:codes_zip"), {"region": "370811"})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="codes-370811-')
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == sorted(
        [
            f"{elderly.pk}-任城区古槐敬老院.svg",
            f"{elderly.pk}-任城区古槐敬老院.png",
            "12370811MB2853321X-任城区殡仪馆.svg",
            "12370811MB2853321X-任城区殡仪馆.png",
            "sheets.pdf",
        ]
    )
    assert archive.read(f"{elderly.pk}-任城区古槐敬老院.svg") == codes.qr_svg(
        f"http://testserver/p/{elderly.public_token}/"
    )
    assert archive.read("12370811MB2853321X-任城区殡仪馆.png").startswith(PNG_SIGNATURE)
    sheets = archive.read("sheets.pdf")
    assert page_count(sheets) == 2
    text = pdf_text(sheets)
    assert "任城区古槐敬老院" in text and "任城区殡仪馆" in text and "邹城" not in text
    assert not any("邹城" in name for name in archive.namelist())
    [export] = code_events("export")
    assert export.user_id == city_office.pk and export.object_type == "institutions.institution"
    assert export.detail == "2 public codes (zip); filters: region=370811"


def test_batch_reads_only_the_users_scope_and_skips_dead_codes(
    client: Any, rencheng_officer: Any, institutions: dict[str, Any]
) -> None:
    login_client(client, rencheng_officer)
    # The other county: nothing in scope, no file, no export event.
    response = client.get(reverse("institutions:codes_zip"), {"region": "370883"})
    assert (
        response.status_code == 302
        and response["Location"] == reverse("institutions:list") + "?region=370883"
    )
    assert code_events("export") == []
    # Without a region: the whole scope, i.e. 任城区 only; a revoked code and a closed institution are left out.
    code_services.revoke_code(rencheng_officer, institutions["rc_funeral"], "停业")
    response = client.get(reverse("institutions:codes_pdf"))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert page_count(response.content) == 1
    text = pdf_text(response.content)
    assert "任城区古槐敬老院" in text and "任城区殡仪馆" not in text and "邹城" not in text
    Institution.objects.filter(pk=institutions["rc_elderly"].pk).update(status=Institution.Status.CLOSED)
    assert client.get(reverse("institutions:codes_zip")).status_code == 302
    assert [e.detail for e in code_events("export")] == ["1 public codes (pdf); filters: "]


def test_batch_over_the_limit_is_refused(
    client: Any, city_office: Any, institutions: dict[str, Any], monkeypatch: Any
) -> None:
    monkeypatch.setattr(codes, "BATCH_LIMIT", 1)
    login_client(client, city_office)
    response = client.get(reverse("institutions:codes_pdf"), {"region": "370811"})
    assert response.status_code == 302
    [message] = list(get_messages(response.wsgi_request))
    assert message.level_tag == "error" and "2" in str(message) and "1" in str(message)
    assert code_events("export") == []


def test_batch_needs_the_export_permission(
    client: Any, make_user: Any, tree: dict[str, Any], institutions: dict[str, Any]
) -> None:
    login_client(client, make_user("cadre2", roles=["cadre"], region=tree["rencheng"]))
    assert client.get(reverse("institutions:codes_zip"), {"region": "370811"}).status_code == 403


# --- the public page -----------------------------------------------------------------------------------------


def test_public_page_shows_only_whitelisted_fields(client: Any, institutions: dict[str, Any]) -> None:
    other = institutions["zc_elderly"]
    Institution.objects.filter(pk=other.pk).update(
        address="邹城市钢山路88号",
        contact_name="李联系",
        contact_phone="13905376688",
        legal_representative="王法人",
        uscc="52370883MJD123456X",
        beds=120,
    )
    response = client.get(
        public(other.public_token), HTTP_USER_AGENT="Mozilla/5.0 WeChat", REMOTE_ADDR="10.1.2.3"
    )
    assert response.status_code == 200 and response["Cache-Control"].startswith("max-age=0")
    page = response.content.decode()
    for shown in ("邹城市钢山养老中心", "养老服务", "山东省济宁市邹城市钢山街道", "邹城市钢山路88号"):
        assert shown in page
    for hidden in ("13905376688", "王法人", "李联系", "52370883MJD123456X", "120"):
        assert hidden not in page
    assert 'id="nav"' not in page  # anonymous: no navigation
    assert scans() == {other.pk: 1}  # a count, not a row with the address or user agent


def test_unknown_closed_and_odd_tokens_answer_404_and_are_not_counted(
    client: Any, institutions: dict[str, Any]
) -> None:
    closed = institutions["zc_child"]
    Institution.objects.filter(pk=closed.pk).update(status=Institution.Status.CLOSED)
    long_token = "A" * 100
    for token in ("no-such-token", closed.public_token, long_token, str(closed.pk)):
        assert client.get(public(token), HTTP_USER_AGENT="x" * 300).status_code == 404
    assert scans() == {}


# --- the panel -----------------------------------------------------------------------------------------------


def _panel(user: Any, institution: Institution) -> str:
    request = RequestFactory().get(reverse("institutions:detail", args=[institution.pk]))
    request.user = user
    return render_to_string("institutions/codes/panel.html", {"institution": institution}, request=request)


def test_panel_offers_the_actions_only_to_those_who_may_change(
    make_user: Any, rencheng_officer: Any, tree: dict[str, Any], institutions: dict[str, Any]
) -> None:
    home = institutions["rc_elderly"]
    html = _panel(rencheng_officer, home)
    assert reverse("institutions:code_svg", args=[home.pk]) in html
    assert f"http://testserver/p/{home.public_token}/" in html
    assert reverse("institutions:code_rotate", args=[home.pk]) in html
    assert reverse("institutions:code_revoke", args=[home.pk]) in html
    assert reverse("institutions:code_restore", args=[home.pk]) not in html
    assert reverse("institutions:codes_zip") + "?region=370811" in html
    assert 'data-code-state="active"' in html
    code_services.revoke_code(rencheng_officer, home, "停业")
    html = _panel(rencheng_officer, home)
    assert (
        'data-code-state="revoked"' in html and reverse("institutions:code_restore", args=[home.pk]) in html
    )
    reader = make_user("cadre3", roles=["cadre"], region=tree["rencheng"])
    html = _panel(reader, home)
    assert "<form" not in html and reverse("institutions:code_sheet", args=[home.pk]) in html
    assert reverse("institutions:codes_zip") not in html


def test_the_institution_page_shows_the_panel(
    client: Any, rencheng_officer: Any, institutions: dict[str, Any]
) -> None:
    home = institutions["rc_elderly"]
    login_client(client, rencheng_officer)
    page = client.get(reverse("institutions:detail", args=[home.pk]), {"tab": "code"}).content.decode()
    assert 'id="public-code"' in page and f"/p/{home.public_token}/" in page
    assert reverse("institutions:code_rotate", args=[home.pk]) in page
