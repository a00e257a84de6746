"""岗位责任清单: a person's list is the union of the posts they hold; posts are edited only by the city
safety office, through the one service (numbered, audited, at most one duty carrying the visit rule)."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts.models import User
from minan.core.audit.models import AuditEvent
from minan.core.errors import DomainError, NotPermitted
from minan.duty import selectors, services
from minan.duty.models import DutyItem, DutyPost, Recurrence

pytestmark = pytest.mark.django_db

API = "/api/v1/duty-posts/"


def items_of(code: str) -> list[tuple[int, str, str, str]]:
    return list(
        DutyItem.objects.filter(post__code=code)
        .order_by("number")
        .values_list("number", "text", "recurrence", "task")
    )


def form_data(post: DutyPost | None, rows: list[tuple[str, str, str]], **fields: Any) -> dict[str, Any]:
    """The POST of the edit page: the post's fields and one formset row per (text, recurrence, task)."""
    data: dict[str, Any] = {
        "name": post.name if post else "",
        "role": post.role if post else "",
        "holders": [h.pk for h in post.holders.all()] if post else [],
        "items-TOTAL_FORMS": str(len(rows)),
        "items-INITIAL_FORMS": str(post.items.count() if post else 0),
        "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "1000",
    }
    for i, (text, recurrence, task) in enumerate(rows):
        data.update({f"items-{i}-text": text, f"items-{i}-recurrence": recurrence, f"items-{i}-task": task})
    data.update(fields)
    return data


@pytest.fixture
def cadre(make_user: Any, tree: dict[str, Any]) -> User:
    return make_user("cadre_a", roles=["cadre"], region=tree["rencheng"])


@pytest.fixture
def head_post() -> DutyPost:
    return DutyPost.objects.get(code="institution_head")


def test_a_person_holding_two_posts_sees_the_union_numbered_as_configured(
    client: Any, cadre: User, head_post: DutyPost
) -> None:
    head_post.holders.add(cadre)  # by name; the cadre's post comes through the role
    posts = list(selectors.posts_for(User.objects.get(pk=cadre.pk)))
    assert [p.code for p in posts] == ["responsible_cadre", "institution_head"]
    assert [[(i.number, i.text) for i in p.items.all()] for p in posts] == [
        [(n, t) for n, t, _r, _k in items_of("responsible_cadre")],
        [(n, t) for n, t, _r, _k in items_of("institution_head")],
    ]
    assert [i.number for i in posts[0].items.all()] == [1, 2, 3, 4, 5]
    login_client(client, cadre)
    page = client.get(reverse("duty:my_list")).content.decode().split('<main id="main"')[1]
    assert page.index("<h2>包保干部</h2>") < page.index("<h2>机构负责人</h2>")
    assert '<li value="2">每月至少组织一次防火检查' in page  # the head's 2nd duty keeps its number
    assert "业务科室负责人" not in page


def test_the_print_page_lists_every_duty_and_prints_without_inline_script(
    client: Any, cadre: User, head_post: DutyPost
) -> None:
    head_post.holders.add(cadre)
    login_client(client, cadre)
    response = client.get(reverse("duty:my_list"))
    page = response.content.decode()
    assert response.status_code == 200
    for _n, text, _r, _k in items_of("responsible_cadre") + items_of("institution_head"):
        assert text in page
    assert "cadre_a" in page  # the heading names the person
    assert "data-print" in page and "/static/minan/print." in page and "window.print" not in page
    for recurrence in (Recurrence.MONTHLY, Recurrence.HALF_YEARLY):  # each duty's recurrence is shown
        assert f'<span class="tag">{recurrence.label}</span>' in page


