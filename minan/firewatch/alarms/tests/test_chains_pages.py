"""The escalation-chain editor: defaults, an institution's own chain, errors, reset, permission, scope."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from django.utils.translation import gettext as _

from conftest import login_client
from minan.core.audit.models import AuditEvent
from minan.firewatch.alarms import services
from minan.firewatch.models import EscalationChain
from minan.regions.models import Region

pytestmark = pytest.mark.django_db


def test_the_page_shows_the_built_in_defaults(
    client: Any, city_office: Any, institutions: dict[str, Any]
) -> None:
    page = login_client(client, city_office).get(reverse("firewatch:chains")).content.decode()
    fire = page.split('data-default="fire"')[1].split("</tr>")[0]
    assert 'data-saved="0"' in fire and str(services.RECIPIENTS["city_office"]) in fire
    assert "任城区古槐敬老院" in page  # offered for an own chain


def test_save_the_default_then_an_institutions_own_chain_and_reset(
    client: Any, city_office: Any, institutions: dict[str, Any]
) -> None:
    login_client(client, city_office)
    url = reverse("firewatch:chain_edit")
    form = client.get(url, {"kind": "fire"}).content.decode()
    assert 'name="wait_0" value="0"' in form and 'name="repeat_minutes" value="10"' in form
    response = client.post(url, {"kind": "fire", "wait_0": "0", "notify_0": ["duty_staff", "cadre"], "wait_1": "2",
                                 "notify_1": "city_office", "wait_2": "", "repeat_minutes": "5"})  # fmt: skip
    assert response.status_code == 302
    default = EscalationChain.objects.get(institution=None, kind="fire")
    assert default.steps == [{"wait_minutes": 0, "notify": ["duty_staff", "cadre"]},
                             {"wait_minutes": 2, "notify": ["city_office"]}]  # fmt: skip
    assert default.repeat_minutes == 5
    assert AuditEvent.objects.filter(action="escalation_chain.save").count() == 1

    home = institutions["rc_elderly"]
    form = client.get(url, {"kind": "other", "institution": home.pk}).content.decode()
    assert 'name="wait_1" value="240"' in form  # the default that applies now
    client.post(url, {"kind": "other", "institution": str(home.pk), "wait_0": "30", "notify_0": "safety_commissioner",
                      "repeat_minutes": "0"})  # fmt: skip
    own = EscalationChain.objects.get(institution=home, kind="other")
    assert own.steps == [{"wait_minutes": 30, "notify": ["safety_commissioner"]}] and own.repeat_minutes == 0
    page = client.get(reverse("firewatch:chains")).content.decode()
    assert f'data-own="{home.pk}-other"' in page and 'data-saved="1"' in page

    client.post(reverse("firewatch:chain_reset"), {"kind": "other", "institution": str(home.pk)})
    assert not EscalationChain.objects.filter(institution=home).exists()
    client.post(reverse("firewatch:chain_reset"), {"kind": "fire"})
    assert not EscalationChain.objects.exists()
    assert AuditEvent.objects.filter(action="escalation_chain.reset").count() == 2


def test_a_bad_chain_is_refused_and_nothing_saved(client: Any, city_office: Any) -> None:
    login_client(client, city_office)
    url = reverse("firewatch:chain_edit")
    response = client.post(url, {"kind": "fire", "wait_0": "0", "repeat_minutes": "0"})  # nobody ticked
    assert (
        response.status_code == 400
        and (_("Step %(n)d: choose who is told.") % {"n": 1}) in response.content.decode()
    )
    response = client.post(url, {"kind": "fire", "wait_0": "abc", "notify_0": "cadre"})
    assert response.status_code == 400
    response = client.post(url, {"kind": "fire", "wait_0": "0", "notify_0": "cadre", "repeat_minutes": "-1"})
    assert 'data-error="repeat_minutes"' in response.content.decode()
    response = client.post(url, {"kind": "fire", "repeat_minutes": "0"})
    assert _("A chain needs at least one step.") in response.content.decode()
    assert not EscalationChain.objects.exists()


def test_permission_and_scope(client: Any, make_user: Any, tree: dict[str, Any], institutions: dict[str, Any],
                              rencheng_officer: Any) -> None:  # fmt: skip
    login_client(client, rencheng_officer)  # may handle alarms, not edit chains
    assert client.get(reverse("firewatch:chains")).status_code == 403
    response = client.post(
        reverse("firewatch:chain_edit"), {"kind": "fire", "wait_0": "0", "notify_0": "cadre"}
    )
    assert response.status_code == 403 and not EscalationChain.objects.exists()
    assert AuditEvent.objects.filter(action="permission.denied", user=rencheng_officer).count() == 2

    # A city office of another city: the 济宁 institutions are outside its scope (404), nothing saved.
    other_city = Region.objects.create(code="370900", name="泰安市", level="city", parent=tree["province"],
                                       region_path=tree["province"].region_path + "370900/")  # fmt: skip
    stranger = make_user("ta_office", roles=["city_safety_office"], region=other_city)
    login_client(client, stranger)
    home = institutions["rc_elderly"]
    assert (
        client.get(reverse("firewatch:chain_edit"), {"kind": "fire", "institution": home.pk}).status_code
        == 404
    )
    response = client.post(reverse("firewatch:chain_edit"), {"kind": "fire", "institution": str(home.pk),
                                                             "wait_0": "0", "notify_0": "cadre"})  # fmt: skip
    assert response.status_code == 404 and not EscalationChain.objects.exists()
    assert "任城区古槐敬老院" not in client.get(reverse("firewatch:chains")).content.decode()
