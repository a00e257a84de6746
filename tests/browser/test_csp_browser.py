"""The Content-Security-Policy in headless Debian Chromium: a city office user walks
every page of the navigation and the main detail pages, the public code page, the login page and the
API docs, and the browser reports no violation of the policy (a `securitypolicyviolation` event or a
console message about it). A page that really runs under the policy is checked first: an injected
inline script is refused and reported, so a silent listener cannot pass the test.

The product's own error pages (404, 403, 500; DEBUG off, as under `minan serve`) are screenshotted at
1280×800 and 390×844 into var/test-results/.

As in test_login_browser: the ORM is used only before the browser starts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse

from conftest import PASSWORD
from tests.browser.test_login_browser import RESULTS_DIR, chromium_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Collects what the browser refuses, from the first script of every document on.
LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def setup(
    make_user: Callable[..., Any], tree: dict[str, Any], institutions: dict[str, Any], settings: Any
) -> dict[str, Any]:
    from minan.firewatch.ingest.services import SignalIn, record_signal
    from minan.firewatch.models import Device
    from minan.hazards import services as hazards
    from minan.institutions.models import RiskClass

    # The project's URLs plus two that fail on purpose (403, 500), for the error pages.
    settings.ROOT_URLCONF = "minan.core.tests.error_urls"
    settings.DEBUG = False
    home = institutions["rc_elderly"]
    # A class to show (the seeded scheme is gone once an earlier transactional test has flushed).
    RiskClass.objects.get_or_create(code="T", defaults={"label": "测试类", "colour": "#b42318"})
    officer = make_user("rc_officer", roles=["county_officer"], region=tree["rencheng"])
    hazard = hazards.report(
        officer, home, source="duty_visit", category="fire", level="general", description="灭火器过期"
    )
    smoke = Device.objects.create(
        institution=home, region_path=home.region_path, type="smoke", name="3F 走廊烟感", protocol="mqtt",
        serial="CSP-1", building="1号楼", floor="3F", room="301", status="online",
    )  # fmt: skip
    alarm = record_signal(smoke, SignalIn("alarm", "fire")).alarm
    assert alarm is not None
    user = make_user("city_duty", roles=["city_safety_office"], region=tree["city"])
    home.refresh_from_db()
    return {
        "user": user,
        "details": [
            reverse("institutions:detail", args=[home.pk]),
            reverse("hazards:detail", args=[hazard.pk]),
            reverse("firewatch:alarm_detail", args=[alarm.pk]),
            reverse("firewatch:board") + "?mode=wall",  # the duty-room screen: a page of its own
            reverse("hazards:metrics"),
            reverse("firewatch:figures"),
            reverse("institutions:classes"),
            reverse("accounts:security"),
            reverse("accounts:password_change"),
            reverse("accounts:api_tokens"),
            reverse("notify:inbox"),
        ],
        "public": reverse("public:code", args=[home.public_token]),
    }


def violations(page: Any) -> list[str]:
    return list(page.evaluate("window.__csp || []"))


def visit(page: Any, url: str, found: dict[str, list[str]], console: list[str]) -> None:
    response = page.goto(url)
    assert response is not None and response.status < 400, (url, response and response.status)
    assert "default-src 'self'" in (response.headers.get("content-security-policy") or ""), url
    page.wait_for_load_state("networkidle")
    seen = violations(page) + console
    console.clear()
    if seen:
        found[url] = seen


def test_the_main_pages_raise_no_csp_violation(live_server: Any, setup: dict[str, Any]) -> None:
    found: dict[str, list[str]] = {}
    console: list[str] = []
    with chromium_page() as page:
        page.context.add_init_script(LISTEN)
        page.on(
            "console",
            lambda msg: console.append(msg.text) if "Content Security Policy" in msg.text else None,
        )

        # The policy is in force and the listener hears it: an injected inline script is refused.
        page.goto(live_server.url + "/accounts/login/")
        page.evaluate(
            "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
            " document.body.appendChild(s); }"
        )
        page.wait_for_timeout(200)
        assert page.evaluate("window.__ran === undefined")
        assert any(v.startswith("script-src") for v in violations(page)), violations(page)
        console.clear()

        visit(page, live_server.url + "/accounts/login/", found, console)
        visit(page, live_server.url + setup["public"], found, console)
        visit(page, live_server.url + "/api/docs/", found, console)
        assert page.locator(".swagger-ui").count() > 0  # Swagger UI ran from its files

        page.goto(live_server.url + "/accounts/login/")
        page.fill("input[name=username]", setup["user"].username)
        page.fill("input[name=password]", PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url(live_server.url + "/")
        console.clear()

        nav = page.eval_on_selector_all("nav#nav a", "els => els.map(e => e.getAttribute('href'))")
        assert len(nav) >= 10, nav
        for href in [*nav, *setup["details"]]:
            visit(page, live_server.url + href, found, console)
        visit(page, live_server.url + "/api/docs/", found, console)

        # The charts' tooltips (ECharts writes their markup when the pointer is over a bar or point).
        for url, chart in (("/", "#kind-chart"), (reverse("firewatch:figures"), "#firewatch-chart")):
            page.goto(live_server.url + url)
            page.wait_for_selector(chart + " canvas")
            box = page.locator(chart).bounding_box()
            for step in range(1, 10):
                page.mouse.move(box["x"] + box["width"] * step / 10, box["y"] + box["height"] * 0.7)
                page.wait_for_timeout(60)
            if violations(page) or console:
                found[url + " (tooltip)"] = violations(page) + console
                console.clear()

        # What moved from on*= attributes into minan.js still works: the risk-class colour is painted,
        # the narrow-screen menu opens.
        page.goto(live_server.url + reverse("institutions:classes"))
        colour = page.eval_on_selector(".class-badge", "el => getComputedStyle(el).backgroundColor")
        assert colour not in {"", "rgba(0, 0, 0, 0)", "transparent"}, colour
        page.set_viewport_size(SIZES["phone"])
        page.goto(live_server.url + "/")
        assert not page.locator("nav#nav").is_visible()
        page.click("[data-menu-toggle]")
        assert page.locator("nav#nav").is_visible()
        assert page.get_attribute("[data-menu-toggle]", "aria-expanded") == "true"
        found.update({url: v for url, v in [("menu", violations(page) + console)] if v})

        # The error pages: the product's own, with the policy, screenshotted at both sizes.
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        for code, path in (
            ("404", "/no/such/page/"),
            ("403", "/__test__/forbidden/"),
            ("500", "/__test__/boom/"),
        ):
            for size_name, size in SIZES.items():
                page.set_viewport_size(size)
                response = page.goto(live_server.url + path)
                assert response is not None and response.status == int(code)
                assert "default-src 'self'" in (response.headers.get("content-security-policy") or "")
                assert f"HTTP {code}" in page.locator("main").inner_text()
                page.screenshot(path=str(RESULTS_DIR / f"error-{code}-{size_name}.png"), full_page=True)
                if violations(page) or console:
                    found[path] = violations(page) + console
                    console.clear()

    assert found == {}
