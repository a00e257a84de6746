"""The live alarm board in headless Debian Chromium, against pytest-django's live server: a city office
user opens the board, a fire alarm is recorded (record_signal, as the ingest process would), and the
board shows it within 2 s without a reload, with the flashing banner and, sound enabled, a beep; the
user acknowledges it and the state changes, then closes it out as a false alarm on its page.

As in test_login_browser: the ORM is not used on this thread while the browser is open (Playwright's
sync API keeps an asyncio loop on it); the alarm is recorded from a worker thread with its own database
connection, as the ingest process is another process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from conftest import PASSWORD
from tests.browser.test_login_browser import RESULTS_DIR, chromium_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def setup(
    make_user: Callable[..., Any], tree: dict[str, Any], institutions: dict[str, Any]
) -> dict[str, Any]:
    from minan.firewatch.models import Device

    home = institutions["rc_elderly"]
    smoke = Device.objects.create(
        institution=home, region_path=home.region_path, type="smoke", name="3F 走廊烟感", protocol="mqtt",
        serial="BRW-1", building="1号楼", floor="3F", room="301", status="online",
    )  # fmt: skip
    user = make_user("city_duty", roles=["city_safety_office"], region=tree["city"])
    return {"user": user, "device": smoke}


def record_fire_in_another_thread(device_pk: int) -> int:
    """record_signal(device, fire) on a worker thread (own connection, committed); the alarm's id."""
    found: dict[str, Any] = {}

    def work() -> None:
        from django.db import connection

        from minan.firewatch.ingest.services import SignalIn, record_signal
        from minan.firewatch.models import Device

        try:
            outcome = record_signal(Device.objects.get(pk=device_pk), SignalIn("alarm", "fire"))
            found["pk"] = outcome.alarm.pk if outcome.alarm else None
        except Exception as exc:  # reported on the test's thread
            found["error"] = exc
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(10)
    if "error" in found:
        raise found["error"]
    assert found.get("pk"), "no alarm raised"
    return int(found["pk"])


def test_a_new_fire_alarm_appears_without_reload_and_is_acknowledged(
    live_server: Any, setup: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    with chromium_page() as page:
        page.goto(live_server.url + "/accounts/login/")
        page.fill("input[name=username]", setup["user"].username)
        page.fill("input[name=password]", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url(live_server.url + "/")

        page.goto(live_server.url + "/firewatch/")
        expect(page.locator("[data-no-alarms]")).to_be_visible()
        expect(page.locator("[data-fire-banner]")).to_have_count(0)
        page.click("[data-sound-toggle]")  # browsers play sound only after a click
        expect(page.locator("[data-sound-toggle]")).to_have_attribute("aria-pressed", "true")
        beeps = int(page.evaluate("Number(document.body.dataset.beeps || 0)"))
        page.evaluate("window.__sameDocument = true")

        pk = record_fire_in_another_thread(setup["device"].pk)

        row = page.locator(f"#alarm-{pk}")
        expect(row).to_be_visible(timeout=2500)
        expect(page.locator("[data-fire-banner]")).to_be_visible()
        assert page.evaluate("window.__sameDocument === true")  # updated in place, no reload
        assert row.get_attribute("data-state") == "active_unack"
        assert "3F 走廊烟感" in row.inner_text() and "1号楼 3F 301" in row.inner_text()
        assert int(page.evaluate("Number(document.body.dataset.beeps || 0)")) > beeps  # the beep

        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(RESULTS_DIR / "alarm-board.png"), full_page=True)

        page.click(f"[data-acknowledge='{pk}']")
        expect(page.locator(f"#alarm-{pk}")).to_have_attribute("data-state", "active_ack")
        expect(page.locator("[data-fire-banner]")).to_have_count(0)
        assert setup["user"].display_name in page.locator(f"#alarm-{pk} [data-col=acknowledged]").inner_text()

        # Close it out as a false alarm: only that class's fields are shown; a missing entry is refused.
        page.goto(live_server.url + f"/firewatch/alarms/{pk}/")
        page.check("input[name=classification][value=false]")
        expect(page.locator("fieldset[data-class=real]")).to_be_hidden()
        page.select_option("select[name=cause]", "cooking_smoke")
        page.click("form[data-close-form] button[type=submit]")
        expect(page.locator("[data-error=repair_log]")).to_be_visible()
        page.fill("textarea[name=repair_log]", "清洁探头")
        page.click("form[data-close-form] button[type=submit]")
        expect(page.locator("[data-classification=false]")).to_be_visible()

    from minan.firewatch.models import Alarm

    alarm = Alarm.objects.get(pk=pk)
    assert alarm.acknowledged_by_id == setup["user"].pk and alarm.next_escalation_at is None
    assert alarm.classification == "false" and alarm.close_detail["repair_log"] == "清洁探头"
