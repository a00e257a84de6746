"""`/api/v1/inspections/`: start, answer, photos, submit (errors name the missing required answers,
nothing is written then), merges, cancel; scope (404) and the lead-only rule (403)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.translation import gettext as _
from rest_framework.test import APIClient

from minan.hazards import services as hazards
from minan.hazards.models import Hazard, HazardEvent
from minan.inspections.execution.tests.helpers import fresh, make_people, photo, signature
from minan.inspections.models import (
    Answer,
    AnswerPhoto,
    ChecklistItem,
    Inspection,
    InspectionPlan,
    InspectionTask,
)
from minan.inspections.tests.factories import make_template

pytestmark = pytest.mark.django_db

BASE = "/api/v1/inspections/"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def people(make_user: Any, tree: dict[str, Any], institutions: Any, city_office: Any) -> dict[str, Any]:
    return make_people(make_user, tree, institutions, city_office)


def api(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(fresh(user))
    return client


def code_ids(inspection_id: int) -> dict[str, int]:
    template_id = Inspection.objects.get(pk=inspection_id).template_id
    return dict(ChecklistItem.objects.filter(template_id=template_id).values_list("code", "pk"))


def start(client: APIClient, people: dict[str, Any], **extra: Any) -> dict[str, Any]:
    template = extra.pop("template", None) or make_template()
    body = {"institution": people["home"].pk, "kind": "self", "template": template.pk, **extra}
    response = client.post(BASE, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_two_failed_items_create_exactly_two_linked_hazards_and_a_refused_submit_none(
    people: dict[str, Any],
) -> None:
    client = api(people["staff"])
    started = start(client, people, team="李四")
    pk = started["id"]
    assert (started["status"], started["lead"], started["team"], started["template_version"]) == (
        "draft", people["staff"].pk, "李四", 1,
    )  # fmt: skip
    assert [m["item"] for m in started["missing_answers"]] == ["D01", "D02", "D03"]
    items = code_ids(pk)

    given = client.post(f"{BASE}{pk}/answer/", {"item": items["D01"], "outcome": "fail", "note": "二楼走廊堆放纸箱"},
                        format="json")  # fmt: skip
    assert given.status_code == 200
    assert (given.json()["item_code"], given.json()["outcome"], given.json()["hazard"]) == (
        "D01",
        "fail",
        None,
    )
    client.post(
        f"{BASE}{pk}/answer/", {"item": items["D02"], "outcome": "fail", "note": "压力不足"}, format="json"
    )
    client.post(f"{BASE}{pk}/answer/", {"item": items["D03"], "outcome": "pass"}, format="json")

    refused = client.post(f"{BASE}{pk}/submit/", {"representative": "王院长"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["code"] == "missing_answers"
    assert refused.json()["details"] == [
        {
            "item": "D02",
            "question": "灭火器在位，压力指针在绿区",
            "problem": str(_("a failure needs a photo")),
        }
    ]
    assert "D02" in refused.json()["detail"]
    assert (Hazard.objects.count(), Inspection.objects.get().status) == (0, "draft")

    uploaded = client.post(
        f"{BASE}{pk}/photos/", {"item": items["D02"], "files": [photo(exif_time="2026:11:20 09:15:00")]},
        format="multipart",
    )  # fmt: skip
    assert uploaded.status_code == 201
    assert [p["taken_at"] for p in uploaded.json()["photos"]] == ["2026-11-20T09:15:00+08:00"]

    done = client.post(
        f"{BASE}{pk}/submit/",
        {"representative": "王院长", "summary": "月度自查", "inspector_signature": signature(),
         "representative_signature": signature()},
        format="json",
    )  # fmt: skip
    assert done.status_code == 200, done.json()
    body = done.json()
    assert (body["status"], body["score"], body["max_score"], body["result"]) == ("submitted", 1, 3, "fail")
    assert (body["signed_by_inspector"], body["signed_by_representative"]) == (True, True)
    assert body["missing_answers"] == [] and body["report_url"] == f"/inspections/{pk}/report.pdf"
    found = list(Hazard.objects.order_by("pk"))
    assert len(found) == 2
    assert {a["item_code"]: a["hazard"] for a in body["answers"] if a["outcome"] == "fail"} == {
        "D01": found[0].pk, "D02": found[1].pk,
    }  # fmt: skip
    assert [h.source_ref for h in found] == [f"inspections.inspection:{pk}"] * 2
    again = client.post(f"{BASE}{pk}/submit/", {}, format="json")
    assert again.status_code == 400 and Hazard.objects.count() == 2


def test_a_failure_merges_into_an_open_hazard(people: dict[str, Any]) -> None:
    known = hazards.report(fresh(people["cadre"]), people["home"], source="duty_visit", category="fire",
                           level="general", description="疏散通道堆物")  # fmt: skip
    client = api(people["staff"])
    pk = start(client, people)["id"]
    items = code_ids(pk)
    for code in ("D01", "D02", "D03"):
        outcome = "fail" if code == "D01" else "pass"
        client.post(f"{BASE}{pk}/answer/", {"item": items[code], "outcome": outcome, "note": "仍有堆物"},
                    format="json")  # fmt: skip
    wrong = client.post(f"{BASE}{pk}/submit/", {"merges": {str(items["D03"]): known.pk}}, format="json")
    assert wrong.status_code == 400 and wrong.json()["field"] == "merges"
    done = client.post(f"{BASE}{pk}/submit/", {"merges": {str(items["D01"]): known.pk}}, format="json")
    assert done.status_code == 200
    assert Hazard.objects.count() == 1
    assert Answer.objects.get(item_id=items["D01"]).hazard_id == known.pk
    assert HazardEvent.objects.filter(hazard=known, action="finding").count() == 1


def test_number_and_choice_answers_and_their_errors(people: dict[str, Any]) -> None:
    template = make_template("kitchen", items=[
        {"code": "K01", "question": "留样冰箱温度", "answer_type": "number", "min_value": 0, "max_value": 8,
         "unit": "℃", "note_on_fail": False},
        {"code": "K02", "question": "厨师帽", "answer_type": "choice", "choices": ["有", "无"],
         "failing_choices": ["无"], "note_on_fail": False},
    ])  # fmt: skip
    client = api(people["inspector"])
    pk = start(client, people, kind="sector", template=template)["id"]
    items = code_ids(pk)
    number = client.post(f"{BASE}{pk}/answer/", {"item": items["K01"], "number": 9.5}, format="json")
    assert (number.json()["outcome"], number.json()["number"]) == ("fail", "9.500")
    refused = client.post(f"{BASE}{pk}/answer/", {"item": items["K02"], "text": "不确定"}, format="json")
    assert refused.status_code == 400 and refused.json()["field"] == "text"
    other = make_template("other", items=[{"code": "X01", "question": "别的检查表"}])
    stranger = client.post(
        f"{BASE}{pk}/answer/", {"item": other.items.get().pk, "outcome": "pass"}, format="json"
    )
    assert stranger.status_code == 400 and "item" in stranger.json()["errors"]
    assert Answer.objects.count() == 1
    detail = client.get(f"{BASE}{pk}/").json()
    assert [(a["item_code"], a["outcome"]) for a in detail["answers"]] == [("K01", "fail")]
    assert [m["item"] for m in detail["missing_answers"]] == ["K02"]


def test_start_needs_its_fields_or_a_task(people: dict[str, Any], tree: dict[str, Any]) -> None:
    client = api(people["inspector"])
    missing = client.post(BASE, {"kind": "sector"}, format="json")
    assert missing.status_code == 400 and set(missing.json()["errors"]) == {"institution", "template"}
    refused = client.post(BASE, {"institution": people["home"].pk, "kind": "duty", "template": make_template().pk},
                          format="json")  # fmt: skip
    assert refused.status_code == 400 and refused.json()["code"] == "performer"
    make_template("night-patrol", title="夜间巡查", kinds=["sector"])
    plan = InspectionPlan.objects.create(
        name="夜查计划", template_code="night-patrol", kind="sector", cadence="monthly", region=tree["rencheng"],
        region_path=tree["rencheng"].region_path, starts_on=dt.date(2026, 1, 1), created_by=people["rc_officer"],
    )  # fmt: skip
    task = InspectionTask.objects.create(
        plan=plan, institution=people["home"], region_path=people["home"].region_path, kind="sector",
        period_start=dt.date(2026, 11, 1), period_end=dt.date(2026, 11, 30), due_on=dt.date(2026, 11, 30),
        assignee=people["inspector"],
    )  # fmt: skip
    from_task = client.post(BASE, {"task": task.pk}, format="json")
    assert from_task.status_code == 201
    assert (from_task.json()["task"], from_task.json()["kind"], from_task.json()["template_code"]) == (
        task.pk, "sector", "night-patrol",
    )  # fmt: skip
    assert api(people["zc_officer"]).post(BASE, {"task": task.pk}, format="json").status_code == 404
    assert Inspection.objects.count() == 1


def test_out_of_scope_is_404_and_changes_nothing(people: dict[str, Any]) -> None:
    client = api(people["staff"])
    pk = start(client, people)["id"]
    items = code_ids(pk)
    client.post(
        f"{BASE}{pk}/answer/", {"item": items["D01"], "outcome": "fail", "note": "堆物"}, format="json"
    )
    client.post(f"{BASE}{pk}/photos/", {"item": items["D01"], "files": [photo()]}, format="multipart")
    outsider = api(people["zc_officer"])
    assert outsider.get(f"{BASE}{pk}/").status_code == 404
    assert outsider.get(BASE).json()["results"] == []
    for action, body in (
        ("answer", {"item": items["D02"], "outcome": "pass"}),
        ("submit", {}),
        ("cancel", {"reason": "越权"}),
    ):
        assert outsider.post(f"{BASE}{pk}/{action}/", body, format="json").status_code == 404, action
    photos = outsider.post(
        f"{BASE}{pk}/photos/", {"item": items["D01"], "files": [photo()]}, format="multipart"
    )
    assert photos.status_code == 404
    assert (Answer.objects.count(), AnswerPhoto.objects.count(), Inspection.objects.get().status) == (
        1,
        1,
        "draft",
    )


def test_only_the_lead_changes_an_inspection(people: dict[str, Any]) -> None:
    pk = start(api(people["staff"]), people)["id"]
    items = code_ids(pk)
    other = api(people["rc_officer"])
    assert other.get(f"{BASE}{pk}/").status_code == 200  # in scope: may read
    refused = other.post(f"{BASE}{pk}/answer/", {"item": items["D01"], "outcome": "pass"}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert other.post(f"{BASE}{pk}/submit/", {}, format="json").status_code == 403
    assert other.post(f"{BASE}{pk}/cancel/", {"reason": "x"}, format="json").status_code == 403
    assert not Answer.objects.exists() and Inspection.objects.get().status == "draft"


def test_a_text_file_named_jpg_is_refused_in_chinese(people: dict[str, Any]) -> None:
    client = api(people["staff"])
    pk = start(client, people)["id"]
    items = code_ids(pk)
    client.post(
        f"{BASE}{pk}/answer/", {"item": items["D02"], "outcome": "fail", "note": "压力不足"}, format="json"
    )
    fake = SimpleUploadedFile("灭火器.jpg", "这不是照片".encode(), content_type="image/jpeg")
    refused = client.post(f"{BASE}{pk}/photos/", {"item": items["D02"], "files": [fake]}, format="multipart")
    assert refused.status_code == 400
    assert refused.json()["detail"] == "灭火器.jpg 不是 JPEG 或 PNG 图片。"
    assert not AnswerPhoto.objects.exists()


def test_cancel_and_filters(people: dict[str, Any]) -> None:
    client = api(people["staff"])
    first = start(client, people)["id"]
    second = start(client, people, template=make_template("fire-weekly", title="消防每周自查"))["id"]
    assert client.post(f"{BASE}{first}/cancel/", {"reason": ""}, format="json").status_code == 400
    cancelled = client.post(f"{BASE}{first}/cancel/", {"reason": "误建"}, format="json")
    assert (cancelled.status_code, cancelled.json()["status"], cancelled.json()["summary"]) == (
        200,
        "cancelled",
        "误建",
    )
    ids = lambda query: [row["id"] for row in client.get(BASE + query).json()["results"]]  # noqa: E731
    assert ids("") == [second, first]
    assert ids("?status=draft") == [second]
    assert ids("?status=cancelled") == [first]
    assert ids("?kind=sector") == []
    assert ids(f"?institution={people['home'].pk}&date_to=2000-01-01") == []
