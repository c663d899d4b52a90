"""In Debian's Chromium: every demo persona signs in and sees only its role's navigation."""

import os

import pytest

from jiedao.accounts.roles import Role
from jiedao.demo.organisation import PERSONAS
from tests.browsing import SHOTS, sign_in

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright + live_server

pytestmark = pytest.mark.browser

BUSINESS_NAV = {"home", "cases", "supervision", "ledgers", "records", "indicators", "checker", "org"}
EXPECTED_NAV = {
    Role.LEADER: BUSINESS_NAV,
    Role.STAFF: BUSINESS_NAV,
    Role.COMMUNITY_WORKER: BUSINESS_NAV,
    Role.GRID_WORKER: BUSINESS_NAV,
    Role.PROVIDER: {"home", "cases"},
    Role.DISCIPLINE: {"home", "integrity"},
    Role.RESIDENT: {"home"},
    Role.DISTRICT_VIEWER: BUSINESS_NAV,
    Role.DISTRICT_STATISTICIAN: BUSINESS_NAV,
    Role.SYSADMIN: {"home", "checker", "checker_lexicon", "org", "users", "admin"},
    Role.SECADMIN: {"home", "org", "memberships", "admin"},
    Role.AUDITOR: {"home", "audit"},
}




def nav_keys(page) -> set[str]:
    return set(page.eval_on_selector_all("[data-nav]", "els => els.map(e => e.dataset.nav)"))


def test_each_persona_sees_only_its_navigation(live_server, world, page):
    SHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1366, "height": 768})
    for username, _name, role, _unit in PERSONAS:
        sign_in(page, live_server.url, username, world.password)
        assert page.url.rstrip("/") == live_server.url, f"{username} did not reach the home page"
        assert nav_keys(page) == EXPECTED_NAV[role], username
        page.screenshot(path=str(SHOTS / f"home-{role}.png"))
        # every link the navigation offers opens
        for href in page.eval_on_selector_all("[data-nav]", "els => els.map(e => e.href)"):
            response = page.request.get(href)
            assert response.status == 200, (username, href)
        page.click("form[action$='/accounts/logout/'] button")
        page.wait_for_url(f"{live_server.url}/accounts/login/**")


def test_login_and_workbench_on_a_phone(live_server, world, page):
    SHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/accounts/login/")
    page.screenshot(path=str(SHOTS / "login-phone.png"))
    sign_in(page, live_server.url, "xitong", world.password)
    assert nav_keys(page) == EXPECTED_NAV[Role.SYSADMIN]
    # nothing is wider than the screen
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    page.screenshot(path=str(SHOTS / "home-phone.png"), full_page=True)


def test_lockout_message_in_the_browser(live_server, world, page):
    for _ in range(5):
        sign_in(page, live_server.url, "shequ", "Wrong-pass1")
    assert "账号已锁定" in page.content()
    sign_in(page, live_server.url, "shequ", world.password)
    assert "/accounts/login/" in page.url
