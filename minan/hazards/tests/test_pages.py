"""The hazard pages: the ledger and its filters, the export, the report form, the detail page with its
moves, the rectification notice PDF, the major-hazard board and the institution's hazards tab."""

from __future__ import annotations

import datetime as dt
import io
import re
import zlib
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.models import Field
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation
from openpyxl import load_workbook
from PIL import Image
from pypdf import PdfWriter

from conftest import login_client
from minan.accounts.models import User
from minan.core.audit.models import AuditEvent
from minan.hazards import services, workflow
from minan.hazards.models import Clause, Hazard, HazardEvent, HazardFile
from minan.hazards.revisits import services as revisit_services
from minan.hazards.views import EVENT_LABELS
from minan.hazards.workflow import MOVES

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 11, 2, 2, tzinfo=dt.UTC)  # Monday 2 November 2026, 10:00 in Jining


@pytest.fixture(autouse=True)
def _setup(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path
    with time_machine.travel(START, tick=False):
        yield


def png(name: str = "p.png") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def pdf(name: str = "report.pdf") -> SimpleUploadedFile:
    writer = PdfWriter()  # a real one-page document: uploads are judged by parsing them
    writer.add_blank_page(200, 200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="application/pdf")


def fresh(user: Any) -> User:
    return User.objects.get(pk=user.pk)  # drops cached roles and scope, as a new request would


def ids(page: str) -> set[int]:
    return {int(n) for n in re.findall(r'data-hazard="(\d+)"', page)}


def error_messages(page: str) -> str:
    return " ".join(re.findall(r'<li class="msg-error">(.*?)</li>', page, re.S))


def report(actor: Any, institution: Any, **kwargs: Any) -> Hazard:
    values = {"source": "inspection", "category": "fire", "level": "general", "description": "灭火器过期"}
    return services.report(fresh(actor), institution, **{**values, **kwargs})


def move(actor: Any, hazard: Hazard, action: str, **kwargs: Any) -> Hazard:
    return services.transition(fresh(actor), hazard, action, **kwargs)


@pytest.fixture
def staff(make_user: Any, institutions: dict[str, Any]) -> User:
    """The institution's own staff: reports and rectifies."""
    return make_user("rc_staff", roles=["institution_staff"], institution=institutions["rc_elderly"])


@pytest.fixture
def zc_officer(make_user: Any, tree: dict[str, Any]) -> User:
    return make_user("zc_officer", roles=["county_officer"], region=tree["zoucheng"])


def major_clause() -> Clause:
    return Clause.objects.get(key="MCA2023-4-3")


def fill_plan(actor: Any, hazard: Hazard) -> Hazard:
    return services.update_plan(
        fresh(actor), hazard, plan_responsible="院长张三", plan_measures="拆除彩钢板", plan_funds="5万元，自筹",
        plan_deadline=dt.date(2026, 11, 20), plan_contingency="夜间专人巡查",
    )  # fmt: skip


# --- the ledger --------------------------------------------------------------------------------------------


@pytest.fixture
def ledger_set(rencheng_officer: Any, zc_officer: Any, institutions: dict[str, Any]) -> dict[str, Hazard]:
    """Five hazards: four in 任城 (reported, assigned, major assigned, cancelled after its notice), one
    in 邹城."""
    reported = report(rencheng_officer, institutions["rc_elderly"])
    assigned = report(
        rencheng_officer, institutions["rc_funeral"], category="electrical", description="私拉电线"
    )
    assigned = move(rencheng_officer, assigned, "assign", days=5, requirement="拆除私拉电线")
    major = report(
        rencheng_officer, institutions["rc_elderly"], clause=major_clause(), description="彩钢板宿舍"
    )
    major = move(
        rencheng_officer, major, "assign", days=3, requirement="停用并拆除", supervisor=rencheng_officer
    )
    cancelled = report(rencheng_officer, institutions["rc_elderly"], description="误报")
    cancelled = move(rencheng_officer, cancelled, "assign", requirement="清理整改到位", days=1)
    cancelled = move(rencheng_officer, cancelled, "cancel", comment="重复登记")
    other = report(zc_officer, institutions["zc_elderly"], description="邹城的隐患")
    return {
        "reported": reported,
        "assigned": assigned,
        "major": major,
        "cancelled": cancelled,
        "other": other,
    }


def test_ledger_filters_return_exactly_the_expected_hazards(
    client: Any, rencheng_officer: Any, city_office: Any, ledger_set: dict[str, Hazard]
) -> None:
    h = {k: v.pk for k, v in ledger_set.items()}
    assert ledger_set["assigned"].deadline == dt.date(2026, 11, 9)
    c = login_client(client, rencheng_officer)
    url = reverse("hazards:list")
    page = c.get(url).content.decode()
    assert ids(page) == {h["reported"], h["assigned"], h["major"], h["cancelled"]}
    assert "邹城" not in page
    assert ids(c.get(url, {"level": "major"}).content.decode()) == {h["major"]}
    assert ids(c.get(url, {"status": "open"}).content.decode()) == {h["reported"], h["assigned"], h["major"]}
    assert ids(c.get(url, {"status": "cancelled"}).content.decode()) == {h["cancelled"]}
    assert ids(c.get(url, {"category": "electrical"}).content.decode()) == {h["assigned"]}
    assert ids(c.get(url, {"region": "370811"}).content.decode()) == {h["reported"], h["assigned"], h["major"], h["cancelled"]}  # fmt: skip
    assert ids(c.get(url, {"region": "370883"}).content.decode()) == set()
    assert ids(c.get(url, {"institution": ledger_set["assigned"].institution_id}).content.decode()) == {
        h["assigned"]
    }
    assert ids(c.get(url, {"found_from": "2026-11-03"}).content.decode()) == set()
    assert len(ids(c.get(url, {"found_from": "2026-11-02", "found_to": "2026-11-02"}).content.decode())) == 4
    # Nothing is overdue on the day of the notices; the deadlines of 5 and 3 working days pass later.
    assert ids(c.get(url, {"overdue": "1"}).content.decode()) == set()
    # Not on the due day itself (5 November for the major one); a cancelled hazard is never overdue.
    with time_machine.travel(dt.datetime(2026, 11, 5, 2, tzinfo=dt.UTC), tick=False):
        c = login_client(client, rencheng_officer)
        assert ids(c.get(url, {"overdue": "1"}).content.decode()) == set()
    with time_machine.travel(dt.datetime(2026, 11, 6, 2, tzinfo=dt.UTC), tick=False):
        c = login_client(client, rencheng_officer)  # sessions end after 30 idle minutes
        page = c.get(url, {"overdue": "1"}).content.decode()
        assert ids(page) == {h["major"]}
        assert 'data-overdue="1"' in page
    with time_machine.travel(dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC), tick=False):
        c = login_client(client, rencheng_officer)
        assert ids(c.get(url, {"overdue": "1"}).content.decode()) == {h["assigned"], h["major"]}
    # The city office sees both counties and filters one.
    c = login_client(client, city_office)
    assert ids(c.get(url).content.decode()) == set(h.values())
    assert ids(c.get(url, {"region": "370883"}).content.decode()) == {h["other"]}
    # The other county's hazard is a 404 for the 任城 officer, on every page of the hazard.
    c = login_client(client, rencheng_officer)
    other = ledger_set["other"]
    for name in ("hazards:detail", "hazards:notice"):
        assert c.get(reverse(name, args=[other.pk])).status_code == 404
    for name in ("hazards:transition", "hazards:plan"):
        assert c.post(reverse(name, args=[other.pk]), {"action": "cancel", "comment": "x"}).status_code == 404
    assert Hazard.objects.get(pk=other.pk).status == Hazard.Status.REPORTED


