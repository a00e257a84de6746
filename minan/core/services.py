"""Writes of the core app: the working-day calendar (years loaded by hand, overrides). Each checks the
permission, writes in one transaction and records an audit event."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from minan.core.audit.services import record
from minan.core.errors import DomainError, NotPermitted

from .models import CalendarOverride, CalendarYear


def _require_editor(actor: Any) -> None:
    if not actor.has_perm("core.change_calendaroverride"):
        raise NotPermitted(_("You do not have permission to do this."))


@transaction.atomic
def load_year(actor: Any, year: int, source: str, *, request: Any = None) -> CalendarYear:
    _require_editor(actor)
    if not 2000 <= year <= 2100:
        raise DomainError(_("The year must be between 2000 and 2100."), field="year")
    if not source.strip():
        raise DomainError(_("Name the notice the arrangement comes from."), field="source")
    if len(source) > 200:
        raise DomainError(_("The source notice is limited to 200 characters."), field="source")
    entry, created = CalendarYear.objects.get_or_create(
        year=year, defaults={"source": source, "entered_by": actor}
    )
    if not created:
        raise DomainError(
            _("The year %(year)d is already loaded.") % {"year": year}, code="duplicate", field="year"
        )
    record("calendar.load_year", user=actor, request=request, obj=entry, detail=source)
    return entry


@transaction.atomic
def set_override(
    actor: Any, day: dt.date, is_workday: bool, name: str = "", *, request: Any = None
) -> CalendarOverride:
    _require_editor(actor)
    before = CalendarOverride.objects.filter(date=day).values_list("is_workday", flat=True).first()
    entry, _created = CalendarOverride.objects.update_or_create(
        date=day, defaults={"is_workday": is_workday, "name": name, "entered_by": actor}
    )
    record(
        "calendar.override",
        user=actor,
        request=request,
        obj=entry,
        changes={"is_workday": [before, is_workday]},
        detail=f"{day} {name}",
    )
    return entry


@transaction.atomic
def delete_override(actor: Any, entry: CalendarOverride, *, request: Any = None) -> None:
    _require_editor(actor)
    record("calendar.override_delete", user=actor, request=request, obj=entry, detail=str(entry.date))
    entry.delete()