def test_a_county_officer_cannot_edit_and_the_refusal_is_audited(
    client: Any, rencheng_officer: User, head_post: DutyPost
) -> None:
    before = items_of("institution_head")
    login_client(client, rencheng_officer)
    assert client.get(reverse("duty:posts")).status_code == 200  # reading is allowed
    edit = reverse("duty:post_edit", args=[head_post.pk])
    assert client.get(edit).status_code == 403
    response = client.post(edit, form_data(head_post, [("改掉", "", "")], name="改掉"))
    assert response.status_code == 403
    assert (
        client.post(
            reverse("duty:post_new"), form_data(None, [("x", "", "")], name="x", code="x")
        ).status_code
        == 403
    )
    assert items_of("institution_head") == before
    assert DutyPost.objects.get(pk=head_post.pk).name == "机构负责人"
    assert not DutyPost.objects.filter(code="x").exists()
    denied = AuditEvent.objects.filter(action="permission.denied", object_type="duty.dutypost")
    assert denied.count() == 3 and {e.user_id for e in denied} == {rencheng_officer.pk}
    with pytest.raises(NotPermitted):
        services.save_post(
            rencheng_officer, head_post, code="", name="x", role="", holders=[], items=[("x", "", "")]
        )
    assert not AuditEvent.objects.filter(action="duty.post.save").exists()


def test_editing_replaces_the_duties_renumbers_them_and_is_audited(
    client: Any, city_office: User, cadre: User
) -> None:
    post = DutyPost.objects.get(code="sector_lead")
    old = items_of("sector_lead")
    login_client(client, city_office)
    edit = reverse("duty:post_edit", args=[post.pk])
    page = client.get(edit).content.decode()
    assert old[0][1] in page and 'name="items-TOTAL_FORMS" value="7"' in page  # 4 duties + 3 blank rows
    rows = [
        (old[0][1], "monthly", ""),
        ("", "", ""),  # the second duty emptied: removed
        (old[2][1], "quarterly", ""),
        (old[3][1], "", ""),
        ("", "", ""),
        ("新增：每季度向市安全办报告本领域安全形势", "quarterly", ""),
        ("", "", ""),
    ]
    response = client.post(edit, form_data(post, rows, holders=[cadre.pk]))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert items_of("sector_lead") == [
        (1, old[0][1], "monthly", ""),
        (2, old[2][1], "quarterly", ""),
        (3, old[3][1], "", ""),
        (4, "新增：每季度向市安全办报告本领域安全形势", "quarterly", ""),
    ]
    assert list(post.holders.values_list("pk", flat=True)) == [cadre.pk]
    event = AuditEvent.objects.get(action="duty.post.save")
    assert event.user_id == city_office.pk and event.object_id == str(post.pk)
    before_items, after_items = event.changes["items"]
    assert (
        len(before_items) == 4
        and after_items[3] == "4. 新增：每季度向市安全办报告本领域安全形势 [quarterly/]"
    )
    assert event.changes["holders"] == [[], [cadre.pk]]
    # The cadre now holds the sector lead's post by name as well as their own by role.
    assert [p.code for p in selectors.posts_for(User.objects.get(pk=cadre.pk))] == [
        "sector_lead",
        "responsible_cadre",
    ]


def test_a_new_post_from_the_form(client: Any, city_office: User) -> None:
    login_client(client, city_office)
    data = form_data(None, [("", "", ""), ("每周检查值班记录", "weekly", ""), ("", "", "")])
    data.update(name="值班负责人", code="duty_officer", role="inspector")
    response = client.post(reverse("duty:post_new"), data)
    assert response.status_code == 302 and response["Location"].endswith("#post-duty_officer")
    assert items_of("duty_officer") == [(1, "每周检查值班记录", "weekly", "")]
    # A taken code is shown on the form, nothing is created.
    response = client.post(reverse("duty:post_new"), {**data, "name": "另一个"})
    assert response.status_code == 400 and "另一个" in response.content.decode()
    assert DutyPost.objects.filter(code="duty_officer").get().name == "值班负责人"


