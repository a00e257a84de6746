"""Writes of the 包保 network: transactional, permission- and scope-checked, audited.

Concurrency rule: every change of an institution's assignment first locks the institution row
(`select_for_update`), so two reassignments of the same institution run one after the other; the
partial unique index `one_active_cadre_per_institution` is the last line of defence.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from minan.accounts import services as accounts
from minan.accounts.models import User, UserScope
from minan.accounts.roles import CADRE, ROLE_LABELS, SUPERVISION_MEMBER
from minan.core.audit.services import record
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.core.scoping import region_within_scope
from minan.core.uploads import check_uploads
from minan.institutions import services as registry
from minan.institutions.models import Institution, InstitutionChange, InsurancePolicy
from minan.notify.services import notify
from minan.regions import paths as region_paths
from minan.regions.models import Region

from .models import (
    DutyAssignment,
    DutyItem,
    DutyPost,
    DutyVisit,
    DutyVisitPhoto,
    GroupCounty,
    Recurrence,
    SupervisionGroup,
)
from .selectors import add_period, overdue_cutoff, visit_rule


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
        accounts.revoke_derived_scope(current.cadre_id, UserScope.Source.DUTY, institution_id=institution.pk)
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
    if starts_on is not None and (
        starts_on > today or (current is not None and starts_on < current.starts_on)
    ):
        raise DomainError(
            _("The start date must lie between the current assignment's start and today."), field="starts_on"
        )
    ended = _end_current(institution, actor, today, _("reassigned"))
    assignment = DutyAssignment.objects.create(
        institution=institution, cadre=cadre, starts_on=starts_on or today, region_path=institution.region_path,
        assigned_by=actor if getattr(actor, "pk", None) else None,
    )  # fmt: skip
    accounts.grant_derived_scope(
        cadre, UserScope.Source.DUTY, institution=institution, granted_by=assignment.assigned_by
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
def assign_many(
    actor: Any, planned: Sequence[tuple[Institution, User, date]], *, source: str, request: Any = None
) -> tuple[int, int]:
    """Assign checked (institution, cadre, start) rows of an import, all or none, with one `duty.import`
    event besides each assignment's own; returns (assigned, unchanged)."""
    current = dict(
        DutyAssignment.objects.filter(institution__in=[p[0] for p in planned], active=True).values_list(
            "institution_id", "cadre_id"
        )
    )
    assigned = unchanged = 0
    for institution, cadre, starts_on in planned:
        if current.get(institution.pk) == cadre.pk:
            unchanged += 1
            continue
        assign_cadre(actor, institution, cadre, starts_on=starts_on, request=request)
        assigned += 1
    record("duty.import", user=actor, request=request, object_type="duty.dutyassignment",
           detail=f"{source}: {assigned} assigned, {unchanged} unchanged"[:500])  # fmt: skip
    return assigned, unchanged


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


# --- supervision groups ----------------------------------------------------------------------------------


def sync_group_scope(user: User) -> None:
    """Make the user's group scope entries equal to the counties of the active groups they lead or
    belong to. Idempotent; called for everyone a group change touches."""
    wanted = set(
        GroupCounty.objects.filter(group__active=True)
        .filter(Q(group__leader=user) | Q(group__members=user))
        .values_list("county_id", flat=True)
    )
    accounts.set_derived_regions(user, UserScope.Source.GROUP, wanted)


def _common_path(paths: Sequence[str]) -> str:
    """The deepest region path that contains all `paths` (the group's place)."""
    parts = [region_paths.codes(p)[:-1] for p in paths]  # each county's parent chain
    common: list[str] = []
    for level in zip(*parts, strict=False):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return "/".join(common) + "/" if common else ""


