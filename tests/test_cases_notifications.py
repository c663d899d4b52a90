"""Notifications: inbox rows for the right people, SMS/企业微信 queued with the step and sent
after commit, failures retried with backoff and kept visible (never lost)."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.urls import include, path
from django.utils import timezone

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEvent
from jiedao.audit.trail import Actor, atomic
from jiedao.cases import messaging, notifications, services
from jiedao.cases.models import Category, Channel, Notification, OutboundMessage, OutboundStatus

IMMEDIATE = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
SENT: list[tuple[str, str, str]] = []


class RecordingBackend(messaging.BaseBackend):
    def send(self, message):
        SENT.append((message.channel, message.recipient, message.text))


class FlakyBackend(messaging.BaseBackend):
    """Fails while ``FlakyBackend.down`` is true."""

    down = True

    def send(self, message):
        if FlakyBackend.down:
            raise ConnectionError("短信网关无响应")
        SENT.append((message.channel, message.recipient, message.text))


@pytest.fixture(autouse=True)
def _recording(settings):
    SENT.clear()
    settings.JIEDAO_MESSAGE_BACKEND = f"{__name__}.RecordingBackend"
    settings.TASKS = IMMEDIATE


def _order(world, **extra):
    shequ = world.users[Role.COMMUNITY_WORKER]
    return services.case_create(
        Actor(user=shequ), title="上门家政服务", channel=Channel.PHONE,
        category=Category.objects.get(code="svc-housekeeping"), community=world.units["360103012001"],
        requester_name="张三", requester_phone="13800138000", **extra)


def _inbox(user):
    return sorted(Notification.objects.filter(user=user).values_list("event__action", flat=True))


def test_inbox_rows_go_to_handler_owner_and_requester_of_their_steps(
        world, django_capture_on_commit_callbacks):
    shequ, fuwu = world.users[Role.COMMUNITY_WORKER], world.users[Role.PROVIDER]
    lingdao, jumin = world.users[Role.LEADER], world.users[Role.RESIDENT]
    with django_capture_on_commit_callbacks(execute=True):
        case = _order(world, requester_user=jumin)
        services.assign_owner(Actor(user=lingdao), case, version=case.version, owner=lingdao)
        services.dispatch(Actor(user=shequ), case, version=case.version, handler=fuwu,
                          handler_unit=world.units["360103012001"])
        services.supervise(Actor(user=lingdao), case, version=case.version, note="本周内上门")
        services.accept(Actor(user=fuwu), case, version=case.version)
        services.resolve(Actor(user=fuwu), case, version=case.version, outcome="solved", note="已上门打扫")
    # The handler hears of dispatch and supervision, not of its own accept/resolve.
    assert _inbox(fuwu) == ["dispatch", "supervise"]
    # The owner hears of the resolve, not of the 包案/督办 he did himself.
    assert _inbox(lingdao) == ["resolve"]
    # The resident with an account hears of intake, acceptance and the result.
    assert _inbox(jumin) == ["accept", "create", "resolve"]
    # The community worker who dispatched it hears that it was resolved (the 回访 is hers).
    assert _inbox(shequ) == ["resolve"]
    note = Notification.objects.get(user=fuwu, event__action="dispatch")
    assert case.tracking_code in note.text and "派单" in note.text
    # who took the step and what they wrote (a phone in it masked: the text goes to 企业微信 too)
    told = Notification.objects.get(user=jumin, event__action="resolve").text  # the resident: no staff
    assert told.endswith("办结") and fuwu.full_name not in told and "已上门打扫" not in told
    supervised = Notification.objects.get(user=fuwu, event__action="supervise").text
    assert supervised.endswith(f"督办({lingdao.full_name}:本周内上门)"), supervised
    event = case.events.get(action="supervise")
    event.note = "请联系居民 13912345678," + "尽快" * 40
    text = notifications.text_for(case, event)
    assert "139****5678" in text and "13912345678" not in text and text.endswith("…)")

    # SMS to the requester's mobile on 受理 and 办结 with the tracking code; 企业微信 to staff.
    sms = OutboundMessage.objects.filter(channel=messaging.SMS).order_by("pk")
    assert [m.recipient for m in sms] == ["13800138000", "13800138000"]
    assert all(case.tracking_code in m.text for m in sms)
    assert "已受理" in sms[0].text and "已办结" in sms[1].text
    wecom = OutboundMessage.objects.filter(channel=messaging.WECOM)
    assert sorted(wecom.values_list("recipient", flat=True)) == ["fuwu", "fuwu", "lingdao", "shequ"]
    # All sent after commit through the configured backend.
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {OutboundStatus.SENT}
    assert len(SENT) == 6


def test_a_case_given_to_a_unit_tells_the_people_who_work_there(world):
    """No person named: everyone who works the handling unit's cases hears of it (in-app and
    企业微信), not the provider or a resident of the community, nor the dispatcher."""
    shequ, staff = world.users[Role.COMMUNITY_WORKER], world.users[Role.STAFF]
    department = staff.memberships.get(role=Role.STAFF).unit
    case = _order(world)
    services.dispatch(Actor(user=shequ), case, version=case.version, handler_unit=department)
    told = set(Notification.objects.filter(event__action="dispatch").values_list("user", flat=True))
    assert told == {staff.pk}
    services.supervise(Actor(user=world.users[Role.LEADER]), case, version=case.version, note="尽快")
    assert _inbox(staff) == ["dispatch", "supervise"]
    community = world.units["360103012001"]
    services.redispatch(Actor(user=world.users[Role.LEADER]), case, version=case.version,
                        handler_unit=community, note="改由社区办")
    told = set(Notification.objects.filter(event__action="redispatch").values_list("user", flat=True))
    assert told == {shequ.pk}  # the community's worker; not its provider or resident
    assert world.users[Role.PROVIDER].pk not in told and world.users[Role.RESIDENT].pk not in told


def test_the_dispatcher_hears_that_the_case_came_back(world):
    shequ, staff = world.users[Role.COMMUNITY_WORKER], world.users[Role.STAFF]
    department = staff.memberships.get(role=Role.STAFF).unit
    case = _order(world)
    services.dispatch(Actor(user=shequ), case, version=case.version, handler_unit=department)
    services.return_case(Actor(user=staff), case, version=case.version, reason="不属于本科室")
    assert _inbox(shequ) == ["return"]
    assert _inbox(staff) == ["dispatch"]  # not of the return it made itself


def test_landline_gets_no_sms(world, django_capture_on_commit_callbacks):
    shequ = world.users[Role.COMMUNITY_WORKER]
    services.case_create(Actor(user=shequ), title="楼道杂物", channel=Channel.PHONE, kind="demand",
                         community=world.units["360103012001"], requester_phone="0791-86660000")
    assert not OutboundMessage.objects.filter(channel=messaging.SMS).exists()


def test_nothing_is_queued_or_sent_when_the_step_rolls_back(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), atomic():
            _order(world, requester_user=world.users[Role.RESIDENT])
            raise RuntimeError("later part of the same request failed")
    assert not OutboundMessage.objects.exists()
    assert not Notification.objects.exists()
    assert SENT == []
    assert callbacks == []


def test_a_refused_step_queues_nothing(world, django_capture_on_commit_callbacks):
    case = _order(world)
    before = OutboundMessage.objects.count()
    stale = case.version
    shequ = world.users[Role.COMMUNITY_WORKER]
    services.dispatch(Actor(user=shequ), case, version=stale, handler=world.users[Role.PROVIDER])
    with pytest.raises(services.CaseConflict):
        services.dispatch(Actor(user=shequ), case, version=stale, handler=world.users[Role.PROVIDER])
    assert OutboundMessage.objects.count() == before + 1  # only the first dispatch's 企业微信


def test_sending_waits_for_the_commit(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            _order(world)
            message = OutboundMessage.objects.get(channel=messaging.SMS)
            assert message.status == OutboundStatus.PENDING
        assert SENT == []  # not yet: the transaction is only now being committed
    for callback in callbacks:
        callback()
    message.refresh_from_db()
    assert message.status == OutboundStatus.SENT and message.attempts == 1
    assert SENT[0][1] == "13800138000"


def test_failure_is_retried_with_backoff_and_then_succeeds(
        world, settings, django_capture_on_commit_callbacks):
    settings.JIEDAO_MESSAGE_BACKEND = f"{__name__}.FlakyBackend"
    FlakyBackend.down = True
    with django_capture_on_commit_callbacks(execute=True):
        _order(world)
    message = OutboundMessage.objects.get(channel=messaging.SMS)
    assert message.status == OutboundStatus.PENDING
    assert message.attempts == 1 and "短信网关无响应" in message.last_error
    first_retry = message.next_attempt_at
    assert first_retry > timezone.now()

    # Not due yet: the sweep leaves it alone.
    assert messaging.send_due() == {}
    # Due, still down: the second attempt waits longer (backoff doubles).
    later = first_retry + dt.timedelta(seconds=1)
    assert messaging.send_due(now=later) == {OutboundStatus.PENDING: 1}
    message.refresh_from_db()
    assert message.attempts == 2
    assert message.next_attempt_at - later == messaging.backoff(2) > messaging.backoff(1)

    FlakyBackend.down = False
    assert messaging.send_due(now=message.next_attempt_at) == {OutboundStatus.SENT: 1}
    message.refresh_from_db()
    assert message.status == OutboundStatus.SENT and message.attempts == 3 and message.last_error == ""
    assert len(SENT) == 1
    # A sent message is never sent twice.
    assert messaging.deliver(message.pk, now=message.next_attempt_at) == OutboundStatus.SENT
    assert len(SENT) == 1


def test_a_message_that_keeps_failing_stays_visible_and_can_be_retried(world, settings):
    settings.JIEDAO_MESSAGE_BACKEND = "jiedao.cases.messaging.FailingBackend"
    settings.JIEDAO_MESSAGE_MAX_ATTEMPTS = 3
    with override_settings(TASKS={"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}):
        _order(world)
    message = OutboundMessage.objects.get(channel=messaging.SMS)
    now = timezone.now()
    for _i in range(3):
        status = messaging.deliver(message.pk, now=now)
        now += dt.timedelta(hours=1)
    assert status == OutboundStatus.FAILED
    message.refresh_from_db()
    assert message.status == OutboundStatus.FAILED and message.attempts == 3
    assert "gateway unreachable" in message.last_error
    # A failed message is not picked up by the sweep again …
    assert messaging.send_due(now=now + dt.timedelta(days=1)) == {}
    # … but is listed, with its phone masked.
    out = StringIO()
    call_command("outbox", stdout=out)
    text = out.getvalue()
    assert f"#{message.pk} 发送失败 短信 138****8000 尝试3次" in text and "gateway unreachable" in text
    assert "13800138000" not in text

    settings.JIEDAO_MESSAGE_BACKEND = f"{__name__}.RecordingBackend"
    out = StringIO()
    call_command("outbox", "--retry", stdout=out)
    message.refresh_from_db()
    assert message.status == OutboundStatus.SENT
    assert "失败重试:已发送 1" in out.getvalue()
    assert SENT == [("sms", "13800138000", message.text)]


class ReentrantBackend(messaging.BaseBackend):
    """While sending, a second sender (another worker with the same task) tries the same row."""

    inner: list[str] = []

    def send(self, message):
        ReentrantBackend.inner.append(messaging.deliver(message.pk))
        SENT.append((message.channel, message.recipient, message.text))


def test_two_senders_of_one_message_send_it_once(world, settings):
    settings.JIEDAO_MESSAGE_BACKEND = f"{__name__}.ReentrantBackend"
    ReentrantBackend.inner = []
    with override_settings(TASKS={"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}):
        _order(world)
    message = OutboundMessage.objects.get(channel=messaging.SMS)
    assert messaging.deliver(message.pk) == OutboundStatus.SENT
    # The second sender found the row claimed (not due) and stepped back.
    assert ReentrantBackend.inner == [OutboundStatus.PENDING]
    assert messaging.deliver(message.pk) == OutboundStatus.SENT
    assert len(SENT) == 1
    message.refresh_from_db()
    assert message.attempts == 1


def test_muted_block_queues_inbox_but_no_outbound(world):
    with messaging.muted():
        _order(world, requester_user=world.users[Role.RESIDENT])
    assert Notification.objects.filter(user=world.users[Role.RESIDENT]).count() == 1
    assert not OutboundMessage.objects.exists()


# --- the 外发消息 staff page (mounted here until the lead includes jiedao.cases.outbox_urls) ---------

urlpatterns = [
    path("cases/outbox/", include("jiedao.cases.outbox_urls")),
    path("", include("jiedao.urls")),
]


def _failed_message(world, settings):
    settings.JIEDAO_MESSAGE_BACKEND = "jiedao.cases.messaging.FailingBackend"
    settings.JIEDAO_MESSAGE_MAX_ATTEMPTS = 1
    with override_settings(TASKS={"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}):
        case = _order(world)
    message = OutboundMessage.objects.get(channel=messaging.SMS)
    assert messaging.deliver(message.pk) == OutboundStatus.FAILED
    return case, message


@pytest.mark.urls(__name__)
def test_failed_messages_page_lists_and_retries(world, settings, client):
    case, message = _failed_message(world, settings)
    client.force_login(world.users[Role.COMMUNITY_WORKER])
    page = client.get("/cases/outbox/").content.decode()
    assert f'data-message="{message.pk}"' in page and "138****8000" in page and "13800138000" not in page
    assert "gateway unreachable" in page and case.tracking_code in page

    settings.JIEDAO_MESSAGE_BACKEND = f"{__name__}.RecordingBackend"
    response = client.post(f"/cases/outbox/{message.pk}/retry/")
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.status == OutboundStatus.SENT
    assert AuditEvent.objects.filter(event_type="cases.outbox_retry", target_id=str(message.pk)).exists()


@pytest.mark.urls(__name__)
def test_failed_messages_of_other_streets_are_hidden(world, settings, client):
    _case, message = _failed_message(world, settings)
    for user in (world.other[Role.COMMUNITY_WORKER], world.users[Role.PROVIDER]):
        client.force_login(user)
        response = client.get("/cases/outbox/")
        assert response.status_code in (200, 404)
        assert f'data-message="{message.pk}"' not in response.content.decode()
        assert client.post(f"/cases/outbox/{message.pk}/retry/").status_code == 404
    message.refresh_from_db()
    assert message.status == OutboundStatus.FAILED and message.attempts == 1


# --- the demo replays a history: every state, idempotent, and it texts nobody -----------------------

def test_demo_cases_cover_every_state_once_and_send_nothing(world):
    from jiedao.cases import demo
    from jiedao.cases.models import Case, CaseEvent, Status

    by = Actor.system("demo")
    first = demo.load(by, world.units)
    assert f"新建 {len(demo.SPECS)} 件,已存在 0 件" in first[0]
    cases = Case.objects.filter(street=world.street)
    assert cases.count() == len(demo.SPECS)
    assert set(cases.values_list("status", flat=True)) == set(Status.values)
    assert set(cases.values_list("kind", flat=True)) == {k for k, _l in Case._meta.get_field("kind").choices}
    assert cases.overdue().exists() and cases.due_soon().exists()
    assert cases.supervised().filter(owner=world.users[Role.LEADER]).exists()
    assert cases.filter(reopen_count__gt=0, status=Status.IN_PROGRESS).exists()
    assert cases.filter(extensions__status="approved").exists()
    assert cases.filter(events__action="return", status=Status.RECEIVED).exists()
    assert cases.filter(events__action="claim").exists()
    # Inbox rows were written (the loop's own notifications), but no SMS/企业微信 was queued.
    assert Notification.objects.filter(user=world.users[Role.PROVIDER]).exists()
    assert not OutboundMessage.objects.exists()
    # Every step went through the services: each case's timeline starts with 受理 and is audited.
    assert not cases.exclude(events__action="create").exists()
    assert AuditEvent.objects.filter(event_type="cases.create").count() == len(demo.SPECS)
    events = CaseEvent.objects.count()

    second = demo.load(by, world.units)
    assert f"新建 0 件,已存在 {len(demo.SPECS)} 件" in second[0]
    assert Case.objects.count() == len(demo.SPECS) and CaseEvent.objects.count() == events


# --- the messages of a group commit ----------------------------------------------------------------

class PickyBackend(messaging.BaseBackend):
    """Refuses one number."""

    def send(self, message):
        if message.recipient.endswith("2"):
            raise ConnectionError("号码停机")
        SENT.append((message.channel, message.recipient, message.text))


def _intakes(world, n: int):
    return [services.check_intake(
        Actor(label="open311:测试系统"), title=f"路灯不亮{i}", channel=Channel.OPEN311,
        category=Category.objects.get(code="part-facilities"), community=world.units["360103012001"],
        requester_phone=f"1390000000{i}") for i in range(n)]


def test_messages_of_intakes_stored_together_are_sent_by_one_task(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.store_intakes(_intakes(world, 3))
    # One task for the three messages.
    assert [c.__qualname__ for c in callbacks if callable(c) and hasattr(c, "__qualname__")] == [
        "queue_messages.<locals>.<lambda>"]
    assert sorted(r for _c, r, _t in SENT) == ["13900000000", "13900000001", "13900000002"]
    assert set(OutboundMessage.objects.values_list("status", "attempts")) == {(OutboundStatus.SENT, 1)}
    ids = list(OutboundMessage.objects.values_list("pk", flat=True))
    assert messaging.deliver_many(ids) == {OutboundStatus.SENT: 3}  # sent ones are not sent again
    assert len(SENT) == 3


def test_one_failed_message_of_a_batch_is_retried_alone(world, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    settings.JIEDAO_MESSAGE_BACKEND = f"{__name__}.PickyBackend"
    services.store_intakes(_intakes(world, 3))
    ids = list(OutboundMessage.objects.order_by("pk").values_list("pk", flat=True))
    now = timezone.now()
    assert messaging.deliver_many(ids + [10**9], now=now) == {
        OutboundStatus.SENT: 2, OutboundStatus.PENDING: 1, "missing": 1}
    failed = OutboundMessage.objects.get(recipient="13900000002")
    assert (failed.status, failed.attempts) == (OutboundStatus.PENDING, 1) and "号码停机" in failed.last_error
    assert failed.next_attempt_at == now + messaging.backoff(1)


def test_a_message_claimed_by_another_sender_is_left_to_it(world, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    services.store_intakes(_intakes(world, 3))
    ids = list(OutboundMessage.objects.order_by("pk").values_list("pk", flat=True))
    now = timezone.now()
    real_claim = messaging._claim

    def racing_claim(messages, when):
        # Another sender (its clock a second on) claims the second message between our read
        # and our claim.
        OutboundMessage.objects.filter(pk=ids[1]).update(
            attempts=1, next_attempt_at=when + dt.timedelta(seconds=messaging.CLAIM_SECONDS + 1))
        messaging._claim = real_claim
        return real_claim(messages, when)

    messaging._claim = racing_claim
    try:
        counts = messaging.deliver_many(ids, now=now)
    finally:
        messaging._claim = real_claim
    assert counts == {OutboundStatus.SENT: 2, "busy": 1}
    assert sorted(r for _c, r, _t in SENT) == ["13900000000", "13900000002"]
    assert OutboundMessage.objects.get(pk=ids[1]).status == OutboundStatus.PENDING  # the other's to send


def test_one_waiting_send_task_serves_every_transaction_until_a_worker_claims_it(world, settings):
    from django_tasks_db.management.commands.db_worker import Worker
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

    def waiting():
        return list(DBTaskResult.objects.filter(task_path="jiedao.cases.tasks.send_pending", status="READY"))

    services.store_intakes(_intakes(world, 2))
    (first,) = waiting()
    services.store_intakes(_intakes(world, 1))  # the waiting task will send these too
    assert waiting() == [first]
    first.claim("another worker")  # once a worker has taken it, a new transaction needs its own
    services.store_intakes(_intakes(world, 2))
    (second,) = waiting()
    assert second.pk != first.pk
    assert DBTaskResult.objects.filter(task_path__startswith="jiedao.cases.tasks.send_").count() == 2
    worker = Worker(queue_names=["default"], interval=0, batch=True, backend_name="default",
                    startup_delay=False, max_tasks=None, worker_id="test", excluded_queue_names=[])
    second.claim("test")  # what the worker's loop does, without its closing of connections
    worker.run_task(second)
    second.refresh_from_db()
    assert second.status == "SUCCESSFUL" and second.return_value == {OutboundStatus.SENT: 5}
    assert set(OutboundMessage.objects.values_list("status", "attempts")) == {(OutboundStatus.SENT, 1)}
    assert len(SENT) == 5


def test_send_due_sends_in_chunks_until_none_is_due(world, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    services.store_intakes(_intakes(world, 5))
    assert messaging.send_due(limit=2) == {OutboundStatus.SENT: 5}
    assert sorted(r for _c, r, _t in SENT) == [f"1390000000{i}" for i in range(5)]