def test_a_second_duty_carrying_the_visit_task_is_refused(client: Any, city_office: User) -> None:
    post = DutyPost.objects.get(code="sector_lead")
    before = items_of("sector_lead")
    login_client(client, city_office)
    rows = [(text, recurrence, task) for _n, text, recurrence, task in before]
    rows[1] = (rows[1][0], "monthly", "duty_visit")
    response = client.post(reverse("duty:post_edit", args=[post.pk]), form_data(post, rows, name="改名"))
    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="error" role="alert"' in page and "改名" in page  # the input is kept on the form
    assert items_of("sector_lead") == before and DutyPost.objects.get(pk=post.pk).name == "业务科室负责人"
    assert not AuditEvent.objects.filter(action="duty.post.save").exists()
    with pytest.raises(DomainError) as refused:
        services.save_post(
            city_office, None, code="new", name="x", role="", holders=[],
            items=[("a", "monthly", "duty_visit")],
        )  # fmt: skip
    assert refused.value.code == "duplicate" and refused.value.field == "items"
    assert not DutyPost.objects.filter(code="new").exists()
    assert selectors.visit_rule() == "monthly"


def test_changing_the_cadre_posts_visit_recurrence_changes_the_rule(city_office: User) -> None:
    post = DutyPost.objects.get(code="responsible_cadre")
    items = [(i.text, i.recurrence, i.task) for i in post.items.all()]
    items[0] = (items[0][0], "quarterly", "duty_visit")
    services.save_post(city_office, post, code="", name=post.name, role=post.role, holders=[], items=items)
    assert selectors.visit_rule() == "quarterly"


def test_the_person_list_outside_the_scope_is_404(
    client: Any, rencheng_officer: User, cadre: User, make_user: Any, tree: dict[str, Any]
) -> None:
    outsider = make_user("zc_cadre", roles=["cadre"], region=tree["zoucheng"])
    login_client(client, rencheng_officer)
    assert client.get(reverse("duty:person_list", args=[outsider.pk])).status_code == 404
    page = client.get(reverse("duty:person_list", args=[cadre.pk])).content.decode()
    assert "cadre_a" in page and items_of("responsible_cadre")[0][1] in page
    detail = client.get(reverse("accounts:user_detail", args=[cadre.pk])).content.decode()
    assert reverse("duty:person_list", args=[cadre.pk]) in detail


def test_the_posts_page_names_only_holders_inside_the_scope(
    client: Any, rencheng_officer: User, city_office: User, cadre: User, make_user: Any, tree: dict[str, Any]
) -> None:
    post = DutyPost.objects.get(code="institution_head")
    post.holders.add(cadre, make_user("zc_head", region=tree["zoucheng"]))
    login_client(client, rencheng_officer)
    page = client.get(reverse("duty:posts")).content.decode()
    assert "cadre_a" in page and "zc_head" not in page
    assert reverse("duty:post_edit", args=[post.pk]) not in page  # no edit links without the permission
    nav = page.split('<nav id="nav"')[1].split("</nav>")[0]
    assert reverse("duty:my_list") in nav and reverse("duty:posts") not in nav
    login_client(client, city_office)
    page = client.get(reverse("duty:posts")).content.decode()
    assert "cadre_a" in page and "zc_head" in page
    assert reverse("duty:post_edit", args=[post.pk]) in page
    nav = page.split('<nav id="nav"')[1].split("</nav>")[0]
    assert reverse("duty:my_list") in nav and reverse("duty:posts") in nav


def test_posts_page_query_count_does_not_grow(
    client: Any, city_office: User, make_user: Any, tree: Any
) -> None:
    def add_posts(start: int) -> None:
        for n in range(start, start + 5):
            post = DutyPost.objects.create(code=f"extra{n}", name=f"岗位{n}", role="inspector", order=50 + n)
            DutyItem.objects.bulk_create(DutyItem(post=post, number=k, text=f"职责{k}") for k in range(1, 4))
            post.holders.add(make_user(f"holder{n}", region=tree["rencheng"]))

    login_client(client, city_office)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("duty:posts")).status_code == 200
        return len(ctx.captured_queries)

    add_posts(0)
    few = count()
    add_posts(100)
    assert count() == few
    assert few <= 12, few


