"""Done-when walk in Debian's Chromium: one service order through the whole loop, three personas.

A resident orders 上门家政服务 on the phone page → 陈芳 (shequ) dispatches it to the provider
红管家志愿服务队 (fuwu) on the staff pages → the provider accepts and resolves it → the resident
rates it on the phone page → the staff detail page shows every step with who and when.
Screenshots of every step go to test-artifacts/cases-walk-*.png.
"""

import os
import re

import pytest
from django.urls import include, path

from jiedao.accounts.roles import Role
from jiedao.cases import catalogue, messaging
from jiedao.cases.models import Case, Category, OutboundMessage, OutboundStatus, Status
from tests.browsing import SHOTS, sign_in

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # sync Playwright + live_server

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1366, "height": 900}
LANGONG = "360103012001"


@pytest.fixture
def walk_settings(settings, world):
    # live_server tests flush the database afterwards, which also removes the catalogue that
    # migration 0002 loaded: put it back (idempotent) for whichever browser test runs next.
    catalogue.load(Category)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "cases-browser"}}
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    settings.JIEDAO_MESSAGE_BACKEND = "jiedao.cases.messaging.LogBackend"
    return settings


def shot(page, name, full=True):
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"cases-walk-{name}.png"), full_page=full)


def order_on_phone(phone, base, code, name, mobile, address):
    """The resident's form for service ``code`` in 兰宫路社区, filled in and sent."""
    phone.goto(f"{base}/s/new/{code}/?c={LANGONG}")
    phone.fill("#id_name", name)
    phone.fill("#id_phone", mobile)
    phone.fill("#id_address", address)
    phone.click("button[type=submit]")
    phone.wait_for_url(f"{base}/s/done/")


