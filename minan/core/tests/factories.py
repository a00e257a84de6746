"""Full, valid rows of every scoped model at a given place, for tests that need real objects behind every
route (the permission matrix). Written directly: each service has its own tests.

A place is an institution; rows without an institution sit at the institution's region. `tag` goes into
every name a page or export may show, so a response can be searched for one place's rows.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

from django.core.files.base import ContentFile
from django.db import models
from django.utils import timezone

from minan.accounts import services as account_services
from minan.accounts.models import UserScope
from minan.core.audit.services import record
from minan.duty.models import DutyAssignment, DutyVisit, DutyVisitPhoto, GroupCounty, SupervisionGroup
from minan.firewatch.models import Alarm, Device, UnregisteredSender
from minan.hazards.models import Extension, Hazard, HazardFile, Pause, Revisit, RevisitDraw
from minan.inspections.models import (
    Answer,
    AnswerPhoto,
    ChecklistItem,
    ChecklistSection,
    ChecklistTemplate,
    Inspection,
    InspectionPlan,
    InspectionTask,
)
from minan.institutions.models import Commissioner, Institution, InsurancePolicy
from minan.notify.models import Channel
from minan.regions.models import Region

_seq = itertools.count(1)

# A 1x1 JPEG is enough for the file routes: they stream the stored bytes.
JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f"
    "141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b08000100010101"
    "1100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002010303020403050504"
    "040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a2526"
    "2728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a83848586878889"
    "8a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4"
    "e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9"
)


def build_tree() -> dict[str, Region]:
    """The demo tree's two counties (任城区 370811, 邹城市 370883) under 济宁市, one township each."""

    def make(code: str, name: str, level: str, parent: Region | None) -> Region:
        path = (parent.region_path if parent else "") + code + "/"
        return Region.objects.create(code=code, name=name, level=level, parent=parent, region_path=path)

    sd = make("370000", "山东省", "province", None)
    jn = make("370800", "济宁市", "city", sd)
    rc = make("370811", "任城区", "county", jn)
    zc = make("370883", "邹城市", "county", jn)
    return {
        "province": sd,
        "city": jn,
        "rencheng": rc,
        "zoucheng": zc,
        "rc_town": make("370811001", "古槐街道", "township", rc),
        "zc_town": make("370883001", "钢山街道", "township", zc),
    }


def make_institution(name: str, region: Region, kind: str = "elderly_care") -> Any:

    return Institution.objects.create(name=name, kind=kind, region=region, region_path=region.region_path)


def make_person(
    username: str,
    *,
    region: Region,
    institution: Any = None,
    roles: tuple[str, ...] = (),
    display_name: str = "",
    granted: bool = True,
) -> Any:
    """A user at a place, scoped to it (its institution if given, else its region); `granted=False`: no
    scope granted, the user's scope follows a record (a duty assignment, a supervision group, a task)."""

    user = account_services.create_user(
        None, username=username, display_name=display_name or username, password="Minan@Test2026",
        region=region, institution=institution, must_change_password=False,
    )  # fmt: skip
    for role in roles:
        account_services.grant_role(None, user, role)
    if granted and institution is not None:
        account_services.add_scope(None, user, institution=institution)
    elif granted:
        account_services.add_scope(None, user, region=region)
    user.refresh_from_db()
    return user


def _file(field_file: Any, name: str, data: bytes = JPEG) -> None:
    field_file.save(name, ContentFile(data), save=False)


def checklist() -> Any:
    """A published checklist with one item, shared by the inspections of every place."""

    n = next(_seq)
    template = ChecklistTemplate.objects.create(
        code=f"matrix-{n}", version=1, title=f"矩阵检查表{n}", status="published", kinds=[]
    )
    section = ChecklistSection.objects.create(template=template, order=1, title="通道")
    ChecklistItem.objects.create(template=template, section=section, order=1, code="M01", question="通道畅通")
    return template


@dataclass
class Place:
    """Every scoped row at one institution; `objects` by model label (app_label.modelname)."""

    tag: str
    institution: Any
    region: Region
    person: Any  # a staff member of the institution (found hazards, leads inspections, is a cadre)
    objects: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # sub-rows a route names: files, photos, requests

    def markers(self) -> list[str]:
        """Strings only this place's rows put into a page: the tag and the institution's name."""
        return [self.tag, self.institution.name]


