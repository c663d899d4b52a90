"""In Debian's Chromium: the staff inbox and a case's detail page at desktop and phone width,
and the provider's phone view. Screenshots go to test-artifacts/ (look at them)."""

from __future__ import annotations

import os
import struct
import zlib

import pytest

from jiedao.accounts.roles import Role
from jiedao.audit.trail import Actor
from jiedao.cases import catalogue, services
from jiedao.cases.models import Case, Category, Channel, Status
from tests.browsing import SHOTS, sign_in

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright + live_server

pytestmark = pytest.mark.browser
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain-colour PNG, enough for a thumbnail."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))




def no_sideways_scroll(page, width):
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def cases(world):
    # live_server tests flush the database between tests, the migration-loaded catalogue too
    catalogue.load(Category)
    shequ = world.users[Role.COMMUNITY_WORKER]
    by = Actor(user=shequ)
    langong = world.units["360103012001"]
    demand = Category.objects.filter(kind="demand").first()
    made = [services.case_create(by, title=f"楼道堆放杂物影响通行({i}号楼)", channel=Channel.HOTLINE,
                                 category=demand, org_unit=langong, address=f"兰宫路{i}号",
                                 requester_name="张三丰", requester_phone="13800138000",
                                 description="居民来电反映楼道内堆放纸箱、旧家具,影响通行和消防安全。")
            for i in range(1, 6)]
    order = services.case_create(by, title="上门家政服务:擦窗", channel=Channel.WEB,
                                 category=Category.objects.get(code="svc-housekeeping"), org_unit=langong,
                                 requester_name="周小梅", requester_phone="13900139000", address="兰宫路3号")
    services.dispatch(by, order, version=order.version, handler_unit=langong,
                      handler=world.users[Role.PROVIDER], note="请今天联系居民")
    return made, order


