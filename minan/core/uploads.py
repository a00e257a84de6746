"""Checks of uploaded evidence: the type is read from the content, never from the name or header."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from .errors import DomainError

IMAGE_FORMATS = {"JPEG": ("image/jpeg", ".jpg"), "PNG": ("image/png", ".png")}
PDF = ("application/pdf", ".pdf")


def content_type(upload: Any, *, allow_pdf: bool = False) -> tuple[str, str] | None:
    """(content type, extension) if the file decodes as an intact JPEG or PNG with Pillow (or, when
    allowed, starts like a PDF); None otherwise."""
    from PIL import Image, UnidentifiedImageError

    upload.seek(0)
    head = upload.read(5)
    upload.seek(0)
    if allow_pdf and head == b"%PDF-":
        return PDF
    try:
        with Image.open(upload) as image:
            image_format = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    finally:
        upload.seek(0)
    return IMAGE_FORMATS.get(image_format or "")


def check_uploads(
    uploads: list[Any], *, limit: int, allow_pdf: bool = False, field: str = "files"
) -> list[tuple[Any, str, str]]:
    """Every upload typed, or a DomainError naming the first bad one. Returns (upload, type, extension)."""
    if len(uploads) > limit:
        raise DomainError(_("At most %(n)d files.") % {"n": limit}, field=field)
    max_bytes = int(settings.MAX_PHOTO_BYTES)
    typed = []
    for upload in uploads:
        if upload.size > max_bytes:
            raise DomainError(
                _("%(name)s is larger than %(mb)d MB.")
                % {"name": upload.name, "mb": max_bytes // (1024 * 1024)},
                field=field,
            )
        found = content_type(upload, allow_pdf=allow_pdf)
        if found is None:
            message = (
                _("%(name)s is not a JPEG, PNG or PDF file.")
                if allow_pdf
                else _("%(name)s is not a JPEG or PNG image.")
            )
            raise DomainError(message % {"name": upload.name}, field=field)
        typed.append((upload, *found))
    return typed