def test_ledger_marks_major_and_overdue(
    client: Any, rencheng_officer: Any, ledger_set: dict[str, Hazard]
) -> None:
    with time_machine.travel(dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC), tick=False):
        page = login_client(client, rencheng_officer).get(reverse("hazards:list")).content.decode()
    row = page.split(f'data-hazard="{ledger_set["major"].pk}"')[1].split("</tr>")[0]
    assert 'data-level="major"' in row and 'data-overdue="1"' in row and "2026-11-05" in row
    row = page.split(f'data-hazard="{ledger_set["reported"].pk}"')[1].split("</tr>")[0]
    assert 'data-level="major"' not in row and "data-overdue" not in row


def _count(fetch: Any) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = fetch()
        assert response.status_code == 200
    return len(ctx.captured_queries)


def test_ledger_query_count_does_not_grow_with_rows(
    client: Any, rencheng_officer: Any, institutions: dict[str, Any]
) -> None:
    for _i in range(2):
        move(
            rencheng_officer,
            report(rencheng_officer, institutions["rc_elderly"]),
            "assign",
            requirement="清理整改到位",
            days=5,
        )
    c = login_client(client, rencheng_officer)
    url = reverse("hazards:list")
    few = _count(lambda: c.get(url))
    for i in range(8):
        hazard = report(rencheng_officer, institutions["rc_funeral"], description=f"隐患{i}")
        move(rencheng_officer, hazard, "assign", requirement="清理整改到位", days=5)
    assert _count(lambda: c.get(url)) == few <= 14


