"""Authoring checklists: versions, drafts only editable, publishing retires the previous
version, inspections keep their version, xlsx export and import, the shipped templates, pages and API."""

from __future__ import annotations

import importlib
import io
import threading
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.db import connection, connections
from openpyxl import Workbook, load_workbook
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts.models import User
from minan.core.audit.models import AuditEvent
from minan.core.errors import DomainError, NotPermitted
from minan.core.export import XLSX
from minan.core.xlsx import ImportRefused
from minan.hazards.criteria import services as criteria
from minan.hazards.models import Clause
from minan.inspections.checklists import services as checklists
from minan.inspections.checklists import xlsx as checklist_xlsx
from minan.inspections.checklists.selectors import current_template
from minan.inspections.execution import services
from minan.inspections.models import ChecklistItem, ChecklistSection, ChecklistTemplate, Inspection

pytestmark = pytest.mark.django_db

OBJECT_TYPE = "inspections.checklisttemplate"
SHIPPED = {
    "fire-daily": 11,
    "fire-weekly": 5,
    "fire-monthly": 9,
    "night-patrol": 10,
    "gb38600": 16,
    "major-hazard-check": 7,
    "kitchen": 26,
    "child-welfare": 20,
    "funeral": 15,
    "duty-visit": 11,
}
COMPARED = ("code", "question", "answer_type", "choices", "failing_choices", "min_value", "max_value", "unit",
            "photo_on_fail", "note_on_fail", "severity", "points", "major_on_fail", "clause_id", "basis",
            "hazard_category", "order", "section__title", "section__order")  # fmt: skip


def fresh(user: Any) -> User:
    return User.objects.get(pk=user.pk)


def api_as(user: Any) -> APIClient:
    api = APIClient()
    api.force_authenticate(fresh(user))
    return api


def shipped(code: str) -> ChecklistTemplate:
    return ChecklistTemplate.objects.get(code=code, version=1)


def items_of(template: ChecklistTemplate) -> list[tuple[Any, ...]]:
    return list(
        ChecklistItem.objects.filter(template=template)
        .order_by("section__order", "order")
        .values_list(*COMPARED)
    )


def state() -> tuple[list[Any], list[Any], list[Any]]:
    """Everything a refused write must leave as it was."""
    return (
        list(
            ChecklistTemplate.objects.order_by("pk").values_list(
                "pk", "code", "version", "status", "title", "kinds"
            )
        ),
        list(ChecklistSection.objects.order_by("pk").values_list("pk", "template_id", "order", "title")),
        list(ChecklistItem.objects.order_by("pk").values_list("pk", *COMPARED)),
    )


def checklist_actions() -> list[str]:
    return list(
        AuditEvent.objects.filter(action__startswith="checklist.")
        .order_by("id")
        .values_list("action", flat=True)
    )


