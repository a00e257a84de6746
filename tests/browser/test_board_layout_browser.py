"""The alarm board when it fills, in headless Debian Chromium at 1280×800 and on a 390×844 phone: with a
dozen alarms the page is never wider than the window, the navigation keeps its width, on the phone each
alarm is a card whose 确认 button is on screen without scrolling sideways, the filters are folded behind
one button, a liaison who may not acknowledge reads who can, and no field key or JSON is shown. The
duty-room screen likewise. Screenshots go to var/test-results/.

As in test_login_browser: the ORM is used only before the browser starts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from conftest import PASSWORD
from minan.firewatch.tests.board_helpers import alarm, device
from tests.browser.test_login_browser import RESULTS_DIR, chromium_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
FIELD_KEY = re.compile(r"[a-z]+_[a-z_]+")
NAV_WIDTH = 200  # minan.css: nav#nav


@pytest.fixture
def setup(
    make_user: Callable[..., Any], tree: dict[str, Any], institutions: dict[str, Any]
) -> dict[str, Any]:
    now = timezone.now()
    office = make_user("cityduty", roles=["city_safety_office"], region=tree["city"])
    liaison = make_user("fireliaison", roles=["member_department"], region=tree["city"])
    homes = [institutions["rc_elderly"], institutions["zc_elderly"], institutions["zc_child"]]
    plan = [
        ("fire", 40, 3, {}), ("fire", 12, 1, {}), ("fire", 25, 2, {"cleared_at": now}),
        ("gas", 30, 2, {}), ("fault", 300, 1, {"detail": {"code": "bus", "component_zone": 1, "component_point": 6}}),
        ("threshold:residual_current", 50, 1, {"detail": {"value": "412", "unit": "mA"}}),
        ("offline", 90, 0, {}), ("supervisory", 15, 1, {}),
        ("fire", 60, 1, {"acknowledged_at": now, "acknowledged_by": office}),
        ("fault", 120, 0, {"acknowledged_at": now, "acknowledged_by": office}),
        ("gas", 200, 1, {"acknowledged_at": now, "acknowledged_by": office, "cleared_at": now}),
        ("fault", 400, 1, {"acknowledged_at": now, "acknowledged_by": office, "cleared_at": now}),
    ]  # fmt: skip
    types = {
        "gas": "gas",
        "fault": "panel",
        "offline": "transmitter",
        "threshold:residual_current": "electrical",
    }
    for n, (kind, minutes, step, fields) in enumerate(plan):
        dev = device(
            homes[n % 3], type=types.get(kind, "smoke"), name=f"{n + 1}号楼 {n % 4 + 1}F 护理站走廊点型光电感烟火灾探测器",
            thresholds={"residual_current": {"max": 300}} if kind.startswith("threshold") else {},
        )  # fmt: skip
        alarm(dev, kind, now - dt.timedelta(minutes=minutes), escalation_step=step, **fields)
    return {"office": office, "liaison": liaison, "count": len(plan)}


def sign_in(page: Any, base: str, user: Any) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url(base + "/")


def check_text(page: Any) -> None:
    """No field key and no JSON in what the board shows."""
    text = page.locator("main").inner_text()
    assert not FIELD_KEY.findall(text), FIELD_KEY.findall(text)
    assert "{" not in text and "经纬度" not in text


def fits(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth"), page.evaluate(
        "[document.documentElement.scrollWidth, innerWidth]"
    )


def test_a_full_board_fits_the_screen_and_the_phone(live_server: Any, setup: dict[str, Any]) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with chromium_page() as page:
        sign_in(page, live_server.url, setup["office"])

        page.set_viewport_size(DESKTOP)
        page.goto(live_server.url + "/firewatch/")
        assert page.locator("tr[data-alarm]").count() == setup["count"]
        fits(page)
        assert page.evaluate("document.getElementById('nav').getBoundingClientRect().width") >= NAV_WIDTH
        # Every column is wider than a couple of characters.
        narrowest = page.evaluate(
            "Math.min(...[...document.querySelectorAll('#alarm-board-unacknowledged th')].map(th => th.offsetWidth))"
        )
        assert narrowest >= 60, narrowest
        assert page.locator("details[data-board-filters] select[name=severity]").is_visible()  # inline
        check_text(page)
        page.screenshot(path=str(RESULTS_DIR / "board-1280.png"), full_page=True)

        page.set_viewport_size(PHONE)
        page.goto(live_server.url + "/firewatch/")
        fits(page)
        first = page.locator("tr[data-alarm]").first
        button = first.locator("button[data-acknowledge]")
        box = button.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], box
        card = first.bounding_box()
        assert card is not None and box["width"] >= card["width"] - 40  # full width of the card
        assert "位置" in first.inner_text() and "首次报警时间" in first.inner_text()
        # The filters are folded behind one button.
        assert page.locator("details[data-board-filters] > summary").is_visible()
        assert not page.locator("details[data-board-filters] select[name=severity]").is_visible()
        page.click("details[data-board-filters] > summary")
        assert page.locator("details[data-board-filters] select[name=severity]").is_visible()
        fits(page)
        check_text(page)
        page.screenshot(path=str(RESULTS_DIR / "board-390.png"), full_page=True)

        # The duty-room screen: no navigation, the same rows, a way back.
        for size, name in ((DESKTOP, "1280"), (PHONE, "390")):
            page.set_viewport_size(size)
            page.goto(live_server.url + "/firewatch/?mode=wall")
            assert page.locator("tr[data-alarm]").count() == setup["count"]
            assert page.locator("#nav").count() == 0 and page.locator("[data-wall-exit]").is_visible()
            fits(page)
            check_text(page)
            page.screenshot(path=str(RESULTS_DIR / f"board-wall-{name}.png"), full_page=True)
        page.click("[data-wall-exit]")
        page.wait_for_url(live_server.url + "/firewatch/")


def test_a_liaison_reads_who_can_acknowledge(live_server: Any, setup: dict[str, Any]) -> None:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with chromium_page() as page:
        sign_in(page, live_server.url, setup["liaison"])
        for size, name in ((DESKTOP, "1280"), (PHONE, "390")):
            page.set_viewport_size(size)
            page.goto(live_server.url + "/firewatch/")
            fits(page)
            assert page.locator("button[data-acknowledge]").count() == 0
            who = page.locator("tr[data-alarm]").first.locator("[data-who-acknowledges]")
            assert who.is_visible() and "市安全办" in who.inner_text() and "确认" in who.inner_text()
            check_text(page)
            page.screenshot(path=str(RESULTS_DIR / f"board-liaison-{name}.png"), full_page=True)
