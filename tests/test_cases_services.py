"""The case loop's services: every transition allowed and refused, concurrency, permissions,
deadlines across National Day, KPIs on a hand-built timeline, search and duplicates."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from jiedao.accounts.roles import Role
from jiedao.audit.models import AuditEvent
from jiedao.audit.trail import Actor
from jiedao.cases import attachments, duplicates, kpis, search, services, workflow
from jiedao.cases.deadlines import add_working_days, deadline_for
from jiedao.cases.models import (
    Action,
    Case,
    CaseEvent,
    Category,
    Channel,
    DeadlineUnit,
    Extension,
    Outcome,
    Status,
)

TZ = ZoneInfo("Asia/Shanghai")
COMMUNITY = "360103012001"  # 兰宫路社区
GRID = "360103012001001"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SYSTEM = Actor.system("test")


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TZ)


def new_case(world, code="svc-housekeeping", title="上门家政服务:厨房保洁", when=None, **kw) -> Case:
    return services.case_create(
        SYSTEM, title=title, channel=Channel.WEB, category=Category.objects.get(code=code),
        community=world.units[COMMUNITY], requester_name="张三", requester_phone="13800138000",
        at=when, **kw)


def case_in(world, status: str) -> Case:
    """A case brought to ``status`` through the services themselves."""
    case = new_case(world)
    if status == Status.RECEIVED:
        return case
    if status == Status.MERGED:
        primary = new_case(world, title="主工单")
        services.merge(SYSTEM, case, version=case.version, primary=primary)
        return case
    services.dispatch(SYSTEM, case, version=case.version, handler=world.users[Role.PROVIDER],
                      handler_unit=world.units[COMMUNITY])
    if status == Status.DISPATCHED:
        return case
    services.accept(Actor(user=world.users[Role.PROVIDER]), case, version=case.version)
    if status == Status.IN_PROGRESS:
        return case
    services.resolve(SYSTEM, case, version=case.version, outcome=Outcome.SOLVED, note="已上门保洁")
    if status == Status.RESOLVED:
        return case
    services.review(SYSTEM, case, version=case.version, satisfied=True, rating=5)
    assert case.status == Status.CLOSED
    return case


def take(world, action: str, case: Case, spare: Case | None = None):
    """Take ``action`` on ``case`` with valid arguments (``spare``: the primary for a merge)."""
    v = case.version
    match action:
        case Action.DISPATCH:
            return services.dispatch(SYSTEM, case, version=v, handler_unit=world.units[COMMUNITY])
        case Action.REDISPATCH:
            return services.redispatch(SYSTEM, case, version=v, handler_unit=world.units[GRID],
                                       note="就近办理")
        case Action.ACCEPT:
            return services.accept(SYSTEM, case, version=v)
        case Action.CLAIM:
            return services.claim(Actor(user=world.users[Role.PROVIDER]), case, version=v)
        case Action.RETURN:
            return services.return_case(SYSTEM, case, version=v, reason="不属于本单位职责")
        case Action.MERGE:
            return services.merge(SYSTEM, case, version=v, primary=spare or new_case(world, title="另一工单"))
        case Action.NOTE:
            return services.add_note(SYSTEM, case, note="电话联系诉求人")
        case Action.ATTACH:
            return attachments.attach(SYSTEM, case, upload=SimpleUploadedFile("a.png", PNG), stage="before")
        case Action.EXTEND_REQUEST:
            return services.request_extension(SYSTEM, case, version=v, reason="需协调物业",
                                              new_deadline=case.deadline_at + dt.timedelta(days=5))
        case Action.EXTEND_APPROVE | Action.EXTEND_REJECT:
            Extension.objects.create(case=case, requested_by="x", reason="需协调",
                                     old_deadline=case.deadline_at,
                                     new_deadline=case.deadline_at + dt.timedelta(days=5))
            return services.decide_extension(SYSTEM, case, version=v, approve=action == Action.EXTEND_APPROVE)
        case Action.RESOLVE:
            return services.resolve(SYSTEM, case, version=v, outcome=Outcome.SOLVED, note="已办结")
        case Action.REVIEW:
            return services.review(SYSTEM, case, version=v, satisfied=True)
        case Action.REOPEN:
            return services.reopen(SYSTEM, case, version=v, reason="群众反映问题依旧")
        case Action.CLOSE:
            return services.close(SYSTEM, case, version=v, note="多次回访未接通")
        case Action.SUPERVISE:
            return services.supervise(SYSTEM, case, version=v, note="三日内办结")
        case Action.ASSIGN_OWNER:
            return services.assign_owner(SYSTEM, case, version=v, owner=world.users[Role.LEADER])
    raise AssertionError(action)


EXPECTED_TARGET = {
    Action.DISPATCH: Status.DISPATCHED, Action.REDISPATCH: Status.DISPATCHED,
    Action.ACCEPT: Status.IN_PROGRESS,
    Action.CLAIM: Status.IN_PROGRESS, Action.RETURN: Status.RECEIVED, Action.MERGE: Status.MERGED,
    Action.RESOLVE: Status.RESOLVED, Action.REVIEW: Status.CLOSED, Action.REOPEN: Status.IN_PROGRESS,
    Action.CLOSE: Status.CLOSED,
}
STATES = [Status.RECEIVED, Status.DISPATCHED, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED,
          Status.MERGED]
STEP_ACTIONS = [a for a in Action.values if a != Action.CREATE]


@pytest.mark.parametrize("status", STATES)
@pytest.mark.parametrize("action", STEP_ACTIONS)
def test_every_transition_is_allowed_or_refused_as_the_table_says(world, action, status):
    case = case_in(world, status)
    spare = new_case(world, title="另一工单")
    events_before = case.events.count()
    audit_before = AuditEvent.objects.count()
    if workflow.allowed(action, status):
        take(world, action, case, spare)
        case.refresh_from_db()
        assert case.status == EXPECTED_TARGET.get(action, status)
        assert case.events.filter(action=action).exists()
        assert AuditEvent.objects.filter(event_type=f"cases.{action}", target_id=str(case.pk)).exists()
    else:
        version = case.version
        with pytest.raises(services.TransitionRefused) as refused:
            take(world, action, case, spare)
        assert str(Status(status).label) in refused.value.message
        case.refresh_from_db()
        assert (case.status, case.version, case.events.count()) == (status, version, events_before)
        assert AuditEvent.objects.count() == audit_before


def test_the_table_covers_every_action():
    assert set(workflow.STEPS) == set(STEP_ACTIONS)


def test_two_staff_dispatching_the_same_case_conflict(world):
    case = new_case(world)
    mine = Case.objects.get(pk=case.pk)
    theirs = Case.objects.get(pk=case.pk)
    shequ = Actor(user=world.users[Role.COMMUNITY_WORKER])
    services.dispatch(shequ, mine, version=mine.version, handler=world.users[Role.PROVIDER],
                      handler_unit=world.units[COMMUNITY])
    with pytest.raises(services.CaseConflict) as conflict:
        services.dispatch(shequ, theirs, version=theirs.version, handler_unit=world.units[GRID])
    assert "已被他人更新" in conflict.value.message and conflict.value.status_code == 409
    case.refresh_from_db()
    assert case.handler == world.users[Role.PROVIDER] and case.handler_unit == world.units[COMMUNITY]
    assert case.events.filter(action=Action.DISPATCH).count() == 1 and case.version == 2


def test_a_step_with_the_version_the_user_saw_is_refused_once_someone_else_moved(world):
    case = new_case(world)
    services.add_note(SYSTEM, case, note="记一笔")  # bumps the version
    with pytest.raises(services.CaseConflict):
        services.dispatch(SYSTEM, case, version=1, handler_unit=world.units[COMMUNITY])
    assert Case.objects.get(pk=case.pk).status == Status.RECEIVED


def test_who_may_take_which_step(world):
    case = new_case(world)
    other_staff = Actor(user=world.other[Role.STAFF])
    provider = Actor(user=world.users[Role.PROVIDER])
    resident = Actor(user=world.users[Role.RESIDENT])
    for by in (other_staff, provider, resident):
        with pytest.raises(services.NotAllowed):
            services.dispatch(by, case, version=case.version, handler_unit=world.units[COMMUNITY])
    services.dispatch(Actor(user=world.users[Role.COMMUNITY_WORKER]), case, version=case.version,
                      handler=world.users[Role.PROVIDER])
    with pytest.raises(services.NotAllowed):  # not the handler
        services.accept(Actor(user=world.users[Role.GRID_WORKER]), case, version=case.version)
    services.accept(provider, case, version=case.version)
    with pytest.raises(services.NotAllowed):
        services.supervise(Actor(user=world.users[Role.STAFF]), case, version=case.version, note="快办")
    services.supervise(Actor(user=world.users[Role.LEADER]), case, version=case.version, note="快办")
    with pytest.raises(services.NotAllowed):
        services.supervise(Actor(user=world.other[Role.LEADER]), case, version=case.version, note="快办")
    assert case.status == Status.IN_PROGRESS and case.supervised_at is not None


def test_nobody_approves_their_own_extension_or_reviews_their_own_work(world):
    """A 网格员 may dispatch in his grid and handle there: he still may not grant himself more
    time, nor do the 回访 of what he resolved (it counts in his unit's 满意率) — the community
    worker above him may; and the page offers him neither step."""
    from jiedao.cases import permissions

    wangge, shequ = Actor(user=world.users[Role.GRID_WORKER]), Actor(user=world.users[Role.COMMUNITY_WORKER])
    case = services.case_create(wangge, title="楼道堆放杂物", channel=Channel.PATROL,
                                category=Category.objects.get(code="event-cityscape"), grid=world.units[GRID])
    services.dispatch(wangge, case, version=case.version, handler=wangge.user, handler_unit=world.units[GRID])
    services.accept(wangge, case, version=case.version)
    services.request_extension(wangge, case, version=case.version, reason="雨天无法清运",
                               new_deadline=case.deadline_at + dt.timedelta(days=2))
    assert not permissions.may(wangge.user, "extend_approve", case)
    with pytest.raises(services.NotAllowed):
        services.decide_extension(wangge, case, version=case.version, approve=True)
    services.decide_extension(shequ, case, version=case.version, approve=True)
    services.resolve(wangge, case, version=case.version, outcome="solved", note="已清运")
    assert not permissions.may(wangge.user, "review", case)
    with pytest.raises(services.NotAllowed):
        services.review(wangge, case, version=case.version, satisfied=True, solved=True, rating=5)
    services.review(shequ, case, version=case.version, satisfied=True, solved=True, rating=5)
    assert case.status == Status.CLOSED and case.rating == 5


@pytest.mark.parametrize("send_back", ["reopen", "unsatisfied review"])
def test_a_case_sent_back_gets_a_new_deadline_and_the_kpi_keeps_the_old(world, send_back):
    """重办 (or an unsatisfied 回访) after the deadline passed: the case is handled again within
    a new deadline from the 重办 (the category's 3 working days), not overdue at once with no
    extension possible; 按期办结率 still judges the first resolution against the old deadline."""
    from jiedao.cases import kpis

    case = new_case(world, code="demand-general", title="楼道灯不亮", when=at(2021, 10, 11, 9))  # Mon
    services.dispatch(SYSTEM, case, version=case.version, handler_unit=world.units[COMMUNITY])
    services.accept(SYSTEM, case, version=case.version, at=at(2021, 10, 11, 10))
    old = case.deadline_at
    late = old + dt.timedelta(days=2)
    services.resolve(SYSTEM, case, version=case.version, outcome=Outcome.SOLVED, note="已修", at=late)
    again = late + dt.timedelta(hours=1)
    if send_back == "reopen":
        services.reopen(SYSTEM, case, version=case.version, reason="灯又坏了", at=again)
    else:
        services.review(SYSTEM, case, version=case.version, satisfied=False, solved=False, at=again)
    case.refresh_from_db()
    assert case.status == Status.IN_PROGRESS and case.reopen_count == 1
    assert case.deadline_at == deadline_for(again, case.category.deadline_value, case.category.deadline_unit)
    assert case.deadline_at > again and not case.is_overdue(again + dt.timedelta(hours=1))
    event = case.events.get(action=Action.REOPEN if send_back == "reopen" else Action.REVIEW)
    assert event.data["deadline_before"] == old.isoformat()
    services.request_extension(SYSTEM, case, version=case.version, reason="等配件",  # possible again
                               new_deadline=case.deadline_at + dt.timedelta(days=1), at=again)
    result = kpis.compute(Case.objects.filter(pk=case.pk), at(2021, 10, 1), at(2021, 11, 1),
                          now=at(2021, 11, 1))
    assert result.resolved == 1 and result.resolved_on_time == 0  # late the first time, still


def test_a_send_back_voids_the_extension_asked_against_the_old_deadline(world):
    """Approved after the 重办, an extension asked for before it would move the new deadline back
    (perhaps into the past): the 重办 voids it. The export counts the reopened case by its new
    deadline, not by the earlier resolution."""
    from jiedao.cases.export import _overdue
    from jiedao.cases.models import ExtensionStatus

    case = new_case(world, code="demand-general", title="楼道灯不亮", when=at(2021, 10, 11, 9))
    services.dispatch(SYSTEM, case, version=case.version, handler_unit=world.units[COMMUNITY])
    services.accept(SYSTEM, case, version=case.version, at=at(2021, 10, 11, 10))
    services.request_extension(SYSTEM, case, version=case.version, reason="等配件",
                               new_deadline=case.deadline_at + dt.timedelta(hours=1), at=at(2021, 10, 12, 9))
    services.resolve(SYSTEM, case, version=case.version, outcome=Outcome.SOLVED, note="已修",
                     at=at(2021, 10, 12, 10))
    services.reopen(SYSTEM, case, version=case.version, reason="灯又坏了", at=at(2021, 10, 20, 9))
    new = case.deadline_at
    assert case.extensions.get().status == ExtensionStatus.REJECTED
    with pytest.raises(services.CaseError):
        services.decide_extension(SYSTEM, case, version=case.version, approve=True)
    case.refresh_from_db()
    assert case.deadline_at == new > at(2021, 10, 20, 9)
    assert _overdue(case, at(2021, 10, 20, 10)) == "否"
    assert _overdue(case, new + dt.timedelta(hours=1)) == "是"


def test_a_grid_worker_reports_only_in_reach(world):
    wangge = Actor(user=world.users[Role.GRID_WORKER])
    cat = Category.objects.get(code="event-cityscape")
    case = services.case_create(wangge, title="楼道堆放杂物", channel=Channel.PATROL, category=cat,
                                grid=world.units[GRID])
    assert case.org_unit == world.units[GRID] and case.street == world.street
    with pytest.raises(services.NotAllowed):
        services.case_create(wangge, title="外街问题", channel=Channel.PATROL, category=cat,
                             community=world.units["360103001001"])


@pytest.mark.parametrize("kwargs, field", [
    ({"title": ""}, "title"),
    ({"requester_phone": "12345"}, "requester_phone"),
    ({"channel": "pigeon"}, "channel"),
    ({"kind": "dispute"}, "category"),
    ({"latitude": Decimal("91"), "longitude": Decimal("115")}, "latitude"),
    ({"latitude": Decimal("28.6")}, "longitude"),
    ({"latitude": Decimal("NaN"), "longitude": Decimal("115")}, "latitude"),
])
def test_bad_intake_names_the_field_and_creates_nothing(world, kwargs, field):
    base = dict(title="漏水", channel=Channel.PHONE, category=Category.objects.get(code="svc-housekeeping"),
                community=world.units[COMMUNITY], requester_phone="13800138000")
    with pytest.raises(services.CaseError) as error:
        services.case_create(SYSTEM, **{**base, **kwargs})
    assert error.value.field == field and error.value.message
    assert not Case.objects.exists() and not CaseEvent.objects.exists()


def test_the_place_must_be_a_community_grid_or_street(world):
    with pytest.raises(services.CaseError) as error:
        services.case_create(SYSTEM, title="x", channel=Channel.PHONE, kind="demand",
                             org_unit=world.units["360103012/城管办"])
    assert error.value.field == "org_unit"


def test_resolve_requires_an_outcome_and_a_note(world):
    case = case_in(world, Status.IN_PROGRESS)
    bad = (({"outcome": "maybe", "note": "x"}, "outcome"), ({"outcome": "solved", "note": " "}, "note"))
    for kwargs, field in bad:
        with pytest.raises(services.CaseError) as error:
            services.resolve(SYSTEM, case, version=case.version, **kwargs)
        assert error.value.field == field
    assert Case.objects.get(pk=case.pk).status == Status.IN_PROGRESS


def test_the_person_dispatched_works_here_and_belongs_to_the_unit_named(world):
    """A resident is not a handler; a person named with a handling unit belongs to it. (A
    person alone may work anywhere: a case can be given to someone outside its street.)"""
    case = new_case(world)
    staff = world.users[Role.STAFF]
    chengguan = staff.memberships.get(role=Role.STAFF).unit  # a department of the street
    for handler, unit, words in ((world.users[Role.RESIDENT], None, "不是工作人员或服务方"),
                                 (world.users[Role.GRID_WORKER], chengguan, "不属于承办单位")):
        with pytest.raises(services.CaseError) as error:
            services.dispatch(SYSTEM, case, version=case.version, handler_unit=unit, handler=handler)
        assert error.value.field == "handler" and words in error.value.message
    assert Case.objects.get(pk=case.pk).status == Status.RECEIVED
    services.dispatch(SYSTEM, case, version=case.version, handler_unit=chengguan, handler=staff)
    assert case.handler == staff


def test_an_unsatisfied_review_reopens_and_counts(world):
    case = case_in(world, Status.RESOLVED)
    services.review(SYSTEM, case, version=case.version, satisfied=False, solved=False, rating=2,
                    note="没修好")
    case.refresh_from_db()
    assert (case.status, case.reopen_count, case.satisfied) == (Status.IN_PROGRESS, 1, False)
    services.resolve(SYSTEM, case, version=case.version, outcome=Outcome.SOLVED, note="返工")
    services.review(SYSTEM, case, version=case.version, satisfied=True, rating=5)
    assert case.status == Status.CLOSED and case.reopen_count == 1


def test_a_merged_case_closes_with_its_primary(world):
    primary = new_case(world, title="楼道漏水")
    dup = new_case(world, title="楼道漏水,多户反映")
    services.merge(SYSTEM, dup, version=dup.version, primary=primary)
    assert primary.events.filter(action=Action.NOTE, data__merged=dup.tracking_code).exists()
    with pytest.raises(services.CaseError):
        services.merge(SYSTEM, new_case(world), version=1, primary=dup)  # cannot merge into a merged case
    third = new_case(world, title="楼道漏水,第三户")
    with pytest.raises(services.CaseError) as chained:  # a primary with duplicates stays the primary
        services.merge(SYSTEM, primary, version=primary.version, primary=third)
    assert chained.value.field == "primary" and third.tracking_code in chained.value.message
    primary.refresh_from_db()
    assert primary.status == Status.RECEIVED and primary.merged_into is None
    for step in (Action.DISPATCH, Action.ACCEPT, Action.RESOLVE):
        take(world, step, primary)
    services.close(SYSTEM, primary, version=primary.version)
    dup.refresh_from_db()
    assert dup.status == Status.MERGED and dup.closed_at is not None and dup.outcome == Outcome.SOLVED


def test_an_approved_extension_moves_the_deadline(world):
    case = case_in(world, Status.IN_PROGRESS)
    old = case.deadline_at
    for too_late_or_early in (old, old + services.MAX_EXTENSION + dt.timedelta(seconds=1),
                              dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.timezone(-dt.timedelta(hours=23)))):
        with pytest.raises(services.CaseError) as error:
            services.request_extension(SYSTEM, case, version=case.version, reason="x",
                                       new_deadline=too_late_or_early)
        assert error.value.field == "new_deadline"
    services.request_extension(SYSTEM, case, version=case.version, reason="等待配件",
                               new_deadline=old + dt.timedelta(days=3))
    with pytest.raises(services.CaseError):  # one pending request at a time
        services.request_extension(SYSTEM, case, version=case.version, reason="再延",
                                   new_deadline=old + dt.timedelta(days=4))
    services.decide_extension(SYSTEM, case, version=case.version, approve=True)
    case.refresh_from_db()
    assert case.deadline_at == old + dt.timedelta(days=3)


# --- deadlines -------------------------------------------------------------------------------

def test_working_days_skip_national_day_and_count_the_make_up_saturday():
    # 2021: 10-01..10-07 holiday; Saturday 10-09 is a make-up workday.
    assert add_working_days(at(2021, 9, 30, 10), 1) == at(2021, 10, 8, 10)
    assert add_working_days(at(2021, 9, 30, 10), 2) == at(2021, 10, 9, 10)  # the make-up Saturday
    assert add_working_days(at(2021, 9, 30, 10), 3) == at(2021, 10, 11, 10)  # Sunday 10-10 is off
    assert add_working_days(at(2021, 10, 2, 15), 1) == at(2021, 10, 8, 23, 59, 59)  # from a holiday
    # Sunday 2021-09-26 is also a make-up workday.
    assert add_working_days(at(2021, 9, 25, 9), 1) == at(2021, 9, 26, 23, 59, 59)
    assert deadline_for(at(2021, 10, 1, 8), 2, DeadlineUnit.HOURS) == at(2021, 10, 1, 10)


def test_a_case_deadline_follows_its_category_policy(world):
    case = new_case(world, when=at(2021, 9, 30, 10))  # 上门家政服务: 3 working days
    assert case.deadline_at == at(2021, 10, 11, 10)
    urgent = new_case(world, code="event-emergency", title="燃气泄漏", when=at(2021, 10, 3, 8))
    assert urgent.deadline_at == at(2021, 10, 3, 10)


def test_overdue_and_due_soon_come_from_the_clock(world):
    case = new_case(world, when=at(2021, 9, 30, 10))
    assert not case.is_overdue(now=at(2021, 10, 11, 9, 59))
    assert case.is_due_soon(now=at(2021, 10, 11, 9, 0))
    assert case.is_overdue(now=at(2021, 10, 11, 10, 1))
    assert list(Case.objects.overdue(now=at(2021, 10, 11, 10, 1))) == [case]
    assert list(Case.objects.due_soon(now=at(2021, 10, 10, 12))) == [case]
    assert not Case.objects.overdue(now=at(2021, 10, 9, 12)).exists()
    take(world, Action.DISPATCH, case)
    take(world, Action.ACCEPT, case)
    take(world, Action.RESOLVE, case)
    assert not Case.objects.overdue(now=at(2021, 12, 1)).exists()  # finished cases are not overdue


# --- KPIs on a hand-built timeline ---------------------------------------------------------------

def test_every_kpi_on_a_hand_built_timeline(world):
    """Four cases in October 2021 (accept limit of 上门家政服务: 4 hours; deadline 3 working days)."""
    p = world.users[Role.PROVIDER]
    unit = world.units[COMMUNITY]

    def walk(when, accept_after_h, resolve_at, outcome, reviews):
        case = new_case(world, when=when)
        services.dispatch(SYSTEM, case, version=case.version, handler=p, handler_unit=unit,
                          at=when + dt.timedelta(hours=1))
        services.accept(SYSTEM, case, version=case.version,
                        at=when + dt.timedelta(hours=1 + accept_after_h))
        if resolve_at:
            services.resolve(SYSTEM, case, version=case.version, outcome=outcome, note="办结", at=resolve_at)
        for satisfied, review_at in reviews:
            services.review(SYSTEM, case, version=case.version, satisfied=satisfied, at=review_at)
            if not satisfied:
                services.resolve(SYSTEM, case, version=case.version, outcome=Outcome.SOLVED, note="重办结",
                                 at=review_at + dt.timedelta(hours=5))
        return case

    # A: accepted in 1 h, resolved on time (solved), satisfied.
    walk(at(2021, 10, 11, 9), 1, at(2021, 10, 12, 9), Outcome.SOLVED, [(True, at(2021, 10, 13, 9))])
    # B: accepted in 6 h (late), resolved after its deadline (10-14 09:00), explained, unsatisfied → redone.
    walk(at(2021, 10, 11, 9), 6, at(2021, 10, 15, 9), Outcome.EXPLAINED,
         [(False, at(2021, 10, 16, 9)), (True, at(2021, 10, 18, 9))])
    # C: accepted in 2 h, not resolved yet.
    walk(at(2021, 10, 20, 9), 2, None, None, [])
    # D: received in September, resolved in October — counts for resolution, not for response.
    walk(at(2021, 9, 28, 9), 1, at(2021, 10, 8, 9), Outcome.UNSOLVABLE, [])

    result = kpis.compute(Case.objects.all(), at(2021, 10, 1), at(2021, 11, 1), now=at(2021, 11, 1))
    assert (result.dispatched, result.responded) == (3, 2)
    assert result.response_rate == Decimal("66.67")
    # first resolutions in October: A on time, B late, D on time (3 working days from 09-28 end 10-08 09:00)
    assert result.resolved == 3
    assert result.resolved_on_time == 2 and result.on_time_rate == Decimal("66.67")
    # latest resolution per case in October: A solved, B solved (redone), D unsolvable
    assert (result.resolutions, result.solved) == (3, 2)
    assert (result.reviewed, result.satisfied) == (3, 2)
    assert result.satisfaction_rate == Decimal("66.67")
    assert result.reopened == 1 and result.reopen_rate == Decimal("33.33")
    # accept hours: A 1, B 6, C 2 (D's accept was in September)
    assert result.avg_accept_hours == Decimal("3.0")
    # resolve hours from receipt: A 24, B 96, D 240
    assert result.avg_resolve_hours == Decimal("120.0")
    nothing = kpis.compute(Case.objects.all(), at(2022, 1, 1), at(2022, 2, 1))
    assert nothing.response_rate is None and nothing.satisfaction_rate is None


# --- search and duplicates ----------------------------------------------------------------------

def test_search_finds_chinese_words_without_spaces(world):
    leak = new_case(world, code="demand-general", title="楼道水管漏水", address="兰宫路12号3栋")
    noise = new_case(world, code="demand-general", title="广场舞噪音扰民", address="兰宫路8号")
    found = lambda q: set(search.search(Case.objects.all(), q))  # noqa: E731
    assert found("漏水") == {leak}
    assert found("水管漏水") == {leak}
    assert found("噪音") == {noise}
    assert found("兰宫路") == {leak, noise}
    assert found("兰宫路 噪音") == {noise}
    assert found("漏噪") == set()
    # a one-character part ("号", "栋") is tested on the other parts' matches, not looked up
    assert found("兰宫路12号") == {leak}
    assert found("兰宫路8号") == {noise}
    assert found("8栋") == set()
    assert found("号 栋") == {leak}
    assert found(leak.tracking_code.lower()) == {leak}
    assert found("") == {leak, noise}
    # the requester's phone: only for someone who sees it (``permissions.finds_by_requester``)
    assert found("13800138000") == set()
    assert set(search.search(Case.objects.all(), "13800138000", personal=True)) == {leak, noise}


def test_duplicates_suggest_open_cases_of_the_same_category_nearby(world):
    first = new_case(world, code="demand-general", title="3栋楼道水管漏水", address="兰宫路12号3栋")
    new_case(world, code="demand-general", title="广场舞噪音扰民")
    new_case(world, code="dispute-property", title="3栋楼道水管漏水物业不管")
    cat = Category.objects.get(code="demand-general")
    found = duplicates.similar_open_cases(cat, world.units[COMMUNITY], "兰宫路12号3栋", "楼道水管漏水了")
    assert [s.case for s in found] == [first] and found[0].same_address
    assert duplicates.similar_open_cases(cat, world.units["360103012002"], "", "楼道水管漏水了") == []


# --- attachments --------------------------------------------------------------------------------

def test_attachments_are_type_sniffed_and_size_limited(world):
    case = case_in(world, Status.IN_PROGRESS)
    with pytest.raises(services.CaseError) as wrong:
        attachments.attach(SYSTEM, case, upload=SimpleUploadedFile("photo.png", b"MZ\x90\x00 not an image"))
    assert wrong.value.field == "file" and "photo.png" in wrong.value.message
    with override_settings(JIEDAO_ATTACHMENT_MAX_BYTES=32):
        with pytest.raises(services.CaseError) as big:
            attachments.attach(SYSTEM, case, upload=SimpleUploadedFile("big.png", PNG))
    assert "超过上限" in big.value.message
    assert not case.attachments.exists()
    row = attachments.attach(SYSTEM, case, upload=SimpleUploadedFile("现场.jpg", PNG), stage="after")
    assert (row.content_type, row.extension, row.stage) == ("image/png", ".png", "after")
    assert row.event.action == Action.ATTACH


def test_who_sees_which_case(world):
    from jiedao.cases.permissions import visible

    case = new_case(world)  # placed in 兰宫路社区 itself, not in a grid
    services.dispatch(SYSTEM, case, version=case.version, handler_unit=world.units["360103012/城管办"])
    sees = {role: visible(user).filter(pk=case.pk).exists() for role, user in world.users.items()}
    assert sees == {
        Role.LEADER: True, Role.STAFF: True,  # 城管办 was handed the case
        Role.COMMUNITY_WORKER: True, Role.GRID_WORKER: False, Role.PROVIDER: False,
        Role.DISCIPLINE: False, Role.RESIDENT: False, Role.DISTRICT_VIEWER: True,
        Role.DISTRICT_STATISTICIAN: True, Role.SYSADMIN: False, Role.SECADMIN: False, Role.AUDITOR: False,
    }
    assert not any(visible(user).filter(pk=case.pk).exists()
                   for role, user in world.other.items()
                   if role not in (Role.DISTRICT_VIEWER, Role.DISTRICT_STATISTICIAN))
    services.redispatch(SYSTEM, case, version=case.version, handler=world.users[Role.PROVIDER],
                        note="转服务方")
    assert visible(world.users[Role.PROVIDER]).filter(pk=case.pk).exists()
    assert not visible(world.users[Role.STAFF]).filter(pk=case.pk).exists()  # no longer 城管办's
    mine = new_case(world, requester_user=world.users[Role.RESIDENT])
    assert list(visible(world.users[Role.RESIDENT])) == [mine]


def test_the_system_admin_configures_the_catalogue_audited(world, client):
    client.force_login(world.users[Role.SYSADMIN])
    cat = Category.objects.get(code="svc-housekeeping")
    url = f"/admin/cases/category/{cat.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and "上门家政服务" in page.content.decode()
    data = {"kind": cat.kind, "name": "上门家政服务", "group": cat.group, "description": "",
            "deadline_value": 5, "deadline_unit": "working_days", "accept_hours": 4, "home_visit": "on",
            "public": "on", "sort": 0, "is_active": "on"}
    assert client.post(url, data).status_code == 302
    cat.refresh_from_db()
    assert cat.deadline_value == 5
    assert AuditEvent.objects.filter(event_type="admin.category_update", target_id=str(cat.pk)).exists()
    client.force_login(world.users[Role.LEADER])
    assert client.get(url).status_code == 302  # to the admin login: business roles configure nothing


# --- intakes stored together (group commit) ------------------------------------------------------

def _intake(world, n: int):
    return services.check_intake(
        Actor(label="open311:测试系统", ip="127.0.0.1"), title=f"路灯不亮 {n} 号", channel=Channel.OPEN311,
        category=Category.objects.get(code="part-facilities"), community=world.units[COMMUNITY],
        requester_name="李四", requester_phone=f"1390000000{n}", address=f"兰宫路{n}号")


def test_intakes_stored_together_each_get_every_row_of_their_own(world):
    from django_tasks_db.models import DBTaskResult

    from jiedao.audit import trail
    from jiedao.cases.models import CaseSearchDoc, OutboundMessage

    intakes = [_intake(world, n) for n in range(5)]
    assert not Case.objects.exists()  # checking writes nothing
    cases = services.store_intakes(intakes)
    assert [c.title for c in cases] == [f"路灯不亮 {n} 号" for n in range(5)]
    assert len({c.tracking_code for c in cases}) == 5 and all(c.pk for c in cases)
    for n, case in enumerate(cases):
        fresh = Case.objects.get(pk=case.pk)
        assert (fresh.status, fresh.version, fresh.requester_phone) == (Status.RECEIVED, 1, f"1390000000{n}")
        assert list(fresh.events.values_list("action", flat=True)) == [Action.CREATE]
        assert CaseSearchDoc.objects.get(case=fresh).tokens == search.document(fresh)
        assert list(search.search(Case.objects.all(), f"兰宫路{n}号")) == [fresh]
        audit = AuditEvent.objects.get(event_type="cases.create", target_id=str(case.pk))
        assert audit.actor_label == "open311:测试系统" and audit.changes["category"] == "part-facilities"
    assert trail.verify().ok
    # One SMS each, queued together, and one sending task written in the same transaction.
    sms = list(OutboundMessage.objects.order_by("pk"))
    assert [m.recipient for m in sms] == [f"1390000000{n}" for n in range(5)]
    assert len({m.created_at for m in sms}) == 1
    tasks = DBTaskResult.objects.filter(task_path__startswith="jiedao.cases.tasks.send_")
    assert [(t.task_path, t.status) for t in tasks] == [("jiedao.cases.tasks.send_pending", "READY")]


def test_a_failed_store_leaves_nothing_behind(world, monkeypatch):
    intakes = [_intake(world, n) for n in range(3)]
    before = AuditEvent.objects.count()

    def broken(outgoing):
        raise RuntimeError("notifications down")

    monkeypatch.setattr(services.notifications.Outgoing, "write", broken)  # the last write
    with pytest.raises(RuntimeError):
        services.store_intakes(intakes)
    assert not Case.objects.exists() and not CaseEvent.objects.exists()
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db(transaction=True)
def test_case_create_outside_a_transaction_goes_through_the_group_commit(world):
    batches = services.INTAKE.batches
    case = new_case(world)
    assert services.INTAKE.batches == batches + 1
    assert Case.objects.get(pk=case.pk).events.get().action == Action.CREATE


def test_intakes_of_a_batch_that_rolled_back_are_stored_again_with_rows_of_their_own(world, monkeypatch):
    """What the group commit does when a batch fails: each intake is stored again on its own.
    The failed batch left keys on the cases; the rows written next must point at the new ones."""
    from jiedao.cases.models import CaseSearchDoc, OutboundMessage

    intakes = [_intake(world, n) for n in range(3)]
    real_write = services.notifications.Outgoing.write

    def broken(outgoing):
        raise RuntimeError("notifications down")

    monkeypatch.setattr(services.notifications.Outgoing, "write", broken)
    with pytest.raises(RuntimeError):
        services.store_intakes(intakes)
    assert all(intake.case.pk is not None for intake in intakes)  # left by the rolled-back batch
    monkeypatch.setattr(services.notifications.Outgoing, "write", real_write)
    services.store_intakes([_intake(world, 9)])  # may take the keys the rollback freed
    for n, intake in enumerate(intakes):
        (case,) = services.store_intakes([intake])
        assert Case.objects.get(pk=case.pk).title == f"路灯不亮 {n} 号"
        assert CaseSearchDoc.objects.get(case_id=case.pk).tokens == search.document(case)
        events = CaseEvent.objects.filter(case_id=case.pk)
        assert list(events.values_list("action", flat=True)) == [Action.CREATE]
        assert OutboundMessage.objects.get(case_id=case.pk).recipient == f"1390000000{n}"
    assert Case.objects.count() == 4
