"""Writing a plan: what it covers, creating and changing it (from the next period on), stopping it;
tasks no longer needed are cancelled with the scope they brought."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.core.audit.services import diff, record, snapshot
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.core.scoping import region_within_scope
from minan.institutions.models import Institution, RiskClass

from ...checklists.selectors import current_template
from ...execution import services as execution
from ...models import InspectionPlan, InspectionTask, Kind

Cadence = InspectionPlan.Cadence
Status = InspectionTask.Status
ACTIVE = (Status.OPEN, Status.MISSED)  # tasks still to do
MAX_DUE_WORKING_DAYS = 250
PLAN_FIELDS = ("name", "template_code", "kind", "cadence", "region", "institution_kinds", "risk_classes",
               "due_working_days", "auto_assign", "starts_on", "ends_on")  # fmt: skip


# --- what a plan covers --------------------------------------------------------------------------------------------


def _kinds(plan: InspectionPlan) -> list[str]:
    if plan.institution_kinds:
        return list(plan.institution_kinds)
    template = current_template(plan.template_code)
    return list(template.institution_kinds) if template is not None else []


def targets(plan: InspectionPlan) -> QuerySet[Institution]:
    """The operating institutions the plan covers: the listed ones, or those inside its region of its
    institution kinds (default: the checklist's) and risk classes (the class set by hand wins)."""
    operating = Institution.objects.filter(status=Institution.Status.OPERATING)
    if plan.pk and plan.institutions.exists():
        return operating.filter(pk__in=plan.institutions.values("pk"))
    qs = operating.filter(region_path__startswith=plan.region.region_path)
    if kinds := _kinds(plan):
        qs = qs.filter(kind__in=kinds)
    if plan.risk_classes:
        codes = list(plan.risk_classes)
        qs = qs.filter(
            Q(class_override__code__in=codes) | Q(class_override__isnull=True, risk_class__code__in=codes)
        )
    return qs


# --- writing a plan -------------------------------------------------------------------------------------------------


def _require(actor: Any, permission: str) -> None:
    if actor is None or not actor.has_perm(permission):
        raise NotPermitted(_("You do not have permission to do this."))


def _plan_for_change(actor: Any, plan: InspectionPlan, *, lock: bool = False) -> InspectionPlan:
    _require(actor, "inspections.change_inspectionplan")
    qs = InspectionPlan.objects.for_user(actor, "change").filter(pk=plan.pk).select_related("region")
    found = (qs.select_for_update(of=("self",)) if lock else qs).first()
    if found is None:
        raise OutOfScope(_("Plan not found."))
    return found


def _institution_ids(values: Iterable[Any]) -> list[int]:
    ids = []
    for value in values:
        pk = getattr(value, "pk", value)
        try:
            ids.append(int(pk))
        except (TypeError, ValueError):
            raise DomainError(_("Choose institutions from the list."), field="institutions") from None
    return sorted(set(ids))


def _validate(actor: Any, plan: InspectionPlan, institution_ids: list[int]) -> None:
    if not plan.name.strip():
        raise DomainError(_("Give the plan a name."), field="name")
    if len(plan.name) > 200:
        raise DomainError(_("The name is limited to 200 characters."), field="name")
    template = current_template(plan.template_code)
    if template is None:
        raise DomainError(_("Choose a checklist that has a published version."), field="template_code")
    if plan.kind not in Kind.values:
        raise DomainError(_("Choose a listed inspection kind."), field="kind")
    if template.kinds and plan.kind not in template.kinds:
        raise DomainError(_("This checklist is not meant for this kind of inspection."), field="kind")
    if plan.cadence not in Cadence.values:
        raise DomainError(_("Choose a listed cadence."), field="cadence")
    if not region_within_scope(actor, plan.region.region_path):
        raise DomainError(_("Choose a region inside your scope."), field="region")
    if set(plan.institution_kinds) - set(Institution.Kind.values):
        raise DomainError(_("Choose listed institution kinds."), field="institution_kinds")
    if template.institution_kinds and set(plan.institution_kinds) - set(template.institution_kinds):
        raise DomainError(
            _("This checklist is not meant for this kind of institution."), field="institution_kinds"
        )
    known = set(RiskClass.objects.values_list("code", flat=True))
    if set(plan.risk_classes) - known:
        raise DomainError(_("Choose listed risk classes."), field="risk_classes")
    if institution_ids:
        listed = list(
            Institution.objects.for_user(actor).filter(pk__in=institution_ids).values_list("pk", "kind")
        )
        if len(listed) != len(institution_ids):
            raise DomainError(_("Choose institutions inside your scope."), field="institutions")
        if template.institution_kinds and {k for _pk, k in listed} - set(template.institution_kinds):
            raise DomainError(
                _("This checklist is not meant for this kind of institution."), field="institutions"
            )
    if plan.due_working_days is not None and not 0 <= plan.due_working_days <= MAX_DUE_WORKING_DAYS:
        raise DomainError(
            _("Give between 0 and %(n)d working days.") % {"n": MAX_DUE_WORKING_DAYS},
            field="due_working_days",
        )
    if plan.starts_on is None:
        raise DomainError(_("Give the first day of the plan."), field="starts_on")
    if plan.ends_on is not None and plan.ends_on < plan.starts_on:
        raise DomainError(_("The plan cannot end before it starts."), field="ends_on")


@transaction.atomic
def save_plan(
    actor: Any, plan: InspectionPlan | None, *, request: Any = None, **fields: Any
) -> InspectionPlan:
    """Create a plan (`plan` None) or change one (only the given fields change). The plan belongs to
    its author's place. Refused, with nothing written, when: the checklist family has no published
    version; the kind is not one the checklist is meant for; the region or a listed institution lies
    outside the actor's scope; it would end before it starts. An edit applies from the next period."""
    unknown = set(fields) - set(PLAN_FIELDS) - {"institutions"}
    if unknown:
        raise ValueError(f"unknown plan fields: {sorted(unknown)}")
    creating = plan is None
    if creating:
        _require(actor, "inspections.add_inspectionplan")
        home = actor.region
        target = InspectionPlan(created_by=actor, region=home, due_working_days=None, auto_assign=True,
                                institution_kinds=[], risk_classes=[])  # fmt: skip
        # The plan belongs to its author's place; someone whose home lies outside their own scope
        # files it at the region it covers, so that they see it.
        target.region_path = home.region_path if region_within_scope(actor, home.region_path) else ""
        before: dict[str, Any] = {}
        before_ids: list[int] = []
    else:
        assert plan is not None
        target = _plan_for_change(actor, plan, lock=True)
        before = snapshot(target, PLAN_FIELDS)
        before_ids = sorted(target.institutions.values_list("pk", flat=True))
    for name, value in fields.items():
        if name == "institutions":
            continue
        if name == "region":
            value = value or target.region  # empty: the author's region (new) or unchanged (edit)
        elif name in {"institution_kinds", "risk_classes"}:
            value = sorted({str(v) for v in (value or [])})
        elif name in {"name", "template_code"}:
            value = str(value or "").strip()
        elif name == "auto_assign":
            value = bool(value)
        elif name == "due_working_days" and value == "":
            value = None
        setattr(target, name, value)
    ids = _institution_ids(fields["institutions"]) if "institutions" in fields else before_ids
    _validate(actor, target, ids)
    if creating and not target.region_path:
        target.region_path = target.region.region_path
    target.save()
    target.institutions.set(ids)
    changes = diff(before, snapshot(target, PLAN_FIELDS))
    if ids != before_ids:
        changes["institutions"] = [before_ids, ids]
    if creating:
        record("inspection_plan.create", user=actor, request=request, obj=target, changes=changes,
               detail=f"{target.name} {target.kind} {target.cadence} {target.template_code}"[:500])  # fmt: skip
    elif changes:
        record("inspection_plan.change", user=actor, request=request, obj=target, changes=changes,
               detail=target.name[:500])  # fmt: skip
    return target


@transaction.atomic
def deactivate(actor: Any, plan: InspectionPlan, *, request: Any = None) -> InspectionPlan:
    """Stop a plan: no more tasks are generated; its open tasks not yet started are cancelled (missed
    ones stay missed, a record that they were not done)."""
    target = _plan_for_change(actor, plan, lock=True)
    if not target.active:
        raise DomainError(_("This plan is already stopped."), code="not_allowed")
    InspectionPlan.objects.filter(pk=target.pk).update(active=False, updated_at=timezone.now())
    cancelled = _cancel(InspectionTask.objects.filter(plan=target, status=Status.OPEN))
    record("inspection_plan.deactivate", user=actor, request=request, obj=target,
           detail=f"{target.name}: {cancelled} open tasks cancelled"[:500])  # fmt: skip
    target.refresh_from_db()
    return target


def _cancel(tasks: QuerySet[InspectionTask]) -> int:
    """Cancel the given tasks that are still to do and not started; the managed scope they brought goes."""
    rows = list(tasks.filter(status__in=ACTIVE, inspection__isnull=True).values_list("pk", "assignee_id"))
    if not rows:
        return 0
    pks = [pk for pk, _user in rows]
    count = InspectionTask.objects.filter(pk__in=pks, status__in=ACTIVE, inspection__isnull=True).update(
        status=Status.CANCELLED
    )
    for task in InspectionTask.objects.filter(pk__in=pks, status=Status.CANCELLED, assignee__isnull=False):
        execution.release(task)
    return count
