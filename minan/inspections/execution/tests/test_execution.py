"""Carrying out an inspection (services): who performs each kind, answers, scoring, and hazards
created on submission in the same transaction."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from minan.accounts.models import User, UserScope
from minan.core.errors import DomainError, NotPermitted
from minan.duty import services as duty
from minan.duty.models import DutyAssignment, DutyVisit
from minan.hazards import services as hazards
from minan.hazards.models import Clause, Hazard, HazardEvent
from minan.inspections.execution import services
from minan.inspections.models import Answer, ChecklistItem, Expert, Inspection
from minan.inspections.tests.factories import make_template


def photo(name: str = "p.jpg", exif_time: str | None = None) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    image = Image.new("RGB", (32, 24), (10, 120, 200))
    if exif_time:
        exif = Image.Exif()
        exif.get_ifd(0x8769)[36867] = exif_time
        image.save(buffer, "JPEG", exif=exif)
    else:
        image.save(buffer, "JPEG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/jpeg")


@pytest.fixture
def people(make_user: Any, tree: dict[str, Any], institutions: Any, city_office: Any) -> dict[str, Any]:
    home = institutions["rc_elderly"]
    cadre = make_user("cadre", roles=["cadre"], region=tree["rencheng"])
    UserScope.objects.filter(user=cadre).delete()
    duty.assign_cadre(city_office, home, cadre)
    return {
        "home": home,
        "staff": make_user("staff", roles=["institution_staff"], institution=home),
        "cadre": User.objects.get(pk=cadre.pk),
        "inspector": make_user("inspector", roles=["inspector"], region=tree["rencheng"]),
        "zc_officer": make_user("zc", roles=["county_officer"], region=tree["zoucheng"]),
        "rc_officer": make_user("rc", roles=["county_officer"], region=tree["rencheng"]),
        "expert": make_user("expert", roles=["expert"], region=tree["city"]),
        "city": city_office,
    }


def answer_all(inspection: Inspection, actor: User, failing: dict[str, str]) -> None:
    for item in ChecklistItem.objects.filter(template=inspection.template):
        if item.code in failing:
            services.answer(actor, inspection, item, outcome="fail", note=failing[item.code])
        else:
            services.answer(actor, inspection, item, outcome="pass")


@pytest.mark.django_db
def test_who_performs_each_kind(people: dict[str, Any], institutions: Any) -> None:
    home = people["home"]
    problem = services.performer_problem
    assert problem(people["staff"], home, "self") is None
    assert problem(people["staff"], home, "sector") is not None  # staff only inspect themselves
    assert problem(people["staff"], institutions["zc_elderly"], "self") is not None
    assert problem(people["cadre"], home, "duty") is None
    assert problem(people["inspector"], home, "duty") is not None  # not its cadre
    assert problem(people["rc_officer"], home, "cross") is not None  # the inspected county's own officer
    assert problem(people["zc_officer"], home, "cross") is None
    assert problem(people["expert"], home, "expert") is not None  # not on the roster yet
    Expert.objects.create(user=people["expert"], qualification="注册消防工程师")
    assert problem(people["expert"], home, "expert") is None
    assert problem(people["inspector"], home, "sector") is None


@pytest.mark.django_db
def test_two_failed_items_make_exactly_two_linked_hazards(people: dict[str, Any]) -> None:
    template = make_template()
    staff = people["staff"]
    inspection = services.start(staff, people["home"], kind="self", template=template)
    d02 = ChecklistItem.objects.get(template=template, code="D02")
    answer_all(inspection, staff, {"D01": "二楼走廊堆放纸箱", "D02": "压力不足"})
    with pytest.raises(DomainError) as caught:  # D02 needs a photo on failure
        services.submit(staff, inspection)
    assert caught.value.code == "missing_answers"
    assert caught.value.details == [
        {"item": "D02", "question": "灭火器在位，压力指针在绿区", "problem": "不合格时须拍照"}
    ]
    assert (Hazard.objects.count(), Inspection.objects.get().status) == (0, "draft")
    services.add_photos(staff, inspection, d02, [photo(exif_time="2026:11:20 09:15:00")])
    inspection = services.submit(staff, inspection, summary="月度自查")
    assert (inspection.status, inspection.score, inspection.max_score, inspection.result) == (
        "submitted", 1, 3, "fail",
    )  # fmt: skip  # 1 of 3 points is below 60 %
    found = list(Hazard.objects.order_by("pk"))
    assert [(h.source, h.category, h.level, h.source_ref) for h in found] == [
        ("self", "fire", "general", f"inspections.inspection:{inspection.pk}"),
    ] * 2
    assert found[0].description == "疏散通道、安全出口畅通，未上锁；二楼走廊堆放纸箱"
    assert found[1].files.count() == 1  # the photo is the hazard's evidence
    assert dict(Answer.objects.filter(outcome="fail").values_list("item__code", "hazard_id")) == {
        "D01": found[0].pk, "D02": found[1].pk,
    }  # fmt: skip
    taken = Answer.objects.get(item=d02).photos.get().taken_at
    assert taken is not None and timezone.localtime(taken).isoformat() == "2026-11-20T09:15:00+08:00"
    with pytest.raises(DomainError):
        services.submit(staff, inspection)  # once only
    assert Hazard.objects.count() == 2


@pytest.mark.django_db
def test_a_failure_can_go_to_an_open_hazard_instead_of_a_new_one(people: dict[str, Any]) -> None:
    template = make_template()
    staff, cadre = people["staff"], people["cadre"]
    known = hazards.report(cadre, people["home"], source="duty_visit", category="fire", level="general",
                           description="疏散通道堆物")  # fmt: skip
    inspection = services.start(staff, people["home"], kind="self", template=template)
    answer_all(inspection, staff, {"D01": "仍有堆物"})
    d01 = ChecklistItem.objects.get(template=template, code="D01")
    d03 = ChecklistItem.objects.get(template=template, code="D03")
    with pytest.raises(DomainError) as caught:
        services.submit(staff, inspection, merges={d03.pk: known.pk})  # D03 passed
    assert caught.value.field == "merges"
    services.submit(staff, inspection, merges={d01.pk: known.pk})
    assert Hazard.objects.count() == 1
    assert HazardEvent.objects.filter(hazard=known, action="finding").get().comment.endswith("仍有堆物")
    assert Answer.objects.get(item=d01).hazard_id == known.pk


@pytest.mark.django_db
def test_number_and_choice_answers_judge_themselves_and_a_major_item_fails_the_inspection(
    people: dict[str, Any],
) -> None:
    clause = Clause.objects.get(key="MCA2023-4-3")
    template = make_template("kitchen", items=[
        {"code": "K01", "question": "留样冰箱温度", "answer_type": "number", "min_value": 0, "max_value": 8,
         "unit": "℃", "note_on_fail": False, "hazard_category": "food"},
        {"code": "K02", "question": "厨师帽", "answer_type": "choice", "choices": ["有", "无"],
         "failing_choices": ["无"], "note_on_fail": False, "hazard_category": "food"},
        {"code": "K03", "question": "居住建筑无彩钢板", "clause": clause, "points": 5},
    ])  # fmt: skip
    inspector = people["inspector"]
    inspection = services.start(inspector, people["home"], kind="sector", template=template)
    k01, k02, k03 = ChecklistItem.objects.filter(template=template).order_by("order")
    assert services.answer(inspector, inspection, k01, number="9.5").outcome == "fail"
    assert services.answer(inspector, inspection, k01, number="4").outcome == "pass"
    with pytest.raises(DomainError):
        services.answer(inspector, inspection, k02, text="不确定")
    assert services.answer(inspector, inspection, k02, text="有").outcome == "pass"
    services.answer(inspector, inspection, k03, outcome="fail", note="3号楼为彩钢板房")
    with pytest.raises(NotPermitted):
        services.answer(people["cadre"], inspection, k03, outcome="pass")  # only the lead answers
    inspection = services.submit(inspector, inspection)
    assert (inspection.score, inspection.max_score, inspection.result) == (2, 7, "fail")
    assert Hazard.objects.get().level == "major" and Hazard.objects.get().clause_id == clause.pk


@pytest.mark.django_db
def test_a_cross_inspection_is_refused_to_the_inspected_county(people: dict[str, Any]) -> None:
    template = make_template()
    with pytest.raises(DomainError) as caught:
        services.start(people["rc_officer"], people["home"], kind="cross", template=template)
    assert caught.value.code == "performer"
    assert not Inspection.objects.exists()


@pytest.mark.django_db
def test_a_duty_check_counts_as_the_cadres_duty_visit(people: dict[str, Any]) -> None:
    template = make_template("duty-check", kinds=["duty"], title="包保督查")
    cadre = people["cadre"]
    inspection = services.start(cadre, people["home"], kind="duty", template=template)
    answer_all(inspection, cadre, {"D01": "走廊堆放杂物"})
    services.submit(cadre, inspection)
    visit = DutyVisit.objects.get()
    assert (visit.cadre_id, visit.visited_on) == (cadre.pk, timezone.localdate(inspection.started_at))
    assert (
        f"#{inspection.pk}" in visit.checked
        and visit.findings == "D01 疏散通道、安全出口畅通，未上锁；走廊堆放杂物"
    )
    assert DutyAssignment.objects.get(cadre=cadre).last_visit_on == visit.visited_on