def xlsx(rows: list[list[Any]], headers: list[str] | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(headers or checklist_xlsx.HEADERS)
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def sysadmin(make_user: Any, tree: dict[str, Any]) -> User:
    return make_user("sysadmin", roles=["system_admin"], region=tree["city"])


# --- the shipped templates --------------------------------------------------------------------------------------


def test_the_seed_migration_loaded_ten_published_templates_with_their_items() -> None:
    templates = ChecklistTemplate.objects.filter(code__in=SHIPPED)
    assert sorted(templates.values_list("code", "version", "status")) == sorted(
        (code, 1, "published") for code in SHIPPED
    )
    assert (
        not templates.exclude(created_by=None).exists() and not templates.filter(published_at=None).exists()
    )
    counts = {t.code: ChecklistItem.objects.filter(template=t).count() for t in templates}
    assert counts == SHIPPED
    assert sum(counts.values()) == 130
    assert (shipped("fire-daily").kinds, shipped("fire-daily").cadence) == (["self"], "daily")
    assert (shipped("night-patrol").cadence, shipped("duty-visit").kinds) == ("two_hourly", ["duty"])
    assert shipped("child-welfare").institution_kinds == ["child_welfare"]
    assert shipped("funeral").institution_kinds == ["funeral"]
    assert set(
        ChecklistItem.objects.filter(template=shipped("gb38600")).values_list("hazard_category", flat=True)
    ) == {"service"}

    major = ChecklistItem.objects.filter(template=shipped("major-hazard-check")).order_by(
        "section__order", "order"
    )
    assert [i.clause.key for i in major if i.clause] == [
        "MCA2023-4-1", "MCA2023-4-2", "MCA2023-4-3", "MCA2023-4-4", "MCA2023-5-1", "MCA2023-5-2", "MCA2023-5-3",
    ]  # fmt: skip
    assert all(i.major_on_fail for i in major)

    kitchen = {i.code: i for i in ChecklistItem.objects.filter(template=shipped("kitchen"))}
    assert (kitchen["K21"].answer_type, kitchen["K21"].min_value, kitchen["K21"].max_value, kitchen["K21"].unit) == (
        "number", Decimal("0"), Decimal("8"), "℃",
    )  # fmt: skip
    assert (kitchen["K15"].min_value, kitchen["K15"].max_value, kitchen["K15"].unit) == (
        Decimal("125"),
        None,
        "g",
    )
    assert (kitchen["K22"].min_value, kitchen["K22"].unit) == (Decimal("30"), "min")
    assert (kitchen["K02"].choices, kitchen["K02"].failing_choices) == (["有", "无", "不确定"], ["无"])
    assert kitchen["K26"].clause is not None and kitchen["K26"].clause.key == "MCA2023-5-2"
    assert kitchen["K26"].major_on_fail


def test_shipped_bases_name_standards_and_the_default_not_internal_documents() -> None:
    bases = [*ChecklistTemplate.objects.values_list("basis", flat=True)]
    bases += ChecklistItem.objects.values_list("basis", flat=True)
    assert bases and not [b for b in bases if "DOMAIN" in b]
    assert (
        ChecklistTemplate.objects.get(code="kitchen", version=1).basis
        == "互联网+明厨亮灶（民安默认，可配置）"
    )

    # A database seeded before the fix is corrected by migration 0003.
    fix = importlib.import_module("minan.inspections.migrations.0003_basis_without_internal_references")
    item = ChecklistItem.objects.filter(basis="养老机构消防自查一本通（民安默认，可配置）").first()
    assert item is not None
    ChecklistItem.objects.filter(pk=item.pk).update(basis="养老机构消防自查一本通（DOMAIN §7.3，可配置）")
    fix.forward(apps, None)
    item.refresh_from_db()
    assert item.basis == "养老机构消防自查一本通（民安默认，可配置）"


def test_every_shipped_item_passes_the_authoring_rules() -> None:
    lookup = checklists.clause_lookup()
    for item in ChecklistItem.objects.filter(template__code__in=SHIPPED).select_related("clause"):
        values = {name: getattr(item, name) for name in checklists.CONTENT_FIELDS}
        assert checklists.check_item(values, clause_by_key=lookup).problems == [], item.code


# --- versions -------------------------------------------------------------------------------------------------


def test_publishing_a_new_version_retires_the_previous_one(city_office: User) -> None:
    v1 = shipped("fire-daily")
    v2 = checklists.new_version(fresh(city_office), v1)
    assert (v2.code, v2.version, v2.status, v2.created_by_id) == ("fire-daily", 2, "draft", city_office.pk)
    assert [row[:-2] for row in items_of(v2)] == [row[:-2] for row in items_of(v1)]  # a faithful copy
    assert current_template("fire-daily") == v1  # a draft changes nothing yet

    d01 = ChecklistItem.objects.get(template=v2, code="D01")
    checklists.save_item(
        fresh(city_office), v2, d01, question="疏散通道、安全出口畅通，未锁闭、未堵塞、未占用"
    )
    published = checklists.publish(fresh(city_office), v2)
    v1.refresh_from_db()
    assert (published.status, published.published_by_id, published.published_at is not None) == (
        "published", city_office.pk, True,
    )  # fmt: skip
    assert v1.status == "retired"
    assert ChecklistTemplate.objects.filter(code="fire-daily", status="published").count() == 1
    assert current_template("fire-daily") == v2
    assert (
        ChecklistItem.objects.get(template=v1, code="D01").question
        == "疏散通道、安全出口畅通，未锁闭、未堵塞"
    )
    assert checklist_actions() == ["checklist.new_version", "checklist.item_change", "checklist.publish"]
    event = AuditEvent.objects.get(action="checklist.publish")
    assert (event.object_type, event.object_id, event.detail) == (
        OBJECT_TYPE, str(v2.pk), "fire-daily v2, v1 retired",
    )  # fmt: skip

    v3 = checklists.new_version(fresh(city_office), v1)  # from a retired version: numbered after the highest
    assert v3.version == 3
    with pytest.raises(DomainError) as caught:
        checklists.new_version(fresh(city_office), v2)
    assert caught.value.code == "draft_exists"
    with pytest.raises(DomainError) as caught:
        checklists.publish(fresh(city_office), v2)
    assert caught.value.code == "published"


def test_an_inspection_started_on_v1_keeps_v1_after_v2_is_published(
    city_office: User, make_user: Any, institutions: Any
) -> None:
    home = institutions["rc_elderly"]
    staff = make_user("staff", roles=["institution_staff"], institution=home)
    v1 = shipped("fire-daily")
    v1_items = items_of(v1)
    inspection = services.start(staff, home, kind="self", template=v1)

    v2 = checklists.new_version(fresh(city_office), v1)
    d01 = ChecklistItem.objects.get(template=v2, code="D01")
    checklists.save_item(fresh(city_office), v2, d01, question="疏散通道畅通（第2版）")
    checklists.save_item(fresh(city_office), v2, None, section="安全疏散", code="D12", question="新增检查项")
    checklists.delete_item(fresh(city_office), ChecklistItem.objects.get(template=v2, code="D11"))
    checklists.publish(fresh(city_office), v2)

    inspection = Inspection.objects.get(pk=inspection.pk)
    assert inspection.template_id == v1.pk
    assert inspection.template.version == 1 and inspection.template.status == "retired"
    assert items_of(inspection.template) == v1_items
    d01_v1 = ChecklistItem.objects.get(template=v1, code="D01")
    services.answer(staff, inspection, d01_v1, outcome="pass")  # still answered on v1's items
    with pytest.raises(DomainError):
        services.answer(staff, inspection, ChecklistItem.objects.get(template=v2, code="D12"), outcome="pass")
    missing = {p["item"] for p in services.missing_answers(inspection)}
    assert "D11" in missing and "D12" not in missing and "D01" not in missing
    assert current_template("fire-daily") == v2
    later = services.start(staff, home, kind="self", template=current_template("fire-daily"))
    assert later.template_id == v2.pk
    with pytest.raises(DomainError):  # the retired version cannot start anything new
        services.start(staff, home, kind="self", template=ChecklistTemplate.objects.get(pk=v1.pk))


def test_a_published_version_cannot_be_changed_by_the_service(city_office: User) -> None:
    v1 = shipped("fire-daily")
    item = ChecklistItem.objects.get(template=v1, code="D01")
    section = item.section
    before = state()
    user = fresh(city_office)
    attempts = [
        lambda: checklists.update_draft(user, v1, title="改"),
        lambda: checklists.save_item(user, v1, item, question="改"),
        lambda: checklists.save_item(user, v1, None, section=section, code="X1", question="新"),
        lambda: checklists.delete_item(user, item),
        lambda: checklists.save_section(user, v1, None, title="新分组"),
        lambda: checklists.save_section(user, v1, section, title="改名"),
        lambda: checklists.delete_section(user, section),
        lambda: checklists.move_item(user, item, 1),
        lambda: checklists.move_section(user, section, 1),
        lambda: checklists.delete_draft(user, v1),
        lambda: checklists.publish(user, v1),
        lambda: checklist_xlsx.import_xlsx(user, v1, xlsx([["分组", "X1", "问题"]]), "x.xlsx"),
    ]
    for attempt in attempts:
        with pytest.raises(DomainError) as caught:
            attempt()
        assert caught.value.code == "published"
    assert state() == before
    assert checklist_actions() == []


def test_a_published_version_cannot_be_changed_through_the_pages_or_the_api(
    client: Any, city_office: User
) -> None:
    v1 = shipped("fire-daily")
    item = ChecklistItem.objects.get(template=v1, code="D01")
    before = state()
    c = login_client(client, city_office)
    page = c.get(f"/inspections/checklists/{v1.pk}/").content.decode()
    assert f'action="/inspections/checklists/{v1.pk}/new-version/"' in page
    assert f"/inspections/checklists/items/{item.pk}/edit/" not in page and "/publish/" not in page
    assert c.get(f"/inspections/checklists/items/{item.pk}/edit/").status_code == 302  # back to the version
    assert (
        c.get(f"/inspections/checklists/{v1.pk}/import/")["Location"] == f"/inspections/checklists/{v1.pk}/"
    )
    item_form = {"section": item.section_id, "code": "D01", "question": "改", "answer_type": "pass_fail",
                 "severity": "medium", "points": "1", "hazard_category": "fire"}  # fmt: skip
    response = c.post(f"/inspections/checklists/items/{item.pk}/edit/", item_form)
    assert response.status_code == 400 and "不能再修改" in response.content.decode()
    assert (
        c.post(f"/inspections/checklists/{v1.pk}/items/new/", {**item_form, "code": "X1"}).status_code == 400
    )
    assert c.post(f"/inspections/checklists/{v1.pk}/edit/", {"title": "改"}).status_code == 400
    assert c.post(f"/inspections/checklists/{v1.pk}/sections/new/", {"title": "新"}).status_code == 400
    assert c.post(f"/inspections/checklists/items/{item.pk}/delete/").status_code == 302
    assert c.post(f"/inspections/checklists/{v1.pk}/publish/").status_code == 302
    assert c.post(f"/inspections/checklists/{v1.pk}/delete/").status_code == 302
    upload = io.BytesIO(xlsx([["分组", "X1", "问题"]]))
    upload.name = "x.xlsx"
    assert c.post(f"/inspections/checklists/{v1.pk}/import/", {"file": upload}).status_code == 400

    api = api_as(city_office)
    responses = [
        api.patch(f"/api/v1/checklists/{v1.pk}/", {"title": "改"}, format="json"),
        api.post(f"/api/v1/checklists/{v1.pk}/publish/"),
        api.delete(f"/api/v1/checklists/{v1.pk}/"),
        api.post(
            "/api/v1/checklist-items/",
            {"checklist": v1.pk, "section": item.section_id, "code": "X1", "question": "新"},
            format="json",
        ),  # fmt: skip
        api.patch(f"/api/v1/checklist-items/{item.pk}/", {"question": "改"}, format="json"),
        api.delete(f"/api/v1/checklist-items/{item.pk}/"),
    ]
    assert [r.status_code for r in responses] == [400] * 6
    assert {r.json()["code"] for r in responses} == {"published"}
    assert state() == before
    assert checklist_actions() == []


# --- drafts ----------------------------------------------------------------------------------------------------


def test_the_rules_of_items(city_office: User) -> None:
    user = fresh(city_office)
    draft = checklists.create_draft(
        user, code="canteen-extra", title="食堂补充检查", kinds=["sector"], cadence="weekly"
    )
    section = checklists.save_section(user, draft, None, title="留样")

    def refused(code: str, field: str, /, **fields: Any) -> None:
        with pytest.raises(DomainError) as caught:
            checklists.save_item(
                user, draft, None, section=section, **{"code": "A1", "question": "问", **fields}
            )
        assert (caught.value.code, caught.value.field) == (code, field), fields

    refused("choices", "choices", answer_type="choice", choices=["有"])
    refused(
        "not_a_choice", "failing_choices", answer_type="choice", choices=["有", "无"], failing_choices=["缺"]
    )
    refused(
        "all_fail",
        "failing_choices",
        answer_type="choice",
        choices=["有", "无"],
        failing_choices=["有", "无"],
    )
    refused("duplicate", "choices", answer_type="choice", choices=["有", "有", "无"])
    refused(
        "min_above_max", "max_value", answer_type="number", min_value=Decimal("8"), max_value=Decimal("0")
    )
    refused("not_number", "min_value", answer_type="pass_fail", min_value=Decimal("1"))
    refused("not_choice", "choices", answer_type="pass_fail", choices=["有", "无"])
    refused("unknown_clause", "clause", clause="MCA2023-9-9")
    refused("invalid_choice", "answer_type", answer_type="yes_no")
    refused("required", "question", question="  ")
    refused("invalid_code", "code", code="D 1")
    refused("out_of_range", "points", points=101)
    refused("unknown_field", "colour", colour="red")
    assert ChecklistItem.objects.filter(template=draft).count() == 0

    sample = checklists.save_item(
        user, draft, None, section=section, code="L1", question="留样重量", answer_type="number",
        min_value=Decimal("125"), unit="g", clause="MCA2023-5-2",
    )  # fmt: skip
    assert (sample.order, sample.clause.key if sample.clause else None, sample.max_value) == (
        1,
        "MCA2023-5-2",
        None,
    )
    choice = checklists.save_item(
        user, draft, None, section="人员", code="L2", question="口罩", answer_type="choice",
        choices="有\n无\n不确定", failing_choices=["无"],
    )  # fmt: skip
    assert (choice.section.title, choice.choices, choice.failing_choices) == (
        "人员",
        ["有", "无", "不确定"],
        ["无"],
    )
    refused("duplicate", "code", code="L1")
    with pytest.raises(DomainError) as caught:
        checklists.create_draft(user, code="kitchen", title="重复")
    assert caught.value.code == "duplicate"
    with pytest.raises(DomainError) as caught:
        checklists.update_draft(user, draft, code="other")
    assert caught.value.code == "code_fixed"
    with pytest.raises(DomainError) as caught:
        checklists.update_draft(user, draft, kinds=["space"])
    assert caught.value.field == "kinds"

    third = checklists.save_item(user, draft, None, section=section, code="L3", question="留样时长")
    checklists.move_item(user, third, -1)
    assert list(ChecklistItem.objects.filter(section=section).order_by("order").values_list("code", flat=True)) == [
        "L3", "L1",
    ]  # fmt: skip
    checklists.move_section(user, choice.section, -1)
    assert list(ChecklistSection.objects.filter(template=draft).order_by("order").values_list("title", flat=True)) == [
        "人员", "留样",
    ]  # fmt: skip
    checklists.delete_section(user, choice.section)
    assert list(ChecklistItem.objects.filter(template=draft).values_list("code", flat=True).order_by("code")) == [
        "L1", "L3",
    ]  # fmt: skip


def test_an_empty_draft_cannot_be_published_and_a_draft_can_be_deleted(city_office: User) -> None:
    user = fresh(city_office)
    draft = checklists.create_draft(user, code="spare", title="备用")
    with pytest.raises(DomainError) as caught:
        checklists.publish(user, draft)
    assert caught.value.code == "empty"
    checklists.delete_draft(user, draft)
    assert not ChecklistTemplate.objects.filter(code="spare").exists()
    assert checklist_actions() == ["checklist.create", "checklist.delete"]


def test_authoring_a_checklist_through_the_pages(client: Any, sysadmin: User) -> None:
    c = login_client(client, sysadmin)
    listing = c.get("/inspections/checklists/").content.decode()
    assert 'data-family="kitchen"' in listing and 'href="/inspections/checklists/new/"' in listing
    response = c.post(
        "/inspections/checklists/new/",
        {"code": "boiler", "title": "锅炉房检查", "kinds": ["sector", "expert"], "institution_kinds": ["elderly_care"],
         "cadence": "monthly", "basis": "特种设备安全法"},
    )  # fmt: skip
    draft = ChecklistTemplate.objects.get(code="boiler")
    assert response.status_code == 302 and response["Location"] == f"/inspections/checklists/{draft.pk}/"
    assert (draft.version, draft.status, draft.kinds, draft.institution_kinds) == (
        1, "draft", ["sector", "expert"], ["elderly_care"],
    )  # fmt: skip
    assert c.post(f"/inspections/checklists/{draft.pk}/sections/new/", {"title": "设备"}).status_code == 302
    section = ChecklistSection.objects.get(template=draft)
    new_item = f"/inspections/checklists/{draft.pk}/items/new/"
    form = c.get(f"{new_item}?section={section.pk}").content.decode()
    assert 'data-for="choice"' in form and 'data-for="number"' in form
    bad = {"section": section.pk, "code": "B1", "question": "压力表状态", "answer_type": "choice", "choices": "正常",
           "failing_choices": "", "severity": "high", "points": "2", "hazard_category": "equipment",
           "note_on_fail": "on"}  # fmt: skip
    response = c.post(new_item, bad)
    assert response.status_code == 400 and "请提供 2 至 20 个选项。" in response.content.decode()
    good = {**bad, "choices": "正常\n异常", "failing_choices": "异常", "min_value": "5", "unit": "MPa"}
    assert c.post(new_item, good).status_code == 302
    item = ChecklistItem.objects.get(template=draft)
    # the number fields a choice item does not use are dropped by the form
    assert (item.choices, item.failing_choices, item.min_value, item.unit, item.points) == (
        ["正常", "异常"], ["异常"], None, "", 2,
    )  # fmt: skip
    edit = c.get(f"/inspections/checklists/items/{item.pk}/edit/").content.decode()
    assert "正常\n异常" in edit
    assert c.post(f"/inspections/checklists/{draft.pk}/publish/").status_code == 302
    draft.refresh_from_db()
    assert draft.status == "published"
    page = c.get(f"/inspections/checklists/{draft.pk}/").content.decode()
    assert 'data-status="published"' in page and 'data-item="B1"' in page
    assert c.post(f"/inspections/checklists/{draft.pk}/new-version/").status_code == 302
    assert ChecklistTemplate.objects.get(code="boiler", version=2).status == "draft"
    assert checklist_actions() == [
        "checklist.create", "checklist.section_create", "checklist.item_create", "checklist.publish",
        "checklist.new_version",
    ]  # fmt: skip


# --- xlsx -------------------------------------------------------------------------------------------------------


def test_an_exported_version_imports_into_a_new_draft_unchanged(client: Any, city_office: User) -> None:
    user = fresh(city_office)
    source = checklists.new_version(user, shipped("kitchen"))
    checklists.save_item(
        user, source, None, section="冷冻", code="Z1", question="=冷冻柜温度（以等号开头）", answer_type="number",
        min_value=Decimal("-25.5"), max_value=Decimal("-12.125"), unit="℃", photo_on_fail=True, note_on_fail=False,
        severity="high", points=3, basis="-18 ℃ 以下", hazard_category="equipment",
    )  # fmt: skip
    checklists.save_item(
        user, source, None, section="冷冻", code="Z2", question="备注", answer_type="text", points=0,
        hazard_category="other",
    )  # fmt: skip
    checklists.save_item(user, source, None, section="冷冻", code="Z3", question="照片", answer_type="photo")
    c = login_client(client, city_office)
    response = c.get(f"/inspections/checklists/{source.pk}/export/")
    assert response.status_code == 200 and response["Content-Type"] == XLSX
    assert 'filename="checklist-kitchen-v2-' in response["Content-Disposition"]
    data = response.content
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == [
        "分组", "序号", "检查内容", "答案类型", "选项", "不合格选项", "下限", "上限", "单位", "不合格需拍照", "不合格需说明",
        "严重程度", "分值", "重大隐患", "判定条款", "依据", "隐患类别",
    ]  # fmt: skip
    k02 = next(r for r in rows if r[1] == "K02")
    assert list(k02[:6]) == ["人员行为", "K02", "口罩", "选择", "有；无；不确定", "无"]
    k26 = next(r for r in rows if r[1] == "K26")
    assert (k26[9], k26[10], k26[11], k26[13], k26[14], k26[16]) == (
        "否",
        "是",
        "高",
        "是",
        "MCA2023-5-2",
        "食品",
    )
    assert AuditEvent.objects.filter(action="export", object_type=OBJECT_TYPE).count() == 1

    target = checklists.create_draft(user, code="kitchen-copy", title="食堂巡查（导入）")
    count = checklist_xlsx.import_xlsx(user, target, data, "kitchen-v2.xlsx")
    assert count == 29
    assert items_of(target) == items_of(source)
    assert (
        AuditEvent.objects.filter(action="checklist.import")
        .get()
        .detail.startswith("kitchen-copy v1 kitchen-v2.xlsx: 29 items in 6 sections")
    )
    # importing again replaces, it does not add
    assert checklist_xlsx.import_xlsx(user, target, data, "kitchen-v2.xlsx") == 29
    assert ChecklistItem.objects.filter(template=target).count() == 29


def test_a_bad_row_refuses_the_whole_file_and_writes_nothing(client: Any, city_office: User) -> None:
    user = fresh(city_office)
    draft = checklists.new_version(user, shipped("fire-weekly"))
    before = state()
    data = xlsx(
        [
            ["消防设施", "W01", "微型消防站器材齐全", "合格/不合格", None, None, None, None, None, "否", "是", "中", 1, "否",
             None, "", "消防"],
            [None, "W02", "压力表", "数值", None, None, 1.6, 0.1, "MPa", "否", "是", "中", 1, "否", None, "", "消防"],
            [None, "W03", "状态", "选择", "正常", None, None, None, None, "否", "是", "中", 1, "否", None, "", "消防"],
            [None, "W04", "报警器", "合格/不合格", None, None, None, None, None, "也许", "是", "很高", 1, "否",
             "MCA2099-1-1", "", "消防"],
            [None, "W01", "重复的序号", "合格/不合格", None, None, None, None, None, "否", "是", "中", 1, "否", None, "", "消防"],
            [None, "W06", "", "判断", None, None, None, None, None, "否", "是", "中", "两分", "否", None, "", "火灾"],
        ]
    )  # fmt: skip
    with pytest.raises(ImportRefused) as caught:
        checklist_xlsx.import_xlsx(user, draft, data, "weekly.xlsx")
    found = [(e.line, e.column) for e in caught.value.errors]
    assert found == [
        (3, "上限"),  # lower limit above the upper limit
        (4, "选项"),  # one choice only
        (5, "不合格需拍照"), (5, "严重程度"), (5, "判定条款"),
        (6, "序号"),  # same code as line 2
        (7, "检查内容"), (7, "答案类型"), (7, "分值"), (7, "隐患类别"),
    ]  # fmt: skip
    assert "第 2 行" in caught.value.errors[5].message
    assert state() == before
    assert checklist_actions() == ["checklist.new_version"]

    c = login_client(client, city_office)
    upload = io.BytesIO(data)
    upload.name = "weekly.xlsx"
    response = c.post(f"/inspections/checklists/{draft.pk}/import/", {"file": upload})
    page = response.content.decode()
    assert response.status_code == 400 and 'class="data import-errors"' in page and "MCA2099-1-1" in page
    assert "import_errors.html" in {t.name for t in response.templates}
    assert state() == before

    with pytest.raises(ImportRefused) as caught:
        checklist_xlsx.import_xlsx(user, draft, xlsx([["a", "b"]], headers=["分组", "颜色"]), "w.xlsx")
    assert {e.column for e in caught.value.errors} == {"颜色", "序号", "检查内容"}
    with pytest.raises(ImportRefused):
        checklist_xlsx.import_xlsx(user, draft, b"not a workbook", "w.xlsx")
    assert state() == before


# --- the API ----------------------------------------------------------------------------------------------------


def test_the_api_lists_creates_publishes_and_versions(city_office: User, rencheng_officer: User) -> None:
    api = api_as(city_office)
    listed = api.get("/api/v1/checklists/", {"status": "published"}).json()
    assert listed["count"] == 10 and {r["code"] for r in listed["results"]} == set(SHIPPED)
    kitchen = api.get("/api/v1/checklists/", {"code": "kitchen"}).json()["results"]
    assert [(r["version"], r["item_count"]) for r in kitchen] == [(1, 26)]
    detail = api.get(f"/api/v1/checklists/{kitchen[0]['id']}/").json()
    assert [s["title"] for s in detail["sections"]][0] == "人员行为"
    k21 = next(i for s in detail["sections"] for i in s["items"] if i["code"] == "K21")
    assert (k21["answer_type"], k21["min_value"], k21["max_value"], k21["unit"]) == (
        "number",
        "0.000",
        "8.000",
        "℃",
    )

    created = api.post(
        "/api/v1/checklists/",
        {"code": "lift", "title": "电梯安全检查", "kinds": ["sector"], "cadence": "monthly"},
        format="json",
    )
    assert created.status_code == 201 and created.json()["status"] == "draft"
    pk = created.json()["id"]
    bad = api.post("/api/v1/checklist-items/", {"checklist": pk, "section_title": "电梯", "code": "E1",
                                                "question": "维保", "answer_type": "choice", "choices": ["是"]},
                   format="json")  # fmt: skip
    assert (bad.status_code, bad.json()["code"], bad.json()["field"]) == (400, "choices", "choices")
    assert not ChecklistSection.objects.filter(template_id=pk).exists()  # the refusal rolled the section back
    item = api.post("/api/v1/checklist-items/", {"checklist": pk, "section_title": "电梯", "code": "E1",
                                                 "question": "维保记录齐全", "clause": "MCA2023-4-4",
                                                 "major_on_fail": True, "hazard_category": "equipment"},
                    format="json")  # fmt: skip
    assert item.status_code == 201 and item.json()["clause"] == "MCA2023-4-4"
    patched = api.patch(f"/api/v1/checklist-items/{item.json()['id']}/", {"severity": "high"}, format="json")
    assert patched.json()["severity"] == "high" and patched.json()["section_title"] == "电梯"
    assert api.post(f"/api/v1/checklists/{pk}/publish/").json()["status"] == "published"
    second = api.post(f"/api/v1/checklists/{pk}/new-version/")
    assert second.status_code == 201 and (second.json()["version"], second.json()["status"]) == (2, "draft")
    again = api.post(f"/api/v1/checklists/{pk}/new-version/")
    assert (again.status_code, again.json()["code"]) == (400, "draft_exists")
    assert api.get("/api/v1/checklist-items/", {"checklist": second.json()["id"]}).json()["count"] == 1
    assert api.delete(f"/api/v1/checklists/{second.json()['id']}/").status_code == 204

    reader = api_as(rencheng_officer)
    assert reader.get(f"/api/v1/checklists/{pk}/").status_code == 200


def test_a_county_officer_reads_but_cannot_author(client: Any, rencheng_officer: User) -> None:
    v1 = shipped("fire-daily")
    item = ChecklistItem.objects.get(template=v1, code="D01")
    user = fresh(rencheng_officer)
    assert user.has_perm(checklists.READ_PERMISSION) and not user.has_perm(checklists.EDIT_PERMISSION)
    before = state()
    c = login_client(client, rencheng_officer)
    assert c.get("/inspections/checklists/").status_code == 200
    page = c.get(f"/inspections/checklists/{v1.pk}/").content.decode()
    assert "/new-version/" not in page and "/checklists/new/" not in page
    assert c.get(f"/inspections/checklists/{v1.pk}/export/").status_code == 200
    denied = [
        c.get("/inspections/checklists/new/"),
        c.post("/inspections/checklists/new/", {"code": "x", "title": "x"}),
        c.post(f"/inspections/checklists/{v1.pk}/new-version/"),
        c.post(f"/inspections/checklists/{v1.pk}/publish/"),
        c.post(f"/inspections/checklists/{v1.pk}/edit/", {"title": "改"}),
        c.post(f"/inspections/checklists/items/{item.pk}/edit/", {"question": "改"}),
        c.post(f"/inspections/checklists/items/{item.pk}/delete/"),
        c.post(f"/inspections/checklists/{v1.pk}/import/"),
    ]
    assert [r.status_code for r in denied] == [403] * 8
    api = api_as(rencheng_officer)
    writes = [
        api.post("/api/v1/checklists/", {"code": "x", "title": "x"}, format="json"),
        api.post(f"/api/v1/checklists/{v1.pk}/new-version/"),
        api.patch(f"/api/v1/checklist-items/{item.pk}/", {"question": "改"}, format="json"),
        api.delete(f"/api/v1/checklist-items/{item.pk}/"),
    ]
    assert [r.status_code for r in writes] == [403] * 4
    assert {r.json()["code"] for r in writes} == {"permission_denied"}
    with pytest.raises(NotPermitted):
        checklists.new_version(user, v1)
    with pytest.raises(NotPermitted):
        checklist_xlsx.import_xlsx(user, v1, xlsx([["分组", "X1", "问题"]]), "x.xlsx")
    assert state() == before
    assert checklist_actions() == []
    denials = AuditEvent.objects.filter(action="permission.denied", user=rencheng_officer)
    assert denials.count() == 12 and set(denials.values_list("object_type", flat=True)) == {OBJECT_TYPE}


def test_a_clause_an_item_refers_to_stays(city_office: User) -> None:
    """Checklist items protect their clause: the criteria catalogue refuses to delete it."""
    with pytest.raises(DomainError) as caught:
        criteria.delete_clause(fresh(city_office), Clause.objects.get(key="MCA2023-5-3"))
    assert caught.value.code == "in_use"


# --- concurrency (PostgreSQL) ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="two real transactions need a server database")
def test_concurrent_publications_and_new_versions_never_leave_two_published(city_office: User) -> None:
    user = fresh(city_office)
    # Built here: a transactional test cannot count on the shipped rows (another one may have flushed them).
    v1 = checklists.create_draft(user, code="race", title="并发")
    checklists.save_item(user, v1, None, section="一", code="R1", question="问")
    checklists.publish(user, v1)
    draft = checklists.new_version(user, v1)
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def run(work: Any) -> None:
        try:
            barrier.wait()
            work()
        except DomainError:
            pass  # the later one finds the draft published, or a draft already there
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    jobs = [
        lambda: checklists.publish(fresh(city_office), ChecklistTemplate.objects.get(pk=draft.pk)),
        lambda: checklists.publish(fresh(city_office), ChecklistTemplate.objects.get(pk=draft.pk)),
        lambda: checklists.new_version(fresh(city_office), ChecklistTemplate.objects.get(pk=v1.pk)),
    ]
    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    family = ChecklistTemplate.objects.filter(code="race")
    assert family.filter(status="published").count() == 1
    assert family.filter(status="draft").count() <= 1
    assert AuditEvent.objects.filter(action="checklist.publish").count() == 2  # v1, then v2 once
