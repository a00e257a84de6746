"""Notification pages and API: a person's inbox and settings are theirs alone; channels, role defaults and
the delivery log belong to system administrators; a channel's secret is stored encrypted and never shown."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts.models import User
from minan.core.audit.models import AuditEvent
from minan.notify import crypto, events, services, transports
from minan.notify.models import (
    Channel,
    Delivery,
    DeliveryAttempt,
    Medium,
    Notification,
    Preference,
    RoleDefault,
    UserSettings,
)

pytestmark = pytest.mark.django_db

SECRET = "SEC-plain-secret-0123456789"


def tell(user: User, name: str) -> Notification:
    """One inbox entry for `user` whose body names `name` (deliveries are never sent: no on_commit)."""
    return services.notify([user], "notify.test", {"channel": name})[0]


def api_for(user: User) -> APIClient:
    api = APIClient()
    api.force_authenticate(User.objects.get(pk=user.pk))
    return api


def row_ids(page: str, prefix: str) -> list[int]:
    return [int(n) for n in re.findall(rf'id="{prefix}-(\d+)"', page)]


def unread_ids(user: User) -> set[int]:
    return set(Notification.objects.filter(recipient=user, read_at__isnull=True).values_list("pk", flat=True))


def read_at(*notes: Notification) -> list[Any]:
    return [Notification.objects.get(pk=n.pk).read_at for n in notes]


@pytest.fixture
def alice(make_user: Any, tree: dict[str, Any]) -> User:
    user = make_user("alice", roles=["cadre"], region=tree["rencheng"])
    User.objects.filter(pk=user.pk).update(email="alice@example.com", phone="13912345678")
    return User.objects.get(pk=user.pk)


@pytest.fixture
def bob(make_user: Any, tree: dict[str, Any]) -> User:
    return make_user("bob", roles=["cadre"], region=tree["rencheng"])


@pytest.fixture
def sysadmin(make_user: Any, tree: dict[str, Any]) -> User:
    return make_user("sysadmin", roles=["system_admin"], region=tree["city"])


@pytest.fixture
def rc_sysadmin(make_user: Any, tree: dict[str, Any]) -> User:
    """A system administrator whose scope is 任城区 only."""
    return make_user("rc_sysadmin", roles=["system_admin"], region=tree["rencheng"])


def make_channel(
    region: Any, name: str = "任城区工作群", kind: str = Channel.Kind.WECOM, secret: str = ""
) -> Channel:
    return Channel.objects.create(
        name=name,
        kind=kind,
        url="https://robot.example.com/send?key=k",
        region_path=region.region_path,
        events=["notify.test"],
        secret_encrypted=crypto.encrypt(secret),
    )


def make_delivery(status: str, *, medium: str = Medium.EMAIL, address: str = "", channel: Channel | None = None,
                  subject: str = "主题") -> Delivery:  # fmt: skip
    return Delivery.objects.create(
        medium=medium, address=address, channel=channel, event="notify.test", urgency="normal",
        subject=subject, body="正文", status=status, attempts=3 if status == "failed" else 1,
        last_error="HTTP 500" if status == "failed" else "",
    )  # fmt: skip


def channel_form(region: Any, **fields: Any) -> dict[str, Any]:
    data = {
        "name": "市民政局安全工作群",
        "kind": Channel.Kind.DINGTALK,
        "url": "https://oapi.dingtalk.com/robot/send?access_token=abc",
        "region": region.pk,
        "per_minute": "20",
        "events": ["notify.test", "duty.visits_overdue"],
        "active": "on",
        "secret": "",
    }
    data.update(fields)
    return data


# --- inbox ----------------------------------------------------------------------------------------------


def test_the_inbox_shows_only_the_users_own_notifications_newest_first(
    client: Any, alice: User, bob: User
) -> None:
    first, second = tell(alice, "alice-first"), tell(alice, "alice-second")
    theirs = tell(bob, "bob-only")
    login_client(client, alice)
    page = client.get(reverse("notify:inbox")).content.decode()
    assert row_ids(page, "notification") == [second.pk, first.pk]
    assert "alice-first" in page and "alice-second" in page
    assert "bob-only" not in page and f'value="{theirs.pk}"' not in page
    # Filters: unread only, and by event.
    services.mark_read(alice, [first.pk])
    page = client.get(reverse("notify:inbox") + "?unread=1").content.decode()
    assert row_ids(page, "notification") == [second.pk]
    page = client.get(reverse("notify:inbox") + "?event=duty.visits_overdue").content.decode()
    assert row_ids(page, "notification") == []


def test_another_users_notification_is_404_in_the_api_and_cannot_be_marked_read(
    client: Any, alice: User, bob: User
) -> None:
    mine, theirs = tell(alice, "a"), tell(bob, "b")
    api = api_for(alice)
    listed = api.get("/api/v1/notifications/").json()
    assert [n["id"] for n in listed["results"]] == [mine.pk]
    assert api.get(f"/api/v1/notifications/{theirs.pk}/").status_code == 404
    assert api.get(f"/api/v1/notifications/{mine.pk}/").json()["unread"] is True
    response = api.post("/api/v1/notifications/mark-read/", {"ids": [theirs.pk]}, format="json")
    assert response.status_code == 200 and response.json() == {"marked": 0}
    login_client(client, alice)
    client.post(reverse("notify:mark_read"), {"ids": [theirs.pk]})
    assert read_at(theirs) == [None]
    assert unread_ids(bob) == {theirs.pk} and unread_ids(alice) == {mine.pk}


def test_mark_one_and_mark_all_read_change_exactly_those_rows(client: Any, alice: User, bob: User) -> None:
    a1, a2, a3 = tell(alice, "1"), tell(alice, "2"), tell(alice, "3")
    theirs = tell(bob, "b")
    login_client(client, alice)
    response = client.post(reverse("notify:mark_read"), {"ids": [a1.pk], "next": "/notify/?unread=1"})
    assert response.status_code == 302 and response["Location"] == "/notify/?unread=1"
    assert unread_ids(alice) == {a2.pk, a3.pk}
    first_read = read_at(a1)[0]
    assert first_read is not None
    # The API: one more by id, then all.
    api = api_for(alice)
    assert api.post("/api/v1/notifications/mark-read/", {"ids": [a2.pk]}, format="json").json() == {
        "marked": 1
    }
    assert unread_ids(alice) == {a3.pk}
    client.post(reverse("notify:mark_read"), {"all": "1", "next": "https://evil.example.com/"})
    assert unread_ids(alice) == set()
    assert read_at(a1) == [first_read]  # already read: left as it was
    assert unread_ids(bob) == {theirs.pk}
    assert api.post("/api/v1/notifications/mark-read/", {}, format="json").status_code == 400


def test_the_header_badge_shows_the_exact_unread_count_with_one_query(
    client: Any, alice: User, bob: User
) -> None:
    login_client(client, alice)
    page = client.get(reverse("core:home")).content.decode()
    assert 'class="badge"' not in page and 'href="/notify/"' in page
    notes = [tell(alice, str(i)) for i in range(3)]
    tell(bob, "b")
    services.mark_read(alice, [notes[0].pk])
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(reverse("accounts:security")).content.decode()
    assert re.findall(r'<span class="badge" data-unread-count="(\d+)">(\d+)</span>', page) == [("2", "2")]
    assert 'aria-label="消息通知：2 条未读"' in page
    assert len([q for q in ctx.captured_queries if "notify_notification" in q["sql"]]) == 1


# --- my settings ------------------------------------------------------------------------------------------


def preferences_form(**fields: str) -> dict[str, str]:
    data = {"language": "", "quiet_from": "", "quiet_until": ""}
    data.update(fields)
    return data


def test_preferences_are_saved_and_used_by_media_for(client: Any, alice: User) -> None:
    assert services.media_for(alice, "notify.test", "normal") == ["email"]  # the built-in default
    login_client(client, alice)
    response = client.post(
        reverse("notify:preferences"),
        preferences_form(
            **{
                "first:notify.test": "sms",
                "then:notify.test": "email",
                "first:*": "email",
                "first:duty.visits_overdue": "none",
                "language": "en",
                "quiet_from": "22:00",
                "quiet_until": "07:00",
            }
        ),  # fmt: skip
    )
    assert response.status_code == 302
    fresh = User.objects.get(pk=alice.pk)
    assert services.media_for(fresh, "notify.test", "normal") == ["sms", "email"]
    assert services.media_for(fresh, "institutions.insurance_expired", "normal") == ["email"]  # every event
    assert services.media_for(fresh, "duty.visits_overdue", "low") == []  # none: the inbox only
    own = UserSettings.objects.get(user=alice)
    assert (own.language, own.quiet_from, own.quiet_until) == ("en", dt.time(22), dt.time(7))
    page = client.get(reverse("notify:preferences")).content.decode()
    assert re.search(r'name="first:notify.test"[^>]*>.*?<option value="sms" selected>', page, re.S)
    assert re.search(r'name="then:notify.test"[^>]*>.*?<option value="email" selected>', page, re.S)
    assert 'value="22:00"' in page
    assert "a***@example.com" not in page and "alice@example.com" in page  # their own address, in full
    assert "139****5678" in page and "13912345678" not in page


def test_preferences_page_says_when_email_or_sms_cannot_reach_the_person(client: Any, bob: User) -> None:
    login_client(client, bob)
    page = client.get(reverse("notify:preferences")).content.decode()
    assert (
        html.escape(gettext("There is no email address on your account: messages by email cannot reach you."))
        in page
    )
    assert (
        html.escape(
            gettext("There is no mobile phone number on your account: messages by SMS cannot reach you.")
        )
        in page
    )


def test_bad_preferences_are_refused_with_a_clear_error_and_nothing_changes(client: Any, alice: User) -> None:
    services.save_preferences(alice, media={"": ["email"]}, quiet_from=dt.time(22), quiet_until=dt.time(7))
    before = (list(Preference.objects.filter(user=alice).values_list("event", "media")),
              UserSettings.objects.filter(user=alice).values_list("quiet_from", "quiet_until").get())  # fmt: skip
    login_client(client, alice)
    response = client.post(
        reverse("notify:preferences"),
        preferences_form(**{"first:*": "sms", "quiet_from": "23:00", "quiet_until": ""}),
    )
    assert response.status_code == 400
    assert html.escape(gettext("Give both ends of the quiet hours, or neither.")) in response.content.decode()
    response = client.post(reverse("notify:preferences"), preferences_form(**{"then:notify.test": "sms"}))
    assert response.status_code == 400
    assert (
        html.escape(gettext("Choose a first medium before the one to try if it fails."))
        in response.content.decode()
    )
    # The API: an unknown medium, and quiet hours with one end.
    api = api_for(alice)
    response = api.put(
        "/api/v1/notification-preferences/", {"media": {"notify.test": ["fax"]}}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"code": "invalid", "detail": gettext("Choose email or SMS."), "field": "media"}
    response = api.put(
        "/api/v1/notification-preferences/", {"media": {}, "quiet_from": "22:00"}, format="json"
    )
    assert response.status_code == 400 and response.json()["field"] == "quiet_from"
    after = (list(Preference.objects.filter(user=alice).values_list("event", "media")),
             UserSettings.objects.filter(user=alice).values_list("quiet_from", "quiet_until").get())  # fmt: skip
    assert after == before


def test_the_preferences_api_reads_and_replaces_the_callers_own_settings(alice: User, bob: User) -> None:
    services.save_preferences(bob, media={"notify.test": ["sms"]})
    api = api_for(alice)
    assert api.get("/api/v1/notification-preferences/").json() == {
        "media": {}, "language": "", "quiet_from": None, "quiet_until": None,
    }  # fmt: skip
    wanted = {"media": {"": ["email"], "notify.test": ["sms", "email"]}, "language": "en",
              "quiet_from": "22:00", "quiet_until": "07:00"}  # fmt: skip
    response = api.put("/api/v1/notification-preferences/", wanted, format="json")
    assert response.status_code == 200 and response.json() == wanted
    assert api.get("/api/v1/notification-preferences/").json() == wanted
    assert services.media_for(User.objects.get(pk=alice.pk), "notify.test", "normal") == ["sms", "email"]
    assert services.media_for(User.objects.get(pk=bob.pk), "notify.test", "normal") == ["sms"]  # untouched


def test_the_events_api_lists_the_registered_events(alice: User) -> None:
    listed = api_for(alice).get("/api/v1/notification-events/").json()
    assert [e["code"] for e in listed] == [code for code, _label in events.choices()]
    test_event = next(e for e in listed if e["code"] == "notify.test")
    assert test_event["urgency"] == "normal" and test_event["label"] == str(
        events.EVENTS["notify.test"].label
    )


# --- administrators only ----------------------------------------------------------------------------------


def test_a_non_administrator_gets_403_on_channels_deliveries_and_role_defaults_and_it_is_audited(
    client: Any, alice: User, tree: dict[str, Any]
) -> None:
    channel = make_channel(tree["rencheng"], secret=SECRET)
    delivery = make_delivery("failed")
    before = list(Channel.objects.values())
    login_client(client, alice)
    pages = [
        ("get", reverse("notify:channels"), None),
        ("get", reverse("notify:channel_new"), None),
        ("post", reverse("notify:channel_new"), channel_form(tree["rencheng"], name="新群")),
        ("get", reverse("notify:channel_edit", args=[channel.pk]), None),
        (
            "post",
            reverse("notify:channel_edit", args=[channel.pk]),
            channel_form(tree["rencheng"], name="改名"),
        ),
        ("post", reverse("notify:channel_test", args=[channel.pk]), {}),
        ("get", reverse("notify:role_defaults"), None),
        ("post", reverse("notify:role_defaults"), {"role": "cadre", "cadre-first:notify.test": "sms"}),
        ("get", reverse("notify:deliveries"), None),
        ("get", reverse("notify:delivery", args=[delivery.pk]), None),
    ]
    for method, url, data in pages:
        response = getattr(client, method)(url, data) if data is not None else getattr(client, method)(url)
        assert response.status_code == 403, url
    api = api_for(alice)
    calls = [
        api.get("/api/v1/channels/"),
        api.get(f"/api/v1/channels/{channel.pk}/"),
        api.post("/api/v1/channels/", {"name": "x", "kind": "wecom", "url": "https://x", "region": "370811"}, format="json"),
        api.patch(f"/api/v1/channels/{channel.pk}/", {"name": "改名"}, format="json"),
        api.post(f"/api/v1/channels/{channel.pk}/test/"),
        api.get("/api/v1/deliveries/"),
        api.get(f"/api/v1/deliveries/{delivery.pk}/"),
    ]  # fmt: skip
    assert [r.status_code for r in calls] == [403] * len(calls)
    assert list(Channel.objects.values()) == before
    assert list(Delivery.objects.values_list("pk", flat=True)) == [delivery.pk]
    assert not RoleDefault.objects.exists()
    denied = AuditEvent.objects.filter(action="permission.denied", user=alice)
    assert denied.count() == len(pages) + len(calls)
    assert not AuditEvent.objects.filter(action__startswith="notify.").exists()


def test_the_channel_secret_is_stored_encrypted_never_shown_and_kept_when_the_field_is_left_empty(
    client: Any, sysadmin: User, tree: dict[str, Any]
) -> None:
    login_client(client, sysadmin)
    response = client.post(reverse("notify:channel_new"), channel_form(tree["city"], secret=SECRET))
    assert response.status_code == 302
    channel = Channel.objects.get()
    stored = Channel.objects.filter(pk=channel.pk).values_list("secret_encrypted", flat=True).get()
    assert SECRET not in stored and crypto.decrypt(stored) == SECRET
    assert channel.region_path == tree["city"].region_path and channel.events == [
        "duty.visits_overdue",
        "notify.test",
    ]
    masked = crypto.masked(SECRET)
    listing = client.get(reverse("notify:channels")).content.decode()
    assert SECRET not in listing and stored not in listing and masked in listing
    edit_page = client.get(reverse("notify:channel_edit", args=[channel.pk])).content.decode()
    assert SECRET not in edit_page and stored not in edit_page
    assert re.search(r'<input type="password" name="secret"[^>]*>', edit_page)
    assert not re.search(r'<input type="password" name="secret"[^>]*value=', edit_page)
    api = api_for(sysadmin)
    for url in ("/api/v1/channels/", f"/api/v1/channels/{channel.pk}/"):
        body = api.get(url).content.decode()
        assert SECRET not in body and stored not in body and masked in body
    # Saved again without a secret: the stored one is kept (and the audit records no secret change).
    response = client.post(
        reverse("notify:channel_edit", args=[channel.pk]), channel_form(tree["city"], name="改名")
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.name == "改名" and crypto.decrypt(channel.secret_encrypted) == SECRET
    change = AuditEvent.objects.filter(action="notify.channel.change").latest("pk")
    assert "secret" not in change.changes and change.changes["name"] == ["市民政局安全工作群", "改名"]
    # A new secret through the API: recorded as changed, never with its value.
    new_secret = "NEW-plain-secret-9876543210"
    response = api.patch(f"/api/v1/channels/{channel.pk}/", {"secret": new_secret}, format="json")
    assert response.status_code == 200 and "secret" not in response.json()
    assert response.json()["secret_masked"] == crypto.masked(new_secret)
    channel.refresh_from_db()
    assert crypto.decrypt(channel.secret_encrypted) == new_secret and channel.name == "改名"
    change = AuditEvent.objects.filter(action="notify.channel.change").latest("pk")
    assert "secret" in change.changes
    trail = json.dumps(list(AuditEvent.objects.values("changes", "detail")), ensure_ascii=False)
    assert SECRET not in trail and new_secret not in trail
    assert AuditEvent.objects.filter(action="notify.channel.create", object_id=str(channel.pk)).exists()
    # "Remove the secret" deletes it.
    client.post(
        reverse("notify:channel_edit", args=[channel.pk]), channel_form(tree["city"], remove_secret="on")
    )
    channel.refresh_from_db()
    assert channel.secret_encrypted == "" and channel.name == "市民政局安全工作群"


def test_a_channel_refused_by_the_service_shows_the_error_and_nothing_is_saved(
    client: Any, sysadmin: User, tree: dict[str, Any]
) -> None:
    login_client(client, sysadmin)
    response = client.post(
        reverse("notify:channel_new"), channel_form(tree["city"], url="ftp://x.example.com/", secret=SECRET)
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert html.escape(gettext("The address must start with https:// or http://.")) in page
    assert SECRET not in page  # the form shown again does not echo the typed secret
    response = api_for(sysadmin).post(
        "/api/v1/channels/",
        {"name": "x", "kind": "wecom", "url": "https://x.example.com", "region": "370811", "per_minute": 0},
        format="json",
    )
    assert response.status_code == 400 and response.json()["field"] == "per_minute"
    assert not Channel.objects.exists()


def test_a_channel_outside_the_administrators_scope_is_404(
    client: Any, rc_sysadmin: User, tree: dict[str, Any]
) -> None:
    theirs = make_channel(tree["zoucheng"], name="邹城市工作群")
    mine = make_channel(tree["rencheng"], name="任城区工作群")
    before = list(Channel.objects.values())
    login_client(client, rc_sysadmin)
    listing = client.get(reverse("notify:channels")).content.decode()
    assert row_ids(listing, "channel") == [mine.pk] and "邹城市工作群" not in listing
    assert client.get(reverse("notify:channel_edit", args=[theirs.pk])).status_code == 404
    assert (
        client.post(
            reverse("notify:channel_edit", args=[theirs.pk]), channel_form(tree["rencheng"])
        ).status_code
        == 404
    )
    assert client.post(reverse("notify:channel_test", args=[theirs.pk])).status_code == 404
    # Nor can a channel be placed outside the scope.
    response = client.post(reverse("notify:channel_new"), channel_form(tree["zoucheng"]))
    assert response.status_code == 400
    api = api_for(rc_sysadmin)
    assert [c["id"] for c in api.get("/api/v1/channels/").json()["results"]] == [mine.pk]
    assert api.get(f"/api/v1/channels/{theirs.pk}/").status_code == 404
    assert api.patch(f"/api/v1/channels/{theirs.pk}/", {"name": "x"}, format="json").status_code == 404
    assert api.post(f"/api/v1/channels/{theirs.pk}/test/").status_code == 404
    assert list(Channel.objects.values()) == before
    assert not Delivery.objects.exists()


def test_the_test_button_sends_now_and_reports_the_delivery_status(
    client: Any, sysadmin: User, tree: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = make_channel(tree["city"])
    answers = iter([(200, b'{"errcode": 0}'), (500, b"")])
    sent: list[str] = []

    def fake_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        sent.append(url)
        return next(answers)

    monkeypatch.setattr(transports, "_post", fake_post)
    login_client(client, sysadmin)
    response = client.post(reverse("notify:channel_test", args=[channel.pk]), follow=True)
    delivered = Delivery.objects.get()
    assert delivered.status == "delivered" and delivered.channel_id == channel.pk and len(sent) == 1
    assert str(Delivery.Status.DELIVERED.label) in response.content.decode()
    result = api_for(sysadmin).post(f"/api/v1/channels/{channel.pk}/test/").json()
    assert result["status"] == "pending" and result["last_error"] == "HTTP 500"
    assert [a["status_code"] for a in result["attempt_log"]] == [500]
    assert AuditEvent.objects.filter(action="notify.channel.test").count() == 2


def test_a_test_sms_needs_a_phone_number_on_the_administrators_account(
    client: Any, sysadmin: User, tree: dict[str, Any]
) -> None:
    gateway = make_channel(tree["city"], name="短信网关", kind=Channel.Kind.SMS)
    login_client(client, sysadmin)
    response = client.post(reverse("notify:channel_test", args=[gateway.pk]), follow=True)
    expected = gettext("Your account has no mobile phone number to send the test SMS to.")
    assert html.escape(expected) in response.content.decode()
    response = api_for(sysadmin).post(f"/api/v1/channels/{gateway.pk}/test/")
    assert response.status_code == 400 and response.json()["field"] == "phone"
    assert not Delivery.objects.exists()


# --- role defaults --------------------------------------------------------------------------------------------


def test_role_defaults_are_saved_per_row_and_used_for_people_without_their_own_choice(
    client: Any, sysadmin: User, alice: User
) -> None:
    login_client(client, sysadmin)
    assert client.get(reverse("notify:role_defaults")).status_code == 200
    data = {
        "role": "cadre",
        "cadre-first:notify.test": "sms",
        "cadre-then:notify.test": "email",
        "cadre-first:*": "email",
    }
    response = client.post(reverse("notify:role_defaults"), data)
    assert response.status_code == 302
    assert sorted(RoleDefault.objects.values_list("role", "event", "media")) == [
        ("cadre", "", ["email"]), ("cadre", "notify.test", ["sms", "email"]),
    ]  # fmt: skip
    assert services.media_for(User.objects.get(pk=alice.pk), "notify.test", "normal") == ["sms", "email"]
    # "if that fails" without a first medium is refused; nothing changes.
    response = client.post(
        reverse("notify:role_defaults"), {"role": "inspector", "inspector-then:notify.test": "sms"}
    )
    assert response.status_code == 400
    assert not RoleDefault.objects.filter(role="inspector").exists()


# --- the delivery log --------------------------------------------------------------------------------------


def test_the_delivery_log_filter_status_failed_lists_exactly_the_failed_ones(
    client: Any, sysadmin: User, tree: dict[str, Any]
) -> None:
    channel = make_channel(tree["city"], name="市工作群")
    failed = [
        make_delivery("failed", medium=Medium.SMS, address="13912345678", channel=channel),
        make_delivery("failed", address="alice@example.com"),
        make_delivery("failed", medium=Medium.WECOM, channel=channel),
    ]
    others = [
        make_delivery("delivered", address="bob@example.com"),
        make_delivery("pending", channel=channel, medium=Medium.WECOM),
    ]
    login_client(client, sysadmin)
    page = client.get("/notify/deliveries/?status=failed").content.decode()
    assert sorted(row_ids(page, "delivery")) == sorted(d.pk for d in failed)
    assert page.count('class="failed"') == 3
    assert "139****5678" in page and "13912345678" not in page
    assert "a***@example.com" in page and "alice@example.com" not in page
    all_rows = row_ids(client.get(reverse("notify:deliveries")).content.decode(), "delivery")
    assert all_rows == [d.pk for d in reversed(failed + others)]  # newest first
    page = client.get(f"{reverse('notify:deliveries')}?medium=wecom&channel={channel.pk}").content.decode()
    assert sorted(row_ids(page, "delivery")) == sorted([failed[2].pk, others[1].pk])
    listed = api_for(sysadmin).get("/api/v1/deliveries/?status=failed").json()["results"]
    assert sorted(d["id"] for d in listed) == sorted(d.pk for d in failed)
    assert "13912345678" not in json.dumps(listed) and "alice@example.com" not in json.dumps(listed)


def test_a_final_failure_tells_the_administrators_with_a_link_to_the_failed_deliveries(
    client: Any, sysadmin: User, tree: dict[str, Any], settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.NOTIFY_MAX_ATTEMPTS = 1
    monkeypatch.setattr(transports, "_post", lambda url, body, headers: (500, b""))
    channel = make_channel(tree["city"])
    delivery = make_delivery("pending", medium=Medium.WECOM, channel=channel)
    make_delivery("delivered", address="bob@example.com")
    assert services.deliver(delivery.pk) == "failed"
    note = Notification.objects.get(recipient=sysadmin, event="notify.delivery_failed")
    login_client(client, sysadmin)
    inbox = client.get(reverse("notify:inbox")).content.decode()
    assert f'href="{note.link}"' in inbox
    assert row_ids(client.get(note.link).content.decode(), "delivery") == [delivery.pk]


def test_the_delivery_page_lists_every_attempt(client: Any, sysadmin: User, tree: dict[str, Any]) -> None:
    delivery = make_delivery(
        "failed", medium=Medium.SMS, address="13912345678", channel=make_channel(tree["city"], kind="sms")
    )
    now = timezone.now()
    DeliveryAttempt.objects.create(delivery=delivery, medium="sms", address=delivery.address, at=now - dt.timedelta(minutes=2),
                                   ok=False, status_code=503, error="HTTP 503", latency_ms=120)  # fmt: skip
    DeliveryAttempt.objects.create(delivery=delivery, medium="sms", address=delivery.address, at=now,
                                   ok=False, status_code=500, error="HTTP 500", latency_ms=87)  # fmt: skip
    login_client(client, sysadmin)
    page = client.get(reverse("notify:delivery", args=[delivery.pk])).content.decode()
    attempts = page.split('id="attempts"')[1]
    assert attempts.index("HTTP 503") < attempts.index("HTTP 500")
    assert "<td>120</td>" in attempts and "<td>87</td>" in attempts
    assert "139****5678" in page and "13912345678" not in page
    detail = api_for(sysadmin).get(f"/api/v1/deliveries/{delivery.pk}/").json()
    assert [a["status_code"] for a in detail["attempt_log"]] == [503, 500]


# --- query counts --------------------------------------------------------------------------------------------


def count_queries(fetch: Any) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = fetch()
        assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_inbox_runs_a_fixed_number_of_queries(client: Any, alice: User) -> None:
    for i in range(2):
        tell(alice, str(i))
    login_client(client, alice)
    few = count_queries(lambda: client.get(reverse("notify:inbox")))
    few_api = count_queries(lambda: api_for(alice).get("/api/v1/notifications/"))
    for i in range(30):
        tell(alice, f"more {i}")
    assert count_queries(lambda: client.get(reverse("notify:inbox"))) == few <= 12
    assert count_queries(lambda: api_for(alice).get("/api/v1/notifications/")) == few_api


def test_the_delivery_log_runs_a_fixed_number_of_queries(
    client: Any, sysadmin: User, tree: dict[str, Any]
) -> None:
    channels = [make_channel(tree["city"], name=f"群{i}") for i in range(3)]

    def add(n: int) -> None:
        for i in range(n):
            delivery = make_delivery(
                "failed", medium=[Medium.SMS, Medium.EMAIL, Medium.WECOM][i % 3], channel=channels[i % 3],
                address=["13912345678", "x@example.com", ""][i % 3],
            )  # fmt: skip
            DeliveryAttempt.objects.create(
                delivery=delivery, medium=delivery.medium, at=timezone.now(), ok=False
            )

    add(3)
    login_client(client, sysadmin)
    few = count_queries(lambda: client.get(reverse("notify:deliveries")))
    few_api = count_queries(lambda: api_for(sysadmin).get("/api/v1/deliveries/"))
    add(30)
    assert count_queries(lambda: client.get(reverse("notify:deliveries"))) == few <= 14
    assert count_queries(lambda: api_for(sysadmin).get("/api/v1/deliveries/")) == few_api