def test_inbox_and_case_detail_desktop_and_phone(live_server, world, page, cases):
    SHOTS.mkdir(exist_ok=True)
    made, _order = cases
    case = made[0]
    page.set_viewport_size(DESKTOP)
    sign_in(page, live_server.url, "shequ", world.password)
    page.goto(f"{live_server.url}/cases/")
    assert page.locator(".tabs a.is-current").inner_text().startswith("待派单")
    assert page.locator(f"tr[data-case='{case.tracking_code}']").count() == 1
    assert "张**" in page.content() and "张三丰" not in page.content()
    page.screenshot(path=str(SHOTS / "cases-inbox-desktop.png"), full_page=True)

    # search narrows the table in place (htmx)
    page.fill("#id_q", "3号楼")
    page.wait_for_function("document.querySelectorAll('#case-table tr[data-case]').length === 1")

    page.goto(f"{live_server.url}/cases/{case.pk}/")
    page.click("details.step-dispatch > summary")
    # the open form lengthens the side column; the cards on the left stay one gap apart
    facts = page.locator(".case-facts").bounding_box()
    timeline = page.locator(".case-timeline").bounding_box()
    assert timeline["y"] - (facts["y"] + facts["height"]) == pytest.approx(16, abs=1)
    page.screenshot(path=str(SHOTS / "cases-detail-dispatch-open.png"), full_page=True)
    page.select_option("details.step-dispatch select[name=handler_unit]", label="城管办(科室)")
    page.fill("details.step-dispatch textarea[name=note]", "请城管办三日内清理")
    page.click("details.step-dispatch button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "已派单" in page.content()
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED

    page.click("details.step-attach > summary")
    photo = {"name": "现场.png", "mimeType": "image/png", "buffer": png(160, 120, (190, 120, 60))}
    page.set_input_files("details.step-attach input[type=file]", files=[photo])
    page.click("details.step-attach button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert page.locator(".case-media img").count() == 1
    page.click("#requester button")
    page.wait_for_selector("text=已显示完整信息")
    assert "13800138000" in page.content()
    page.screenshot(path=str(SHOTS / "cases-detail-desktop.png"), full_page=True)

    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/cases/?tab=all")
    no_sideways_scroll(page, PHONE["width"])
    page.screenshot(path=str(SHOTS / "cases-inbox-phone.png"), full_page=True)
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    no_sideways_scroll(page, PHONE["width"])
    page.screenshot(path=str(SHOTS / "cases-detail-phone.png"), full_page=True)


def test_a_common_words_count_arrives_after_the_list(live_server, world, page, cases, monkeypatch):
    """A search the page does not count itself (a common word): the rows come with the list,
    "正在计数…" stands in the foot, and htmx replaces it with the count."""
    from jiedao.cases import search

    monkeypatch.setattr(search, "DENSE_MATCHES", 0)  # the live server runs in this process
    page.set_viewport_size(DESKTOP)
    sign_in(page, live_server.url, "shequ", world.password)
    page.goto(f"{live_server.url}/cases/?tab=all")
    page.fill("#id_q", "楼道")
    page.wait_for_function("document.querySelectorAll('#case-table tr[data-case]').length === 5")
    page.wait_for_function("document.querySelector('#case-total').textContent.includes('共 5 条')")
    assert page.locator("#case-total[hx-get]").count() == 0
    assert page.locator("#current-tab-count").inner_text() == "5"  # the tab's badge too
    page.screenshot(path=str(SHOTS / "cases-inbox-search-count.png"), full_page=True)

    # A count that fails says so (not "正在计数…" for ever), and a click asks again.
    page.route("**/cases/count/**", lambda route: route.fulfill(status=500, body="error"))
    page.goto(f"{live_server.url}/cases/?tab=all&q=%E6%A5%BC%E9%81%93")
    page.wait_for_function("document.querySelector('#case-total').textContent.includes('未能计数')")
    assert page.locator("#case-total.is-failed").count() == 1
    page.screenshot(path=str(SHOTS / "cases-inbox-count-failed.png"), full_page=True)
    page.unroute("**/cases/count/**")
    page.click("#case-total")
    page.wait_for_function("document.querySelector('#case-total').textContent.includes('共 5 条')")


def test_going_back_shows_the_filters_of_the_list_shown(live_server, world, page, cases):
    """Each filter change pushes the list's address (htmx); Back restores the earlier list and
    its filters together, not the list with the fields as they were last set."""
    made, _order = cases
    Case.objects.filter(pk=made[0].pk).update(deadline_at=made[0].created_at)  # one overdue case
    page.set_viewport_size(DESKTOP)
    sign_in(page, live_server.url, "shequ", world.password)
    page.goto(f"{live_server.url}/cases/?tab=all")
    rows = "document.querySelectorAll('#case-table tr[data-case]').length"
    page.wait_for_function(f"{rows} === 6")
    page.select_option("#id_status", "received")
    page.wait_for_function(f"{rows} === 5 && location.search.includes('status=received')")
    page.check("#id_overdue")
    page.wait_for_function(f"{rows} === 1 && location.search.includes('overdue=on')")
    page.go_back()
    page.wait_for_function(f"!location.search.includes('overdue') && {rows} === 5")
    assert page.input_value("#id_status") == "received" and not page.is_checked("#id_overdue")
    page.go_back()
    page.wait_for_function(f"!location.search.includes('status') && {rows} === 6")
    assert page.input_value("#id_status") == "" and not page.is_checked("#id_overdue")
    page.screenshot(path=str(SHOTS / "cases-inbox-back.png"), full_page=True)


def test_provider_accepts_and_resolves_on_a_phone(live_server, world, page, cases):
    SHOTS.mkdir(exist_ok=True)
    _made, order = cases
    page.set_viewport_size(PHONE)
    sign_in(page, live_server.url, "fuwu", world.password)
    page.goto(f"{live_server.url}/cases/")
    card = page.locator(f"li[data-case='{order.tracking_code}']")
    assert "周*" in card.inner_text() and "139****9000" in card.inner_text()
    no_sideways_scroll(page, PHONE["width"])
    page.screenshot(path=str(SHOTS / "cases-provider-phone.png"), full_page=True)
    card.locator("button", has_text="接单").click()
    page.wait_for_load_state("networkidle")
    page.click("details.step-resolve > summary")
    page.select_option("details.step-resolve select[name=outcome]", "solved")
    page.fill("details.step-resolve textarea[name=note]", "已上门擦窗,居民满意")
    page.screenshot(path=str(SHOTS / "cases-provider-detail-phone.png"), full_page=True)
    page.click("details.step-resolve button[type=submit]")
    page.wait_for_load_state("networkidle")
    order.refresh_from_db()
    assert order.status == Status.RESOLVED
    assert Case.objects.get(pk=order.pk).handler == world.users[Role.PROVIDER]


def test_intake_supervision_and_kpis_pages(live_server, world, page, cases):
    SHOTS.mkdir(exist_ok=True)
    made, _order = cases
    lingdao = world.users[Role.LEADER]
    services.supervise(Actor(user=lingdao), made[1], version=made[1].version, note="三日内清理完毕")
    services.assign_owner(Actor(user=lingdao), made[1], version=made[1].version, owner=lingdao)
    page.set_viewport_size(DESKTOP)
    sign_in(page, live_server.url, "shequ", world.password)
    page.goto(f"{live_server.url}/cases/new/")
    page.select_option("#id_category", label="民生诉求·群众诉求")
    page.select_option("#id_org_unit", label="兰宫路社区(社区)")
    page.fill("#id_title", "楼道堆放杂物影响通行")
    page.wait_for_selector(".similar-list li")  # duplicates suggested while typing
    assert page.locator(".similar-list li").count() >= 1
    page.screenshot(path=str(SHOTS / "cases-intake-desktop.png"), full_page=True)
    page.click("form[action$='/accounts/logout/'] button")

    sign_in(page, live_server.url, "lingdao", world.password)
    page.goto(f"{live_server.url}/cases/supervision/")
    assert "三日内清理完毕" in page.content()
    assert page.locator("tr[data-owner='lingdao']").count() == 1
    page.screenshot(path=str(SHOTS / "cases-supervision-desktop.png"), full_page=True)
    page.goto(f"{live_server.url}/cases/kpis/")
    assert page.locator("table.kpis tr.total").count() == 1
    page.screenshot(path=str(SHOTS / "cases-kpis-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/cases/kpis/")
    no_sideways_scroll(page, PHONE["width"])
    # each stacked cell holds its column name, two lines long or not (平均签收用时(小时))
    label = page.locator("table.kpis tr.total td[data-kpi=avg_accept_hours]")
    assert label.evaluate("td => td.getBoundingClientRect().height") > 40
    page.screenshot(path=str(SHOTS / "cases-kpis-phone.png"), full_page=True)
    page.goto(f"{live_server.url}/cases/inbox/")
    no_sideways_scroll(page, PHONE["width"])
    page.screenshot(path=str(SHOTS / "cases-notifications-phone.png"), full_page=True)
