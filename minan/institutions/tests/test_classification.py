"""Classification and risk class: derived class, reclassification, override, scheme."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from conftest import login_client
from minan.accounts import roles
from minan.core.audit.models import AuditEvent
from minan.core.errors import DomainError, NotPermitted, OutOfScope
from minan.institutions.classification import derive as classification
from minan.institutions.classification import services as class_services
from minan.institutions.models import ClassRule, Institution, InstitutionChange, InsurancePolicy, RiskClass

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 5, 1)


def cls(code: str) -> RiskClass:
    return RiskClass.objects.get(code=code)


def code(rc: RiskClass | None) -> str | None:
    return rc.code if rc is not None else None


def text(condition: str, threshold: int | None = None) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return classification.describe_rule(condition, threshold)


def events(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


@pytest.fixture
def admin(make_user: Any, tree: dict[str, Any], monkeypatch: Any) -> Any:
    """A system administrator holding the scheme permission."""
    perms = roles.ROLE_PERMISSIONS[roles.SYSTEM_ADMIN] | {classification.SCHEME_PERMISSION}
    monkeypatch.setitem(roles.ROLE_PERMISSIONS, roles.SYSTEM_ADMIN, perms)
    return make_user("sysadmin", roles=[roles.SYSTEM_ADMIN], region=tree["city"])


@pytest.fixture
def home(institutions: dict[str, Any]) -> Institution:
    inst = institutions["rc_elderly"]
    Institution.objects.filter(pk=inst.pk).update(fire_standardised=True, star_grade=2, beds=50)
    inst.refresh_from_db()
    return inst


# --- Derivation ----------------------------------------------------------------------------------


def test_default_scheme_not_standardised_is_b_with_reason(institutions: dict[str, Any]) -> None:
    inst = institutions["rc_elderly"]  # fire_standardised defaults to False
    rc, reason = classification.classify_many([inst], TODAY)[inst.pk]
    assert rc.code == "B"
    assert reason == text("not_fire_standardised")


def test_default_scheme_ungraded_is_b(institutions: dict[str, Any]) -> None:
    inst = institutions["rc_elderly"]
    Institution.objects.filter(pk=inst.pk).update(fire_standardised=True, star_grade=0)
    rc, reason = classification.classify_many([inst], TODAY)[inst.pk]
    assert (rc.code, reason) == ("B", text("star_grade_below", 1))


def test_standardised_and_graded_is_default_a(home: Institution) -> None:
    rc, reason = classification.classify_many([home], TODAY)[home.pk]
    assert rc.code == "A" and rc.is_default
    with translation.override(settings.LANGUAGE_CODE):
        assert reason == translation.gettext("no rule matched")


def test_changing_facts_reclassifies_with_one_event_and_one_history_row(home: Institution) -> None:
    assert class_services.reclassify([home], today=TODAY) == 1
    assert code(home.risk_class) == "A"
    before_events = events("institution.reclassify")
    before_rows = InstitutionChange.objects.filter(institution=home, action="class.derived").count()

    Institution.objects.filter(pk=home.pk).update(fire_standardised=False)
    assert class_services.reclassify(Institution.objects.filter(pk=home.pk), today=TODAY) == 1

    home.refresh_from_db()
    assert code(home.risk_class) == "B"
    assert home.risk_class_reason == text("not_fire_standardised")
    assert events("institution.reclassify") == before_events + 1
    event = AuditEvent.objects.filter(action="institution.reclassify").first()
    assert event is not None
    assert event.changes == {"risk_class": ["A", "B"]}
    assert event.object_id == str(home.pk) and event.region_path == home.region_path
    rows = InstitutionChange.objects.filter(institution=home, action="class.derived")
    assert rows.count() == before_rows + 1
    assert rows.first().changes == {"risk_class": ["A", "B"]}  # type: ignore[union-attr]

    # Idempotent: nothing changed, nothing written.
    assert class_services.reclassify(Institution.objects.all(), today=TODAY) == 3  # the 3 never classified
    count_events, count_rows = events("institution.reclassify"), InstitutionChange.objects.count()
    assert class_services.reclassify(Institution.objects.all(), today=TODAY) == 0
    assert events("institution.reclassify") == count_events
    assert InstitutionChange.objects.count() == count_rows


def test_reclassify_is_chunked(institutions: dict[str, Any], monkeypatch: Any) -> None:
    monkeypatch.setattr(class_services, "CHUNK_SIZE", 2)
    assert class_services.reclassify(Institution.objects.all(), today=TODAY) == 4
    assert Institution.objects.filter(risk_class__code="B").count() == 4
    assert class_services.reclassify(list(Institution.objects.all()), today=TODAY) == 0


def test_beds_rule_added_to_class_c(
    admin: Any, home: Institution, django_capture_on_commit_callbacks: Any
) -> None:
    Institution.objects.filter(pk=home.pk).update(beds=250)
    with django_capture_on_commit_callbacks(execute=True):
        class_services.save_rule(
            admin, risk_class=cls("C"), condition="beds_at_least", threshold=200, order=5
        )
    # The worker task (immediate in tests) reclassified everyone after the commit.
    home.refresh_from_db()
    assert code(home.risk_class) == "C"
    assert home.risk_class_reason == text("beds_at_least", 200)
    assert events("classrule.change") == 1
    # A first classification is one summary audit event per batch, plus a history row per institution.
    summary = AuditEvent.objects.filter(action="institution.reclassify", user=admin).get()
    assert "C×" in summary.detail
    assert home.changes.filter(action="class.derived").get().changes == {"risk_class": [None, "C"]}


def test_building_age_and_insurance_sources(institutions: dict[str, Any]) -> None:
    a, b = institutions["rc_elderly"], institutions["zc_elderly"]
    Institution.objects.filter(pk=a.pk).update(construction_year=1990)
    ids = [a.pk, b.pk]
    assert classification.building_age_fact(ids, TODAY) == {a.pk: 36}  # unknown year → not present
    InsurancePolicy.objects.create(
        institution=a,
        region_path=a.region_path,
        insurer="人保",
        number="P1",
        coverage=1_000_000,
        starts_on=dt.date(2026, 1, 1),
        ends_on=dt.date(2026, 12, 31),
    )
    assert classification.no_valid_insurance_fact(ids, TODAY) == {b.pk: 1}
    assert classification.no_valid_insurance_fact(ids, dt.date(2027, 1, 1)) == {a.pk: 1, b.pk: 1}


def test_rule_without_source_is_warned_and_never_matches(admin: Any, home: Institution) -> None:
    # The default scheme has complaints_90d (C) and no module provides complaints yet; open major
    # hazards (D) are provided by the hazards app.
    assert classification.has_source("open_major_hazards")
    warnings = classification.scheme_warnings()
    complaints_text = text("complaints_90d", 3)
    assert any(complaints_text in w and "C" in w for w in warnings), warnings
    assert not any(text("open_major_hazards", 1) in w for w in warnings)
    assert not any(text("not_fire_standardised") in w for w in warnings)
    rc, _reason = classification.classify_many([home], TODAY)[home.pk]
    assert rc.code == "A"

    # Once a module registers the source, the rule matches.
    classification.register_fact("complaints_90d", lambda ids, today: dict.fromkeys(ids, 3))
    try:
        assert classification.classify_many([home], TODAY)[home.pk][0].code == "C"
        assert not any(complaints_text in w for w in classification.scheme_warnings())
    finally:
        classification.unregister_fact("complaints_90d")


def test_register_fact_refuses_unknown_condition() -> None:
    with pytest.raises(ValueError):
        classification.register_fact("moon_phase", lambda ids, today: {})


def test_classify_many_query_count_is_constant(tree: dict[str, Any]) -> None:
    def make(n: int, start: int) -> list[Institution]:
        return [
            Institution.objects.create(
                name=f"机构{i}",
                kind="elderly_care",
                region=tree["rc_town"],
                region_path=tree["rc_town"].region_path,
            )
            for i in range(start, start + n)
        ]

    few, many = make(5, 0), make(50, 100)
    with CaptureQueriesContext(connection) as small:
        assert len(classification.classify_many(few, TODAY)) == 5
    with CaptureQueriesContext(connection) as large:
        assert len(classification.classify_many(many, TODAY)) == 50
    assert len(small.captured_queries) == len(large.captured_queries) <= 6


# --- Override ------------------------------------------------------------------------------------


def test_override_without_reason_is_refused(rencheng_officer: Any, home: Institution) -> None:
    for reason in ("", "   ", "abc"):
        with pytest.raises(DomainError) as excinfo:
            class_services.set_override(rencheng_officer, home, cls("D"), reason)
        assert excinfo.value.field == "reason"
    home.refresh_from_db()
    assert home.class_override is None and home.class_override_reason == ""
    assert events("institution.class_override") == 0
    assert not InstitutionChange.objects.filter(action="class.override").exists()


def test_override_with_reason_wins_and_is_audited(rencheng_officer: Any, home: Institution) -> None:
    class_services.reclassify([home], today=TODAY)
    class_services.set_override(rencheng_officer, home, cls("D"), "  重大活动期间重点监管  ")
    home.refresh_from_db()
    assert home.effective_class == cls("D")
    assert code(home.risk_class) == "A"  # the derived class is kept
    assert home.class_override_reason == "重大活动期间重点监管"
    event = AuditEvent.objects.get(action="institution.class_override")
    assert event.user == rencheng_officer and event.changes == {"class_override": [None, "D"]}
    assert InstitutionChange.objects.filter(institution=home, action="class.override").count() == 1
    # Reclassification leaves the override alone.
    assert class_services.reclassify([home], today=TODAY) == 0

    assert class_services.clear_override(rencheng_officer, home) is True
    home.refresh_from_db()
    assert code(home.effective_class) == "A"
    assert events("institution.class_override_clear") == 1
    assert class_services.clear_override(rencheng_officer, home) is False


def test_override_out_of_scope_and_without_permission(
    rencheng_officer: Any, make_user: Any, tree: dict[str, Any], institutions: dict[str, Any]
) -> None:
    zc = institutions["zc_elderly"]
    with pytest.raises(OutOfScope):
        class_services.set_override(rencheng_officer, zc, cls("D"), "越权设置等级")
    inspector = make_user("insp", roles=["inspector"], region=tree["rencheng"])
    with pytest.raises(NotPermitted):
        class_services.set_override(inspector, institutions["rc_elderly"], cls("D"), "无权设置等级")
    assert Institution.objects.filter(class_override__isnull=False).count() == 0
    assert events("institution.class_override") == 0


def test_override_view(client: Any, rencheng_officer: Any, institutions: dict[str, Any]) -> None:
    login_client(client, rencheng_officer)
    zc, rc = institutions["zc_elderly"], institutions["rc_elderly"]
    d = cls("D")
    response = client.post(
        reverse("institutions:class_override", args=[zc.pk]), {"risk_class": d.pk, "reason": "越权"}
    )
    assert response.status_code == 404
    assert client.get(reverse("institutions:class_override", args=[rc.pk])).status_code == 405

    url = reverse("institutions:class_override", args=[rc.pk])
    response = client.post(url, {"risk_class": d.pk, "reason": ""})
    assert response.status_code == 302
    rc.refresh_from_db()
    assert rc.class_override is None

    response = client.post(url, {"risk_class": d.pk, "reason": "整改期间重点监管"})
    assert response.status_code == 302 and response["Location"] == reverse(
        "institutions:detail", args=[rc.pk]
    )
    rc.refresh_from_db()
    assert rc.class_override == d and rc.class_override_reason == "整改期间重点监管"

    response = client.post(url, {"risk_class": "", "reason": ""})
    assert response.status_code == 302
    rc.refresh_from_db()
    assert rc.class_override is None


# --- Scheme editing ------------------------------------------------------------------------------


def class_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "code": "E",
        "label": "特别监管",
        "colour": "#112233",
        "order": 0,
        "min_inspections_per_year": 24,
        "always_sample": True,
        "sample_weight": "5",
        "is_default": False,
    }
    data.update(overrides)
    return data


def test_scheme_validation(admin: Any) -> None:
    with pytest.raises(DomainError) as excinfo:
        class_services.save_class(admin, class_data(is_default=True))
    assert excinfo.value.code == "two_defaults"
    with pytest.raises(DomainError) as excinfo:
        class_services.save_class(admin, class_data(is_default=False), instance=cls("A"))
    assert excinfo.value.code == "no_default"
    for colour in ("red", "#12345", "#GGGGGG", ""):
        with pytest.raises(DomainError) as excinfo:
            class_services.save_class(admin, class_data(colour=colour))
        assert excinfo.value.field == "colour"
    with pytest.raises(DomainError) as excinfo:
        class_services.save_class(admin, class_data(code="A"))
    assert excinfo.value.field == "code"
    with pytest.raises(DomainError) as excinfo:
        class_services.save_rule(admin, risk_class=cls("C"), condition="beds_at_least", threshold=None)
    assert excinfo.value.field == "threshold"
    with pytest.raises(DomainError) as excinfo:
        class_services.save_rule(admin, risk_class=cls("C"), condition="not_fire_standardised", threshold=3)
    assert excinfo.value.field == "threshold"
    with pytest.raises(DomainError):
        class_services.save_rule(admin, risk_class=cls("C"), condition="moon_phase", threshold=1)
    assert RiskClass.objects.count() == 4
    assert events("riskclass.change") == events("classrule.change") == 0


def test_scheme_editing_needs_permission(rencheng_officer: Any) -> None:
    with pytest.raises(NotPermitted):
        class_services.save_class(rencheng_officer, class_data())
    with pytest.raises(NotPermitted):
        class_services.delete_rule(rencheng_officer, ClassRule.objects.first())  # type: ignore[arg-type]


def test_scheme_editing_is_audited(admin: Any, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        new = class_services.save_class(admin, class_data())
    assert len(callbacks) == 1  # reclassification handed to the worker after commit
    assert new.colour == "#112233" and events("riskclass.change") == 1
    class_services.set_default_class(admin, new)
    assert list(RiskClass.objects.filter(is_default=True)) == [new]
    rule = ClassRule.objects.filter(condition="star_grade_below").get()
    class_services.delete_rule(admin, rule)
    assert not ClassRule.objects.filter(pk=rule.pk).exists()
    event = AuditEvent.objects.get(action="classrule.delete")
    assert event.user == admin and event.changes["condition"] == ["star_grade_below", None]


def test_scheme_page(client: Any, admin: Any, rencheng_officer: Any, institutions: dict[str, Any]) -> None:
    class_services.reclassify(Institution.objects.all(), today=TODAY)
    login_client(client, rencheng_officer)
    response = client.get(reverse("institutions:classes"))
    assert response.status_code == 200
    rows = {row["risk_class"].code: row["count"] for row in response.context["rows"]}
    assert rows == {"D": 0, "C": 0, "B": 2, "A": 0}  # only the two 任城区 institutions
    assert response.context["warnings"] and not response.context["can_edit"]
    assert "邹城" not in response.content.decode()
    assert client.post(reverse("institutions:classes"), {"action": "delete-rule", "id": 1}).status_code == 403

    login_client(client, admin)
    response = client.get(reverse("institutions:classes") + f"?edit_class={cls('B').pk}")
    assert response.status_code == 200 and response.context["can_edit"]
    response = client.post(
        reverse("institutions:classes"),
        {"action": "save-rule", "risk_class": cls("C").pk, "condition": "beds_at_least"},
    )
    assert response.status_code == 400
    assert response.context["rule_form"].errors["threshold"]
    response = client.post(
        reverse("institutions:classes"),
        {
            "action": "save-rule",
            "risk_class": cls("C").pk,
            "condition": "beds_at_least",
            "threshold": 300,
            "order": 3,
        },
    )
    assert response.status_code == 302
    assert ClassRule.objects.filter(condition="beds_at_least", threshold=300).exists()
    response = client.post(
        reverse("institutions:classes"),
        {"action": "save-class", "id": cls("B").pk, **class_data(code="B", colour="bad")},
    )
    assert response.status_code == 400
    assert response.context["class_form"].errors["colour"]