def no_sideways_scroll(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"page is {width}px wide on a phone"




def open_step(page, slug):
    page.click(f"details.step-{slug} > summary")
    return page.locator(f"form[data-step={slug}]")


def test_service_order_walks_the_whole_loop(live_server, world, browser, walk_settings):
    base = live_server.url
    shequ, fuwu = world.users[Role.COMMUNITY_WORKER], world.users[Role.PROVIDER]

    # 1. The resident, on a phone, orders 上门家政服务 for 兰宫路社区.
    phone_ctx = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    resident = phone_ctx.new_page()
    resident.goto(f"{base}/s/?c={LANGONG}")
    assert resident.locator("#id_c option:checked").inner_text() == "兰宫路社区"
    no_sideways_scroll(resident)
    shot(resident, "1-phone-menu")
    resident.click("a.pub-tile[data-code=svc-housekeeping]")
    assert resident.locator("h1").inner_text() == "上门家政服务"
    # A wrong phone first: the field is named, nothing is created.
    resident.fill("#id_name", "张秀英")
    resident.fill("#id_phone", "1380013800")
    resident.fill("#id_address", "兰宫路小区 12 栋 3 单元 501")
    resident.fill("#id_description", "周六上午打扫厨房和卫生间")
    resident.click("button[type=submit]")
    assert "手机号:手机号须为 11 位" in resident.locator(".pub-alert").inner_text()
    assert not Case.objects.exists()
    shot(resident, "2-phone-bad-input")
    resident.fill("#id_phone", "13800138000")
    shot(resident, "3-phone-order-form")
    # The connection drops after the server registered the order; the resident reloads, which
    # sends the form again: the second sending finds the first one's case.
    dropped = []

    def drop_the_answer(route):
        if not dropped and route.request.method == "POST":
            route.fetch()  # the server receives it and answers …
            dropped.append(route.request.url)
            route.abort("connectionreset")  # … and the answer never arrives
        else:
            route.continue_()

    resident.route("**/s/new/**", drop_the_answer)
    resident.click("button[type=submit]")
    resident.wait_for_url(lambda url: url.startswith("chrome-error://"))  # "no connection"
    assert len(dropped) == 1 and Case.objects.count() == 1
    resident.reload()
    resident.wait_for_url(f"{base}/s/done/")
    code = resident.locator("[data-tracking-code]").inner_text().strip()
    assert re.fullmatch(r"[0-9A-Z]{10}", code)
    no_sideways_scroll(resident)
    shot(resident, "4-phone-tracking-code", full=False)
    case = Case.objects.get(tracking_code=code)
    assert "没有重复登记" in resident.locator("[data-sent-before]").inner_text()
    assert Case.objects.count() == 1
    assert case.status == Status.RECEIVED and case.org_unit.code == LANGONG

    # 2. 陈芳 (community worker) finds it in her list and dispatches it to the provider.
    staff_ctx = browser.new_context(viewport=DESK)
    staff = staff_ctx.new_page()
    sign_in(staff, base, "shequ", world.password)
    staff.goto(f"{base}/cases/?q={code}")
    staff.click(f"a[href='/cases/{case.pk}/']")
    staff.wait_for_url(f"{base}/cases/{case.pk}/")
    shot(staff, "5-staff-received")
    form = open_step(staff, "dispatch")
    form.locator("select[name=handler_unit]").select_option(str(world.units[LANGONG].pk))
    form.locator("select[name=handler]").select_option(str(fuwu.pk))
    form.locator("[name=note]").fill("请红管家志愿服务队周六上午上门")
    form.locator("button[type=submit]").click()
    staff.wait_for_load_state("networkidle")
    case.refresh_from_db()
    assert case.status == Status.DISPATCHED and case.handler_id == fuwu.pk
    shot(staff, "6-staff-dispatched")

    # 3. The provider sees the order (personal data masked), accepts it and resolves it.
    provider_ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    provider = provider_ctx.new_page()
    sign_in(provider, base, "fuwu", world.password)
    provider.goto(f"{base}/cases/")
    assert "上门家政服务" in provider.content()
    shot(provider, "7-provider-orders")
    provider.goto(f"{base}/cases/{case.pk}/")
    page_text = provider.content()
    assert "13800138000" not in page_text and "张秀英" not in page_text
    assert "138****8000" in page_text
    open_step(provider, "accept").locator("button[type=submit]").click()
    provider.wait_for_load_state("networkidle")
    case.refresh_from_db()
    assert case.status == Status.IN_PROGRESS
    form = open_step(provider, "resolve")
    form.locator("select[name=outcome]").select_option("solved")
    form.locator("[name=note]").fill("志愿者两人上门,厨房和卫生间已打扫干净")
    shot(provider, "8-provider-resolving")
    form.locator("button[type=submit]").click()
    provider.wait_for_load_state("networkidle")
    case.refresh_from_db()
    assert case.status == Status.RESOLVED and case.outcome == "solved"
    shot(provider, "9-provider-resolved")

    # 4. The resident follows the progress with code + last four digits and rates it.
    resident.goto(f"{base}/s/track/")
    resident_ctx_fresh = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    resident = resident_ctx_fresh.new_page()  # a new phone session: proves the lookup, not the cookie
    resident.goto(f"{base}/s/track/")
    resident.fill("#id_code", code.lower())
    resident.fill("#id_last4", "8000")
    resident.click("button[type=submit]")
    resident.wait_for_url(f"{base}/s/track/{code}/")
    text = resident.locator("main").inner_text()
    assert "已办结,请您评价" in text and "已派给“兰宫路社区”办理" in text
    assert "承办方已接单,正在办理" in text and "厨房和卫生间已打扫干净" in text
    assert "陈芳" not in text and "shequ" not in text and "张秀英" not in text
    no_sideways_scroll(resident)
    shot(resident, "10-phone-progress")
    resident.click("label.pub-pill:has-text('满意') >> nth=0")
    resident.click("label.pub-pill:has-text('已解决')")
    resident.click("label[for=id_rating_0]")  # the first radio is 5 stars (rendered right-to-left)
    resident.fill("#id_comment", "志愿者很细心,谢谢!")
    shot(resident, "11-phone-rating")
    resident.click("#rate button[type=submit]")
    resident.wait_for_url(re.compile(r".*/s/track/.*\?rated=1$"))
    assert "感谢您的评价" in resident.content()
    shot(resident, "12-phone-rated")
    case.refresh_from_db()
    assert case.status == Status.CLOSED and case.satisfied is True and case.rating == 5

    # 5. The staff timeline shows every step, with who and when.
    staff.goto(f"{base}/cases/{case.pk}/")
    items = staff.locator(".case-timeline li.tl-item")
    actions = items.evaluate_all("els => els.map(e => e.dataset.action)")
    assert actions == ["create", "dispatch", "accept", "resolve", "review"]
    whos = [items.nth(i).locator(".tl-who").inner_text() for i in range(items.count())]
    assert whos[0] == whos[4] == "居民(手机页)"
    assert "shequ" in whos[1] and "fuwu" in whos[2] and "fuwu" in whos[3]
    for i in range(items.count()):
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", items.nth(i).locator("time").inner_text())
    shot(staff, "13-staff-timeline")

    # Messages: the resident was texted on 受理 and 办结 (after commit), the provider via 企业微信.
    sms = OutboundMessage.objects.filter(case=case, channel=messaging.SMS)
    assert sms.count() == 2 and set(sms.values_list("status", flat=True)) == {OutboundStatus.SENT}
    assert OutboundMessage.objects.filter(case=case, channel=messaging.WECOM, recipient="fuwu").exists()
    for ctx in (phone_ctx, staff_ctx, provider_ctx, resident_ctx_fresh):
        ctx.close()
    assert shequ.pk  # the dispatcher persona is the one named on the timeline


urlpatterns = [  # the 外发消息 page, mounted here until the project's urls.py includes it
    path("cases/outbox/", include("jiedao.cases.outbox_urls")),
    path("", include("jiedao.urls")),
]


@pytest.mark.urls(__name__)
def test_rate_limit_page_and_failed_messages_page(live_server, world, browser, walk_settings):
    base = live_server.url
    walk_settings.JIEDAO_PUBLIC_RATE_PER_HOUR = 2
    walk_settings.JIEDAO_MESSAGE_BACKEND = "jiedao.cases.messaging.FailingBackend"
    walk_settings.JIEDAO_MESSAGE_MAX_ATTEMPTS = 1
    phone = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True).new_page()
    for _i in range(3):
        phone.goto(f"{base}/s/track/")
        phone.fill("#id_code", "ABCDEFGHJK")
        phone.fill("#id_last4", "1234")
        phone.click("button[type=submit]")
    assert "操作太频繁" in phone.locator("h1").inner_text()
    no_sideways_scroll(phone)
    shot(phone, "limit-429", full=False)

    # An order whose SMS cannot be sent: it shows up on the staff page and can be sent again.
    phone.context.clear_cookies()
    walk_settings.JIEDAO_PUBLIC_RATE_PER_HOUR = 30
    from django.core.cache import cache
    cache.clear()
    order_on_phone(phone, base, "svc-relief", "李四", "13700137000", "兰宫路小区 4 栋")
    message = OutboundMessage.objects.get(channel=messaging.SMS)
    assert message.status == OutboundStatus.FAILED
    staff = browser.new_context(viewport=DESK).new_page()
    sign_in(staff, base, "shequ", world.password)
    staff.goto(f"{base}/cases/outbox/")
    row = staff.locator(f"tr[data-message='{message.pk}']")
    assert "137****7000" in row.inner_text() and "gateway unreachable" in row.inner_text()
    shot(staff, "outbox-failed")
    walk_settings.JIEDAO_MESSAGE_BACKEND = "jiedao.cases.messaging.LogBackend"
    row.locator("button[type=submit]").click()
    staff.wait_for_load_state("networkidle")
    assert "已重新发送成功" in staff.content()
    message.refresh_from_db()
    assert message.status == OutboundStatus.SENT
    shot(staff, "outbox-retried")


def test_back_and_send_again_registers_one_case(live_server, world, browser, walk_settings):
    """The resident sends the form, goes Back (the browser fetches the form page again and
    fills in what was typed) and sends it again: the same case, said so, not a second one."""
    base = live_server.url
    phone = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True).new_page()
    order_on_phone(phone, base, "svc-housekeeping", "王五", "13600136000", "兰宫路小区 6 栋")
    code = phone.locator("[data-tracking-code]").inner_text().strip()
    assert phone.locator("[data-sent-before]").count() == 0
    phone.go_back()
    phone.wait_for_url(re.compile(r".*/s/new/svc-housekeeping/.*"))
    assert phone.locator("#id_phone").input_value() == "13600136000"  # filled in again by the browser
    phone.click("button[type=submit]")
    phone.wait_for_url(f"{base}/s/done/")
    assert phone.locator("[data-tracking-code]").inner_text().strip() == code
    assert "没有重复登记" in phone.locator("[data-sent-before]").inner_text()
    assert Case.objects.count() == 1
    shot(phone, "phone-sent-again", full=False)
