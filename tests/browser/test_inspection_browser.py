"""Carry out an inspection on a phone-sized screen (390×844) in headless Debian Chromium, against
pytest-django's live server: answer items (each saved at once), lose the connection and get the
unsent answer saved on its return, reload and find every answer kept, add a photo, draw a signature,
submit and see the result. It starts on the start page, which offers only the checklists meant for
the kind of inspection.

As in test_login_browser: the ORM is used only before the browser starts and after it closes
(Playwright's sync API keeps an asyncio loop on this thread while it is open).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from conftest import PASSWORD
from tests.browser.test_login_browser import CHROMIUM, CHROMIUM_ARGS, RESULTS_DIR, TIMEOUT_MS

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE: ViewportSize = {"width": 390, "height": 844}


@contextmanager
def phone_page() -> Iterator[tuple[Any, Any]]:
    """A fresh page and its context on a phone-sized touch screen, in Chinese. Uncaught JavaScript
    errors fail the test when the block ends."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                locale="zh-CN", viewport=PHONE, device_scale_factor=2, has_touch=True, is_mobile=True
            )
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            yield page, context
        finally:
            browser.close()
    assert not errors, f"JavaScript errors: {errors}"


def jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def setup(make_user: Callable[..., Any], institutions: dict[str, Any]) -> dict[str, Any]:
    """The staff of 任城区古槐敬老院, the default three-item checklist and one meant for sector
    inspections only."""
    from minan.inspections.models import ChecklistItem
    from minan.inspections.tests.factories import make_template

    staff = make_user("rc_staff", roles=["institution_staff"], institution=institutions["rc_elderly"])
    template = make_template()
    sector_only = make_template("sector-only", title="行业检查表", kinds=["sector"])
    items = dict(ChecklistItem.objects.filter(template=template).values_list("code", "pk"))
    return {"staff": staff, "home": institutions["rc_elderly"], "template": template, "sector_only": sector_only,
            "items": items}  # fmt: skip


def state(page: Any, item: int) -> Any:
    return page.locator(f"#item-{item} .save-state")


def test_an_inspection_is_carried_out_on_a_phone(live_server: Any, setup: dict[str, Any]) -> None:
    items = setup["items"]
    d01, d02, d03 = items["D01"], items["D02"], items["D03"]
    with phone_page() as (page, context):
        page.goto(live_server.url + "/accounts/login/")
        page.fill("input[name=username]", setup["staff"].username)
        page.fill("input[name=password]", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url(live_server.url + "/")

        # Start: only the checklists meant for a self-inspection are offered.
        page.goto(live_server.url + "/inspections/start/")
        page.select_option("#id_institution", str(setup["home"].pk))
        page.select_option("#id_kind", "self")
        sector_only = page.locator(f"#id_template option[value='{setup['sector_only'].pk}']")
        assert sector_only.get_attribute("disabled") is not None
        page.select_option("#id_template", str(setup["template"].pk))
        page.click("form[data-start-form] button[type=submit]")
        page.wait_for_url("**/run/")
        pk = int(page.url.rstrip("/").split("/")[-2])
        assert (
            page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        )  # no sideways scrolling
        tap = page.locator(f"label[for=o-{d01}-fail]").bounding_box()
        assert tap is not None and tap["height"] >= 44  # a big tap target

        # D01 fails with a note; the note typed first is sent with the outcome.
        page.fill(f"#note-{d01}", "二楼走廊堆放纸箱")
        page.click(f"label[for=o-{d01}-fail]")
        page.wait_for_selector(f"#item-{d01} .save-state[data-state=saved]")
        page.click(f"label[for=o-{d02}-pass]")
        page.wait_for_selector(f"#item-{d02} .save-state[data-state=saved]")
        assert page.locator("[data-answered]").inner_text() == "2"
        assert page.locator(f"#merge-row-{d01}").is_visible()
        assert not page.locator(f"#merge-row-{d02}").is_visible()

        # The connection drops: the answer is shown as not saved, and is sent when it comes back.
        context.set_offline(True)
        page.click(f"label[for=o-{d03}-pass]")
        page.wait_for_selector(f"#item-{d03} .save-state[data-state=unsaved]")
        context.set_offline(False)
        page.wait_for_selector(f"#item-{d03} .save-state[data-state=saved]")
        assert page.locator("[data-answered]").inner_text() == "3"

        # A photo of the failure, taken with the camera input.
        page.set_input_files(
            f"#p-{d01}", files=[{"name": "走廊.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}]
        )
        page.wait_for_selector(f"#item-{d01} ul.thumbs img")

        # Reloaded, the page shows every saved answer.
        page.reload()
        assert page.is_checked(f"#o-{d01}-fail") and page.is_checked(f"#o-{d02}-pass")
        assert page.is_checked(f"#o-{d03}-pass")
        assert page.input_value(f"#note-{d01}") == "二楼走廊堆放纸箱"
        assert state(page, d01).get_attribute("data-state") == "saved"
        assert page.locator(f"#item-{d01} ul.thumbs img").count() == 1

        # Both sign with a finger on the pads.
        for pad in ("#sig-inspector", "#sig-representative"):
            page.locator(pad).scroll_into_view_if_needed()
            box = page.locator(pad).bounding_box()
            assert box is not None
            page.mouse.move(box["x"] + 20, box["y"] + 40)
            page.mouse.down()
            for step in range(1, 12):
                page.mouse.move(box["x"] + 20 + step * 25, box["y"] + 40 + (step % 3) * 30)
            page.mouse.up()
        assert page.input_value("#id_inspector_signature").startswith("data:image/png;base64,")
        assert page.input_value("#id_representative_signature").startswith("data:image/png;base64,")
        page.fill("#id_representative", "王院长")
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(RESULTS_DIR / "inspection-run-phone.png"), full_page=True)
        page.click("#submit-form button[type=submit]")
        page.wait_for_url(f"{live_server.url}/inspections/{pk}/")

        result = page.locator("[data-result]")
        assert result.get_attribute("data-result") == "findings"
        assert page.locator("[data-points]").get_attribute("data-points") == "2/3"
        assert page.locator("[data-linked-hazard]").count() == 1
        assert page.locator("#signatures img").count() == 2
        page.screenshot(path=str(RESULTS_DIR / "inspection-phone.png"), full_page=True)

    from minan.hazards.models import Hazard
    from minan.inspections.models import Answer, Inspection

    done = Inspection.objects.get(pk=pk)
    assert (done.status, done.result, done.representative) == ("submitted", "findings", "王院长")
    assert done.inspector_signature and done.representative_signature
    assert Hazard.objects.get().pk == Answer.objects.get(item_id=d01).hazard_id
