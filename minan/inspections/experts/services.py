"""The expert roster (专家库): who may perform an expert survey (专家勘察), in which
fields, with which qualification, until when. `services.performer_problem` reads it; this module is
its only writer. Reference data of the deployment (not scoped); edited with `inspections.change_expert`
(system administrator, city safety office); every change is audited with a field diff.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from minan.accounts.roles import EXPERT
from minan.core.audit.services import diff, record, snapshot
from minan.core.errors import DomainError, NotPermitted
from minan.hazards.models import Category

from ..models import Expert

EDIT_PERMISSION = "inspections.change_expert"
FIELDS = ("organisation", "fields", "qualification", "certificate_no", "valid_until", "active")


@transaction.atomic
def save_expert(
    actor: Any,
    expert: Expert | None,
    *,
    user: Any = None,
    request: Any = None,
    **values: Any,
) -> Expert:
    """Put an account on the roster (`expert` None, `user` given) or change an entry. The account must
    be active and hold the expert role; fields are hazard categories; the qualification is required."""
    if not actor.has_perm(EDIT_PERMISSION):
        raise NotPermitted(_("You do not have permission to do this."))
    unknown = set(values) - set(FIELDS)
    if unknown:
        raise DomainError(_("Unknown field: %(name)s.") % {"name": sorted(unknown)[0]})
    creating = expert is None
    if creating:
        if user is None or not user.is_active:
            raise DomainError(_("Choose an active account."), field="user")
        if not user.role_grants.filter(role=EXPERT).exists():
            raise DomainError(_("Only an account with the expert role can be on the roster."), field="user")
        expert = Expert(user=user)
    assert expert is not None
    before = {} if creating else snapshot(expert, FIELDS)
    for name, value in values.items():
        setattr(expert, name, value.strip() if isinstance(value, str) else value)
    expert.qualification = (expert.qualification or "")[:200]
    if not expert.qualification:
        raise DomainError(_("State the qualification (e.g. 注册消防工程师)."), field="qualification")
    fields = list(expert.fields or [])
    if any(f not in Category.values for f in fields):
        raise DomainError(_("Choose fields from the list."), field="fields")
    expert.fields = sorted(set(fields), key=Category.values.index)
    if expert.valid_until is not None and not isinstance(expert.valid_until, dt.date):
        raise DomainError(_("Enter a date."), field="valid_until")
    try:
        with transaction.atomic():
            expert.save()
    except IntegrityError:
        raise DomainError(
            _("This account is already on the roster."), field="user", code="duplicate"
        ) from None
    changes = diff(before, snapshot(expert, FIELDS))
    if creating or changes:
        record("expert.create" if creating else "expert.change", user=actor, request=request,
               object_type="inspections.expert", object_id=expert.pk, changes=changes,
               detail=expert.user.display_name)  # fmt: skip
    return expert
