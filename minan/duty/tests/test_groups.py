"""帮包督导组: one group per county, scope follows the counties, pages and API refuse what they must."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from conftest import login_client
from minan.accounts.models import User, UserScope
from minan.core.audit.models import AuditEvent
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.duty import services
from minan.duty.models import GroupCounty, SupervisionGroup
from minan.institutions.models import Institution
from minan.regions.models import Region

pytestmark = pytest.mark.django_db

API = "/api/v1/supervision-groups/"


def fresh(user: User) -> User:
    """The user as a new request would load it (no cached roles or scope)."""
    return User.objects.get(pk=user.pk)


def visible(user: User) -> set[str]:
    return set(Institution.objects.for_user(fresh(user)).values_list("name", flat=True))


def group_events() -> int:
    return AuditEvent.objects.filter(action__startswith="duty.group").count()


def links() -> set[tuple[str, str]]:
    return set(GroupCounty.objects.values_list("group__name", "county__code"))


def via_group(user: User) -> set[str]:
    return set(UserScope.objects.filter(user=user, source="group").values_list("region__code", flat=True))


@pytest.fixture
def people(make_user: Any, tree: dict[str, Any]) -> dict[str, User]:
    """Supervision-group people with no scope of their own: what they see comes from their groups."""
    made = {
        name: make_user(name, roles=["supervision_member"], region=tree["city"])
        for name in ("leader1", "member1", "leader2", "member2")
    }
    UserScope.objects.filter(user__in=made.values()).delete()
    return {name: fresh(user) for name, user in made.items()}


@pytest.fixture
def rc_group(city_office: User, people: dict[str, User], tree: dict[str, Any]) -> SupervisionGroup:
    return services.save_group(
        city_office,
        None,
        name="第一督导组",
        leader=people["leader1"],
        members=[people["member1"]],
        counties=[tree["rencheng"]],
    )


RC = {"任城区古槐敬老院", "任城区殡仪馆"}
ZC = {"邹城市钢山养老中心", "邹城市儿童福利院"}


# --- services: scope follows the counties ------------------------------------------------------------------


def test_members_see_exactly_the_institutions_of_the_groups_counties(
    city_office: User, people: dict[str, User], tree: dict[str, Any], institutions: Any, rc_group: Any
) -> None:
    assert visible(people["leader1"]) == RC
    assert visible(people["member1"]) == RC
    assert visible(people["leader2"]) == set()
    assert via_group(people["member1"]) == {"370811"}

    # The county moves: rencheng is removed, zoucheng added; the scope follows.
    services.save_group(
        city_office, rc_group, name="第一督导组", leader=people["leader1"], members=[people["member1"]],
        counties=[tree["zoucheng"]],
    )  # fmt: skip
    assert visible(people["member1"]) == ZC
    assert visible(people["leader1"]) == ZC
    assert via_group(people["member1"]) == {"370883"}

    services.disband_group(city_office, rc_group, "机构调整")
    assert visible(people["member1"]) == set()
    assert visible(people["leader1"]) == set()
    assert not UserScope.objects.filter(source="group").exists()
    assert not GroupCounty.objects.exists()
    assert SupervisionGroup.objects.get(pk=rc_group.pk).active is False


def test_a_member_removed_from_the_group_loses_its_counties_but_keeps_own_scope(
    city_office: User, people: dict[str, User], tree: dict[str, Any], institutions: Any, rc_group: Any
) -> None:
    own = UserScope.objects.create(user=people["member1"], institution=institutions["zc_child"])
    services.save_group(
        city_office,
        rc_group,
        name="第一督导组",
        leader=people["leader1"],
        members=[],
        counties=[tree["rencheng"]],
    )
    assert visible(people["member1"]) == {"邹城市儿童福利院"}
    assert UserScope.objects.filter(pk=own.pk).exists()
    assert visible(people["leader1"]) == RC  # a leader who is not also a member keeps the scope


def test_a_county_covered_by_one_group_cannot_be_taken_by_another(
    city_office: User, people: dict[str, User], tree: dict[str, Any], institutions: Any, rc_group: Any
) -> None:
    before_events = group_events()
    with pytest.raises(DomainError) as refused:
        services.save_group(
            city_office, None, name="第二督导组", leader=people["leader2"], members=[people["member2"]],
            counties=[tree["zoucheng"], tree["rencheng"]],
        )  # fmt: skip
    assert refused.value.code == "county_taken" and refused.value.field == "counties"
    assert SupervisionGroup.objects.count() == 1
    assert links() == {("第一督导组", "370811")}
    assert via_group(people["leader2"]) == set() and via_group(people["member2"]) == set()
    assert visible(people["member2"]) == set()
    assert group_events() == before_events

    # An existing group cannot take it either, and stays as it was.
    second = services.save_group(
        city_office,
        None,
        name="第二督导组",
        leader=people["leader2"],
        members=[],
        counties=[tree["zoucheng"]],
    )
    before_events = group_events()
    with pytest.raises(DomainError) as refused:
        services.save_group(
            city_office, second, name="改名", leader=people["leader2"], members=[people["member2"]],
            counties=[tree["zoucheng"], tree["rencheng"]],
        )  # fmt: skip
    assert refused.value.code == "county_taken"
    assert SupervisionGroup.objects.get(pk=second.pk).name == "第二督导组"
    assert links() == {("第一督导组", "370811"), ("第二督导组", "370883")}
    assert via_group(people["member2"]) == set()
    assert visible(people["member1"]) == RC
    assert group_events() == before_events

    # Once the first group releases it (disbanded), the county can be taken.
    services.disband_group(city_office, rc_group, "合并")
    services.save_group(
        city_office, second, name="第二督导组", leader=people["leader2"], members=[],
        counties=[tree["zoucheng"], tree["rencheng"]],
    )  # fmt: skip
    assert links() == {("第二督导组", "370811"), ("第二督导组", "370883")}
    assert visible(people["leader2"]) == RC | ZC


def test_people_without_the_role_or_outside_scope_and_bad_counties_are_refused(
    city_office: User, people: dict[str, User], make_user: Any, tree: dict[str, Any]
) -> None:
    plain = make_user("plain", roles=["inspector"], region=tree["rencheng"])
    cases = [
        ({"leader": plain}, "leader"),
        ({"members": [people["member1"], plain]}, "members"),
        ({"counties": [tree["rc_town"]]}, "counties"),
        ({"counties": []}, "counties"),
        ({"name": "  "}, "name"),
    ]
    for change, field in cases:
        values: dict[str, Any] = {
            "name": "督导组", "leader": people["leader1"], "members": [people["member1"]],
            "counties": [tree["rencheng"]], **change,
        }  # fmt: skip
        with pytest.raises(DomainError) as refused:
            services.save_group(city_office, None, **values)
        assert refused.value.field == field, change
    disabled = people["member2"]
    User.objects.filter(pk=disabled.pk).update(is_active=False)
    with pytest.raises(DomainError):
        services.save_group(
            city_office, None, name="督导组", leader=fresh(disabled), members=[], counties=[tree["rencheng"]]
        )
    assert not SupervisionGroup.objects.exists()
    assert group_events() == 0


def test_a_name_already_used_at_the_place_is_refused_on_the_name_field(
    city_office: User, people: dict[str, User], tree: dict[str, Any], rc_group: Any
) -> None:
    for _attempt in range(2):  # while the group is active, and after it was disbanded (names stay taken)
        with pytest.raises(DomainError) as refused:
            services.save_group(
                city_office,
                None,
                name="第一督导组",
                leader=people["leader2"],
                members=[],
                counties=[tree["zoucheng"]],
            )
        assert (refused.value.code, refused.value.field) == ("duplicate", "name")
        if SupervisionGroup.objects.filter(active=True).exists():
            services.disband_group(city_office, rc_group, "x")
    other = services.save_group(
        city_office,
        None,
        name="第二督导组",
        leader=people["leader2"],
        members=[],
        counties=[tree["zoucheng"]],
    )
    with pytest.raises(DomainError) as refused:
        services.save_group(
            city_office,
            other,
            name="第一督导组",
            leader=people["leader2"],
            members=[],
            counties=[tree["zoucheng"]],
        )
    assert refused.value.field == "name"
    assert SupervisionGroup.objects.get(pk=other.pk).name == "第二督导组"


def test_scope_and_permission_of_the_actor(
    rencheng_officer: User, people: dict[str, User], make_user: Any, tree: dict[str, Any], rc_group: Any
) -> None:
    with pytest.raises(NotPermitted):
        services.save_group(
            rencheng_officer,
            None,
            name="x",
            leader=people["leader2"],
            members=[],
            counties=[tree["zoucheng"]],
        )
    with pytest.raises(NotPermitted):
        services.disband_group(rencheng_officer, rc_group, "x")
    rc_office = make_user("rc_office", roles=["city_safety_office"], region=tree["rencheng"])
    zc_member = make_user("zc_member", roles=["supervision_member"], region=tree["zoucheng"])
    rc_member = make_user("rc_member", roles=["supervision_member"], region=tree["rencheng"])
    with pytest.raises(DomainError) as refused:
        services.save_group(
            rc_office, None, name="x", leader=rc_member, members=[], counties=[tree["zoucheng"]]
        )
    assert refused.value.field == "counties"
    with pytest.raises(DomainError) as refused:
        services.save_group(
            rc_office, None, name="x", leader=zc_member, members=[], counties=[tree["rencheng"]]
        )
    assert refused.value.field == "leader"
    with pytest.raises(OutOfScope):
        services.disband_group(rc_office, rc_group, "x")
    assert SupervisionGroup.objects.filter(active=True).count() == 1


def test_every_write_is_audited(
    city_office: User, people: dict[str, User], tree: dict[str, Any], rc_group: Any
) -> None:
    services.save_group(
        city_office, rc_group, name="第一督导组", leader=people["leader1"],
        members=[people["member1"], people["member2"]], counties=[tree["rencheng"], tree["zoucheng"]],
    )  # fmt: skip
    services.disband_group(city_office, rc_group, "年度调整")
    events = list(
        AuditEvent.objects.filter(action__startswith="duty.group", object_id=str(rc_group.pk))
        .order_by("id")
        .values_list("action", "changes", "detail", "user_id")
    )
    assert [e[0] for e in events] == ["duty.group.create", "duty.group.change", "duty.group.disband"]
    assert events[0][1]["counties"] == [None, ["370811"]]
    assert events[1][1] == {
        "members": [[people["member1"].pk], sorted([people["member1"].pk, people["member2"].pk])],
        "counties": [["370811"], ["370811", "370883"]],
    }
    assert events[2][1] == {"counties": [["370811", "370883"], []]} and events[2][2] == "年度调整"
    assert {e[3] for e in events} == {city_office.pk}


# --- pages ---------------------------------------------------------------------------------------------------


def test_list_page_shows_groups_and_flags_uncovered_counties(
    client: Any, city_office: User, people: dict[str, User], rc_group: Any
) -> None:
    login_client(client, city_office)
    response = client.get(reverse("duty:groups"))
    assert response.status_code == 200
    assert [c.code for c in response.context["uncovered"]] == ["370883"]
    page = response.content.decode()
    assert "第一督导组" in page and "leader1" in page and "member1" in page
    uncovered = page.split('id="uncovered-counties"')[1].split("</section>")[0]
    assert "邹城市" in uncovered and "任城区" not in uncovered
    assert reverse("duty:group_new") in page and reverse("duty:group_edit", args=[rc_group.pk]) in page
    assert reverse("duty:group_disband", args=[rc_group.pk]) in page
    assert reverse("duty:groups") in page  # menu entry


def test_county_officer_reads_but_cannot_change(
    client: Any, rencheng_officer: User, people: dict[str, User], tree: dict[str, Any], rc_group: Any
) -> None:
    login_client(client, rencheng_officer)
    page = client.get(reverse("duty:groups"))
    assert page.status_code == 200
    assert reverse("duty:group_new") not in page.content.decode()
    assert reverse("duty:group_edit", args=[rc_group.pk]) not in page.content.decode()
    assert "邹城" not in page.content.decode()
    # The group lies at the city; a county officer sees it because it covers their county, read-only.
    assert list(page.context["groups"]) == [rc_group] and page.context["uncovered"] == []
    assert [(c.code, c.group_name) for c in page.context["counties"]] == [("370811", "第一督导组")]
    before_events = group_events()
    assert client.get(reverse("duty:group_new")).status_code == 403
    assert client.get(reverse("duty:group_edit", args=[rc_group.pk])).status_code == 403
    post = {"name": "改", "leader": people["leader2"].pk, "counties": [tree["rencheng"].pk]}
    assert client.post(reverse("duty:group_new"), post).status_code == 403
    assert client.post(reverse("duty:group_edit", args=[rc_group.pk]), post).status_code == 403
    assert client.post(reverse("duty:group_disband", args=[rc_group.pk]), {"reason": "x"}).status_code == 403
    group = SupervisionGroup.objects.get()
    assert (group.name, group.leader_id, group.active) == ("第一督导组", people["leader1"].pk, True)
    assert links() == {("第一督导组", "370811")}
    assert group_events() == before_events
    assert AuditEvent.objects.filter(action="permission.denied", user=rencheng_officer).count() >= 5


def test_create_and_edit_through_the_form(
    client: Any,
    city_office: User,
    people: dict[str, User],
    make_user: Any,
    tree: dict[str, Any],
    institutions: Any,
) -> None:
    login_client(client, city_office)
    form = client.get(reverse("duty:group_new"))
    assert form.status_code == 200
    choices = form.context["form"]
    assert set(choices.fields["leader"].queryset) == set(people.values())  # role holders only
    assert set(choices.fields["counties"].queryset) == {tree["rencheng"], tree["zoucheng"]}

    response = client.post(
        reverse("duty:group_new"),
        {"name": "第一督导组", "leader": people["leader1"].pk, "members": [people["member1"].pk],
         "counties": [tree["rencheng"].pk]},
    )  # fmt: skip
    assert response.status_code == 302 and response["Location"] == reverse("duty:groups")
    group = SupervisionGroup.objects.get()
    assert visible(people["member1"]) == RC

    edit_url = reverse("duty:group_edit", args=[group.pk])
    page = client.get(edit_url)
    assert page.status_code == 200 and page.context["form"].initial["counties"] == [tree["rencheng"].pk]
    response = client.post(
        edit_url,
        {"name": "第一督导组", "leader": people["leader1"].pk, "members": [people["member2"].pk],
         "counties": [tree["zoucheng"].pk]},
    )  # fmt: skip
    assert response.status_code == 302
    assert visible(people["member2"]) == ZC and visible(people["member1"]) == set()

    # Refused by the service: the error is on the field and nothing changed.
    other = client.post(
        reverse("duty:group_new"),
        {"name": "第二督导组", "leader": people["leader2"].pk, "counties": [tree["zoucheng"].pk]},
    )
    assert other.status_code == 400
    assert other.context["form"].errors["counties"]
    assert "第一督导组" in other.context["form"].errors["counties"][0]
    assert SupervisionGroup.objects.count() == 1 and links() == {("第一督导组", "370883")}
    # Someone without the role is not a choice.
    plain = make_user("plain", roles=["inspector"], region=tree["rencheng"])
    bad = client.post(edit_url, {"name": "x", "leader": plain.pk, "counties": [tree["zoucheng"].pk]})
    assert bad.status_code == 400 and bad.context["form"].errors["leader"]
    assert SupervisionGroup.objects.get().name == "第一督导组"


def test_disband_through_the_page(
    client: Any, city_office: User, people: dict[str, User], institutions: Any, rc_group: Any
) -> None:
    login_client(client, city_office)
    url = reverse("duty:group_disband", args=[rc_group.pk])
    assert client.get(url).status_code == 405
    assert client.post(url, {"reason": ""}).status_code == 302
    assert SupervisionGroup.objects.get().active is True and visible(people["member1"]) == RC
    done = client.post(url, {"reason": "机构调整"})
    assert done.status_code == 302
    assert "督导组“第一督导组”已撤销" in client.get(done.url).content.decode()  # the message, shown once
    assert SupervisionGroup.objects.get().active is False and visible(people["member1"]) == set()
    assert client.post(url, {"reason": "again"}).status_code == 404
    assert client.get(reverse("duty:group_edit", args=[rc_group.pk])).status_code == 404
    page = client.get(reverse("duty:groups"))
    assert "第一督导组" not in page.content.decode()
    assert {c.code for c in page.context["uncovered"]} == {"370811", "370883"}


def test_a_group_outside_the_scope_is_not_found(
    client: Any, city_office: User, make_user: Any, people: dict[str, User], tree: dict[str, Any]
) -> None:
    zc_group = services.save_group(
        city_office,
        None,
        name="邹城督导组",
        leader=people["leader2"],
        members=[],
        counties=[tree["zoucheng"]],
    )
    rc_office = make_user("rc_office", roles=["city_safety_office"], region=tree["rencheng"])
    login_client(client, rc_office)
    assert client.get(reverse("duty:group_edit", args=[zc_group.pk])).status_code == 404
    assert client.post(reverse("duty:group_edit", args=[zc_group.pk]), {"name": "x"}).status_code == 404
    assert client.post(reverse("duty:group_disband", args=[zc_group.pk]), {"reason": "x"}).status_code == 404
    form = client.get(reverse("duty:group_new")).context["form"]
    assert list(form.fields["counties"].queryset) == [tree["rencheng"]]
    assert "邹城" not in client.get(reverse("duty:groups")).content.decode()
    api = APIClient()
    api.force_authenticate(rc_office)
    assert api.get(f"{API}{zc_group.pk}/").status_code == 404
    assert api.patch(f"{API}{zc_group.pk}/", {"name": "x"}, format="json").status_code == 404
    assert api.post(f"{API}{zc_group.pk}/disband/", {"reason": "x"}, format="json").status_code == 404
    assert api.get(API).json()["results"] == []
    assert SupervisionGroup.objects.get().name == "邹城督导组" and SupervisionGroup.objects.get().active


def test_list_page_query_count_does_not_grow_with_groups(
    client: Any, city_office: User, make_user: Any, tree: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    city = tree["city"]
    counties = [
        Region.objects.create(
            code=f"3708{n:02d}",
            name=f"县{n}",
            level="county",
            parent=city,
            region_path=f"{city.region_path}3708{n:02d}/",
        )  # fmt: skip
        for n in range(20, 28)
    ]
    people = [make_user(f"p{n}", roles=["supervision_member"]) for n in range(8)]
    for n in range(8):
        services.save_group(
            city_office, None, name=f"督导组{n}", leader=people[n], members=people[:3], counties=[counties[n]]
        )
    login_client(client, city_office)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("duty:groups"))
    assert response.status_code == 200
    assert len(response.context["groups"]) == 8
    assert [c.code for c in response.context["uncovered"]] == ["370811", "370883"]


# --- API -------------------------------------------------------------------------------------------------------


def test_api_create_update_disband(
    city_office: User, people: dict[str, User], tree: dict[str, Any], institutions: Any
) -> None:
    api = APIClient()
    api.force_authenticate(city_office)
    created = api.post(
        API,
        {"name": "第一督导组", "leader": people["leader1"].pk, "members": [people["member1"].pk],
         "counties": ["370811"]},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body == {
        "id": body["id"], "name": "第一督导组", "leader": people["leader1"].pk, "leader_name": "leader1",
        "members": [people["member1"].pk], "counties": ["370811"], "active": True,
    }  # fmt: skip
    url = f"{API}{body['id']}/"
    assert visible(people["member1"]) == RC

    changed = api.patch(url, {"counties": ["370811", "370883"]}, format="json")
    assert changed.status_code == 200 and sorted(changed.json()["counties"]) == ["370811", "370883"]
    assert changed.json()["members"] == [people["member1"].pk]
    assert visible(people["member1"]) == RC | ZC

    replaced = api.put(
        url, {"name": "督导一组", "leader": people["leader2"].pk, "counties": ["370883"]}, format="json"
    )
    assert replaced.status_code == 200
    assert replaced.json()["members"] == [] and replaced.json()["leader_name"] == "leader2"
    assert visible(people["member1"]) == set() and visible(people["leader1"]) == set()
    assert visible(people["leader2"]) == ZC

    listed = api.get(API).json()["results"]
    assert [g["name"] for g in listed] == ["督导一组"]

    assert api.post(f"{url}disband/", {}, format="json").status_code == 400
    disbanded = api.post(f"{url}disband/", {"reason": "撤销"}, format="json")
    assert disbanded.status_code == 200 and disbanded.json()["active"] is False
    assert disbanded.json()["counties"] == []
    assert visible(people["leader2"]) == set()
    assert api.get(API, {"active": "1"}).json()["results"] == []
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="duty.group").order_by("id")] == [
        "duty.group.create",
        "duty.group.change",
        "duty.group.change",
        "duty.group.disband",
    ]


def test_api_structured_errors(
    city_office: User, rencheng_officer: User, people: dict[str, User], make_user: Any, tree: dict[str, Any],
    rc_group: Any,
) -> None:  # fmt: skip
    api = APIClient()
    api.force_authenticate(city_office)
    valid = {"name": "第二督导组", "leader": people["leader2"].pk, "counties": ["370883"]}

    taken = api.post(API, {**valid, "counties": ["370883", "370811"]}, format="json")
    assert taken.status_code == 400
    assert taken.json()["code"] == "county_taken" and taken.json()["field"] == "counties"
    assert "第一督导组" in taken.json()["detail"]

    plain = make_user("plain", roles=["inspector"], region=tree["rencheng"])
    no_role = api.post(API, {**valid, "members": [plain.pk]}, format="json")
    assert no_role.status_code == 400 and no_role.json() == {
        "code": "invalid", "detail": no_role.json()["detail"], "field": "members",
    }  # fmt: skip

    missing = api.post(API, {"leader": people["leader2"].pk, "counties": []}, format="json")
    assert missing.status_code == 400 and missing.json()["code"] == "invalid"
    assert set(missing.json()["errors"]) == {"name", "counties"}

    unknown = api.post(API, {**valid, "counties": ["999999"]}, format="json")
    assert unknown.status_code == 400 and "counties" in unknown.json()["errors"]

    township = api.post(API, {**valid, "counties": ["370883001"]}, format="json")
    assert township.status_code == 400 and township.json()["field"] == "counties"

    assert SupervisionGroup.objects.count() == 1 and links() == {("第一督导组", "370811")}

    officer = APIClient()
    officer.force_authenticate(rencheng_officer)
    assert officer.post(API, valid, format="json").status_code == 403
    assert officer.patch(f"{API}{rc_group.pk}/", {"name": "x"}, format="json").status_code == 403
    denied = officer.post(f"{API}{rc_group.pk}/disband/", {"reason": "x"}, format="json")
    assert denied.status_code == 403 and denied.json()["code"] == "permission_denied"
    assert SupervisionGroup.objects.get().name == "第一督导组" and SupervisionGroup.objects.get().active


@pytest.mark.django_db
def test_roles_that_carry_managed_scope_cannot_be_revoked_while_in_use(
    city_office: Any, make_user: Any, tree: dict[str, Any], institutions: Any
) -> None:
    from minan.accounts import services as accounts
    from minan.accounts.models import RoleGrant
    from minan.duty import services as duty

    member = make_user("m1", roles=["supervision_member"], region=tree["city"])
    cadre = make_user("c1", roles=["cadre"], region=tree["rencheng"])
    duty.save_group(city_office, None, name="组", leader=member, members=[], counties=[tree["rencheng"]])
    duty.assign_cadre(city_office, institutions["rc_elderly"], cadre)
    for person, role in ((member, "supervision_member"), (cadre, "cadre")):
        with pytest.raises(DomainError):
            accounts.revoke_role(city_office, person, role)
        assert RoleGrant.objects.filter(user=person, role=role).exists()


@pytest.mark.django_db
def test_a_county_officer_and_the_groups_own_people_see_the_group(
    city_office: Any, rencheng_officer: Any, make_user: Any, tree: dict[str, Any]
) -> None:
    from minan.accounts.models import UserScope
    from minan.duty import services as duty
    from minan.duty.models import SupervisionGroup

    leader = make_user("lead", roles=["supervision_member"], region=tree["city"])
    UserScope.objects.filter(user=leader).delete()  # only what the group gives
    zc_officer = make_user("zc_officer", roles=["county_officer"], region=tree["zoucheng"])
    group = duty.save_group(
        city_office, None, name="第一组", leader=leader, members=[], counties=[tree["rencheng"]]
    )
    visible = lambda u: list(SupervisionGroup.objects.for_user(User.objects.get(pk=u.pk)))  # noqa: E731
    assert visible(leader) == [group]
    assert visible(rencheng_officer) == [group]
    assert visible(zc_officer) == []
    assert visible(city_office) == [group]
