"""Writes to the institution registry (facts, commissioners, insurance policies). Every write checks
permission and scope, validates, writes in one transaction, keeps the institution's history and records
an audit event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.core.audit.services import diff, record, snapshot
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.core.scoping import ScopedModel
from minan.regions.models import Region

from ..classification.services import reclassify
from ..models import Commissioner, Institution, InstitutionChange, InsurancePolicy
from ..rules import validate

# Facts a person edits (history and audit compare these).
FACT_FIELDS = (
    "name", "kind", "subtype_id", "ownership_id", "region_id", "uscc", "address", "contact_name",
    "contact_phone", "legal_representative", "beds", "residents", "staff_count", "opened_on",
    "filing_status", "fire_acceptance", "building_floors", "building_structure", "construction_year",
    "star_grade", "star_grade_date", "fire_standardised", "fire_standardised_date", "latitude", "longitude",
    "status",
)  # fmt: skip
EDITABLE = {name.removesuffix("_id") for name in FACT_FIELDS}


def require(actor: Any, perm: str) -> None:
    if actor is not None and not actor.has_perm(perm):
        raise NotPermitted(_("You do not have permission to do this."))


def _history(
    institution: Institution, actor: Any, action: str, changes: dict[str, Any], reason: str = ""
) -> None:
    InstitutionChange.objects.create(
        institution=institution, user=actor if getattr(actor, "pk", None) else None, action=action,
        changes=changes, reason=reason,
    )  # fmt: skip


def after_facts_changed(institutions: list[Institution], actor: Any, request: Any) -> None:
    """Facts define the risk class: reclassify right away (also nightly)."""
    reclassify(institutions, actor=actor, request=request)


@transaction.atomic
def create_institution(
    actor: Any, *, name: str, kind: str, region: Region, request: Any = None, **fields: Any
) -> Institution:
    """Create an institution; `actor` None is the system (demo data, an operator's import)."""
    require(actor, "institutions.add_institution")
    unknown = set(fields) - EDITABLE
    if unknown:
        raise DomainError(_("Unknown fields: %(names)s") % {"names": ", ".join(sorted(unknown))})
    institution = Institution(name=name, kind=kind, region=region, region_path=region.region_path, **fields)
    validate(institution, actor)
    institution.save()
    changes = diff({}, snapshot(institution, FACT_FIELDS))
    _history(institution, actor, "create", changes)
    record("institution.create", user=actor, request=request, obj=institution, changes=changes)
    after_facts_changed([institution], actor, request)
    return institution


@transaction.atomic
def update_institution(
    actor: Any, institution: Institution, *, request: Any = None, **fields: Any
) -> Institution:
    require(actor, "institutions.change_institution")
    locked = (
        Institution.objects.for_user(actor, "change").select_for_update().filter(pk=institution.pk).first()
    )
    if locked is None:
        raise OutOfScope(_("Institution not found."))
    unknown = set(fields) - EDITABLE
    if unknown:
        raise DomainError(_("Unknown fields: %(names)s") % {"names": ", ".join(sorted(unknown))})
    before = snapshot(locked, FACT_FIELDS)
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.region_path = locked.region.region_path
    validate(locked, actor)
    changes = diff(before, snapshot(locked, FACT_FIELDS))
    if not changes:
        return locked
    locked.save()
    if "region_id" in changes:
        _move_dependants(locked)
    _history(locked, actor, "update", changes)
    record("institution.update", user=actor, request=request, obj=locked, changes=changes)
    after_facts_changed([locked], actor, request)
    return locked


def _move_dependants(institution: Institution) -> None:
    """Rows that belong to the institution (commissioners, policies, 包保 assignments and visits, …)
    carry its place for scoping: they move with it, or the new county would not see them."""
    for relation in institution._meta.related_objects:
        model = relation.related_model
        if (
            isinstance(model, type)
            and issubclass(model, ScopedModel)
            and model is not get_user_model()  # accounts keep their own home region
            and getattr(model, "scope_institution_field", None) == f"{relation.field.name}_id"
        ):
            model.objects.filter(**{relation.field.name: institution}).update(
                region_path=institution.region_path
            )


# --- four commissioners (四专员) ------------------------------------------------------------------


def _institution_for_change(actor: Any, institution: Institution) -> Institution:
    require(actor, "institutions.change_institution")
    if (
        actor is not None
        and not Institution.objects.for_user(actor, "change").filter(pk=institution.pk).exists()
    ):
        raise OutOfScope(_("Institution not found."))
    return institution


@transaction.atomic
def set_commissioner(
    actor: Any,
    institution: Institution,
    role: str,
    person: Any,
    *,
    since: date | None = None,
    request: Any = None,
) -> Commissioner:
    _institution_for_change(actor, institution)
    if role not in Commissioner.Role.values:
        raise DomainError(_("Unknown commissioner role."), field="role")
    if not person.is_active:
        raise DomainError(_("The person's account is disabled."), field="user")
    if actor is not None and not get_user_model().objects.for_user(actor).filter(pk=person.pk).exists():
        raise DomainError(_("Choose a person inside your scope."), field="user")
    current = Commissioner.objects.filter(institution=institution, role=role).first()
    old = current.user_id if current else None
    if current is None:
        current = Commissioner(institution=institution, role=role, region_path=institution.region_path)
    current.user = person
    current.since = since or timezone.localdate()
    current.region_path = institution.region_path
    current.save()
    _history(institution, actor, "commissioner", {role: [old, person.pk]})
    record(
        "institution.commissioner",
        user=actor,
        request=request,
        obj=institution,
        changes={role: [old, person.pk]},
    )
    return current


@transaction.atomic
def remove_commissioner(actor: Any, institution: Institution, role: str, *, request: Any = None) -> None:
    _institution_for_change(actor, institution)
    deleted, _n = Commissioner.objects.filter(institution=institution, role=role).delete()
    if not deleted:
        raise DomainError(_("There is no commissioner in this role."), field="role")
    _history(institution, actor, "commissioner", {role: ["removed", None]})
    record("institution.commissioner", user=actor, request=request, obj=institution, detail=f"{role} removed")


# --- insurance (综合责任保险) ---------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyData:
    insurer: str
    number: str
    coverage: Any
    starts_on: date
    ends_on: date


@transaction.atomic
def add_policy(
    actor: Any, institution: Institution, data: PolicyData, *, request: Any = None
) -> InsurancePolicy:
    _institution_for_change(actor, institution)
    if data.ends_on <= data.starts_on:
        raise DomainError(_("The policy must end after it starts."), field="ends_on")
    if InsurancePolicy.objects.filter(insurer=data.insurer, number=data.number).exists():
        raise DomainError(
            _("This policy number of this insurer is already recorded."), field="number", code="duplicate"
        )
    policy = InsurancePolicy(
        institution=institution, region_path=institution.region_path, insurer=data.insurer, number=data.number,
        coverage=data.coverage, starts_on=data.starts_on, ends_on=data.ends_on,
    )  # fmt: skip
    try:
        policy.full_clean(exclude=["region_path"])
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise DomainError(" ".join(messages), field=field) from exc
    policy.save()
    _history(institution, actor, "insurance", {"policy": [None, f"{data.insurer} {data.number}"]})
    record("institution.insurance", user=actor, request=request, obj=institution,
           detail=f"{data.insurer} {data.number} {data.starts_on}–{data.ends_on}")  # fmt: skip
    after_facts_changed([institution], actor, request)
    return policy


@transaction.atomic
def delete_policy(actor: Any, policy: InsurancePolicy, *, request: Any = None) -> None:
    institution = policy.institution
    _institution_for_change(actor, institution)
    _history(institution, actor, "insurance", {"policy": [f"{policy.insurer} {policy.number}", None]})
    record("institution.insurance_delete", user=actor, request=request, obj=institution,
           detail=f"{policy.insurer} {policy.number}")  # fmt: skip
    policy.delete()
    after_facts_changed([institution], actor, request)


# --- insurance expiry reminder (综合责任保险) ---------------------------------------------------------------


def claim_expiry_reminder(policy: InsurancePolicy, *, recipients: int) -> bool:
    """Stamp an expired policy as reminded, once: False when another worker has claimed it first. The
    caller tells the recipients in the same transaction (`duty.services.remind_expired_policies`)."""
    if not InsurancePolicy.objects.filter(pk=policy.pk, expiry_reminded_at__isnull=True).update(
        expiry_reminded_at=timezone.now()
    ):
        return False
    record(
        "insurance.expiry_reminder", obj=policy.institution, detail=f"{policy.number} {recipients} recipients"
    )
    return True