@transaction.atomic
def save_group(
    actor: Any,
    group: SupervisionGroup | None,
    *,
    name: str,
    leader: User,
    members: Sequence[User],
    counties: Sequence[Region],
    request: Any = None,
) -> SupervisionGroup:
    """Create or change a supervision group. A county already covered by another group is refused:
    that group must release it first, so a county never has two groups (or silently changes group)."""
    creating = group is None
    system = actor is None  # the demo and commands act as the system: no permission or scope checks
    if not system and not actor.has_perm(
        "duty.add_supervisiongroup" if creating else "duty.change_supervisiongroup"
    ):
        raise NotPermitted(_("You do not have permission to do this."))
    if group is not None:
        if (
            not system
            and not SupervisionGroup.objects.for_user(actor, "change")
            .filter(pk=group.pk, active=True)
            .exists()
        ):
            raise OutOfScope(_("Supervision group not found."))
        SupervisionGroup.objects.select_for_update().filter(pk=group.pk).first()
    name = name.strip()
    if not name:
        raise DomainError(_("Give the group a name."), field="name")
    if not counties:
        raise DomainError(_("Choose at least one county."), field="counties")
    for county in counties:
        if county.level != Region.Level.COUNTY:
            raise DomainError(
                _("%(name)s is not a county-level division.") % {"name": county.name}, field="counties"
            )
        if not system and not region_within_scope(actor, county.region_path):
            raise DomainError(
                _("%(name)s lies outside your scope.") % {"name": county.name}, field="counties"
            )
    people = User.objects.all() if system else User.objects.for_user(actor)
    for person, field in [(leader, "leader"), *((m, "members") for m in members)]:
        if not person.is_active or not people.filter(pk=person.pk).exists():
            raise DomainError(_("Choose people inside your scope."), field=field)
        if SUPERVISION_MEMBER not in person.role_codes:
            raise DomainError(
                _("%(name)s does not hold the role “%(role)s”.")
                % {"name": person.display_name, "role": ROLE_LABELS[SUPERVISION_MEMBER]},
                field=field,
            )
    county_ids = {c.pk for c in counties}
    taken = (
        GroupCounty.objects.select_for_update()
        .filter(county_id__in=county_ids)
        .exclude(group=group)
        .select_related("county", "group")
    )
    for link in taken:
        raise DomainError(
            _("%(county)s is already covered by %(group)s; remove it from that group first.")
            % {"county": link.county.name, "group": link.group.name},
            field="counties",
            code="county_taken",
        )
    before: dict[str, Any] = {}
    touched: set[int] = {leader.pk, *(m.pk for m in members)}
    if group is None:
        group = SupervisionGroup(region_path=_common_path([c.region_path for c in counties]))
    else:
        before = _group_state(group)
        touched |= {group.leader_id, *group.members.values_list("pk", flat=True)}
    # The name is unique per place, disbanded groups included: say so instead of a misleading conflict.
    if (
        SupervisionGroup.objects.filter(region_path=group.region_path, name=name)
        .exclude(pk=group.pk)
        .exists()
    ):
        raise DomainError(
            _("A supervision group called %(name)s already exists (disbanded groups keep their names).")
            % {"name": name},
            field="name",
            code="duplicate",
        )
    group.name = name
    group.leader = leader
    try:
        with transaction.atomic():
            group.save()
            group.members.set(members)
            GroupCounty.objects.filter(group=group).exclude(county_id__in=county_ids).delete()
            today = timezone.localdate()
            for county_id in county_ids - set(
                GroupCounty.objects.filter(group=group).values_list("county_id", flat=True)
            ):
                GroupCounty.objects.create(group=group, county_id=county_id, since=today)
    except IntegrityError as exc:  # a concurrent save took the county or the name first
        raise DomainError(
            _("Another change to the groups was saved at the same time; reload and try again."),
            code="conflict",
        ) from exc
    for person in User.objects.filter(pk__in=touched):
        sync_group_scope(person)
    after = _group_state(group)
    changes = {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}
    record("duty.group.create" if creating else "duty.group.change", user=actor, request=request, obj=group,
           changes=changes)  # fmt: skip
    return group


def _group_state(group: SupervisionGroup) -> dict[str, Any]:
    return {
        "name": group.name,
        "leader": group.leader_id,
        "members": sorted(group.members.values_list("pk", flat=True)),
        "counties": sorted(group.county_links.values_list("county__code", flat=True)),
    }