# --- the export ------------------------------------------------------------------------------------------


def test_export_has_the_ledger_layout_and_values(
    client: Any,
    rencheng_officer: Any,
    staff: User,
    ledger_set: dict[str, Hazard],
    institutions: dict[str, Any],
) -> None:
    done = report(staff, institutions["rc_elderly"], description="疏散通道堵塞", responsible_person="李四")
    done = move(rencheng_officer, done, "assign", days=5, requirement="清理通道")
    done = move(staff, done, "start")
    done = move(staff, done, "submit", measures_taken="已清理通道", files=[png()])
    done = move(rencheng_officer, done, "accept")
    done = move(rencheng_officer, done, "close")
    c = login_client(client, rencheng_officer)
    response = c.get(reverse("hazards:export"), {"level": "general", "status": "open"})
    assert response.status_code == 200 and response["Content-Type"].startswith("application/vnd.openxml")
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == [
        "序号", "机构", "隐患描述", "等级", "发现时间", "整改措施", "责任人", "期限", "状态", "验收人", "销号时间",
    ]  # fmt: skip
    # Open general hazards in scope, newest first: the assigned one and the reported one.
    with translation.override("zh-hans"):
        general, assigned = str(Hazard.Level.GENERAL.label), str(Hazard.Status.ASSIGNED.label)
        reported, closed = str(Hazard.Status.REPORTED.label), str(Hazard.Status.CLOSED.label)
    assert [r[0] for r in rows[1:]] == [1, 2]
    assert [r[2] for r in rows[1:]] == ["私拉电线", "灭火器过期"]
    first = rows[1]
    assert first[1] == "任城区殡仪馆" and first[3] == general and first[8] == assigned
    assert first[4] == dt.datetime(2026, 11, 2, 10, 0)  # local time, without zone
    assert first[5] == "拆除私拉电线"  # before submission: the notice's requirement
    assert first[7] == dt.datetime(2026, 11, 9) and first[9] is None and first[10] is None
    assert rows[2][8] == reported and rows[2][5] is None
    # The closed one: what was done, who is responsible, who accepted, when it was closed.
    response = c.get(reverse("hazards:export"), {"status": "closed"})
    rows = list(load_workbook(io.BytesIO(response.content)).worksheets[0].iter_rows(values_only=True))
    assert len(rows) == 2
    row = rows[1]
    assert row[0] == 1 and row[2] == "疏散通道堵塞" and row[5] == "已清理通道" and row[6] == "李四"
    assert row[8] == closed and row[9] == "rc_officer" and row[10] == dt.datetime(2026, 11, 2, 10, 0)
    assert "邹城" not in str(rows)
    event = AuditEvent.objects.filter(action="export", object_type="hazards.hazard").latest("id")
    assert event.detail.startswith("1 rows")


def test_export_needs_the_export_permission(client: Any, staff: User, ledger_set: dict[str, Hazard]) -> None:
    assert login_client(client, staff).get(reverse("hazards:export")).status_code == 403


# --- the report form -------------------------------------------------------------------------------------


