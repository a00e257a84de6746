"""Sign in through the real login page in headless Debian Chromium, against pytest-django's live server.

The ORM is used only before the browser starts: Playwright's sync API keeps an asyncio loop on this
thread while it is open, and Django refuses ORM calls from there (SynchronousOnlyOperation).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
RESULTS_DIR = Path(__file__).resolve().parents[2] / "var" / "test-results"
TIMEOUT_MS = 15_000


@contextmanager
def chromium_page() -> Iterator[Any]:
    """A fresh page in a browser set to Chinese (Accept-Language: zh-CN), as MinAn's users have.

    Uncaught JavaScript errors on any page fail the test when the block ends.
    """
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            yield page
        finally:
            browser.close()
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture
def officer(make_user: Callable[..., Any], tree: dict[str, Any], institutions: dict[str, Any]) -> Any:
    """The 任城区 county officer; `institutions` puts 2 of its 4 rows in 任城区."""
    return make_user("rc_officer", roles=["county_officer"], region=tree["rencheng"])


def test_officer_signs_in_and_sees_the_county_figures(live_server: Any, officer: Any) -> None:
    with chromium_page() as page:
        page.goto(live_server.url + "/accounts/login/")
        assert page.locator("html").get_attribute("lang") == "zh-hans"
        assert "登录" in page.locator("body").inner_text()

        page.fill("input[name=username]", officer.username)
        page.fill("input[name=password]", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url(live_server.url + "/")

        tile = page.locator('[data-figure="institutions"]')
        assert tile.inner_text().strip() == "2"

        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(RESULTS_DIR / "home.png"), full_page=True)


def test_wrong_password_shows_an_error_and_stays_on_the_login_page(live_server: Any, officer: Any) -> None:
    login_url = live_server.url + "/accounts/login/"
    with chromium_page() as page:
        page.goto(login_url)
        page.fill("input[name=username]", officer.username)
        page.fill("input[name=password]", PASSWORD + "-wrong")
        with page.expect_navigation():
            page.click("main form button[type=submit]")

        assert page.url == login_url
        error = page.locator("main .error[role=alert]")
        error.wait_for(state="visible")
        assert error.inner_text().strip()
        assert page.locator('[data-figure="institutions"]').count() == 0
