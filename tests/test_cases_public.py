"""The resident's phone page (/s/): order, file, track with code + phone, rate; limits and errors."""

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEvent
from jiedao.audit.trail import Actor
from jiedao.cases import public, services
from jiedao.cases.models import Attachment, Case, CaseEvent, PublicSubmission, Status
from jiedao.cases.public import PUBLIC_ACTOR_LABEL

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
LANGONG = "360103012001"


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    # A private in-memory cache per test: the real one is shared by every process.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "public-tests"}}
    from django.core.cache import cache
    cache.clear()
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def resident():
    return Client(enforce_csrf_checks=True)


def _csrf(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return client.cookies["csrftoken"].value


def _form_key(html):
    """The one-time key of the form page (its hidden field)."""
    return re.search(r'<input type="hidden" name="key" value="([^"]+)">', html).group(1)


def _opened(client, code="svc-housekeeping", **fields):
    """What the form page, just opened, sends once filled in: its CSRF token and one-time key,
    the usual answers, ``fields`` instead (None leaves a field out)."""
    page = client.get(reverse("public:submit", args=[code]))
    data = {"csrfmiddlewaretoken": client.cookies["csrftoken"].value, "key": _form_key(page.content.decode()),
            "community": LANGONG, "name": "张三", "phone": "138 0013 8000",
            "address": "兰宫路 12 栋 3 单元 501", "description": "每周打扫一次", **fields}
    return {k: v for k, v in data.items() if v is not None}


def _send(client, data, code="svc-housekeeping"):
    """Send the form (again: a double tap, a resend, the back button send the same data)."""
    return client.post(reverse("public:submit", args=[code]), data)


def _order(client, code="svc-housekeeping", **fields):
    """Open the form page and send it: one sending of a freshly opened form."""
    return _send(client, _opened(client, code, **fields), code)


def _lookup(client, code, last4):
    url = reverse("public:track")
    return client.post(url, {"csrfmiddlewaretoken": _csrf(client, url), "code": code, "last4": last4})


def test_home_lists_the_menu_by_group_and_preselects_the_community(world, resident):
    response = resident.get(reverse("public:home") + f"?c={LANGONG}")
    html = response.content.decode()
    assert response.status_code == 200
    for text in ("在职人群", "上门家政服务", "青少年", "心理疏导", "困难群众", "帮扶救助", "红管家",
                 "物业服务", "群众诉求"):
        assert text in html
    assert "12345热线转办" not in html  # not public
    assert "消防安全隐患" not in html
    assert f'<option value="{LANGONG}" selected>兰宫路社区</option>' in html
    assert f'href="/s/new/svc-housekeeping/?c={LANGONG}"' in html
    assert "南浦社区" in html  # every street's communities can be chosen


def test_order_gives_a_tracking_code_and_creates_one_case(world, resident):
    response = _order(resident)
    assert response.status_code == 302 and response.url == reverse("public:done")
    case = Case.objects.get()
    assert case.status == Status.RECEIVED and case.kind == "service_order"
    assert case.title == "上门家政服务" and case.channel == "web"
    assert case.org_unit.code == LANGONG and case.street.code == "360103012"
    assert case.requester_phone == "13800138000" and case.requester_name == "张三"
    event = case.events.get()
    assert event.actor_id is None and event.actor_label == PUBLIC_ACTOR_LABEL
    audit = AuditEvent.objects.get(event_type="cases.create", target_id=str(case.pk))
    assert audit.client_ip == "127.0.0.1"
    done = resident.get(response.url).content.decode()
    assert f"data-tracking-code>{case.tracking_code}<" in done
    assert "请记下" in done
    # The tracking code is not in the address bar, and a new browser sees no done page.
    assert Client().get(reverse("public:done")).status_code == 302


def test_the_same_form_sent_twice_registers_one_case(world, resident):
    data = _opened(resident)
    first = _send(resident, data)
    assert first.status_code == 302
    assert "data-sent-before" not in resident.get(first.url).content.decode()
    again = _send(resident, data)
    assert again.status_code == 302 and again.url == reverse("public:done")
    case = Case.objects.get()
    assert PublicSubmission.objects.get().case == case
    done = resident.get(again.url).content.decode()
    assert f"data-tracking-code>{case.tracking_code}<" in done and "data-sent-before" in done
    assert case.events.count() == 1
    assert AuditEvent.objects.filter(event_type="cases.create").count() == 1
    # A form opened afresh with something else in it is a new sending.
    assert _order(resident, description="再预约一次").status_code == 302 and Case.objects.count() == 2


def test_the_same_words_sent_again_with_a_new_key_are_that_sending(world, resident):
    """Back fetches the form page anew (a new key) and the browser fills in what was typed:
    the same words for the same service from the same phone are the earlier sending, for
    ``RESEND_MINUTES``; after that, or with other words, a new case."""
    assert _order(resident).status_code == 302
    first = Case.objects.get()
    again = _order(resident)  # a fresh form page, the same answers
    assert again.status_code == 302 and Case.objects.count() == 1
    assert "data-sent-before" in resident.get(again.url).content.decode()
    assert _order(resident, phone="13700137000").status_code == 302 and Case.objects.count() == 2
    Case.objects.filter(pk=first.pk).update(
        created_at=first.created_at - dt.timedelta(minutes=public.RESEND_MINUTES + 1))
    assert _order(resident).status_code == 302 and Case.objects.count() == 3


def test_a_spent_key_with_another_phone_is_refused_and_replaced(world, resident):
    data = _opened(resident)
    assert _send(resident, data).status_code == 302
    case = Case.objects.get()
    stranger = Client(enforce_csrf_checks=True)
    refused = _send(stranger, {**_opened(stranger), "key": data["key"], "phone": "13700137000"})
    html = refused.content.decode()
    assert refused.status_code == 400 and "这张表单已经提交过" in html
    assert case.tracking_code not in html  # someone else's key reveals nothing
    assert _form_key(html) != data["key"] and Case.objects.count() == 1
    assert stranger.get(reverse("public:done")).status_code == 302


def test_a_corrected_form_keeps_its_key_and_a_missing_key_is_named(world, resident):
    bad = _order(resident, phone="12345")
    html = bad.content.decode()
    assert bad.status_code == 400 and "手机号须为 11 位" in html
    key = _form_key(html)
    data = {**_opened(resident), "key": key}
    assert PublicSubmission.objects.count() == 0
    assert _send(resident, data).status_code == 302
    assert PublicSubmission.objects.get().key == key
    missing = _send(resident, {**data, "key": ""})
    assert missing.status_code == 400 and "表单已失效,请核对内容后再提交一次" in missing.content.decode()
    assert Case.objects.count() == 1


def test_two_sendings_racing_register_one_case(world, resident, monkeypatch):
    """The second sending read no earlier one (the first had not committed), so its insert of the
    key fails; it rolls back whole and shows the first sending's case."""
    data = _opened(resident)
    assert _send(resident, data).status_code == 302
    first = Case.objects.get()
    looked = []
    real = public._sent_before

    def not_yet_committed(k):
        looked.append(k)
        return None if len(looked) == 1 else real(k)

    monkeypatch.setattr(public, "_sent_before", not_yet_committed)
    monkeypatch.setattr(public, "_resent", lambda category, data: None)  # not committed either
    again = _send(resident, data)
    assert again.status_code == 302 and len(looked) == 2
    assert list(Case.objects.all()) == [first]
    assert CaseEvent.objects.count() == 1
    assert AuditEvent.objects.filter(event_type="cases.create").count() == 1
    assert f"data-tracking-code>{first.tracking_code}<" in resident.get(again.url).content.decode()


def test_request_with_a_photo(world, resident):
    photo = SimpleUploadedFile("楼道.png", PNG, content_type="image/png")
    response = _order(resident, code="dispute-property", photo=photo,
                      description="楼道灯坏了三个月,物业一直不修。请尽快处理")
    assert response.status_code == 302
    case = Case.objects.get()
    assert case.kind == "dispute" and case.title == "物业服务:楼道灯坏了三个月,物业一直不修"
    attachment = Attachment.objects.get(case=case)
    assert attachment.stage == "before" and attachment.content_type == "image/png"


@pytest.mark.parametrize(("fields", "field_label", "message"), [
    ({"phone": "12345"}, "手机号", "手机号须为 11 位"),
    ({"phone": ""}, "手机号", "请填写手机号"),
    ({"name": "  "}, "您的姓名", "请填写您的姓名"),
    ({"community": "999999999999"}, "所在社区", "所选社区不存在"),
    ({"address": ""}, "地址", "请填写地址"),  # a home visit needs the address
])
def test_bad_input_names_the_field_and_creates_nothing(world, resident, fields, field_label, message):
    response = _order(resident, **fields)
    assert response.status_code == 400
    html = response.content.decode()
    assert f"{field_label}:" in html and message in html
    assert not Case.objects.exists() and not CaseEvent.objects.exists()


def test_a_request_needs_a_description(world, resident):
    response = _order(resident, code="demand-general", description="")
    assert response.status_code == 400 and "请填写具体情况" in response.content.decode()
    assert not Case.objects.exists()


def test_a_bad_photo_rolls_everything_back(world, resident):
    fake = SimpleUploadedFile("x.jpg", b"MZ\x90\x00 not an image at all", content_type="image/jpeg")
    response = _order(resident, photo=fake)
    assert response.status_code == 400
    assert "照片(可选):照片须为 JPEG、PNG、GIF 或 WebP 图片" in response.content.decode()
    assert not Case.objects.exists() and not Attachment.objects.exists()


def test_an_oversized_photo_is_refused(world, resident, settings):
    settings.JIEDAO_ATTACHMENT_MAX_BYTES = 50
    big = SimpleUploadedFile("big.png", PNG + b"\0" * 100, content_type="image/png")
    response = _order(resident, photo=big)
    assert response.status_code == 400 and "超过上限" in response.content.decode()
    assert not Case.objects.exists()


def test_a_merged_case_tells_the_progress_of_the_primary(world, resident):
    _order(resident)
    _order(resident, name="李四", phone="13700137000")
    dup, primary = Case.objects.order_by("created_at", "pk")
    shequ = world.users[Role.COMMUNITY_WORKER]
    services.dispatch(Actor(user=shequ), primary, version=primary.version, handler=world.users[Role.PROVIDER])
    services.merge(Actor(user=shequ), dup, version=dup.version, primary=primary)
    other = Client(enforce_csrf_checks=True)
    page = other.get(_lookup(other, dup.tracking_code, "8000").url).content.decode()
    assert "与相同问题的工单合并办理" in page and "当前进度:已派给承办单位" in page
    assert primary.tracking_code not in page  # the other requester's code is theirs alone


def test_a_non_public_or_unknown_category_is_404(world, resident):
    assert resident.get(reverse("public:submit", args=["demand-12345"])).status_code == 404
    assert resident.get(reverse("public:submit", args=["nope"])).status_code == 404


def test_csrf_is_enforced(world, resident):
    url = reverse("public:submit", args=["svc-housekeeping"])
    response = resident.post(url, {"community": LANGONG, "name": "张三", "phone": "13800138000",
                                   "address": "x"})
    assert response.status_code == 403
    assert not Case.objects.exists()


def test_tracking_needs_code_and_the_last_four_digits(world, resident):
    _order(resident)
    case = Case.objects.get()
    stranger = Client(enforce_csrf_checks=True)
    # Without the check, the progress page sends the visitor to the lookup form.
    response = stranger.get(reverse("public:progress", args=[case.tracking_code]))
    assert response.status_code == 302 and reverse("public:track") in response.url
    wrong = _lookup(stranger, case.tracking_code, "0000")
    unknown = _lookup(stranger, "ZZZZZZZZZZ", "8000")
    for response in (wrong, unknown):
        assert response.status_code == 400
        assert "查询码与手机号后四位不匹配" in response.content.decode()
    bad = _lookup(stranger, case.tracking_code, "80a0")
    assert "手机号后四位须为 4 位数字" in bad.content.decode()
    ok = _lookup(stranger, case.tracking_code.lower(), "8000")
    assert ok.status_code == 302
    page = stranger.get(ok.url).content.decode()
    assert "上门家政服务" in page and "您的服务预约已受理" in page
    assert "张*" in page and "138****8000" in page
    assert "13800138000" not in page and "张三" not in page


def test_timeline_in_plain_words_names_units_not_staff(world, resident):
    _order(resident)
    case = Case.objects.get()
    shequ, fuwu = world.users[Role.COMMUNITY_WORKER], world.users[Role.PROVIDER]
    services.add_note(Actor(user=shequ), case, note="内部备注:联系人陈芳 13912345678")
    case.refresh_from_db()
    services.dispatch(Actor(user=shequ), case, version=case.version, handler=fuwu,
                      handler_unit=world.units[LANGONG])
    services.accept(Actor(user=fuwu), case, version=case.version)
    services.resolve(Actor(user=fuwu), case, version=case.version, outcome="solved",
                     note=f"已上门保洁,联系电话 13912345678、+86 139-1234-5678,{fuwu.full_name}负责;"
                          "身份证 11010519491231002X,邮箱 zhao@example.com")
    page = resident.get(reverse("public:progress", args=[case.tracking_code])).content.decode()
    assert "已派给“兰宫路社区”办理" in page and "承办方已接单,正在办理" in page
    assert "已办结,办理结果:解决" in page and "已上门保洁" in page
    assert page.count("139****5678") == 2 and "13912345678" not in page and "139-1234" not in page
    assert fuwu.full_name and fuwu.full_name not in page and f"{fuwu.full_name[0]}*" in page
    assert "110105********002X" in page and "19491231" not in page and "zhao@" not in page
    assert "内部备注" not in page
    for name in ("陈芳", "shequ", "fuwu", "红管家志愿服务队"):
        assert name not in page
    assert 'id="rate"' in page  # 待回访: the rating form is offered


def _resolved(world, resident):
    _order(resident)
    case = Case.objects.get()
    shequ, fuwu = world.users[Role.COMMUNITY_WORKER], world.users[Role.PROVIDER]
    services.dispatch(Actor(user=shequ), case, version=case.version, handler=fuwu)
    services.accept(Actor(user=fuwu), case, version=case.version)
    services.resolve(Actor(user=fuwu), case, version=case.version, outcome="solved", note="已上门")
    return case


def _rate(client, case, **fields):
    page = reverse("public:progress", args=[case.tracking_code])
    data = {"csrfmiddlewaretoken": _csrf(client, page), "version": case.version, "satisfied": "1",
            "solved": "1", "rating": "5", "comment": "阿姨很细心"}
    data.update(fields)
    return client.post(reverse("public:rate", args=[case.tracking_code]),
                       {k: v for k, v in data.items() if v is not None})


def test_rating_closes_the_case(world, resident):
    case = _resolved(world, resident)
    response = _rate(resident, case)
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == Status.CLOSED and case.satisfied is True and case.rating == 5
    assert case.solved_by_review is True
    review = case.events.get(action="review")
    assert review.actor_label == PUBLIC_ACTOR_LABEL and review.note == "阿姨很细心"
    page = resident.get(response.url).content.decode()
    assert "感谢您的评价" in page and "★★★★★" in page and 'id="rate"' not in page
    # Rating twice is refused and changes nothing.
    again = _rate(resident, case, rating="1")
    assert again.status_code == 409
    case.refresh_from_db()
    assert case.rating == 5


def test_unsatisfied_rating_reopens(world, resident):
    case = _resolved(world, resident)
    response = _rate(resident, case, satisfied="0", solved="0", rating="2")
    case.refresh_from_db()
    assert case.status == Status.IN_PROGRESS and case.reopen_count == 1
    page = resident.get(response.url).content.decode()  # handled again: the old result is gone
    assert "回访评价:不满意,重新办理" in page and 'class="pub-result"' not in page and "已上门" not in page


def test_rating_needs_the_phone_check_and_valid_answers(world, resident):
    case = _resolved(world, resident)
    stranger = Client(enforce_csrf_checks=True)
    _csrf(stranger, reverse("public:track"))
    response = stranger.post(reverse("public:rate", args=[case.tracking_code]),
                             {"csrfmiddlewaretoken": stranger.cookies["csrftoken"].value,
                              "version": case.version, "satisfied": "1", "solved": "1", "rating": "5"})
    assert response.status_code == 302 and reverse("public:track") in response.url
    bad = _rate(resident, case, rating="9", satisfied=None)
    assert bad.status_code == 400
    html = bad.content.decode()
    assert "评分须为 1 到 5 星" in html and "请选择是否满意" in html
    broken = _rate(resident, case, version=None)  # the hidden field missing: say what to do
    assert broken.status_code == 400 and "页面已过期,请刷新后再评价" in broken.content.decode()
    stale = _rate(resident, case, version=case.version - 1)
    assert stale.status_code == 409 and "新进展" in stale.content.decode()
    case.refresh_from_db()
    assert case.status == Status.RESOLVED and case.reviewed_at is None


def test_submissions_are_rate_limited_per_address(world, resident, settings):
    settings.JIEDAO_PUBLIC_RATE_PER_HOUR = 2
    assert _order(resident).status_code == 302
    assert _order(resident, description="另一件事").status_code == 302
    response = _order(resident, description="第三件事")
    assert response.status_code == 429
    assert "操作太频繁" in response.content.decode() and int(response["Retry-After"]) > 0
    assert Case.objects.count() == 2
    # Another address is not affected.
    other = Client(enforce_csrf_checks=True, REMOTE_ADDR="10.0.0.9")
    assert _order(other).status_code == 302


def test_lookups_are_rate_limited_per_tracking_code(world, resident, settings):
    _order(resident)
    case = Case.objects.get()
    settings.JIEDAO_PUBLIC_RATE_PER_HOUR = 3
    # Guessing the last four digits from many addresses still hits the per-code limit.
    statuses = []
    for i in range(4):
        client = Client(enforce_csrf_checks=True, REMOTE_ADDR=f"10.0.1.{i}")
        statuses.append(_lookup(client, case.tracking_code, f"{i:04d}").status_code)
    assert statuses == [400, 400, 400, 429]
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR="10.0.2.1")
    assert _lookup(client, case.tracking_code, "8000").status_code == 429  # even the right answer, for now