def test_report_form_creates_a_hazard_and_a_clause_makes_it_major(
    client: Any, rencheng_officer: Any, institutions: dict[str, Any]
) -> None:
    home = institutions["rc_elderly"]
    c = login_client(client, rencheng_officer)
    page = c.get(reverse("hazards:new"), {"institution": home.pk}).content.decode()
    assert f'<option value="{home.pk}" selected>' in page and "邹城" not in page
    assert c.get(reverse("hazards:new"), {"institution": institutions["zc_elderly"].pk}).status_code == 404
    base = {"institution": home.pk, "source": "inspection", "category": "building", "level": "general",
            "description": "宿舍为彩钢板搭建", "location": "北侧宿舍", "responsible_person": "王五"}  # fmt: skip
    response = c.post(reverse("hazards:new"), {**base, "clause": major_clause().pk, "files": [png(), pdf()]})
    hazard = Hazard.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("hazards:detail", args=[hazard.pk])
    assert hazard.level == Hazard.Level.MAJOR and hazard.clause == major_clause()
    assert hazard.status == Hazard.Status.REPORTED and hazard.found_by == rencheng_officer
    assert hazard.location == "北侧宿舍" and hazard.responsible_person == "王五"
    assert sorted(hazard.files.values_list("content_type", flat=True)) == ["application/pdf", "image/png"]
    # Without a clause the chosen level stands.
    c.post(reverse("hazards:new"), base)
    assert Hazard.objects.latest("id").level == Hazard.Level.GENERAL


def test_report_form_refusals_write_nothing(
    client: Any, rencheng_officer: Any, institutions: dict[str, Any]
) -> None:
    c = login_client(client, rencheng_officer)
    base = {"institution": institutions["rc_elderly"].pk, "source": "inspection", "category": "fire",
            "level": "general", "description": "灭火器过期"}  # fmt: skip
    fake = SimpleUploadedFile("photo.jpg", b"just some text, not a photo", content_type="image/jpeg")
    response = c.post(reverse("hazards:new"), {**base, "files": [fake]})
    assert response.status_code == 400
    assert "photo.jpg" in response.content.decode()
    # A major hazard cannot be fixed on the spot: the refusal is shown on its field.
    response = c.post(
        reverse("hazards:new"), {**base, "clause": major_clause().pk, "on_the_spot": "on", "files": [png()]}
    )
    assert response.status_code == 400 and 'class="field has-error"' in response.content.decode()
    # An institution outside the scope is not a choice.
    response = c.post(reverse("hazards:new"), {**base, "institution": institutions["zc_elderly"].pk})
    assert response.status_code == 400
    assert Hazard.objects.count() == 0 and HazardFile.objects.count() == 0
    assert not AuditEvent.objects.filter(action="hazard.report").exists()


# --- the detail page and its moves -----------------------------------------------------------------------


def moves_on(page: str) -> set[str]:
    return set(re.findall(r'data-move="(\w+)"', page))


def test_detail_shows_only_the_moves_the_user_may_perform(
    client: Any,
    rencheng_officer: Any,
    staff: User,
    make_user: Any,
    tree: dict[str, Any],
    institutions: dict[str, Any],
) -> None:
    hazard = report(staff, institutions["rc_elderly"])
    url = reverse("hazards:detail", args=[hazard.pk])
    assert moves_on(login_client(client, rencheng_officer).get(url).content.decode()) == {"assign", "cancel"}
    assert moves_on(login_client(client, staff).get(url).content.decode()) == set()
    expert = make_user("expert", roles=["expert"], region=tree["rencheng"])
    assert moves_on(login_client(client, expert).get(url).content.decode()) == set()
    move(rencheng_officer, hazard, "assign", requirement="清理整改到位", days=5)
    assert moves_on(login_client(client, staff).get(url).content.decode()) == {"start"}
    assert moves_on(login_client(client, rencheng_officer).get(url).content.decode()) == {"cancel"}
    move(staff, hazard, "start")
    page = login_client(client, staff).get(url).content.decode()
    assert moves_on(page) == {"submit"} and 'enctype="multipart/form-data"' in page
    move(staff, hazard, "submit", measures_taken="已更换灭火器", files=[png()])
    assert moves_on(login_client(client, rencheng_officer).get(url).content.decode()) == {
        "accept",
        "reject",
        "cancel",
    }
    # Someone who could accept but submitted the fix is not offered acceptance.
    both = make_user("both", roles=["county_officer", "institution_staff"], region=tree["rencheng"])
    other = report(both, institutions["rc_funeral"])
    for action, kwargs in (
        ("assign", {"days": 5, "requirement": "清理整改到位"}),
        ("start", {}),
        ("submit", {"measures_taken": "x", "files": [png()]}),
    ):
        move(both, other, action, **kwargs)
    page = login_client(client, both).get(reverse("hazards:detail", args=[other.pk])).content.decode()
    assert moves_on(page) == {"reject", "cancel"}