def make_place(
    tag: str, institution: Any, *, template: Any, lead: Any = None, cadre: Any = None, assignee: Any = None
) -> Place:
    """One full, valid row of every scoped model at `institution` (region-level rows at its region). The
    place's staff member is the inspection's lead, the responsible cadre and the task's assignee unless
    `lead`, `cadre` or `assignee` is given; a given cadre and assignee get the institution in scope from
    their assignment and task, as the duty and inspection services grant it."""

    region = institution.region
    path = institution.region_path
    now = timezone.now()
    today = timezone.localdate()
    n = next(_seq)
    person = make_person(f"matrix{n}", region=region, institution=institution, display_name=f"{tag}人员")
    at = {"region_path": path}
    of = {"institution": institution, "region_path": path}
    place = Place(tag=tag, institution=institution, region=region, person=person)
    o = place.objects
    o["regions.region"] = region
    o["accounts.user"] = person
    o["institutions.institution"] = institution
    o["institutions.commissioner"] = Commissioner.objects.create(**of, role="safety", user=person)
    o["institutions.insurancepolicy"] = InsurancePolicy.objects.create(
        **of, insurer=f"{tag}保险", number=f"{tag}-P{n}", coverage=1_000_000,
        starts_on=today - dt.timedelta(days=300), ends_on=today + dt.timedelta(days=20),
    )  # fmt: skip
    o["duty.dutyassignment"] = DutyAssignment.objects.create(
        **of, cadre=cadre or person, starts_on=today - dt.timedelta(days=60)
    )
    if cadre is not None:
        account_services.grant_derived_scope(cadre, UserScope.Source.DUTY, institution=institution)
    o["duty.supervisiongroup"] = SupervisionGroup.objects.create(**at, name=f"{tag}督查组", leader=person)
    visit = DutyVisit.objects.create(**of, cadre=person, visited_on=today, checked=["fire"], findings=tag)
    o["duty.dutyvisit"] = visit
    photo = DutyVisitPhoto(visit=visit, content_type="image/jpeg", size=len(JPEG))
    _file(photo.image, f"{tag}.jpg")
    photo.save()
    place.extra["duty.dutyvisitphoto"] = photo
    o["notify.channel"] = Channel.objects.create(
        **at,
        name=f"{tag}工作群",
        kind="wecom",
        url="https://robot.example.com/send?key=k",
        events=["notify.test"],
    )
    hazard = Hazard.objects.create(
        **of, source="inspection", category="fire", level="general", description=f"{tag} 疏散通道堵塞",
        found_by=person, found_at=now - dt.timedelta(days=2), status="rectifying", cadre=person,
        requirement="清理", assigned_on=today - dt.timedelta(days=1), deadline=today + dt.timedelta(days=20),
    )  # fmt: skip
    o["hazards.hazard"] = hazard
    hazard_file = HazardFile(
        hazard=hazard, kind="found", name=f"{tag}.jpg", content_type="image/jpeg", size=len(JPEG)
    )
    _file(hazard_file.file, f"{tag}.jpg")
    hazard_file.save()
    place.extra["hazards.hazardfile"] = hazard_file
    place.extra["hazards.extension"] = Extension.objects.create(
        hazard=hazard, days=5, reason=f"{tag} 资金", requested_by=person
    )
    place.extra["hazards.pause"] = Pause.objects.create(
        hazard=hazard, reason=f"{tag} 等待", requested_by=person
    )
    draw = RevisitDraw.objects.create(
        **at, period_from=today - dt.timedelta(days=90), period_to=today, general_share=10, seed=n,
        drawn_by=person,
    )  # fmt: skip
    o["hazards.revisitdraw"] = draw
    o["hazards.revisit"] = Revisit.objects.create(
        region_path=path, draw=draw, hazard=hazard, due_on=today + dt.timedelta(days=10)
    )
    plan = InspectionPlan.objects.create(
        **at, name=f"{tag}检查计划", template_code=template.code, kind="duty", cadence="monthly", region=region,
        starts_on=today - dt.timedelta(days=40), created_by=person,
    )  # fmt: skip
    o["inspections.inspectionplan"] = plan
    task = InspectionTask.objects.create(
        **of, plan=plan, kind="duty", period_start=today.replace(day=1),
        period_end=today.replace(day=1) + dt.timedelta(days=27), due_on=today + dt.timedelta(days=5),
        assignee=assignee or person,
    )  # fmt: skip
    o["inspections.inspectiontask"] = task
    if assignee is not None:
        account_services.grant_derived_scope(assignee, UserScope.Source.INSPECTION, institution=institution)
    inspection = Inspection.objects.create(
        **of, kind="duty", template=template, lead=lead or person, started_at=now - dt.timedelta(hours=1),
        summary=tag, representative=f"{tag}负责人", status="submitted", finished_at=now, result="pass",
    )  # fmt: skip
    _file(inspection.inspector_signature, f"{tag}.png")
    inspection.save()
    o["inspections.inspection"] = inspection
    item = template.items.first()
    answer = Answer.objects.create(inspection=inspection, item=item, outcome="pass", answered_by=person)
    answer_photo = AnswerPhoto(answer=answer, name=f"{tag}.jpg", content_type="image/jpeg", size=len(JPEG))
    _file(answer_photo.file, f"{tag}.jpg")
    answer_photo.save()
    place.extra["inspections.checklistitem"] = item
    place.extra["inspections.answerphoto"] = answer_photo
    device = Device.objects.create(
        **of, type="smoke", name=f"{tag}烟感", protocol="mqtt", serial=f"{tag}-S{n}", building="1号楼",
        status="online",
    )  # fmt: skip
    o["firewatch.device"] = device
    o["firewatch.alarm"] = Alarm.objects.create(
        **of, device=device, kind="fire", severity="critical", first_at=now - dt.timedelta(minutes=5),
        last_at=now - dt.timedelta(minutes=5), detail={"note": tag},
    )  # fmt: skip
    o["firewatch.unregisteredsender"] = UnregisteredSender.objects.create(
        **at, gb_address=900_000 + n, peer=f"10.0.0.{n}:{tag}", first_seen_at=now, last_seen_at=now
    )
    o["audit.auditevent"] = record("matrix.seed", obj=institution, detail=tag)
    return place


def cover_county(group: Any, county: Region, member: Any) -> None:
    """The supervision group covers `county` and `member` joins it: the member's scope is the county, as
    the duty services keep it."""
    GroupCounty.objects.create(group=group, county=county, since=timezone.localdate())
    group.members.add(member)
    account_services.set_derived_regions(member, UserScope.Source.GROUP, [county.pk])


def snapshot(obj: models.Model) -> dict[str, Any]:
    """The row's stored field values, read fresh from the database."""
    fresh = type(obj)._base_manager.get(pk=obj.pk)
    return {f.attname: getattr(fresh, f.attname) for f in type(obj)._meta.concrete_fields}
