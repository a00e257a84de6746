"""The audit trail: append-only, hash-chained, verifiable, readable only by the audit administrator."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta
from io import BytesIO, StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts import services as accounts
from minan.core.audit.chain import verify_chain
from minan.core.audit.models import AuditArchive, AuditChainHead, AuditEvent
from minan.core.audit.services import GENESIS_HASH, archive_before, compute_hash, hash_of, record, seal_head

pytestmark = pytest.mark.django_db


def make_events(n: int) -> list[AuditEvent]:
    return [
        record("test.event", object_type="test", object_id=i, detail=f"event {i}", username="tester")
        for i in range(n)
    ]


def test_rows_are_chained() -> None:
    events = make_events(3)
    assert events[0].prev_hash == GENESIS_HASH
    assert events[1].prev_hash == events[0].hash and events[2].prev_hash == events[1].hash
    assert all(compute_hash(AuditEvent.objects.get(pk=e.pk)) == e.hash for e in events)
    assert verify_chain().ok and verify_chain().checked == 3


def test_model_refuses_update_and_delete() -> None:
    event = make_events(1)[0]
    event.detail = "changed"
    with pytest.raises(RuntimeError):
        event.save()
    with pytest.raises(RuntimeError):
        event.delete()


def _sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_editing_a_row_is_detected_and_named() -> None:
    events = make_events(5)
    _sql("UPDATE audit_auditevent SET detail = %s WHERE id = %s", "forged", events[2].pk)
    result = verify_chain()
    assert not result.ok and result.bad_id == events[2].pk and result.checked == 2
    with pytest.raises(CommandError, match=f"row {events[2].pk}"):
        call_command("audit", "verify")


def test_deleting_a_row_is_detected_at_the_next_row() -> None:
    events = make_events(5)
    _sql("DELETE FROM audit_auditevent WHERE id = %s", events[1].pk)
    result = verify_chain()
    assert not result.ok and result.bad_id == events[2].pk


def test_deleting_the_last_rows_is_detected() -> None:
    events = make_events(4)
    _sql("DELETE FROM audit_auditevent WHERE id = %s", events[3].pk)
    result = verify_chain()
    assert not result.ok and result.bad_id == events[2].pk


def test_inserting_a_row_is_detected() -> None:
    events = make_events(3)
    _sql(
        "INSERT INTO audit_auditevent (at, username, action, object_type, object_id, result, changes, detail, "
        "region_path, prev_hash, hash, key_id) VALUES (%s, '', 'fake', '', '', 'success', '{}', '', '', %s, %s, '')",
        timezone.now(),
        events[2].hash,
        "f" * 64,
    )
    result = verify_chain()
    assert not result.ok and result.bad_id == events[2].pk + 1


def test_verify_command_reports_intact_chain() -> None:
    make_events(3)
    out = StringIO()
    call_command("audit", "verify", stdout=out)
    assert "3 rows verified" in out.getvalue()


def test_service_writes_are_audited_with_masked_personal_data(make_user: Any, tree: dict[str, Any]) -> None:
    officer = make_user("officer", roles=["county_officer"], region=tree["rencheng"])
    target = accounts.create_user(
        officer,
        username="phoneuser",
        display_name="张三",
        password="Abcdef#12345",
        region=tree["rencheng"],
        phone="13812341234",
    )
    event = AuditEvent.objects.get(action="user.create", object_id=str(target.pk))
    assert event.username == "officer" and event.region_path == "370000/370800/370811/"
    assert event.changes["phone"] == [None, "138****1234"]
    assert "13812341234" not in str(event.changes)
    accounts.update_user(officer, target, phone="13900001111")
    update = AuditEvent.objects.get(action="user.update")
    assert update.changes == {"phone": ["138****1234", "139****1111"]}


def test_only_the_audit_administrator_reads_the_trail(
    client: Any, audit_admin: Any, city_office: Any, make_user: Any, tree: dict[str, Any]
) -> None:
    sysadmin = make_user("sys", roles=["system_admin"], region=tree["city"])
    make_events(2)
    for user in (city_office, sysadmin):
        login_client(client, user)
        assert client.get(reverse("audit:list")).status_code == 403
        assert client.get(reverse("audit:export")).status_code == 403
        api = APIClient()
        api.force_authenticate(user)
        assert api.get("/api/v1/audit-events/").status_code == 403
    login_client(client, audit_admin)
    page = client.get(reverse("audit:list") + "?action=test.")
    assert (
        page.status_code == 200 and page.content.decode().count('<code class="small">test.event</code>') == 2
    )
    api = APIClient()
    api.force_authenticate(audit_admin)
    rows = api.get("/api/v1/audit-events/?action=test.").json()["results"]
    assert [r["detail"] for r in rows] == ["event 1", "event 0"]


def test_audit_export_xlsx(client: Any, audit_admin: Any) -> None:
    make_events(3)
    login_client(client, audit_admin)
    response = client.get(reverse("audit:export") + "?action=test.")
    assert response.status_code == 200
    rows = list(load_workbook(BytesIO(response.content)).active.iter_rows(min_row=2, values_only=True))
    assert [r[9] for r in rows] == ["event 2", "event 1", "event 0"]
    assert rows[0][2] == "tester" and rows[0][4] == "test.event"
    assert AuditEvent.objects.filter(action="export", object_type="audit.auditevent").count() == 1


def test_bad_date_filter_is_reported_not_applied(client: Any, audit_admin: Any) -> None:
    make_events(1)
    login_client(client, audit_admin)
    page = client.get(reverse("audit:list") + "?from=2026-13-99&action=test.").content.decode()
    assert "2026-13-99" in page and "test.event" in page


def test_archive_keeps_the_chain_verifiable(tmp_path: Any, settings: Any) -> None:
    old = make_events(3)
    AuditEvent.objects.filter(pk__in=[e.pk for e in old]).update(at=timezone.now() - timedelta(days=400))
    # The hash covers `at`: re-chain the aged rows (with the key) as if they had been written then.
    prev = GENESIS_HASH
    for event in AuditEvent.objects.order_by("id"):
        event.prev_hash = prev
        AuditEvent.objects.filter(pk=event.pk).update(prev_hash=prev, hash=compute_hash(event))
        prev = compute_hash(event)
    head = AuditChainHead.objects.get(pk=1)
    head.last_hash = prev
    seal_head(head)
    head.save()
    make_events(2)
    assert verify_chain().ok
    with pytest.raises(ValueError):
        archive_before(timezone.now() - timedelta(days=30), tmp_path)  # inside the retention period
    archive = archive_before(timezone.now() - timedelta(days=365), tmp_path)
    assert archive is not None and archive.rows == 3
    assert not AuditEvent.objects.filter(pk__in=[e.pk for e in old]).exists()
    assert AuditArchive.objects.count() == 1
    result = verify_chain()
    assert result.ok and result.checked == 3 and result.archived == 3  # 2 recent + the archive event

    # Each line of the archive holds what its hash covers, written by the same code as the hash: the
    # archived rows recompute and chain on their own; an edited line does not.
    with gzip.open(archive.path, "rt", encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh]
    assert [line["id"] for line in lines] == [e.pk for e in old]
    prev = GENESIS_HASH
    for line in lines:
        fields = {k: v for k, v in line.items() if k != "hash"}
        assert fields["prev"] == prev and fields["key"]
        assert hash_of(fields) == line["hash"]
        prev = line["hash"]
    assert prev == archive.last_hash
    edited = {k: v for k, v in lines[1].items() if k != "hash"} | {"detail": "edited"}
    assert hash_of(edited) != lines[1]["hash"]


def test_failed_login_is_audited_with_address(client: Any, make_user: Any) -> None:
    make_user("someone")
    client.post("/accounts/login/", {"username": "someone", "password": "nope"}, REMOTE_ADDR="192.0.2.7")
    event = AuditEvent.objects.get(action="login.failed")
    assert (event.username, event.ip, event.result) == ("someone", "192.0.2.7", "failure")


def test_list_shows_readable_action_names(client: Any, audit_admin: Any, make_user: Any) -> None:
    make_user("named")
    login_client(client, audit_admin)
    page = client.get(reverse("audit:list") + "?action=user.create").content.decode()
    assert "创建账号" in page and "用户" in page and "系统" in page  # created by the system
