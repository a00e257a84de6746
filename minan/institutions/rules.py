"""The registry's own rules on an institution's facts, shared by the services and the spreadsheet import
(reads only: they refuse, they never write)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.core.errors import DomainError, OutOfScope
from minan.core.identifiers import check_uscc, normalise_uscc
from minan.core.scoping import in_scope
from minan.regions.models import Region

from .models import Institution


def uscc_error(value: str) -> str | None:
    """The message for a bad 统一社会信用代码, or None when it is valid."""
    result = check_uscc(value)
    if result.valid:
        return None
    if result.error == "check":
        return _("The check character of the unified social credit code is wrong: expected %(char)s.") % {
            "char": result.expected
        }
    return _("A unified social credit code has 18 characters of 0–9 and A–Y (no I, O, S, V, Z).")


def validate(institution: Institution, actor: Any) -> None:
    """Field checks plus the registry's own rules; raises DomainError naming the field."""
    region: Region = institution.region
    if region.level not in (Region.Level.COUNTY, Region.Level.TOWNSHIP):
        raise DomainError(_("Choose a county-level division or a township."), field="region")
    if actor is not None and not in_scope(actor, region.region_path, kind=institution.kind):
        raise OutOfScope(_("The region is outside your scope."), field="region")
    if institution.subtype is not None and institution.subtype.kind != institution.kind:
        raise DomainError(_("The subtype does not belong to this kind of institution."), field="subtype")
    if institution.uscc:
        institution.uscc = normalise_uscc(institution.uscc)
        message = uscc_error(institution.uscc)
        if message:
            raise DomainError(message, field="uscc", code="invalid_uscc")
        clash = Institution.objects.filter(uscc=institution.uscc).exclude(pk=institution.pk).first()
        if clash is not None:
            raise DomainError(
                _("Another institution already has this unified social credit code."),
                field="uscc",
                code="duplicate",
            )
    else:
        institution.uscc = None
    if institution.residents > institution.beds and institution.kind == Institution.Kind.ELDERLY_CARE:
        raise DomainError(_("There cannot be more residents than beds."), field="residents")
    this_year = timezone.localdate().year
    if institution.construction_year and institution.construction_year > this_year:
        raise DomainError(_("The construction year lies in the future."), field="construction_year")
    for field in ("opened_on", "star_grade_date", "fire_standardised_date"):
        value = getattr(institution, field)
        if value and value > timezone.localdate():
            raise DomainError(_("The date lies in the future."), field=field)
    try:
        institution.full_clean(exclude=["public_token", "region_path", "uscc"])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise DomainError(" ".join(messages), field=field) from exc
