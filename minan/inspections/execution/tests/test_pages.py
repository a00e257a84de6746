"""The inspection pages: starting, the execution page and its per-item endpoints (JSON and plain
posts), photos, submission with hazards and merges, the detail page, the PDF report, scope (404) and
the lead-only rule (403), cancelling, the list."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from conftest import login_client
from minan.core.audit.models import AuditEvent
from minan.hazards import services as hazards
from minan.hazards.models import Hazard, HazardEvent
from minan.hazards.tests.test_pages import pdf_text
from minan.inspections.checklists.selectors import current_template
from minan.inspections.execution import services
from minan.inspections.execution.tests.helpers import fresh, make_people, photo, signature
from minan.inspections.models import (
    Answer,
    AnswerPhoto,
    ChecklistItem,
    ChecklistTemplate,
    Inspection,
    InspectionPlan,
    InspectionTask,
)
from minan.inspections.tests.factories import make_template

pytestmark = pytest.mark.django_db

JSON = {"Accept": "application/json"}


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def people(make_user: Any, tree: dict[str, Any], institutions: Any, city_office: Any) -> dict[str, Any]:
    return make_people(make_user, tree, institutions, city_office)


def item(inspection: Inspection, code: str) -> ChecklistItem:
    return ChecklistItem.objects.get(template_id=inspection.template_id, code=code)


def answer_url(inspection: Inspection, code: str) -> str:
    return reverse("inspections:inspection_answer", args=[inspection.pk, item(inspection, code).pk])


def photo_url(inspection: Inspection, code: str) -> str:
    return reverse("inspections:inspection_photo", args=[inspection.pk, item(inspection, code).pk])


def url(name: str, inspection: Inspection) -> str:
    return reverse(f"inspections:{name}", args=[inspection.pk])


def start_on_page(
    client: Any, template: ChecklistTemplate, institution: Any, kind: str = "self"
) -> Inspection:
    response = client.post(
        reverse("inspections:inspection_start"),
        {"institution": institution.pk, "kind": kind, "template": template.pk, "team": "李四"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    inspection = Inspection.objects.latest("pk")
    assert response.url == url("inspection_run", inspection)
    return inspection


def submitted(people: dict[str, Any], template: ChecklistTemplate | None = None) -> Inspection:
    """A self-inspection of 任城区古槐敬老院 with D01 failed (a hazard), signed by both."""
    staff = fresh(people["staff"])
    inspection = services.start(
        staff, people["home"], kind="self", template=template or make_template(), team="李四"
    )
    for code in ("D01", "D02", "D03"):
        outcome = "fail" if code == "D01" else "pass"
        services.answer(staff, inspection, item(inspection, code), outcome=outcome, note="二楼走廊堆放纸箱")
    services.add_photos(staff, inspection, item(inspection, "D01"), [photo()])
    return services.submit(
        staff, inspection, representative="王院长", inspector_signature=signature(),
        representative_signature=signature(), summary="整体良好",
    )  # fmt: skip


# --- the must-show: two failed items, two linked hazards; a refused submit creates none ----------------------


def test_two_failed_items_create_exactly_two_linked_hazards_and_a_refused_submit_none(
    client: Any, people: dict[str, Any]
) -> None:
    template = make_template()
    c = login_client(client, people["staff"])
    inspection = start_on_page(c, template, people["home"])
    assert inspection.team == "李四" and inspection.lead_id == people["staff"].pk

    saved = c.post(
        answer_url(inspection, "D01"), {"outcome": "fail", "note": "二楼走廊堆放纸箱"}, headers=JSON
    )
    assert saved.status_code == 200
    assert (
        saved.json()["saved"] is True and saved.json()["outcome"] == "fail" and saved.json()["answered"] == 1
    )
    c.post(answer_url(inspection, "D02"), {"outcome": "fail", "note": "压力不足"}, headers=JSON)
    plain = c.post(answer_url(inspection, "D03"), {"outcome": "pass"})  # without JavaScript
    assert (
        plain.status_code == 302
        and plain.url == url("inspection_run", inspection) + f"#item-{item(inspection, 'D03').pk}"
    )

    # D02 failed without its required photo: refused, named and linked, nothing written.
    refused = c.post(
        url("inspection_submit", inspection), {"representative": "王院长", "inspector_signature": signature()}
    )
    assert refused.status_code == 400
    page = refused.content.decode()
    assert re.findall(r'data-missing="([^"]+)"', page) == ["D02"]
    assert f'href="#item-{item(inspection, "D02").pk}"' in page
    assert str(_("a failure needs a photo")) in page
    assert Hazard.objects.count() == 0
    assert Inspection.objects.get().status == "draft"
    assert not AuditEvent.objects.filter(action="inspection.submit").exists()

    uploaded = c.post(
        photo_url(inspection, "D02"), {"photos": photo(exif_time="2026:11:20 09:15:00")}, headers=JSON
    )
    assert uploaded.status_code == 200
    assert [p["taken_at"] for p in uploaded.json()["photos"]] == ["2026-11-20 09:15"]

    done = c.post(
        url("inspection_submit", inspection),
        {"representative": "王院长", "summary": "月度自查", "inspector_signature": signature(),
         "representative_signature": signature(), f"merge_{item(inspection, 'D03').pk}": ""},
    )  # fmt: skip
    assert done.status_code == 302 and done.url == url("inspection_detail", inspection)
    inspection.refresh_from_db()
    assert (inspection.status, inspection.score, inspection.max_score, inspection.result) == (
        "submitted", 1, 3, "fail",
    )  # fmt: skip
    assert inspection.representative == "王院长" and inspection.summary == "月度自查"
    assert inspection.inspector_signature and inspection.representative_signature
    found = list(Hazard.objects.order_by("pk"))
    assert len(found) == 2
    assert [(h.source, h.level, h.source_ref) for h in found] == [
        ("self", "general", f"inspections.inspection:{inspection.pk}")
    ] * 2
    assert [h.description for h in found] == [
        "疏散通道、安全出口畅通，未上锁；二楼走廊堆放纸箱",
        "灭火器在位，压力指针在绿区；压力不足",
    ]
    assert dict(Answer.objects.filter(outcome="fail").values_list("item__code", "hazard_id")) == {
        "D01": found[0].pk, "D02": found[1].pk,
    }  # fmt: skip

    detail = c.get(done.url).content.decode()
    assert 'data-result="fail"' in detail and 'data-points="1/3"' in detail
    assert sorted(int(n) for n in re.findall(r'data-linked-hazard="(\d+)"', detail)) == [h.pk for h in found]
    assert reverse("inspections:inspection_signature", args=[inspection.pk, "inspector"]) in detail
    assert url("inspection_report", inspection) in detail
    # Submitted once: a second submit changes nothing.
    again = c.post(url("inspection_submit", inspection), {})
    assert again.status_code == 302 and Hazard.objects.count() == 2


def test_a_failure_merged_into_an_open_hazard_makes_no_new_hazard(
    client: Any, people: dict[str, Any]
) -> None:
    template = make_template()
    staff = people["staff"]
    known = hazards.report(fresh(people["cadre"]), people["home"], source="duty_visit", category="fire",
                           level="general", description="疏散通道堆物")  # fmt: skip
    c = login_client(client, staff)
    inspection = start_on_page(c, template, people["home"])
    for code in ("D01", "D02", "D03"):
        values = {"outcome": "fail", "note": "仍有堆物"} if code == "D01" else {"outcome": "pass"}
        assert c.post(answer_url(inspection, code), values, headers=JSON).json()["saved"]
    run = c.get(url("inspection_run", inspection)).content.decode()
    d01 = item(inspection, "D01").pk
    assert f'name="merge_{d01}"' in run and f'<option value="{known.pk}">' in run
    done = c.post(url("inspection_submit", inspection), {f"merge_{d01}": str(known.pk)})
    assert done.status_code == 302
    assert Hazard.objects.count() == 1
    assert Answer.objects.get(item_id=d01).hazard_id == known.pk and Answer.objects.get(item_id=d01).merged
    assert HazardEvent.objects.filter(hazard=known, action="finding").count() == 1
    assert f'data-linked-hazard="{known.pk}"' in c.get(done.url).content.decode()


def test_a_merge_into_a_passed_item_is_refused_and_nothing_is_written(
    client: Any, people: dict[str, Any]
) -> None:
    template = make_template()
    known = hazards.report(fresh(people["cadre"]), people["home"], source="duty_visit", category="fire",
                           level="general", description="疏散通道堆物")  # fmt: skip
    c = login_client(client, people["staff"])
    inspection = start_on_page(c, template, people["home"])
    for code in ("D01", "D02", "D03"):
        c.post(answer_url(inspection, code), {"outcome": "fail" if code == "D01" else "pass", "note": "x"})
    refused = c.post(
        url("inspection_submit", inspection), {f"merge_{item(inspection, 'D03').pk}": str(known.pk)}
    )
    assert refused.status_code == 400
    assert str(_("Only a failed item can be merged into a hazard.")) in refused.content.decode()
    assert (Hazard.objects.count(), Inspection.objects.get().status) == (1, "draft")


# --- the execution page -------------------------------------------------------------------------------------


def test_the_page_reloads_with_every_saved_answer(client: Any, people: dict[str, Any]) -> None:
    template = make_template("kitchen", items=[
        {"code": "K01", "question": "留样冰箱温度", "answer_type": "number", "min_value": 0, "max_value": 8,
         "unit": "℃", "note_on_fail": False},
        {"code": "K02", "question": "厨师帽", "answer_type": "choice", "choices": ["有", "无"],
         "failing_choices": ["无"], "note_on_fail": False},
        {"code": "K03", "question": "燃气报警器", "note_on_fail": True},
        {"code": "K04", "question": "其他情况", "answer_type": "text"},
    ])  # fmt: skip
    c = login_client(client, people["inspector"])
    inspection = start_on_page(c, template, people["home"], kind="sector")
    number = c.post(answer_url(inspection, "K01"), {"number": "9.5"}, headers=JSON).json()
    assert (number["saved"], number["outcome"], number["value"]) == (True, "fail", "9.5℃")
    choice = c.post(answer_url(inspection, "K02"), {"text": "有"}, headers=JSON).json()
    assert (choice["outcome"], choice["answered"]) == ("pass", 2)
    c.post(answer_url(inspection, "K03"), {"outcome": "fail", "note": "报警器损坏"}, headers=JSON)
    bad = c.post(answer_url(inspection, "K02"), {"text": "不确定"}, headers=JSON)
    assert bad.status_code == 400 and bad.json()["saved"] is False
    assert bad.json()["message"] == str(_("Choose one of the listed answers."))
    assert Answer.objects.get(item__code="K02").text == "有"  # the refused change wrote nothing

    page = c.get(url("inspection_run", inspection)).content.decode()
    k01, k02, k03 = (item(inspection, code).pk for code in ("K01", "K02", "K03"))
    assert f'name="number" id="n-{k01}" value="9.5"' in page
    assert re.search(rf'id="c-{k02}-1" checked', page)
    assert re.search(rf'id="o-{k03}-fail" checked', page) and "报警器损坏" in page
    assert page.count('data-state="saved"') == 3 and page.count('data-state="empty"') == 1
    assert 'capture="environment"' in page and 'accept="image/jpeg,image/png"' in page
    assert "minan/inspections.js" in page and "<script>" not in page.split("</header>", 1)[1]
    assert re.findall(r'<article class="insp-item" id="item-\d+" data-item="\d+" data-code="(\w+)" data-outcome="(\w*)"',
                      page) == [("K01", "fail"), ("K02", "pass"), ("K03", "fail"), ("K04", "")]  # fmt: skip


def test_a_refused_plain_post_shows_the_reason_on_the_item(client: Any, people: dict[str, Any]) -> None:
    c = login_client(client, people["staff"])
    inspection = start_on_page(c, make_template(), people["home"])
    refused = c.post(answer_url(inspection, "D01"), {"note": "还没选"})
    assert refused.status_code == 400
    page = refused.content.decode()
    assert str(_("Choose pass, fail or not applicable.")) in page and "还没选" in page
    assert not Answer.objects.exists()


def test_only_the_lead_answers_submits_and_cancels(client: Any, people: dict[str, Any]) -> None:
    inspection = services.start(fresh(people["staff"]), people["home"], kind="self", template=make_template())
    c = login_client(client, people["rc_officer"])  # sees the inspection (in scope), does not lead it
    assert c.get(url("inspection_detail", inspection)).status_code == 200
    assert c.get(url("inspection_run", inspection)).url == url("inspection_detail", inspection)
    assert c.post(answer_url(inspection, "D01"), {"outcome": "pass"}).status_code == 403
    refused = c.post(answer_url(inspection, "D01"), {"outcome": "pass"}, headers=JSON)
    assert refused.status_code == 403 and refused.json()["saved"] is False
    assert c.post(photo_url(inspection, "D01"), {"photos": photo()}, headers=JSON).status_code == 403
    assert c.post(url("inspection_submit", inspection), {}).status_code == 403
    assert c.post(url("inspection_cancel", inspection), {"reason": "不是我的"}).status_code == 403
    assert not Answer.objects.exists() and not AnswerPhoto.objects.exists()
    assert Inspection.objects.get().status == "draft"
    assert AuditEvent.objects.filter(action="permission.denied", result="denied").count() >= 5


def test_a_text_file_named_jpg_is_refused_with_a_chinese_message(client: Any, people: dict[str, Any]) -> None:
    c = login_client(client, people["staff"])
    inspection = start_on_page(c, make_template(), people["home"])
    c.post(answer_url(inspection, "D02"), {"outcome": "fail", "note": "压力不足"}, headers=JSON)
    fake = SimpleUploadedFile("灭火器.jpg", "这不是照片".encode(), content_type="image/jpeg")
    refused = c.post(photo_url(inspection, "D02"), {"photos": fake}, headers=JSON)
    assert refused.status_code == 400
    assert refused.json()["message"] == "灭火器.jpg 不是 JPEG 或 PNG 图片。"
    fake.seek(0)
    plain = c.post(photo_url(inspection, "D02"), {"photos": fake})
    assert plain.status_code == 400 and "灭火器.jpg 不是 JPEG 或 PNG 图片。" in plain.content.decode()
    assert not AnswerPhoto.objects.exists()


def test_the_execution_page_costs_the_same_queries_however_many_answers(
    client: Any, people: dict[str, Any]
) -> None:
    template = make_template("big", items=[
        {"code": f"Q{n:02d}", "question": f"第{n}项", "note_on_fail": False} for n in range(1, 13)
    ])  # fmt: skip
    staff = fresh(people["staff"])
    inspection = services.start(staff, people["home"], kind="self", template=template)
    items = list(ChecklistItem.objects.filter(template=template).order_by("order"))
    services.answer(staff, inspection, items[0], outcome="pass")
    c = login_client(client, people["staff"])

    def queries(name: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert c.get(url(name, inspection)).status_code == 200
        return len(captured.captured_queries)

    few_run, few_detail = queries("inspection_run"), queries("inspection_detail")
    for n, target in enumerate(items):
        services.answer(staff, inspection, target, outcome="fail" if n % 3 == 0 else "pass", note=f"问题{n}")
    for target in items[:4]:
        services.add_photos(staff, inspection, target, [photo(), photo("q.jpg")])
    hazards.report(fresh(people["cadre"]), people["home"], source="duty_visit", category="fire", level="general",
                   description="未销号隐患")  # fmt: skip
    assert (queries("inspection_run"), queries("inspection_detail")) == (few_run, few_detail)


# --- scope -----------------------------------------------------------------------------------------------------


def test_out_of_scope_user_gets_404_for_every_page_file_and_pdf_and_nothing_changes(
    client: Any, people: dict[str, Any]
) -> None:
    done = submitted(people)
    staff = fresh(people["staff"])
    draft = services.start(staff, people["home"], kind="self", template=done.template)
    services.answer(staff, draft, item(draft, "D01"), outcome="pass")
    picture = AnswerPhoto.objects.get()
    c = login_client(client, people["zc_officer"])
    for target in (
        url("inspection_detail", done), url("inspection_report", done), url("inspection_run", draft),
        reverse("inspections:inspection_file", args=[picture.pk]),
        reverse("inspections:inspection_signature", args=[done.pk, "inspector"]),
    ):  # fmt: skip
        assert c.get(target).status_code == 404, target
    before = (Answer.objects.count(), AnswerPhoto.objects.count(), Hazard.objects.count(),
              list(Inspection.objects.order_by("pk").values_list("status", "summary")))  # fmt: skip
    for target, data in (
        (answer_url(draft, "D02"), {"outcome": "pass"}),
        (photo_url(draft, "D01"), {"photos": photo()}),
        (url("inspection_submit", draft), {}),
        (url("inspection_cancel", draft), {"reason": "越权"}),
    ):
        assert c.post(target, data).status_code == 404, target
        assert c.post(target, data, headers=JSON).status_code == 404, target
    after = (Answer.objects.count(), AnswerPhoto.objects.count(), Hazard.objects.count(),
             list(Inspection.objects.order_by("pk").values_list("status", "summary")))  # fmt: skip
    assert after == before
    assert "任城区古槐敬老院" not in c.get(reverse("inspections:inspection_list")).content.decode()


def test_photos_and_signatures_are_served_to_those_in_scope(client: Any, people: dict[str, Any]) -> None:
    done = submitted(people)
    c = login_client(client, people["rc_officer"])
    picture = c.get(reverse("inspections:inspection_file", args=[AnswerPhoto.objects.get().pk]))
    assert picture.status_code == 200 and picture["Content-Type"] == "image/jpeg"
    assert picture["X-Content-Type-Options"] == "nosniff"
    signed = c.get(reverse("inspections:inspection_signature", args=[done.pk, "representative"]))
    assert signed.status_code == 200 and signed["Content-Type"] == "image/png"
    assert c.get(reverse("inspections:inspection_signature", args=[done.pk, "someone"])).status_code == 404


# --- the report ------------------------------------------------------------------------------------------------


def test_the_report_renders_chinese_whatever_the_ui_language(client: Any, people: dict[str, Any]) -> None:
    done = submitted(people)
    hazard = Hazard.objects.get()
    c = login_client(client, people["rc_officer"])
    c.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    response = c.get(url("inspection_report", done))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    text = pdf_text(response.content)
    started = timezone.localtime(done.started_at)
    for expected in (
        "检查报告", f"编号：第 {done.pk} 号", "任城区古槐敬老院", "机构自查", "消防每日自查（fire-daily 第1版）",
        "staff；李四", "基本合格（发现问题）", "2 / 3", "王院长", "疏散通道、安全出口畅通，未上锁", "不合格", "合格",
        "二楼走廊堆放纸箱", f"已登记为隐患 #{hazard.pk}", "问题照片", "检查小结", "整体良好", "检查人签名",
        "机构代表签名", f"{started.year}年{started.month}月{started.day}日",
    ):  # fmt: skip
        assert expected in text, (expected, text)


def test_the_report_keeps_the_checklist_version_the_inspection_started_on(
    client: Any, people: dict[str, Any]
) -> None:
    v1 = make_template(items=[
        {"code": "D01", "question": "第一版：疏散通道畅通"}, {"code": "D02", "question": "第一版：灭火器在位"},
    ])  # fmt: skip
    staff = fresh(people["staff"])
    inspection = services.start(staff, people["home"], kind="self", template=v1)
    ChecklistTemplate.objects.filter(pk=v1.pk).update(status="retired")
    v2 = make_template(version=2, items=[
        {"code": "D01", "question": "第二版：疏散通道畅通"}, {"code": "D09", "question": "第二版：新增项目"},
    ])  # fmt: skip
    assert current_template("fire-daily") == v2
    for target in ChecklistItem.objects.filter(template=v1):
        services.answer(staff, inspection, target, outcome="pass")
    services.submit(staff, inspection)
    inspection.refresh_from_db()
    assert inspection.template_id == v1.pk
    c = login_client(client, people["staff"])
    text = pdf_text(c.get(url("inspection_report", inspection)).content)
    assert "第一版：疏散通道畅通" in text and "第一版：灭火器在位" in text and "第1版" in text
    assert "第二版" not in text
    assert "未发现问题。" in text
    detail = c.get(url("inspection_detail", inspection)).content.decode()
    assert "第一版：灭火器在位" in detail and "第二版" not in detail


def test_no_report_before_submission(client: Any, people: dict[str, Any]) -> None:
    draft = services.start(fresh(people["staff"]), people["home"], kind="self", template=make_template())
    assert login_client(client, people["staff"]).get(url("inspection_report", draft)).status_code == 404


# --- starting, cancelling, the list ------------------------------------------------------------------------------


def test_the_start_page_offers_what_is_in_scope_and_refuses_the_wrong_performer(
    client: Any, people: dict[str, Any], institutions: Any
) -> None:
    template = make_template()
    make_template("retired-list", status="retired", title="旧检查表")
    c = login_client(client, people["staff"])
    page = c.get(reverse("inspections:inspection_start")).content.decode()
    assert "任城区古槐敬老院" in page and "任城区殡仪馆" not in page and "邹城" not in page
    assert f'value="{template.pk}"' in page and "旧检查表" not in page
    refused = c.post(
        reverse("inspections:inspection_start"),
        {"institution": people["home"].pk, "kind": "duty", "template": template.pk},
    )
    assert refused.status_code == 400
    assert (
        str(_("Institution staff only inspect their own institution (self-inspection)."))
        in refused.content.decode()
    )
    elsewhere = c.post(
        reverse("inspections:inspection_start"),
        {"institution": institutions["zc_elderly"].pk, "kind": "self", "template": template.pk},
    )
    assert elsewhere.status_code == 400
    assert not Inspection.objects.exists()


def test_an_inspection_starts_from_a_task_once(
    client: Any, people: dict[str, Any], tree: dict[str, Any]
) -> None:
    make_template("night-patrol", title="夜间巡查", kinds=["sector"])
    inspector = people["inspector"]
    plan = InspectionPlan.objects.create(
        name="夜查计划", template_code="night-patrol", kind="sector", cadence="monthly", region=tree["rencheng"],
        region_path=tree["rencheng"].region_path, starts_on=dt.date(2026, 1, 1), created_by=people["rc_officer"],
    )  # fmt: skip
    task = InspectionTask.objects.create(
        plan=plan, institution=people["home"], region_path=people["home"].region_path, kind="sector",
        period_start=dt.date(2026, 11, 1), period_end=dt.date(2026, 11, 30), due_on=dt.date(2026, 11, 30),
        assignee=inspector,
    )  # fmt: skip
    c = login_client(client, inspector)
    page = c.get(reverse("inspections:inspection_start") + f"?task={task.pk}").content.decode()
    assert f'data-task="{task.pk}"' in page and "夜查计划" in page
    first = c.post(reverse("inspections:inspection_start"), {"task": task.pk})
    inspection = Inspection.objects.get()
    assert first.url == url("inspection_run", inspection)
    assert (inspection.task_id, inspection.kind, inspection.template.code) == (
        task.pk,
        "sector",
        "night-patrol",
    )
    again = c.post(reverse("inspections:inspection_start"), {"task": task.pk})
    assert again.url == first.url and Inspection.objects.count() == 1
    outsider = login_client(client, people["zc_officer"])
    assert outsider.post(reverse("inspections:inspection_start"), {"task": task.pk}).status_code == 404


def test_a_draft_is_cancelled_with_a_reason(client: Any, people: dict[str, Any]) -> None:
    c = login_client(client, people["staff"])
    inspection = start_on_page(c, make_template(), people["home"])
    c.post(url("inspection_cancel", inspection), {"reason": ""})
    assert Inspection.objects.get().status == "draft"
    done = c.post(url("inspection_cancel", inspection), {"reason": "误建"})
    assert done.url == url("inspection_detail", inspection)
    assert Inspection.objects.get().status == "cancelled" and Inspection.objects.get().summary == "误建"
    assert c.get(url("inspection_run", inspection)).url == url("inspection_detail", inspection)


def test_the_list_is_scoped_and_filtered(
    client: Any, people: dict[str, Any], institutions: Any, make_user: Any
) -> None:
    done = submitted(people)
    draft = services.start(fresh(people["staff"]), people["home"], kind="self", template=done.template)
    zc_staff = make_user("zc_staff", roles=["institution_staff"], institution=institutions["zc_elderly"])
    other = services.start(zc_staff, institutions["zc_elderly"], kind="self", template=done.template)
    c = login_client(client, people["rc_officer"])

    def listed(query: str = "") -> set[int]:
        page = c.get(reverse("inspections:inspection_list") + query).content.decode()
        return {int(n) for n in re.findall(r'data-inspection="(\d+)"', page)}

    assert listed() == {done.pk, draft.pk} and other.pk not in listed()
    assert listed("?result=findings") == {done.pk}
    assert listed("?result=fail") == set()
    assert listed("?status=draft") == {draft.pk}
    assert listed("?kind=sector") == set()
    assert listed(f"?institution={people['home'].pk}&kind=self") == {done.pk, draft.pk}
    today = timezone.localdate().isoformat()
    assert listed(f"?date_from={today}&date_to={today}") == {done.pk, draft.pk}
    assert listed("?date_to=2000-01-01") == set()
