"""The audit trail: the database refuses changes, ``audit verify`` finds tampering, every
service leaves its row, and the auditor's pages show (and export) only their own units.

Runs on whatever DATABASE_URL names (SQLite in memory by default); PostgreSQL adds TRUNCATE.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from jiedao.accounts import services as accounts
from jiedao.accounts.models import Membership, User
from jiedao.accounts.roles import Role
from jiedao.audit import appendonly, trail
from jiedao.audit.export import HEADERS, SHEET_TITLE, format_changes, write_events_xlsx
from jiedao.audit.models import AuditChainHead, AuditEvent
from jiedao.audit.selectors import EventFilter, events_for
from jiedao.audit.trail import Actor, event_digest, record
from jiedao.core import services as org

LIST = reverse("audit:event_list")
EXPORT = reverse("audit:event_export")
VERIFY = reverse("audit:verify")
LOGIN = reverse("accounts:login")
STRONG = "Qiang@2026x"


def last_event() -> AuditEvent:
    return AuditEvent.objects.order_by("-seq").first()


def head_seq() -> int:
    return AuditChainHead.objects.get(pk=1).seq


def actor_of(user) -> Actor:
    """The actor a view would pass: built from a request, so the client address is real."""
    request = RequestFactory().post("/")
    request.user = user
    return Actor.of(request)


@pytest.fixture
def chain(db) -> list[AuditEvent]:
    """Six events on an otherwise empty chain (cheaper than the whole world)."""
    by = Actor.system("test")
    for i in range(1, 7):
        record(by=by, event_type="test.event", target_type="test", target_id=str(i),
               target_label=f"对象{i}", detail=f"第{i}件")
    return list(AuditEvent.objects.order_by("seq"))


@contextmanager
def guard_lifted():
    """What an intruder with database access would do: drop the append-only triggers."""
    appendonly.remove(connection)
    try:
        yield
    finally:
        appendonly.install(connection)


def run_verify() -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit", "verify", stdout=out, stderr=err)
    except SystemExit as exit_:
        return int(exit_.code), out.getvalue() + err.getvalue()
    return 0, out.getvalue() + err.getvalue()


# --- the database refuses -----------------------------------------------------------------

@pytest.mark.parametrize("sql", [
    "UPDATE audit_auditevent SET detail = 'changed' WHERE seq = 3",
    "DELETE FROM audit_auditevent WHERE seq = 3",
    "DELETE FROM audit_auditevent",
])
def test_raw_sql_cannot_change_or_delete_audit_rows(chain, sql):
    before = AuditEvent.objects.get(seq=3)
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    after = AuditEvent.objects.get(seq=3)
    assert (after.detail, after.hash) == (before.detail, before.hash) == ("第3件", chain[2].hash)
    assert AuditEvent.objects.count() == 6


def test_the_orm_cannot_change_or_delete_audit_rows_either(chain):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=2).update(success=False)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(seq=2).delete()
    assert AuditEvent.objects.get(seq=2).success is True
    assert trail.verify().ok


@pytest.mark.postgres
def test_truncate_is_refused_on_postgresql(chain):
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's (SQLite has none)")
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            # The test's own inserts leave deferred FK checks pending, and PostgreSQL
            # refuses TRUNCATE before any trigger runs while they are: run them first.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("TRUNCATE audit_auditevent CASCADE")
    assert AuditEvent.objects.count() == 6


# --- verify finds tampering ---------------------------------------------------------------

def test_verify_reports_an_intact_chain_with_its_count(chain):
    status, output = run_verify()
    assert status == 0
    assert "审计链完整:共 6 条" in output


def test_verify_of_an_empty_chain_is_ok(db):
    assert run_verify() == (0, "审计链完整:共 0 条\n")


def test_verify_finds_a_tampered_row(chain):
    with guard_lifted(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET detail = '无事发生' WHERE seq = 4")
    status, output = run_verify()
    assert status == 1
    assert "第 4 条的内容与其哈希不符" in output and "被改动" in output


def test_verify_finds_a_deleted_middle_row(chain):
    with guard_lifted(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 3")
    status, output = run_verify()
    assert status == 1
    assert "第 3 条缺失" in output and "被删除" in output


def test_verify_finds_a_forged_row_with_a_wrong_prev_hash(chain):
    last = chain[-1]
    with guard_lifted(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 6")
    forged = AuditEvent(seq=6, created_at=last.created_at, actor_label="nobody",
                        event_type="test.event", detail="伪造", prev_hash="f" * 64)
    forged.hash = event_digest(forged, forged.prev_hash)
    forged.save()
    status, output = run_verify()
    assert status == 1
    assert "第 6 条的前序哈希与第 5 条不符" in output


def test_verify_finds_a_replaced_last_row_even_when_its_hashes_are_recomputed(chain):
    """Someone who knows the algorithm rebuilds a consistent last row: the head gives it away."""
    last = chain[-1]
    with guard_lifted(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 6")
    forged = AuditEvent(seq=6, created_at=last.created_at, actor_label=last.actor_label,
                        event_type=last.event_type, target_type="test", target_id="6",
                        target_label="对象6", detail="已篡改", prev_hash=last.prev_hash)
    forged.hash = event_digest(forged, forged.prev_hash)
    forged.save()
    status, output = run_verify()
    assert status == 1
    assert "第 6 条的哈希与链头不符" in output


def test_verify_finds_a_truncated_tail(chain):
    with guard_lifted(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE seq = 6")
    status, output = run_verify()
    assert status == 1
    assert "链头记到第 6 条,可验证的只到第 5 条" in output and "第 6 条" in output


def test_verify_finds_a_row_appended_behind_the_heads_back(chain):
    last = chain[-1]
    forged = AuditEvent(seq=7, created_at=timezone.now(), actor_label="nobody",
                        event_type="test.event", detail="补记", prev_hash=last.hash)
    forged.hash = event_digest(forged, forged.prev_hash)
    forged.save()  # inserting needs no trigger lifted: the head is what gives it away
    status, output = run_verify()
    assert status == 1
    assert "第 7 条在链头(第 6 条)之后" in output


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_verify_shows_a_progress_bar_on_a_terminal_only(chain):
    out, err = Terminal(), io.StringIO()
    call_command("audit", "verify", stdout=out, stderr=err)
    assert "校验审计链" in err.getvalue() and "6/6" in err.getvalue()
    assert out.getvalue().strip().endswith("审计链完整:共 6 条")
    quiet = io.StringIO()
    call_command("audit", "verify", stdout=io.StringIO(), stderr=quiet)
    assert quiet.getvalue() == ""


def test_verify_reports_progress_by_batch(chain):
    seen: list[int] = []
    result = trail.verify(progress=seen.append, batch=4)
    assert result.ok and result.checked == 6
    assert seen == [4, 2]


# --- every service leaves its row ----------------------------------------------------------

def test_org_unit_create_and_update_are_audited(world):
    admin = world.users[Role.SYSADMIN]
    unit = org.org_unit_create(by=actor_of(admin), kind="community", name="新建社区",
                               code="360103012004", parent=world.street)
    event = last_event()
    assert (event.event_type, event.actor, event.actor_label) == (
        "org.unit_create", admin, "xitong")
    assert (event.target_type, event.target_id, event.target_label) == (
        "core.orgunit", str(unit.pk), "新建社区")
    assert event.success and event.client_ip == "127.0.0.1"
    assert event.org_unit == unit and event.org_path == unit.path
    assert event.changes["name"] == [None, "新建社区"]
    assert event.changes["parent"] == [None, world.street.pk]

    org.org_unit_update(by=actor_of(admin), unit=unit, name="新建社区二")
    event = last_event()
    assert event.event_type == "org.unit_update" and event.target_id == str(unit.pk)
    assert event.changes == {"name": ["新建社区", "新建社区二"]}
    assert event.actor == admin and event.client_ip == "127.0.0.1" and event.success


def test_an_update_that_changes_nothing_writes_nothing(world):
    seq = head_seq()
    org.org_unit_update(by=actor_of(world.users[Role.SYSADMIN]), unit=world.street,
                        name=world.street.name)
    assert head_seq() == seq


def test_account_services_are_audited(world):
    admin = world.users[Role.SYSADMIN]
    unit = world.units["360103012001"]
    user = accounts.user_create(by=actor_of(admin), username="xinren", password=STRONG,
                                home_unit=unit, full_name="新人")
    event = last_event()
    assert (event.event_type, event.actor, event.target_id) == (
        "accounts.user_create", admin, str(user.pk))
    assert event.target_type == "accounts.user" and event.target_label == "新人(xinren)"
    assert event.changes == {"username": [None, "xinren"], "full_name": [None, "新人"],
                             "home_unit": [None, unit.pk]}
    assert event.success and event.client_ip == "127.0.0.1" and event.org_path == unit.path

    accounts.user_set_password(by=actor_of(admin), user=user, password="Another@2026")
    event = last_event()
    assert (event.event_type, event.actor, event.target_id) == (
        "accounts.password_set", admin, str(user.pk))
    assert "Another@2026" not in f"{event.changes}{event.detail}"
    assert event.client_ip == "127.0.0.1"

    accounts.user_set_active(by=actor_of(admin), user=user, active=False)
    event = last_event()
    assert event.event_type == "accounts.user_deactivate"
    assert event.changes == {"is_active": [True, False]} and event.actor == admin
    accounts.user_set_active(by=actor_of(admin), user=user, active=True)
    assert last_event().event_type == "accounts.user_activate"
    assert last_event().changes == {"is_active": [False, True]}

    User.objects.filter(pk=user.pk).update(
        locked_until=timezone.now() + timedelta(minutes=30), failed_logins=5)
    user.refresh_from_db()
    locked_until = user.locked_until
    accounts.user_unlock(by=actor_of(admin), user=user)
    event = last_event()
    assert (event.event_type, event.target_id) == ("accounts.user_unlock", str(user.pk))
    assert event.changes == {"locked_until": [str(locked_until), None]}
    assert event.client_ip == "127.0.0.1" and event.success
    user.refresh_from_db()
    assert (user.locked_until, user.failed_logins) == (None, 0)


def test_membership_services_are_audited(world):
    secadmin = world.users[Role.SECADMIN]
    user = world.users[Role.STAFF]
    unit = world.street
    membership = accounts.membership_grant(by=actor_of(secadmin), user=user, unit=unit,
                                           role=Role.LEADER)
    event = last_event()
    assert (event.event_type, event.actor, event.target_type, event.target_id) == (
        "accounts.membership_grant", secadmin, "accounts.membership", str(membership.pk))
    assert event.changes == {"user": [None, user.pk], "unit": [None, unit.pk],
                             "role": [None, "leader"]}
    assert event.org_path == unit.path and event.client_ip == "127.0.0.1" and event.success

    pk = membership.pk
    accounts.membership_revoke(by=actor_of(secadmin), membership=membership)
    event = last_event()
    assert (event.event_type, event.target_id) == ("accounts.membership_revoke", str(pk))
    assert event.changes == {"user": [user.pk, None], "unit": [unit.pk, None],
                             "role": ["leader", None]}
    assert not Membership.objects.filter(pk=pk).exists()


def test_login_success_failure_and_logout_are_audited(client, world):
    leader = world.users[Role.LEADER]
    client.post(LOGIN, {"username": "lingdao", "password": "Wrong@2026x"})
    event = last_event()
    assert (event.event_type, event.actor, event.success) == ("auth.login", leader, False)
    assert "密码错误(连续第 1 次)" == event.detail
    assert event.client_ip == "127.0.0.1" and event.target_id == str(leader.pk)

    client.post(LOGIN, {"username": "lingdao", "password": world.password})
    event = last_event()
    assert (event.event_type, event.actor, event.success) == ("auth.login", leader, True)
    assert event.client_ip == "127.0.0.1" and event.org_path == leader.home_unit.path

    client.post(reverse("accounts:logout"))
    event = last_event()
    assert (event.event_type, event.actor, event.target_id) == (
        "auth.logout", leader, str(leader.pk))
    assert event.client_ip == "127.0.0.1" and event.success


def test_login_with_an_unknown_username_is_audited_without_a_unit(client, world):
    client.post(LOGIN, {"username": "nosuchuser", "password": "Wrong@2026x"})
    event = last_event()
    assert (event.event_type, event.actor, event.actor_label) == ("auth.login", None,
                                                                  "nosuchuser")
    assert not event.success and event.detail == "用户名不存在"
    assert event.org_path == "" and event.client_ip == "127.0.0.1"


def test_lockout_is_audited(client, world, settings):
    user = world.users[Role.STAFF]
    for _ in range(settings.LOGIN_MAX_FAILURES):
        client.post(LOGIN, {"username": user.username, "password": "Wrong@2026x"})
    event = last_event()
    assert (event.event_type, event.actor, event.target_id) == ("auth.lock", user, str(user.pk))
    user.refresh_from_db()
    assert event.changes == {"locked_until": [None, user.locked_until.isoformat()]}
    assert event.client_ip == "127.0.0.1"
    assert AuditEvent.objects.filter(event_type="auth.login", actor=user,
                                     success=False).count() == settings.LOGIN_MAX_FAILURES - 1

    client.post(LOGIN, {"username": user.username, "password": world.password})
    event = last_event()
    assert (event.event_type, event.success, event.detail) == ("auth.login", False, "账号已锁定")


def test_a_failing_service_leaves_no_row_and_no_gap(world):
    admin = world.users[Role.SYSADMIN]
    seq, count = head_seq(), AuditEvent.objects.count()
    with pytest.raises(ValidationError):
        accounts.user_create(by=actor_of(admin), username="ruo", password="123",
                             home_unit=world.street)
    assert (head_seq(), AuditEvent.objects.count()) == (seq, count)
    assert not User.objects.filter(username="ruo").exists()

    accounts.user_create(by=actor_of(admin), username="qiang", password=STRONG,
                         home_unit=world.street)
    assert last_event().seq == seq + 1
    assert trail.verify().ok


def test_an_outer_block_that_fails_takes_its_services_events_with_it(world):
    admin = world.users[Role.SYSADMIN]
    unit = world.units["360103012001"]
    seq = head_seq()
    with pytest.raises(RuntimeError), trail.atomic():
        org.org_unit_update(by=actor_of(admin), unit=unit, name="不会留下")
        raise RuntimeError("boom")
    unit.refresh_from_db()
    assert unit.name == "兰宫路社区" and head_seq() == seq
    org.org_unit_update(by=actor_of(admin), unit=unit, name="会留下")
    assert last_event().seq == seq + 1 and last_event().changes == {
        "name": ["兰宫路社区", "会留下"]}


# --- who sees what --------------------------------------------------------------------------

@pytest.fixture
def renamed(world):
    """One rename in 朝农 (兰宫路社区) and one in 南浦 (南浦社区)."""
    admin, other_admin = world.users[Role.SYSADMIN], world.other[Role.SYSADMIN]
    org.org_unit_update(by=actor_of(admin), unit=world.units["360103012001"], name="兰宫路社区甲")
    org.org_unit_update(by=actor_of(other_admin), unit=world.units["360103001001"],
                        name="南浦社区乙")
    return world


@pytest.fixture
def busy(world):
    """Enough events in 朝农 for two pages of the list."""
    by = actor_of(world.users[Role.SYSADMIN])
    for i in range(40):
        record(by=by, event_type="test.event", org_unit=world.units["360103012001"],
               target_type="test", target_id=str(i), target_label=f"批量{i}")
    return world


def seqs_on(response) -> list[int]:
    import re

    return [int(s) for s in re.findall(r'data-seq="(\d+)"', response.content.decode())]


def test_auditor_sees_own_street_and_not_the_other(client, renamed):
    world = renamed
    client.force_login(world.users[Role.AUDITOR])
    page = client.get(LIST, {"event_type": "org.unit_update"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "兰宫路社区甲" in text and "name: 兰宫路社区 → 兰宫路社区甲" in text
    assert "南浦社区乙" not in text

    client.force_login(world.other[Role.AUDITOR])
    text = client.get(LIST, {"event_type": "org.unit_update"}).content.decode()
    assert "南浦社区乙" in text and "兰宫路社区甲" not in text


def test_events_for_follows_the_path_prefix(renamed):
    world = renamed
    mine = events_for(world.users[Role.AUDITOR])
    theirs = events_for(world.other[Role.AUDITOR])
    street, other = world.street.path, world.other_street.path
    assert mine.exists() and theirs.exists()
    assert not mine.exclude(org_path__startswith=street).exists()
    assert not theirs.exclude(org_path__startswith=other).exists()
    assert not events_for(world.users[Role.LEADER]).exists()


def test_events_without_a_unit_are_for_district_auditors_only(client, world):
    client.post(LOGIN, {"username": "ghost", "password": "Wrong@2026x"})
    ghost = last_event()
    assert ghost.org_path == ""
    by = Actor.system("test")
    district = world.units["360103"]
    auditor = accounts.user_create(by=by, username="qushenji", password=STRONG,
                                   home_unit=district)
    accounts.membership_grant(by=by, user=auditor, unit=district, role=Role.AUDITOR)

    assert events_for(auditor).filter(pk=ghost.pk).exists()
    assert events_for(auditor).filter(org_path__startswith=world.other_street.path).exists()
    assert not events_for(world.users[Role.AUDITOR]).filter(pk=ghost.pk).exists()
    client.force_login(auditor)
    assert ghost.seq in seqs_on(client.get(LIST, {"actor": "ghost"}))
    client.force_login(world.users[Role.AUDITOR])
    assert seqs_on(client.get(LIST, {"actor": "ghost"})) == []


NON_AUDITORS = [role for role in Role.values if role != Role.AUDITOR]


@pytest.mark.parametrize("role", NON_AUDITORS)
def test_everyone_but_the_auditor_gets_404(client, world, role):
    client.force_login(world.users[role])
    assert client.get(LIST).status_code == 404
    assert client.get(EXPORT).status_code == 404
    assert client.post(VERIFY).status_code == 404
    assert not AuditEvent.objects.filter(event_type__startswith="audit.").exists()


def test_anonymous_is_sent_to_login(client, db):
    response = client.get(LIST)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)


# --- the list page ---------------------------------------------------------------------------

def test_list_is_newest_first_and_paginated_by_50(client, busy):
    world = busy
    auditor = world.users[Role.AUDITOR]
    in_scope = list(events_for(auditor).values_list("seq", flat=True))
    assert 50 < len(in_scope) < 100
    client.force_login(auditor)
    first = client.get(LIST)
    assert seqs_on(first) == in_scope[:50]
    second = client.get(LIST, {"page": 2})
    assert seqs_on(second) == in_scope[50:100]
    assert f"共 {len(in_scope)} 条" in first.content.decode()


def test_list_page_queries_do_not_grow_with_rows(client, busy):
    world = busy
    client.force_login(world.users[Role.AUDITOR])
    client.get(LIST)  # warm the session
    with CaptureQueriesContext(connection) as few:
        assert len(seqs_on(client.get(LIST, {"event_type": "accounts.membership_grant"}))) < 50
    with CaptureQueriesContext(connection) as many:
        assert len(seqs_on(client.get(LIST))) == 50
    assert len(many) == len(few)


def test_filters_by_result_actor_type_and_target(client, busy):
    world = busy
    client.post(LOGIN, {"username": "shequ", "password": "Wrong@2026x"})
    failed = last_event()
    auditor = world.users[Role.AUDITOR]
    client.force_login(auditor)

    assert seqs_on(client.get(LIST, {"success": "0"})) == [failed.seq]
    ok = seqs_on(client.get(LIST, {"success": "1", "page": 1}))
    assert failed.seq not in ok and len(ok) == 50

    by_actor = seqs_on(client.get(LIST, {"actor": "shequ"}))
    assert by_actor == [failed.seq]

    grants = seqs_on(client.get(LIST, {"event_type": "accounts.membership_grant"}))
    expected = list(events_for(auditor).filter(event_type="accounts.membership_grant")
                    .values_list("seq", flat=True))
    assert grants == expected and grants

    target = seqs_on(client.get(LIST, {"target": "钱审计"}))
    assert target == list(events_for(auditor).filter(target_label__icontains="钱审计")
                          .values_list("seq", flat=True))
    assert len(target) == 2  # the account and its membership
    by_type = seqs_on(client.get(LIST, {"target": "core.orgunit"}))
    assert by_type and all(
        e.target_type == "core.orgunit" for e in AuditEvent.objects.filter(seq__in=by_type))


def test_a_bad_filter_value_is_reported_and_ignored(client, busy):
    world = busy
    client.force_login(world.users[Role.AUDITOR])
    page = client.get(LIST, {"date_from": "2026-13-40", "event_type": "no.such"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "输入一个有效的日期。" in text and "no.such 不在可用的选项中" in text
    assert len(seqs_on(page)) == 50


def record_at(monkeypatch, when: datetime, **fields) -> AuditEvent:
    with monkeypatch.context() as m:
        m.setattr(trail.timezone, "now", lambda: when)
        record(by=Actor.system("test"), **fields)
    return last_event()


def test_date_filters_use_shanghai_days(client, world, monkeypatch):
    street = world.street
    # 23:30 and 00:30 in Shanghai are both 1 January in UTC.
    late = record_at(monkeypatch, datetime(2026, 1, 1, 15, 30, tzinfo=UTC),
                     event_type="test.late", org_unit=street)
    early = record_at(monkeypatch, datetime(2026, 1, 1, 16, 30, tzinfo=UTC),
                      event_type="test.early", org_unit=street)
    client.force_login(world.users[Role.AUDITOR])
    page = client.get(LIST, {"date_from": "2026-01-01", "date_to": "2026-01-01"})
    assert seqs_on(page) == [late.seq]
    assert 'value="2026-01-01"' in page.content.decode()  # the form keeps the ISO date
    assert seqs_on(client.get(LIST, {"date_from": "2026-01-02", "date_to": "2026-01-02"})) == [
        early.seq]
    assert seqs_on(client.get(LIST, {"date_to": "2026-01-02"})) == [early.seq, late.seq]
    text = client.get(LIST, {"date_from": "2026-01-02", "date_to": "2026-01-01"}).content
    assert "截止日期不能早于起始日期" in text.decode()


def test_htmx_filter_request_gets_only_the_table(client, busy):
    world = busy
    client.force_login(world.users[Role.AUDITOR])
    response = client.get(LIST, {"success": "1"}, headers={"HX-Request": "true"})
    text = response.content.decode()
    assert text.lstrip().startswith('<div id="event-table">')
    assert "<html" not in text and len(seqs_on(response)) == 50


def test_changes_are_shown_as_old_to_new():
    assert format_changes({"name": ["甲", "乙"], "is_active": [True, False],
                           "role": [None, "auditor"]}) == [
        "name: 甲 → 乙", "is_active: 是 → 否", "role: — → auditor"]


# --- export and verify from the page ---------------------------------------------------------

def read_xlsx(response):
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    return workbook


def test_export_has_the_filtered_rows_and_is_itself_audited(client, renamed):
    world = renamed
    auditor = world.users[Role.AUDITOR]
    client.force_login(auditor)
    response = client.get(EXPORT, {"event_type": "org.unit_update"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert "attachment" in response["Content-Disposition"]
    workbook = read_xlsx(response)
    sheet = workbook[SHEET_TITLE]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS and sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["B"].width == 20
    expected = events_for(auditor).filter(event_type="org.unit_update").get()
    assert len(rows) == 2
    row = dict(zip(HEADERS, rows[1], strict=True))
    assert row["序号"] == expected.seq and row["操作人"] == "xitong"
    assert row["事件"] == "修改单位" and row["对象"] == "兰宫路社区甲"
    assert row["结果"] == "成功" and row["客户端地址"] == "127.0.0.1"
    assert row["变更"] == "name: 兰宫路社区 → 兰宫路社区甲"
    # Excel keeps milliseconds
    when = timezone.localtime(expected.created_at).replace(tzinfo=None)
    assert abs(row["时间"] - when) < timedelta(milliseconds=1)
    notes = dict(workbook["说明"].iter_rows(values_only=True))
    assert notes["筛选条件"] == "事件=org.unit_update" and notes["导出人"] == "shenji"

    event = last_event()
    assert (event.event_type, event.actor, event.success) == ("audit.export", auditor, True)
    assert "事件=org.unit_update" in event.detail and "导出 1 条" in event.detail
    assert event.client_ip == "127.0.0.1" and event.org_path == world.street.path
    assert trail.verify().ok


def test_export_keeps_user_typed_text_as_text(client, world):
    client.post(LOGIN, {"username": '=HYPERLINK("http://x","点我")', "password": "Wrong@2026x"})
    by = Actor.system("test")
    district = world.units["360103"]
    auditor = accounts.user_create(by=by, username="qushenji", password=STRONG,
                                   home_unit=district)
    accounts.membership_grant(by=by, user=auditor, unit=district, role=Role.AUDITOR)
    client.force_login(auditor)
    sheet = read_xlsx(client.get(EXPORT, {"actor": "HYPERLINK"}))[SHEET_TITLE]
    cell = sheet["C2"]
    assert cell.value == '=HYPERLINK("http://x","点我")' and cell.data_type == "s"


def test_export_stops_at_the_limit_and_says_so(world, tmp_path):
    path = tmp_path / "a.xlsx"
    total = AuditEvent.objects.count()
    result = write_events_xlsx(AuditEvent.objects.all(), path, limit=5)
    assert (result.rows, result.total, result.truncated) == (5, total, True)
    workbook = load_workbook(path)
    seqs = [r[0] for r in workbook[SHEET_TITLE].iter_rows(min_row=2, values_only=True)]
    assert seqs == list(AuditEvent.objects.order_by("-seq").values_list("seq", flat=True)[:5])
    notes = dict(workbook["说明"].iter_rows(values_only=True))
    assert f"符合条件的记录有 {total} 条" in notes["注意"]
    changes = workbook[SHEET_TITLE]["L2"]  # the newest event, a grant: three changed fields
    assert changes.value.count("\n") == 2 and changes.alignment.wrap_text


def test_export_command_writes_the_same_workbook(world, tmp_path, monkeypatch):
    old = record_at(monkeypatch, datetime(2025, 6, 1, 2, 0, tzinfo=UTC), event_type="test.old")
    path = tmp_path / "audit.xlsx"
    out = io.StringIO()
    today = timezone.localdate().isoformat()
    count = EventFilter(date_from=timezone.localdate()).apply(AuditEvent.objects.all()).count()
    call_command("audit", "export", str(path), "--from", today, "--to", today, stdout=out)
    assert f"已导出 {count} 条" in out.getvalue()
    rows = list(load_workbook(path)[SHEET_TITLE].iter_rows(values_only=True))
    assert list(rows[0]) == HEADERS and len(rows) == count + 1
    assert old.seq not in [r[0] for r in rows[1:]]
    event = last_event()
    assert event.event_type == "audit.export" and event.actor is None
    assert event.actor_label.startswith("cli:") and f"截止日期={today}" in event.detail


def test_verify_from_the_page_reports_ok_and_is_audited(client, world):
    auditor = world.users[Role.AUDITOR]
    client.force_login(auditor)
    count = AuditEvent.objects.count()
    response = client.post(VERIFY)
    assert response.status_code == 302 and response["Location"] == LIST
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"审计链完整:共 {count} 条。"]
    event = last_event()
    assert (event.event_type, event.actor, event.success) == ("audit.verify", auditor, True)
    assert client.get(VERIFY).status_code == 405


def test_verify_from_the_page_reports_tampering(client, world):
    auditor = world.users[Role.AUDITOR]
    with guard_lifted(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET client_ip = '10.0.0.9' WHERE seq = 7")
    client.force_login(auditor)
    response = client.post(VERIFY, follow=True)
    text = response.content.decode()
    assert "审计链校验未通过" in text and "第 7 条的内容与其哈希不符" in text
    event = AuditEvent.objects.filter(event_type="audit.verify").get()
    assert not event.success and "第 7 条" in event.detail



def test_an_event_in_a_rolled_back_savepoint_is_not_sealed(world):
    """A service may try something in a plain savepoint and carry on when it fails: what was
    recorded inside that savepoint is rolled back with it, the rest is kept."""
    by = trail.Actor.system("test")
    before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    with trail.atomic():
        trail.record(by=by, event_type="test.kept")
        try:
            with transaction.atomic():
                trail.record(by=by, event_type="test.rolled_back")
                raise RuntimeError("inner step failed")
        except RuntimeError:
            pass
        trail.record(by=by, event_type="test.kept_too")
    types = list(AuditEvent.objects.filter(seq__gt=before).order_by("seq")
                 .values_list("event_type", flat=True))
    assert types == ["test.kept", "test.kept_too"]
    assert trail.verify().ok