def test_transition_form_performs_an_allowed_move(
    client: Any, rencheng_officer: Any, staff: User, institutions: dict[str, Any]
) -> None:
    hazard = report(staff, institutions["rc_elderly"])
    c = login_client(client, rencheng_officer)
    url = reverse("hazards:transition", args=[hazard.pk])
    response = c.post(url, {"action": "assign", "days": "5", "requirement": "更换过期灭火器"})
    assert response.status_code == 302 and response["Location"] == reverse("hazards:detail", args=[hazard.pk])
    hazard.refresh_from_db()
    assert hazard.status == Hazard.Status.ASSIGNED and hazard.deadline == dt.date(2026, 11, 9)
    assert hazard.requirement == "更换过期灭火器"
    # The institution rectifies through the page and submits evidence.
    s = login_client(client, staff)
    assert s.post(url, {"action": "start"}).status_code == 302
    response = s.post(url, {"action": "submit", "measures_taken": "已更换", "files": [png("after.png")]})
    assert response.status_code == 302
    hazard.refresh_from_db()
    assert hazard.status == Hazard.Status.SUBMITTED and hazard.submitted_by == staff
    event = HazardEvent.objects.get(hazard=hazard, action="submit")
    assert [f.name for f in event.files.all()] == ["after.png"]
    page = c.get(reverse("hazards:detail", args=[hazard.pk])).content.decode()
    timeline = page.split('id="timeline"')[1].split("</table>")[0]
    assert timeline.count("<tr data-action=") == 4 and "after.png" in timeline
    with translation.override("zh-hans"):
        assert str(MOVES["submit"].label) in timeline and str(Hazard.Status.SUBMITTED.label) in timeline


def test_refused_moves_leave_the_hazard_unchanged_with_the_reason(
    client: Any, rencheng_officer: Any, make_user: Any, tree: dict[str, Any], institutions: dict[str, Any]
) -> None:
    both = make_user("both", roles=["county_officer", "institution_staff"], region=tree["rencheng"])
    hazard = report(both, institutions["rc_elderly"])
    c = login_client(client, both)
    url = reverse("hazards:transition", args=[hazard.pk])
    # A move that is not in the table for this state, by a crafted POST.
    response = c.post(url, {"action": "accept"})
    assert response.status_code == 400
    with translation.override("zh-hans"):
        accept, reported = str(MOVES["accept"].label), str(Hazard.Status.REPORTED.label)
    message = error_messages(response.content.decode())
    assert accept in message and reported in message
    hazard.refresh_from_db()
    assert hazard.status == Hazard.Status.REPORTED
    # An unknown action.
    assert c.post(url, {"action": "teleport"}).status_code == 400
    # Acceptance by the one who submitted the fix.
    for action, kwargs in (
        ("assign", {"days": 5, "requirement": "清理整改到位"}),
        ("start", {}),
        ("submit", {"measures_taken": "x", "files": [png()]}),
    ):
        move(both, hazard, action, **kwargs)
    events = HazardEvent.objects.filter(hazard=hazard).count()
    response = c.post(url, {"action": "accept"})
    assert response.status_code == 400 and error_messages(response.content.decode())
    hazard.refresh_from_db()
    assert hazard.status == Hazard.Status.SUBMITTED and hazard.accepted_by is None
    assert HazardEvent.objects.filter(hazard=hazard).count() == events
    # A rejection needs a reason: shown on the form, nothing changes.
    response = c.post(url, {"action": "reject", "comment": " "})
    page = response.content.decode()
    assert response.status_code == 400 and 'data-move="reject"' in page and 'class="field has-error"' in page
    # Submitting without evidence is refused by the service and shown on the files field.
    other = report(both, institutions["rc_funeral"])
    move(both, other, "assign", requirement="清理整改到位", days=5)
    move(both, other, "start")
    response = c.post(
        reverse("hazards:transition", args=[other.pk]), {"action": "submit", "measures_taken": "x"}
    )
    assert response.status_code == 400 and 'class="field has-error"' in response.content.decode()
    assert Hazard.objects.get(pk=other.pk).status == Hazard.Status.RECTIFYING
    # Someone without the move's permission.
    expert = make_user("expert", roles=["expert"], region=tree["rencheng"])
    response = login_client(client, expert).post(url, {"action": "cancel", "comment": "不需要"})
    assert response.status_code == 400 and error_messages(response.content.decode())
    assert Hazard.objects.get(pk=hazard.pk).status == Hazard.Status.SUBMITTED