@transaction.atomic
def disband_group(actor: Any, group: SupervisionGroup, reason: str, *, request: Any = None) -> None:
    """End a group: its counties become uncovered and its people lose the scope the group gave them."""
    if not actor.has_perm("duty.change_supervisiongroup"):
        raise NotPermitted(_("You do not have permission to do this."))
    if not SupervisionGroup.objects.for_user(actor, "change").filter(pk=group.pk, active=True).exists():
        raise OutOfScope(_("Supervision group not found."))
    if not reason.strip():
        raise DomainError(_("Give a reason."), field="reason")
    touched = {group.leader_id, *group.members.values_list("pk", flat=True)}
    counties = list(group.county_links.values_list("county__code", flat=True))
    SupervisionGroup.objects.filter(pk=group.pk, active=True).update(active=False)
    GroupCounty.objects.filter(group=group).delete()
    for person in User.objects.filter(pk__in=touched):
        sync_group_scope(person)
    record("duty.group.disband", user=actor, request=request, obj=group,
           changes={"counties": [counties, []]}, detail=reason.strip()[:200])  # fmt: skip


# --- duty lists --------------------------------------------------------------------------------------------


@transaction.atomic
def save_post(
    actor: Any,
    post: DutyPost | None,
    *,
    code: str,
    name: str,
    role: str,
    holders: Sequence[User],
    items: Sequence[tuple[str, str, str]],
    request: Any = None,
) -> DutyPost:
    """Create or change a post and replace its numbered duties with `items` (text, recurrence, task)."""
    if not actor.has_perm("duty.change_dutypost"):
        raise NotPermitted(_("You do not have permission to do this."))
    if not name.strip():
        raise DomainError(_("Give the post a name."), field="name")
    if role and role not in ROLE_LABELS:
        raise DomainError(_("Unknown role."), field="role")
    people = User.objects.for_user(actor)
    if any(not people.filter(pk=h.pk).exists() for h in holders):
        raise DomainError(_("Choose people inside your scope."), field="holders")
    cleaned: list[tuple[str, str, str]] = []
    for number, (text, recurrence, task) in enumerate(items, start=1):
        text = text.strip()
        if not text:
            continue
        if recurrence not in Recurrence.values or task not in DutyItem.Task.values:
            raise DomainError(_("Duty %(n)d: choose a listed value.") % {"n": number}, field="items")
        if task == DutyItem.Task.DUTY_VISIT and not recurrence:
            raise DomainError(
                _("Duty %(n)d: a visit task needs to say how often it recurs.") % {"n": number}, field="items"
            )
        cleaned.append((text[:300], recurrence, task))
    if not cleaned:
        raise DomainError(_("A post needs at least one duty."), field="items")
    visit_tasks = sum(1 for _t, _r, task in cleaned if task == DutyItem.Task.DUTY_VISIT)
    other_visit_tasks = DutyItem.objects.filter(task=DutyItem.Task.DUTY_VISIT).exclude(post=post).exists()
    if visit_tasks > 1 or (visit_tasks and other_visit_tasks):
        raise DomainError(_("Only one duty may carry the visit rule."), field="items", code="duplicate")
    before = _post_state(post) if post is not None else {}
    if post is None:
        if not code or DutyPost.objects.filter(code=code).exists():
            raise DomainError(_("Choose a code that is not taken."), field="code")
        post = DutyPost(code=code)
    post.name = name.strip()[:60]
    post.role = role
    post.save()
    post.holders.set(holders)
    post.items.all().delete()
    DutyItem.objects.bulk_create(
        DutyItem(post=post, number=n, text=t, recurrence=r, task=k)
        for n, (t, r, k) in enumerate(cleaned, start=1)
    )
    after = _post_state(post)
    record("duty.post.save", user=actor, request=request, obj=post,
           changes={k: [before.get(k), v] for k, v in after.items() if before.get(k) != v})  # fmt: skip
    return post


def _post_state(post: DutyPost) -> dict[str, Any]:
    return {
        "name": post.name,
        "role": post.role,
        "holders": sorted(post.holders.values_list("pk", flat=True)),
        "items": [f"{i.number}. {i.text} [{i.recurrence}/{i.task}]" for i in post.items.all()],
    }


# --- duty visits (包保督查) ---------------------------------------------------------------------------------

MAX_PHOTOS = 6


