"""Shared by the page and API tests of carrying out an inspection: the people around 任城区古槐敬老院,
a JPEG photo (optionally with an EXIF time) and a drawn signature as a PNG data URL."""

from __future__ import annotations

import base64
import io
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from minan.accounts.models import User, UserScope
from minan.duty import services as duty


def make_people(make_user: Any, tree: dict[str, Any], institutions: Any, city_office: Any) -> dict[str, Any]:
    """Its staff, its responsible cadre, a 任城区 inspector and county officer (in scope, not leading),
    and a 邹城市 county officer (out of scope)."""
    home = institutions["rc_elderly"]
    cadre = make_user("cadre", roles=["cadre"], region=tree["rencheng"])
    UserScope.objects.filter(user=cadre).delete()
    duty.assign_cadre(city_office, home, cadre)
    return {
        "home": home,
        "staff": make_user("staff", roles=["institution_staff"], institution=home),
        "cadre": User.objects.get(pk=cadre.pk),
        "inspector": make_user("inspector", roles=["inspector"], region=tree["rencheng"]),
        "rc_officer": make_user("rc", roles=["county_officer"], region=tree["rencheng"]),
        "zc_officer": make_user("zc", roles=["county_officer"], region=tree["zoucheng"]),
    }


def fresh(user: Any) -> User:
    return User.objects.get(pk=user.pk)  # drops cached roles and scope, as a new request would


def photo(name: str = "p.jpg", exif_time: str | None = None) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    image = Image.new("RGB", (32, 24), (10, 120, 200))
    if exif_time:
        exif = Image.Exif()
        exif.get_ifd(0x8769)[36867] = exif_time
        image.save(buffer, "JPEG", exif=exif)
    else:
        image.save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


def signature() -> str:
    """A signature as the page's canvas sends it: a PNG data URL."""
    buffer = io.BytesIO()
    image = Image.new("RGBA", (120, 40), (0, 0, 0, 0))
    for x in range(10, 110):
        image.putpixel((x, 20 + (x % 7)), (0, 0, 0, 255))
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
