"""Inspection plans in the Jining demo, made through `plans.services` only: a monthly fire
self-inspection of every elderly-care home of the city, a quarterly cross inspection (an officer of 任城区 inspects six homes of
邹城市), and the monthly 包保 duty checks of 任城区. Their current tasks are generated; the duty checks
are assigned automatically (to each institution's cadre; those without one stay unassigned, as the
task list shows). The cross inspections are given by the city safety office to a 任城区 officer on record
for cross inspections (`CROSS_OFFICER`), not to the `rencheng` demo account, whose scope stays 任城区 only:
an assigned cross inspection brings the inspected home into its assignee's scope.

Idempotent: a plan that exists (by name) is not made again, and generation makes each task once. A
plan whose checklist is not published is skipped with a note. (Inspections carried out on these tasks
are the business of `demo_runs`.)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from minan.accounts import services as accounts
from minan.accounts.models import User
from minan.core.errors import DomainError
from minan.institutions.models import Institution
from minan.regions.models import Region

from .checklists.selectors import current_template
from .models import ChecklistTemplate, InspectionPlan, InspectionTask, Kind
from .plans import services as plans

SELF_PLAN = "养老机构消防月度自查"
CROSS_PLAN = "季度交叉互查（任城区查邹城市）"
DUTY_PLAN = "任城区包保督查（月度）"
CROSS_OFFICER = ("rc_cross", "任城区民政局 交叉互查 马科员")  # a person on record (no password)


def _template(preferred: str, kind: str) -> str | None:
    """The preferred checklist family if published and meant for the kind, else the first that is."""
    template = current_template(preferred)
    if template is not None and (not template.kinds or kind in template.kinds):
        return template.code
    for other in ChecklistTemplate.objects.filter(status=ChecklistTemplate.Status.PUBLISHED).order_by("code"):
        if not other.kinds or kind in other.kinds:
            return other.code
    return None


def _plan(stdout: Any, actor: User | None, name: str, preferred: str, kind: str, **fields: Any) -> int:
    if actor is None or InspectionPlan.objects.filter(name=name).exists():
        return 0
    code = _template(preferred, kind)
    if code is None:
        if stdout is not None:
            stdout.write(f"inspection plan {name}: skipped, no published checklist for {kind}")
        return 0
    today = timezone.localdate()
    try:
        plans.save_plan(actor, None, name=name, template_code=code, kind=kind, starts_on=dt.date(today.year, 1, 1),
                        **fields)  # fmt: skip
    except DomainError as exc:
        if stdout is not None:
            stdout.write(f"inspection plan {name}: skipped, {exc.message}")
        return 0
    return 1


def _cross_officer(county: Region) -> User:
    username, name = CROSS_OFFICER
    person = User.objects.filter(username=username).first()
    if person is None:
        person = accounts.create_user(None, username=username, display_name=name, password=None, region=county,
                                      must_change_password=True)  # fmt: skip
        accounts.grant_role(None, person, "county_officer")
        accounts.add_scope(None, person, region=county)
    return User.objects.get(pk=person.pk)


def build(stdout: Any = None) -> None:
    city_office = User.objects.filter(username="city_office", is_active=True).first()
    officer = User.objects.filter(username="rencheng", is_active=True).first()
    city = Region.objects.filter(code="370800").first()
    rencheng = Region.objects.filter(code="370811").first()
    zoucheng = Region.objects.filter(code="370883").first()
    if city is None or rencheng is None or zoucheng is None:
        return
    made = _plan(stdout, city_office, SELF_PLAN, "fire-monthly", Kind.SELF, cadence="monthly", region=city,
                 institution_kinds=["elderly_care"])  # fmt: skip
    homes = list(
        Institution.objects.filter(region_path__startswith=zoucheng.region_path, kind="elderly_care",
                                   status=Institution.Status.OPERATING).order_by("name")[:6]
    )  # fmt: skip
    if homes:
        made += _plan(stdout, city_office, CROSS_PLAN, "gb38600", Kind.CROSS, cadence="quarterly", region=city,
                      institutions=homes, auto_assign=False)  # fmt: skip
    made += _plan(stdout, officer, DUTY_PLAN, "duty-visit", Kind.DUTY, cadence="monthly", region=rencheng)
    tasks = plans.generate()
    cross = InspectionTask.objects.filter(
        plan__name=CROSS_PLAN, assignee__isnull=True, status__in=plans.ACTIVE
    )
    if city_office is not None and cross.exists():
        inspector = _cross_officer(rencheng)
        for task in cross:
            try:
                plans.assign(city_office, task, inspector)
            except DomainError as exc:
                if stdout is not None:
                    stdout.write(f"cross inspection task {task.pk}: not assigned, {exc.message}")
    if stdout is not None:
        stdout.write(f"inspection plans: {made} created; tasks generated: {tasks}")
