"""包保 assignments from an xlsx file: every row checked first, then all applied in one transaction.

The file format has Chinese headers ("*" = required). A row names the institution by its unified
social credit code or, when it has none, by its exact name, and the cadre by the account name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font

from minan.accounts.models import User
from minan.accounts.roles import CADRE
from minan.core.errors import NotPermitted
from minan.core.xlsx import MAX_ROWS, Columns, RowError, cell_text, read_table, workbook_to_bytes
from minan.institutions.models import Institution

from .services import assign_many

USCC, NAME, CADRE_USERNAME, STARTS_ON = "统一社会信用代码", "机构名称", "包保干部账号", "开始日期"
HEADERS = [USCC, NAME, CADRE_USERNAME + "*", STARTS_ON]
# Rows are keyed by the column name; every column must be there (a row gives the code or the name), and
# columns the format does not know are ignored.
FORMAT = Columns(
    [(h.rstrip("*"), h) for h in HEADERS], required=(USCC, NAME, CADRE_USERNAME, STARTS_ON), strict=False
)
CADRE_SHEET_TITLE = "包保干部"


@dataclass(frozen=True)
class ImportOutcome:
    assigned: int  # rows that changed an institution's cadre
    unchanged: int  # rows naming the cadre already responsible


def template_bytes(actor: Any) -> bytes:
    """The template: the header row, one example, and a sheet listing the cadres inside the actor's scope."""
    wb = Workbook()
    ws = wb.active
    ws.title = "包保关系"
    ws.append(HEADERS)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    ws.append(["12370800MB1234567X", "（有统一社会信用代码时可不填）", "zhangsan", "2026-01-01"])
    for column, width in zip("ABCD", (24, 36, 18, 14), strict=True):
        ws.column_dimensions[column].width = width
    cadres = wb.create_sheet(CADRE_SHEET_TITLE)
    cadres.append(["账号", "姓名"])
    for username, name in (
        User.objects.for_user(actor)
        .filter(role_grants__role=CADRE, is_active=True)
        .order_by("username")
        .values_list("username", "display_name")[:MAX_ROWS]
    ):
        cadres.append([username, name])
    return workbook_to_bytes(wb)


def _text(value: Any) -> str:
    return cell_text(value)


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(_text(value))


def _rows(file: Any, filename: str) -> list[tuple[int, dict[str, Any]]]:
    return read_table(file, filename, FORMAT.map, MAX_ROWS)


def import_assignments(
    actor: Any, file: str | Path | IO[Any], filename: str, *, request: Any = None
) -> ImportOutcome:
    """Check every row (institution inside the actor's scope, cadre an active responsible cadre inside it,
    date not in the future, each institution once), then assign all rows in one transaction, or none."""
    if not actor.has_perm("duty.add_dutyassignment"):
        raise NotPermitted(_("You do not have permission to do this."))
    rows = _rows(file, filename)
    institutions = Institution.objects.for_user(actor, "change").exclude(status=Institution.Status.CLOSED)
    by_uscc = {
        i.uscc: i for i in institutions.filter(uscc__in={_text(r[USCC]).upper() for _l, r in rows} - {""})
    }
    names = {_text(r[NAME]) for _l, r in rows if not _text(r[USCC])} - {""}
    by_name: dict[str, list[Institution]] = {}
    for inst in institutions.filter(name__in=names):
        by_name.setdefault(inst.name, []).append(inst)
    cadres = {
        u.username: u
        for u in User.objects.for_user(actor).filter(
            username__in={_text(r[CADRE_USERNAME]) for _l, r in rows}, role_grants__role=CADRE, is_active=True
        )
    }
    today = timezone.localdate()
    errors: list[RowError] = []
    planned: list[tuple[Institution, User, dt.date]] = []
    seen: dict[int, int] = {}
    for line, row in rows:
        uscc, name, username = _text(row[USCC]).upper(), _text(row[NAME]), _text(row[CADRE_USERNAME])
        institution: Institution | None = None
        if uscc:
            institution = by_uscc.get(uscc)
            if institution is None:
                errors.append(RowError(line, USCC, _("No institution with this code inside your scope.")))
        elif name:
            found = by_name.get(name, [])
            if len(found) == 1:
                institution = found[0]
            else:
                message = (
                    _("Several institutions have this name; give the unified social credit code.")
                    if found
                    else _("No institution with this name inside your scope.")
                )
                errors.append(RowError(line, NAME, message))
        else:
            errors.append(RowError(line, USCC, _("Give the unified social credit code or the name.")))
        cadre = cadres.get(username)
        if cadre is None:
            errors.append(
                RowError(
                    line,
                    CADRE_USERNAME,
                    _("No active responsible cadre with this account inside your scope."),
                )
            )
        try:
            starts_on = _date(row[STARTS_ON]) if _text(row[STARTS_ON]) else today
        except ValueError:
            errors.append(RowError(line, STARTS_ON, _("Write the date as YYYY-MM-DD.")))
            starts_on = None
        if starts_on is not None and starts_on > today:
            errors.append(RowError(line, STARTS_ON, _("The date cannot be in the future.")))
        if institution is not None:
            if institution.pk in seen:
                errors.append(
                    RowError(
                        line,
                        USCC if uscc else NAME,
                        _("Same institution as line %(line)d.") % {"line": seen[institution.pk]},
                    )
                )
            seen.setdefault(institution.pk, line)
        if institution is not None and cadre is not None and starts_on is not None:
            planned.append((institution, cadre, starts_on))
    if errors:
        raise FORMAT.refused(errors)
    assigned, unchanged = assign_many(actor, planned, source=filename, request=request)
    return ImportOutcome(assigned, unchanged)
