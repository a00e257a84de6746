"""Uploads are judged by parsing them: crafted files are refused with an exact message and
nothing is stored; accepted images are re-encoded without metadata; accepted PDFs are plain documents."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from conftest import login_client
from minan.accounts.models import User, UserScope
from minan.core.errors import DomainError
from minan.core.uploads import check_uploads
from minan.duty import services as duty
from minan.duty.models import DutyVisit, DutyVisitPhoto
from minan.hazards import services as hazards
from minan.hazards.models import Hazard, HazardFile

ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 200
PE = (
    b"MZ\x90\x00\x03\x00\x00\x00"
    + b"\x00" * 52
    + b"\x80\x00\x00\x00"
    + b"\x00" * 64
    + b"PE\x00\x00"
    + b"\x00" * 100
)


def upload(name: str, data: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def tiny_pdf(*, javascript: bool = False, attachment: bool = False, password: str = "") -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    if javascript:
        action = DictionaryObject(
            {
                NameObject("/S"): NameObject("/JavaScript"),
                NameObject("/JS"): TextStringObject("app.alert('x')"),
            }
        )
        writer.add_open_action(action)  # type: ignore[arg-type]
    if attachment:
        writer.add_attachment("run.exe", b"MZ\x90\x00")
    if password:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def huge_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (12000, 12000), 0).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def small_png(**info: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG", **info)
    return buffer.getvalue()


def jpeg_with_gps() -> bytes:
    """A 40×20 JPEG whose EXIF says: rotate 90° (orientation 6), taken at a GPS position, by a camera."""
    image = Image.new("RGB", (40, 20), "green")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    exif[0x010F] = "Camera maker"
    exif[0x8825] = {1: "N", 2: (35.0, 24.0, 0.0), 3: "E", 4: (116.0, 35.0, 0.0)}  # GPS IFD
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def check(name: str, data: bytes, *, allow_pdf: bool = True) -> Any:
    return check_uploads([upload(name, data)], limit=9, allow_pdf=allow_pdf)


# --- the validator --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "a.pdf",
            b"%PDF-1.7\n<html><script>alert(document.cookie)</script></html>",
            "a.pdf 不是有效的 PDF 文档。",
        ),
        ("b.pdf", b"%PDF-1.4\n" + ELF, "b.pdf 不是有效的 PDF 文档。"),
        ("c.pdf", b"%PDF-" + PE, "c.pdf 不是有效的 PDF 文档。"),
        ("d.pdf", tiny_pdf(javascript=True), "d.pdf 含有脚本、启动操作或嵌入文件，不接受此类 PDF。"),
        ("e.pdf", tiny_pdf(attachment=True), "e.pdf 含有脚本、启动操作或嵌入文件，不接受此类 PDF。"),
        ("f.pdf", tiny_pdf(password="secret"), "f.pdf 是加密的 PDF，请上传未加密的文件。"),
        ("g.pdf", tiny_pdf()[:-200], "g.pdf 不是有效的 PDF 文档。"),
        ("big.png", huge_png(), "big.png 图像过大：12000×12000 像素，最多接受 40,000,000 像素。"),
        ("cut.png", small_png()[:-30], "cut.png 不是 JPEG、PNG 或 PDF 文件。"),
        ("x.html", b"<html><script>alert(1)</script></html>", "x.html 不是 JPEG、PNG 或 PDF 文件。"),
        ("y.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "y.gif 不是 JPEG、PNG 或 PDF 文件。"),
    ],
)
def test_crafted_files_are_refused_with_an_exact_message(name: str, data: bytes, message: str) -> None:
    with pytest.raises(DomainError) as refused:
        check(name, data)
    assert str(refused.value.message) == message


def test_the_huge_png_is_small_on_disk_and_refused_before_decoding() -> None:
    data = huge_png()
    assert len(data) < 40_000  # what makes it dangerous: 144 million pixels in a few KB
    with pytest.raises(DomainError) as refused:
        check("big.png", data, allow_pdf=False)
    assert str(refused.value.message) == "big.png 图像过大：12000×12000 像素，最多接受 40,000,000 像素。"


def test_the_pixel_limit_is_a_setting(settings: Any) -> None:
    settings.MAX_IMAGE_PIXELS = 50
    with pytest.raises(DomainError) as refused:
        check("p.png", small_png(), allow_pdf=False)
    assert str(refused.value.message) == "p.png 图像过大：8×8 像素，最多接受 50 像素。"
    settings.MAX_IMAGE_PIXELS = 64
    [(_file, kind, _ext)] = check("p.png", small_png(), allow_pdf=False)
    assert kind == "image/png"


def test_a_pdf_is_no_photo() -> None:
    with pytest.raises(DomainError) as refused:
        check("doc.pdf", tiny_pdf(), allow_pdf=False)
    assert str(refused.value.message) == "doc.pdf 不是 JPEG 或 PNG 图片。"


def test_a_plain_pdf_is_accepted_as_uploaded() -> None:
    data = tiny_pdf()
    [(stored, kind, extension)] = check("plan.pdf", data)
    assert (kind, extension, stored.name) == ("application/pdf", ".pdf", "plan.pdf")
    assert stored.read() == data


def test_a_jpeg_is_re_encoded_upright_and_without_gps_or_any_exif() -> None:
    data = jpeg_with_gps()
    with Image.open(io.BytesIO(data)) as original:  # the crafted file does carry what must go
        assert original.getexif().get_ifd(0x8825)[1] == "N"
    [(stored, kind, extension)] = check("photo.jpg", data)
    assert (kind, extension) == ("image/jpeg", ".jpg")
    raw = stored.read()
    assert raw != data and stored.size == len(raw)
    with Image.open(io.BytesIO(raw)) as clean:
        assert clean.format == "JPEG"
        assert clean.size == (20, 40)  # orientation 6 applied to the pixels
        assert dict(clean.getexif()) == {}
        assert "exif" not in clean.info
    assert b"Camera maker" not in raw and b"Exif" not in raw


def test_a_png_is_re_encoded_without_its_text_chunks() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "<script>alert(1)</script>")
    [(stored, kind, _ext)] = check("p.png", small_png(pnginfo=info))
    raw = stored.read()
    assert kind == "image/png" and b"<script>" not in raw
    with Image.open(io.BytesIO(raw)) as clean:
        assert clean.size == (8, 8) and clean.getpixel((0, 0)) == (255, 0, 0)


def test_the_type_never_comes_from_the_name_or_header() -> None:
    [(_stored, kind, extension)] = check_uploads(
        [upload("evil.pdf", small_png(), "application/pdf")], limit=1, allow_pdf=True
    )
    assert (kind, extension) == ("image/png", ".png")


# --- every upload path stores nothing on a refusal -------------------------------------------------------------


def media_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def cadre(make_user: Any, tree: dict[str, Any], institutions: Any, city_office: Any) -> User:
    user = make_user("cadre_u", roles=["cadre"], region=tree["rencheng"])
    UserScope.objects.filter(user=user).delete()
    duty.assign_cadre(city_office, institutions["rc_elderly"], user, starts_on=dt.date(2026, 6, 1))
    return User.objects.get(pk=user.pk)


@pytest.fixture(autouse=True)
def _today() -> Any:
    with time_machine.travel(dt.datetime(2026, 11, 30, 2, tzinfo=dt.UTC), tick=False):
        yield


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("a.pdf", b"%PDF-1.7\n<html><script>alert(1)</script></html>", "a.pdf 不是有效的 PDF 文档。"),
        ("b.pdf", b"%PDF-1.4\n" + ELF, "b.pdf 不是有效的 PDF 文档。"),
        ("big.png", huge_png(), "big.png 图像过大：12000×12000 像素，最多接受 40,000,000 像素。"),
        ("cut.png", small_png()[:-30], "cut.png 不是 JPEG、PNG 或 PDF 文件。"),
    ],
)
def test_hazard_evidence_refused_stores_nothing(
    cadre: User, institutions: Any, media: Path, name: str, data: bytes, message: str
) -> None:
    good = upload("ok.jpg", jpeg_with_gps())
    with pytest.raises(DomainError) as refused:
        hazards.report(
            cadre, institutions["rc_elderly"], source="duty_visit", category="fire", level="general",
            description="疏散通道堆放杂物", files=[good, upload(name, data)],
        )  # fmt: skip
    assert str(refused.value.message) == message
    assert not Hazard.objects.exists() and not HazardFile.objects.exists()
    assert media_files(media) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("big.png", huge_png(), "big.png 图像过大：12000×12000 像素，最多接受 40,000,000 像素。"),
        ("cut.png", small_png()[:-30], "cut.png 不是 JPEG 或 PNG 图片。"),
        ("a.pdf", tiny_pdf(), "a.pdf 不是 JPEG 或 PNG 图片。"),
    ],
)
def test_visit_photos_refused_store_nothing(
    cadre: User, institutions: Any, media: Path, name: str, data: bytes, message: str
) -> None:
    with pytest.raises(DomainError) as refused:
        duty.record_visit(
            cadre, institutions["rc_elderly"], visited_on=dt.date(2026, 11, 30), checked="消防通道",
            photos=[upload(name, data)],
        )  # fmt: skip
    assert str(refused.value.message) == message
    assert not DutyVisit.objects.exists() and not DutyVisitPhoto.objects.exists()
    assert media_files(media) == []


@pytest.mark.django_db
def test_stored_evidence_is_the_clean_copy_and_is_served_by_its_checked_type(
    cadre: User, institutions: Any, media: Path, client: Any
) -> None:
    hazard = hazards.report(
        cadre, institutions["rc_elderly"], source="duty_visit", category="fire", level="general",
        description="疏散通道堆放杂物", files=[upload("ok.jpg", jpeg_with_gps()), upload("plan.pdf", tiny_pdf())],
    )  # fmt: skip
    photo, document = hazard.files.order_by("pk")
    assert (photo.content_type, document.content_type) == ("image/jpeg", "application/pdf")
    with photo.file.open("rb") as stored:
        raw = stored.read()
    assert photo.size == len(raw) and b"Exif" not in raw
    c = login_client(client, cadre)
    shown = c.get(reverse("hazards:file", args=[photo.pk]))
    assert shown.status_code == 200 and shown["Content-Type"] == "image/jpeg"
    assert shown["X-Content-Type-Options"] == "nosniff"
    assert b"".join(shown.streaming_content) == raw
    sent = c.get(reverse("hazards:file", args=[document.pk]))
    assert sent["Content-Type"] == "application/pdf" and sent["X-Content-Type-Options"] == "nosniff"
    assert sent["Content-Disposition"].startswith("attachment;")