def test_major_hazard_plan_and_supervisor_on_the_detail_page(
    client: Any,
    rencheng_officer: Any,
    staff: User,
    zc_officer: Any,
    make_user: Any,
    tree: dict[str, Any],
    institutions: dict[str, Any],
) -> None:
    hazard = report(
        rencheng_officer, institutions["rc_elderly"], clause=major_clause(), description="彩钢板宿舍"
    )
    c = login_client(client, rencheng_officer)
    page = c.get(reverse("hazards:detail", args=[hazard.pk])).content.decode()
    assert 'id="five-guarantees"' in page and f'action="/hazards/{hazard.pk}/plan/"' in page
    form = page.split('data-move="assign"')[1].split("</form>")[0]
    assert 'name="supervisor"' in form and "rc_officer" in form and "zc_officer" not in form
    url = reverse("hazards:transition", args=[hazard.pk])
    # The supervisor is required, and must be someone inside the scope.
    assert c.post(url, {"action": "assign", "requirement": "清理整改到位", "days": "3"}).status_code == 400
    assert (
        c.post(
            url, {"action": "assign", "requirement": "清理整改到位", "days": "3", "supervisor": zc_officer.pk}
        ).status_code
        == 400
    )
    assert Hazard.objects.get(pk=hazard.pk).status == Hazard.Status.REPORTED
    response = c.post(
        url,
        {"action": "assign", "requirement": "清理整改到位", "days": "3", "supervisor": rencheng_officer.pk},
    )
    assert response.status_code == 302
    # Rectification cannot start before the five guarantees are filled.
    s = login_client(client, staff)
    response = s.post(url, {"action": "start"})
    assert response.status_code == 400 and error_messages(response.content.decode())
    assert Hazard.objects.get(pk=hazard.pk).status == Hazard.Status.ASSIGNED
    plan = {"plan_responsible": "院长张三", "plan_measures": "拆除", "plan_funds": "5万元", "plan_deadline": "2026-11-20",
            "plan_contingency": "专人巡查"}  # fmt: skip
    assert s.post(reverse("hazards:plan", args=[hazard.pk]), plan).status_code == 302
    assert s.post(url, {"action": "start"}).status_code == 302
    hazard.refresh_from_db()
    assert hazard.status == Hazard.Status.RECTIFYING and hazard.plan_deadline == dt.date(2026, 11, 20)
    assert hazard.supervisor == rencheng_officer
    # In rectification the time limit cannot be emptied.
    response = s.post(reverse("hazards:plan", args=[hazard.pk]), {**plan, "plan_deadline": ""})
    assert response.status_code == 400
    assert Hazard.objects.get(pk=hazard.pk).plan_deadline == dt.date(2026, 11, 20)
    # Acceptance of a major hazard is offered to its supervising level only, not to a cadre.
    move(staff, hazard, "submit", measures_taken="已拆除", files=[png()])
    cadre = make_user("cadre", roles=["cadre"], region=tree["rencheng"])
    detail = reverse("hazards:detail", args=[hazard.pk])
    assert "accept" not in moves_on(login_client(client, cadre).get(detail).content.decode())
    assert moves_on(login_client(client, rencheng_officer).get(detail).content.decode()) == {
        "accept",
        "reject",
        "cancel",
    }