@transaction.atomic
def record_visit(
    actor: Any,
    institution: Institution,
    *,
    visited_on: date,
    checked: str,
    findings: str = "",
    photos: Sequence[Any] = (),
    request: Any = None,
) -> DutyVisit:
    """The institution's responsible cadre records a 包保督查 visit (with up to six JPEG/PNG photos)."""
    assignment = (
        DutyAssignment.objects.for_user(actor)
        .filter(institution=institution, cadre=actor, active=True)
        .first()
        if getattr(actor, "pk", None)
        else None
    )
    if assignment is None:
        raise NotPermitted(_("Only the institution's responsible cadre can record a duty visit."))
    if visited_on > timezone.localdate():
        raise DomainError(_("The visit date cannot be in the future."), field="visited_on")
    if visited_on < assignment.starts_on:
        raise DomainError(_("The visit date is before your assignment began."), field="visited_on")
    if not checked.strip():
        raise DomainError(_("Say what was checked."), field="checked")
    typed = check_uploads(list(photos), limit=MAX_PHOTOS, field="photos")
    visit = DutyVisit.objects.create(
        institution=institution, cadre=actor, visited_on=visited_on, checked=checked.strip()[:2000],
        findings=findings.strip()[:4000], region_path=institution.region_path,
    )  # fmt: skip
    # Keep the assignment's rollup (a visit may be recorded late, so only ever move it forward).
    DutyAssignment.objects.filter(pk=assignment.pk).filter(
        Q(last_visit_on__isnull=True) | Q(last_visit_on__lt=visited_on)
    ).update(last_visit_on=visited_on)
    for upload, content_type, extension in typed:
        photo = DutyVisitPhoto(visit=visit, content_type=content_type, size=upload.size)
        photo.image.save(f"visit-{visit.pk}{extension}", upload, save=True)
    record("duty.visit", user=actor, request=request, obj=institution,
           detail=f"{visited_on.isoformat()} photos={len(typed)}")  # fmt: skip
    return visit


# --- reminders -----------------------------------------------------------------------------------------------


def remind_overdue_visits() -> int:
    """One low-urgency notification to each cadre with overdue visits, listing them (the digest groups
    it with the cadre's other low-urgency messages). Returns the number of cadres reminded."""
    rule = visit_rule()
    if rule is None:
        return 0
    cutoff = overdue_cutoff(timezone.localdate(), rule)
    rows = (
        DutyAssignment.objects.filter(active=True, cadre__is_active=True)
        .annotate(basis=Coalesce("last_visit_on", "starts_on"))
        .filter(basis__lt=cutoff)
        .select_related("institution", "cadre")
        .order_by("cadre_id", "basis")
    )
    by_cadre: dict[int, list[DutyAssignment]] = {}
    for row in rows:
        by_cadre.setdefault(row.cadre_id, []).append(row)
    for assignments in by_cadre.values():
        listed = [
            {
                "institution": a.institution.name,
                "due": add_period(a.last_visit_on or a.starts_on, rule).isoformat(),
            }
            for a in assignments
        ]
        with transaction.atomic():
            notify([assignments[0].cadre], "duty.visits_overdue", {"rows": listed}, link=reverse("duty:mine"))
    return len(by_cadre)


def remind_expired_policies(today: date | None = None) -> int:
    """Tell each institution whose newest liability policy (综合责任保险) has expired — its accounts and
    its responsible cadre — once per policy. Run daily by the worker; returns the number reminded.

    It lives with 包保 because the responsible cadre is among those told; the registry stamps the
    policy (`claim_expiry_reminder`), so two workers never remind twice."""
    today = today or timezone.localdate()
    newest = InsurancePolicy.objects.filter(institution=OuterRef("institution")).order_by("-ends_on", "-pk")
    due = (
        InsurancePolicy.objects.filter(ends_on__lt=today, expiry_reminded_at__isnull=True)
        .exclude(institution__status=Institution.Status.CLOSED)
        .filter(pk=Subquery(newest.values("pk")[:1]))
        .select_related("institution")
    )
    reminded = 0
    for policy in due:
        institution = policy.institution
        with transaction.atomic():
            cadres = DutyAssignment.objects.filter(institution=institution, active=True).values("cadre")
            recipients = list(
                User.objects.filter(Q(institution=institution) | Q(pk__in=cadres), is_active=True)
            )
            if not registry.claim_expiry_reminder(policy, recipients=len(recipients)):
                continue
            notify(
                recipients, "institutions.insurance_expired",
                {"institution": institution.name, "insurer": policy.insurer, "number": policy.number,
                 "ends_on": policy.ends_on.isoformat()},
                link=reverse("institutions:detail", args=[institution.pk]) + "?tab=insurance",
                place=institution.region_path,
            )  # fmt: skip
        reminded += 1
    return reminded
