"""Checks of uploaded evidence: a file is judged by parsing it, never by its name, header or first bytes.

Every upload path (visit photos, inspection photos and signatures, hazard evidence) goes through
`check_uploads` (or `clean_image`). What they accept:

- JPEG and PNG images that Pillow decodes completely, of at most `MAX_IMAGE_PIXELS` pixels. What is
  stored (and later shown inline) is a re-encoding of the decoded pixels: EXIF orientation applied,
  every metadata block (EXIF with GPS, XMP, text chunks, comments) dropped, nothing of the uploaded
  bytes kept.
- PDF documents (where allowed) that pypdf parses, with at least one page, not encrypted, and with
  no JavaScript, launch action or embedded file anywhere in the object graph. PDFs are stored as
  uploaded and only ever served as downloads.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

from .errors import DomainError

IMAGE_FORMATS = {"JPEG": ("image/jpeg", ".jpg"), "PNG": ("image/png", ".png")}
PDF = ("application/pdf", ".pdf")

# PDF names that run code or carry other files: refused wherever they appear.
PDF_REFUSED_NAMES = frozenset({"/JS", "/JavaScript", "/Launch", "/EmbeddedFile", "/EmbeddedFiles"})
# The same names in the raw bytes (uncompressed objects); the object walk below sees compressed ones.
_RAW_REFUSED = re.compile(rb"/(?:JS|JavaScript|Launch|EmbeddedFiles?)(?=[\s/<>\[\]()%{}]|$)")
PDF_MAX_OBJECTS = 200_000  # a bound on the walk; a 5 MB evidence file has far fewer


class Refused(Exception):
    """An upload that is not what it claims; `message` is what the user reads."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _read(upload: Any) -> bytes:
    upload.seek(0)
    data = upload.read()
    upload.seek(0)
    return bytes(data)


def _too_large(name: str, limit: int, size: tuple[int, int] | None) -> Refused:
    values: dict[str, object] = {"name": name, "limit": f"{limit:,}"}
    if size is None:
        return Refused(_("%(name)s is too large: at most %(limit)s pixels are accepted.") % values)
    values.update(width=size[0], height=size[1])
    return Refused(
        _("%(name)s is too large: %(width)d×%(height)d pixels; at most %(limit)s pixels are accepted.")
        % values
    )


def _image(data: bytes, name: str, not_image: str) -> tuple[bytes, str, str]:
    """The re-encoded image (bytes, content type, extension), or Refused (with `not_image` when the
    bytes are no intact JPEG or PNG)."""
    limit = int(settings.MAX_IMAGE_PIXELS)
    size = None
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb guard (MAX_IMAGE_PIXELS) warns before it raises; ours is stricter anyway.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                found = IMAGE_FORMATS.get(image.format or "")
                if found is None:
                    raise Refused(not_image)
                size = image.size
                # The header's size, before any pixel is decoded: a bomb is refused without being inflated.
                if size[0] * size[1] > limit:
                    raise _too_large(name, limit, size)
                image.load()  # decodes every pixel: a truncated or corrupt file fails here
                upright = ImageOps.exif_transpose(image)
    except Image.DecompressionBombError:
        raise _too_large(name, limit, size) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, MemoryError):
        raise Refused(not_image) from None
    upright.info = {}  # no EXIF, XMP, ICC, text chunks or comments are carried into the stored copy
    out = io.BytesIO()
    if found[0] == "image/jpeg":
        if upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
        upright.save(out, format="JPEG", quality=90, optimize=True)
    else:
        upright.save(out, format="PNG", optimize=False)
    return out.getvalue(), *found


def _pdf_names(reader: Any) -> Iterator[str]:
    """Every dictionary key and name value reachable from the trailer, each object visited once."""
    seen: set[tuple[int, int]] = set()
    stack: list[Any] = [reader.trailer]
    visited = 0
    while stack:
        item = stack.pop()
        if isinstance(item, IndirectObject):
            key = (item.idnum, item.generation)
            if key in seen:
                continue
            seen.add(key)
            visited += 1
            if visited > PDF_MAX_OBJECTS:
                raise ValueError("too many objects")
            item = item.get_object()
        if isinstance(item, DictionaryObject):  # streams are dictionaries too; their data is not decoded
            for k, v in item.items():
                yield str(k)
                stack.append(v)
        elif isinstance(item, ArrayObject):
            stack.extend(item)
        elif isinstance(item, NameObject):
            yield str(item)


def _pdf(data: bytes, name: str) -> None:
    """Nothing if the bytes are a plain PDF document; Refused otherwise."""
    invalid = _("%(name)s is not a valid PDF document.") % {"name": name}
    active = _("%(name)s contains scripts, launch actions or embedded files; such PDFs are not accepted.") % {
        "name": name
    }
    if _RAW_REFUSED.search(data):
        raise Refused(active)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise Refused(_("%(name)s is an encrypted PDF; upload it without a password.") % {"name": name})
        if len(reader.pages) < 1:
            raise Refused(invalid)
        if any(found in PDF_REFUSED_NAMES for found in _pdf_names(reader)):
            raise Refused(active)
    except Refused:
        raise
    except Exception:  # pypdf raises many kinds on malformed input (PdfReadError, KeyError, RecursionError…)
        raise Refused(invalid) from None


def check_file(upload: Any, *, allow_pdf: bool = False) -> tuple[ContentFile[bytes], str, str]:
    """(file to store, content type, extension) for one upload, or Refused with the reason.

    The type comes from parsing: a file that starts like a PDF must parse as one; anything else must
    decode as a JPEG or PNG image. Images come back re-encoded; PDFs as uploaded."""
    name = str(getattr(upload, "name", "") or "")
    data = _read(upload)
    if allow_pdf and data.startswith(b"%PDF-"):
        _pdf(data, name)
        return ContentFile(data, name=name), *PDF
    not_image = (
        _("%(name)s is not a JPEG, PNG or PDF file.")
        if allow_pdf
        else _("%(name)s is not a JPEG or PNG image.")
    )
    encoded, kind, extension = _image(data, name, not_image % {"name": name})
    return ContentFile(encoded, name=name), kind, extension


def clean_image(upload: Any, *, field: str) -> tuple[ContentFile[bytes], str, str]:
    """One image (JPEG or PNG) checked and re-encoded, or a DomainError on `field`."""
    try:
        return check_file(upload)
    except Refused as refused:
        raise DomainError(refused.message, field=field) from None


def check_uploads(
    uploads: list[Any], *, limit: int, allow_pdf: bool = False, field: str = "files"
) -> list[tuple[ContentFile[bytes], str, str]]:
    """Every upload checked, or a DomainError naming the first bad one (nothing is stored then: the
    callers save only what this returns). Returns (file to store, type, extension) in upload order;
    the file keeps the upload's name and its `size` is the stored size."""
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
        try:
            typed.append(check_file(upload, allow_pdf=allow_pdf))
        except Refused as refused:
            raise DomainError(refused.message, field=field) from None
    return typed