def test_detail_query_count_does_not_grow_with_events(
    client: Any, rencheng_officer: Any, staff: User, institutions: dict[str, Any]
) -> None:
    hazard = report(staff, institutions["rc_elderly"], files=[png()])
    c = login_client(client, rencheng_officer)
    url = reverse("hazards:detail", args=[hazard.pk])
    move(rencheng_officer, hazard, "assign", requirement="清理整改到位", days=5)
    few = _count(lambda: c.get(url))  # two events, one file; the officer may cancel
    move(staff, hazard, "start")
    move(staff, hazard, "submit", measures_taken="已更换", files=[png(), png("b.png"), pdf()])
    move(rencheng_officer, hazard, "reject", comment="照片不清楚")
    move(staff, hazard, "resume")
    assert HazardEvent.objects.filter(hazard=hazard).count() == 6
    assert _count(lambda: c.get(url)) == few <= 13  # 13: the extensions and the pauses are one query each


def test_files_are_served_only_through_the_scope(
    client: Any, rencheng_officer: Any, zc_officer: Any, staff: User, institutions: dict[str, Any]
) -> None:
    hazard = report(staff, institutions["rc_elderly"], files=[png(), pdf()])
    image, document = hazard.files.order_by("id")
    c = login_client(client, rencheng_officer)
    response = c.get(reverse("hazards:file", args=[image.pk]))
    assert response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"
    assert "attachment" not in response.get("Content-Disposition", "")
    response = c.get(reverse("hazards:file", args=[document.pk]))
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment")
    assert login_client(client, zc_officer).get(reverse("hazards:file", args=[image.pk])).status_code == 404


# --- the notice ------------------------------------------------------------------------------------------


