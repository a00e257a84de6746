"""Writes of the 包保 network: transactional, permission- and scope-checked, audited.

Concurrency rule: every change of an institution's assignment first locks the institution row
(`select_for_update`), so two reassignments of the same institution run one after the other; the
partial unique index `one_active_cadre_per_institution` is the last line of defence.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.accounts.models import User, UserScope
from minan.accounts.roles import CADRE
from minan.audit.services import record
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.institutions.models import Institution, InstitutionChange

from .models import DutyAssignment


def _check(actor: Any, institution: Institution, cadre: User | None) -> None:
    if actor is None:
        return
    if not actor.has_perm("duty.add_dutyassignment"):
        raise NotPermitted(_("You do not have permission to do this."))
    if not Institution.objects.for_user(actor, "change").filter(pk=institution.pk).exists():
        raise OutOfScope(_("Institution not found."))
    if cadre is not None and not User.objects.for_user(actor).filter(pk=cadre.pk).exists():
        raise DomainError(_("Choose a cadre inside your scope."), field="cadre")


def _end_current(institution: Institution, actor: Any, today: date, reason: str) -> DutyAssignment | None:
    current = (
        DutyAssignment.objects.filter(institution=institution, active=True).select_related("cadre").first()
    )
    if current is None:
        return None
    DutyAssignment.objects.filter(pk=current.pk, active=True).update(
        active=False, ends_on=today, end_reason=reason
    )
    if not DutyAssignment.objects.filter(cadre=current.cadre, institution=institution, active=True).exists():
        UserScope.objects.filter(user=current.cadre, institution=institution, via_duty=True).delete()
    return current


@transaction.atomic
def assign_cadre(
    actor: Any, institution: Institution, cadre: User, *, starts_on: date | None = None, request: Any = None
) -> DutyAssignment:
    """Make `cadre` the responsible cadre of `institution`, ending the current assignment if any."""
    _check(actor, institution, cadre)
    if not cadre.is_active:
        raise DomainError(_("The cadre's account is disabled."), field="cadre")
    if CADRE not in cadre.role_codes:
        raise DomainError(_("The person does not hold the responsible-cadre role."), field="cadre")
    if institution.status == Institution.Status.CLOSED:
        raise DomainError(_("A closed institution has no responsible cadre."), field="institution")
    Institution.objects.select_for_update().filter(pk=institution.pk).first()  # serialise per institution
    today = timezone.localdate()
    current = DutyAssignment.objects.filter(institution=institution, active=True).first()
    if current is not None and current.cadre_id == cadre.pk:
        raise DomainError(_("This cadre is already responsible for the institution."), code="duplicate")
    ended = _end_current(institution, actor, today, _("reassigned"))
    assignment = DutyAssignment.objects.create(
        institution=institution, cadre=cadre, starts_on=starts_on or today, region_path=institution.region_path,
        assigned_by=actor if getattr(actor, "pk", None) else None,
    )  # fmt: skip
    UserScope.objects.get_or_create(
        user=cadre, institution=institution, via_duty=True, defaults={"granted_by": assignment.assigned_by}
    )
    old = ended.cadre_id if ended else None
    InstitutionChange.objects.create(
        institution=institution,
        user=assignment.assigned_by,
        action="duty.assign",
        changes={"cadre": [old, cadre.pk]},
    )
    record("duty.assign", user=actor, request=request, obj=institution, changes={"cadre": [old, cadre.pk]})
    return assignment


@transaction.atomic
def end_assignment(actor: Any, institution: Institution, reason: str, *, request: Any = None) -> None:
    _check(actor, institution, None)
    if not reason.strip():
        raise DomainError(_("Give a reason."), field="reason")
    Institution.objects.select_for_update().filter(pk=institution.pk).first()
    ended = _end_current(institution, actor, timezone.localdate(), reason.strip()[:200])
    if ended is None:
        raise DomainError(_("The institution has no responsible cadre."))
    InstitutionChange.objects.create(
        institution=institution, user=actor if getattr(actor, "pk", None) else None, action="duty.end",
        changes={"cadre": [ended.cadre_id, None]}, reason=reason[:200],
    )  # fmt: skip
    record("duty.end", user=actor, request=request, obj=institution, detail=reason[:200])


def bulk_assign(actor: Any, institutions: list[Institution], cadre: User, *, request: Any = None) -> int:
    """Assign one cadre to several institutions; all or nothing."""
    with transaction.atomic():
        for institution in institutions:
            current = DutyAssignment.objects.filter(institution=institution, active=True).first()
            if current is None or current.cadre_id != cadre.pk:
                assign_cadre(actor, institution, cadre, request=request)
    return len(institutions)