# --- API ---------------------------------------------------------------------------------------------------


def api_for(user: User) -> APIClient:
    api = APIClient()
    api.force_authenticate(User.objects.get(pk=user.pk))
    return api


def test_api_list_and_mine(cadre: User, head_post: DutyPost) -> None:
    head_post.holders.add(cadre)
    api = api_for(cadre)
    body = api.get(API).json()
    assert body["count"] == 6
    first = body["results"][0]
    assert first["code"] == "safety_office_director" and [i["number"] for i in first["items"]] == [
        1,
        2,
        3,
        4,
        5,
    ]
    mine = api.get(API + "mine/").json()
    assert [p["code"] for p in mine] == ["responsible_cadre", "institution_head"]
    assert mine[0]["items"][0]["task"] == "duty_visit" and mine[0]["items"][0]["recurrence"] == "monthly"
    assert mine[1]["holders"] == []  # a cadre has no staff directory: holders are not named to them
    assert api.get(f"{API}{head_post.pk}/").json()["name"] == "机构负责人"


def test_api_create_update_and_structured_errors(
    city_office: User, rencheng_officer: User, cadre: User, head_post: DutyPost
) -> None:
    api = api_for(city_office)
    created = api.post(
        API,
        {
            "code": "night_watch",
            "name": "夜间值班员",
            "holders": [cadre.pk],
            "items": [{"text": "夜间每2小时巡查一次", "recurrence": "daily"}, {"text": "填写交接班记录"}],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    post = created.json()
    assert [(i["number"], i["text"], i["recurrence"]) for i in post["items"]] == [
        (1, "夜间每2小时巡查一次", "daily"),
        (2, "填写交接班记录", ""),
    ]
    assert post["holders"] == [{"id": cadre.pk, "display_name": "cadre_a"}]
    url = f"{API}{post['id']}/"
    replaced = api.put(url, {"name": "夜间值班员", "items": [{"text": "只剩一条"}]}, format="json")
    assert replaced.status_code == 200 and [i["text"] for i in replaced.json()["items"]] == ["只剩一条"]
    assert replaced.json()["holders"] == []
    renamed = api.patch(url, {"name": "夜班"}, format="json").json()
    assert renamed["name"] == "夜班" and [i["text"] for i in renamed["items"]] == ["只剩一条"]
    assert AuditEvent.objects.filter(action="duty.post.save", object_id=str(post["id"])).count() == 3
    # Structured 400s: a rule of the service, and invalid input; nothing changes.
    refused = api.patch(
        url,
        {"items": [{"text": "再来一条督查", "recurrence": "monthly", "task": "duty_visit"}]},
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json()["code"] == "duplicate" and refused.json()["field"] == "items"
    invalid = api.post(API, {"code": "bad code", "items": []}, format="json")
    assert invalid.status_code == 400 and invalid.json()["code"] == "invalid"
    assert set(invalid.json()["errors"]) >= {"code", "name"}
    assert api.patch(url, {"code": "other"}, format="json").status_code == 400
    assert [i["text"] for i in api.get(url).json()["items"]] == ["只剩一条"]
    # A county officer reads but cannot write; the refusal is audited.
    officer = api_for(rencheng_officer)
    assert officer.get(url).status_code == 200
    assert officer.patch(url, {"name": "x"}, format="json").status_code == 403
    assert (
        officer.post(API, {"code": "y", "name": "y", "items": [{"text": "y"}]}, format="json").status_code
        == 403
    )
    assert (
        DutyPost.objects.get(pk=post["id"]).name == "夜班" and not DutyPost.objects.filter(code="y").exists()
    )
    assert AuditEvent.objects.filter(action="permission.denied", object_type="duty.dutypost").count() == 2