def pdf_text(data: bytes) -> str:
    """The text shown by a reportlab PDF: its literal strings, decoded as UCS-2 (the CID font's encoding)."""
    text = []
    for stream in re.findall(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            # Not rstrip("\r\n"): the compressed data itself may end with such a byte (then the page was
            # skipped, depending on the ids in it); a decompressor object ignores the line end after it.
            content = zlib.decompressobj().decompress(stream)
        except zlib.error:
            continue
        for literal in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", content, re.S):
            raw = re.sub(rb"\\([0-7]{1,3}|.)", lambda m: _unescape(m.group(1)), literal, flags=re.S)
            text.append(raw.decode("utf-16-be", errors="replace"))
    return "\n".join(text)


def _unescape(code: bytes) -> bytes:
    if code[:1].isdigit():
        return bytes([int(code, 8)])
    return {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}.get(code, code)


def test_notice_pdf_once_assigned(
    client: Any, rencheng_officer: Any, staff: User, institutions: dict[str, Any]
) -> None:
    hazard = report(staff, institutions["rc_elderly"], description="灭火器过期", location="一楼走廊")
    c = login_client(client, rencheng_officer)
    url = reverse("hazards:notice", args=[hazard.pk])
    assert c.get(url).status_code == 404  # no notice before it is issued
    assert (
        f"hazards/{hazard.pk}/notice.pdf"
        not in c.get(reverse("hazards:detail", args=[hazard.pk])).content.decode()
    )
    move(rencheng_officer, hazard, "assign", days=5, requirement="更换灭火器")
    response = c.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    text = pdf_text(response.content)
    for expected in ("隐患整改通知书", "任城区古槐敬老院", "灭火器过期", "一楼走廊", "更换灭火器", "2026年11月9日前（5个工作日）",
                     "签发人：rc_officer", "签发日期：2026年11月2日"):  # fmt: skip
        assert expected in text, expected
    assert "挂牌督办" not in text
    # The institution's staff can print it too.
    assert login_client(client, staff).get(url).status_code == 200


def test_notice_pdf_of_a_major_hazard_has_the_plan_and_the_supervisor(
    client: Any, rencheng_officer: Any, institutions: dict[str, Any]
) -> None:
    hazard = report(
        rencheng_officer, institutions["rc_elderly"], clause=major_clause(), description="彩钢板宿舍"
    )
    move(rencheng_officer, hazard, "assign", days=3, requirement="停用", supervisor=rencheng_officer)
    fill_plan(rencheng_officer, hazard)
    response = login_client(client, rencheng_officer).get(reverse("hazards:notice", args=[hazard.pk]))
    text = pdf_text(response.content)
    for expected in (
        "MCA2023-4-3",
        "挂牌督办",
        "rc_officer",
        "院长张三",
        "拆除彩钢板",
        "2026年11月20日",
        "夜间专人巡查",
    ):
        assert expected in text, expected


# --- the major-hazard board ------------------------------------------------------------------------------


def test_major_board_lists_open_major_hazards_overdue_first_with_missing_guarantees(
    client: Any, rencheng_officer: Any, zc_officer: Any, institutions: dict[str, Any]
) -> None:
    late = report(
        rencheng_officer, institutions["rc_elderly"], clause=major_clause(), description="彩钢板宿舍"
    )
    move(rencheng_officer, late, "assign", requirement="清理整改到位", days=1, supervisor=rencheng_officer)
    fill_plan(rencheng_officer, late)
    fresh_one = report(rencheng_officer, institutions["rc_funeral"], level="major", description="锅炉未检验")
    general = report(rencheng_officer, institutions["rc_elderly"])
    gone = report(rencheng_officer, institutions["rc_elderly"], level="major", description="误报")
    move(rencheng_officer, gone, "cancel", comment="误报")
    other = report(zc_officer, institutions["zc_elderly"], level="major")
    with time_machine.travel(dt.datetime(2026, 11, 10, 2, tzinfo=dt.UTC), tick=False):
        page = login_client(client, rencheng_officer).get(reverse("hazards:major")).content.decode()
    table = page.split('id="major-hazards"')[1].split("</table>")[0]
    assert re.findall(r'data-hazard="(\d+)"', table) == [str(late.pk), str(fresh_one.pk)]
    assert general.pk not in ids(table) and gone.pk not in ids(table) and other.pk not in ids(table)
    late_row = table.split(f'data-hazard="{late.pk}"')[1].split("</tr>")[0]
    assert 'data-overdue="1"' in late_row and "✓" in late_row and "MCA2023-4-3" in late_row
    assert "rc_officer" in late_row
    fresh_row = table.split(f'data-hazard="{fresh_one.pk}"')[1].split("</tr>")[0]
    with translation.override("zh-hans"):
        fields = [Hazard._meta.get_field(f) for f in workflow.PLAN_FIELDS]
        labels = [str(f.verbose_name) for f in fields if isinstance(f, Field)]
    assert len(labels) == 5
    guarantees = fresh_row.split("data-guarantees>")[1].split("</td>")[0]
    assert all(label in guarantees for label in labels) and "✓" not in guarantees


# --- the institution's tab and the menu ------------------------------------------------------------------


def test_institution_hazards_tab_and_menu(
    client: Any, rencheng_officer: Any, staff: User, institutions: dict[str, Any]
) -> None:
    home = institutions["rc_elderly"]
    hazard = report(staff, home, description="配电箱未上锁")
    elsewhere = report(staff, home, description="另一隐患")
    other = report(rencheng_officer, institutions["rc_funeral"], description="殡仪馆隐患")
    c = login_client(client, rencheng_officer)
    page = c.get(reverse("institutions:detail", args=[home.pk]), {"tab": "hazards"}).content.decode()
    assert ids(page) == {hazard.pk, elsewhere.pk} and other.pk not in ids(page)
    assert f"/hazards/new/?institution={home.pk}" in page
    assert 'href="/hazards/"' in page and 'href="/hazards/major/"' in page  # the menu


def test_every_event_of_the_timeline_has_a_label() -> None:
    """The timeline shows a label, never a raw action name, for every event the services write."""
    # Every module that writes hazard events: those of the services package, and the revisits' services.
    writers = [*Path(str(services.__file__)).parent.glob("*.py"), Path(str(revisit_services.__file__))]
    source = "".join(path.read_text() for path in writers)
    written = set(re.findall(r'action="([a-z_]+)"', source))
    written |= {"report_fixed", "extension_approved", "extension_refused", "pause_approved", "pause_refused"}
    written |= {f"escalation{step}" for step in services.ESCALATION_STEPS}
    assert {"reopen", "pause_end", "plan"} <= written
    assert sorted(written - set(EVENT_LABELS) - set(MOVES)) == []
