"""``core.bulk.insert``: new keys reach the right objects whatever order RETURNING gives."""

from __future__ import annotations

from django.db import connection, connections, router

from jiedao.cases.models import CaseKind, Category
from jiedao.core import bulk


def categories(n: int) -> list[Category]:
    return [Category(kind=CaseKind.DEMAND, code=f"bulk-{i}", name=f"批量分类{i}") for i in range(n)]


def test_keys_are_paired_by_the_matching_field_even_in_reverse_order(db, monkeypatch):
    real_cursor = connection.cursor

    class Reversing:
        def __init__(self):
            self.inner = real_cursor()

        def __enter__(self):
            self.inner.__enter__()
            return self

        def __exit__(self, *exc):
            return self.inner.__exit__(*exc)

        def execute(self, sql, params):
            return self.inner.execute(sql, params)

        def fetchall(self):
            return list(reversed(self.inner.fetchall()))

    monkeypatch.setattr(connection, "cursor", Reversing)
    objs = bulk.insert(categories(5), match="code")
    monkeypatch.undo()
    stored = dict(Category.objects.filter(code__startswith="bulk-").values_list("code", "pk"))
    assert {o.code: o.pk for o in objs} == stored
    assert all(not o._state.adding for o in objs)


def test_without_a_matching_field_the_order_is_trusted(db):
    objs = bulk.insert(categories(3))
    stored = dict(Category.objects.filter(code__startswith="bulk-").values_list("code", "pk"))
    assert {o.code: o.pk for o in objs} == stored
    assert bulk.insert([]) == []


def generic_values(obj) -> list:
    """The values Django's own path writes for ``obj``."""
    connection = connections[router.db_for_write(type(obj))]
    plan, _relations = bulk._plan(type(obj), connection.alias)
    obj._prepare_related_fields_for_save(operation_name="insert")
    return [field.get_db_prep_save(field.pre_save(obj, True), connection) for field, _a, _k in plan]


def fast_values(obj) -> list:
    """The values the shortcut writes for ``obj``."""
    return bulk.values([obj])[0]


def test_the_shortcut_writes_exactly_what_djangos_own_path_writes(world):
    """Every model the intake path inserts, with its values of every kind (text, integers,
    booleans, foreign keys, aware datetimes, JSON, decimals, None)."""
    import datetime as dt
    from decimal import Decimal

    from django.utils import timezone

    from jiedao.accounts.roles import Role
    from jiedao.audit.models import AuditEvent
    from jiedao.cases.models import Action, CaseEvent, CaseSearchDoc, Channel, Notification, OutboundMessage
    from jiedao.cases.services import Actor, check_intake

    user = world.users[Role.COMMUNITY_WORKER]
    intake = check_intake(Actor(user=user), title="路灯不亮", channel=Channel.PHONE,
                          category=Category.objects.get(code="part-facilities"),
                          community=world.units["360103012001"], latitude=Decimal("28.6"),
                          longitude=Decimal("115.9"), requester_name="李四", requester_phone="13900000000")
    (case,) = bulk.insert([intake.case], match="tracking_code")
    now = timezone.now()
    event = CaseEvent(case=case, action=Action.CREATE, at=now, actor=user, actor_label="x",
                      from_status="", to_status="received", note="", data={"a": [1, "二"]})
    objs = [
        intake.case, event, CaseSearchDoc(case=case, tokens="路灯 不亮"),
        AuditEvent(created_at=now, actor=user, actor_label="x", event_type="cases.create", seq=1,
                   prev_hash="0" * 64, hash="1" * 64, changes={"deadline_at": str(now)}, success=True),
        OutboundMessage(channel="sms", recipient="13900000000", text="t", case=case, created_at=now,
                        next_attempt_at=now + dt.timedelta(minutes=1)),
        Notification(user=user, case=case, event=event, text="t", created_at=now),
    ]
    event.pk = 1
    objs.append(OutboundMessage(channel="wecom", recipient="u", text="t", case=None, sent_at=None))
    def plain(row):  # psycopg's Jsonb wrapper (PostgreSQL) has no equality of its own
        return [(type(v).__name__, v.obj) if type(v).__name__ == "Jsonb" else v for v in row]

    for obj in objs:
        assert plain(fast_values(obj)) == plain(generic_values(obj)), type(obj).__name__
    # A naive datetime still takes Django's path (which warns and makes it aware).
    naive = OutboundMessage(channel="sms", recipient="1", text="t", created_at=dt.datetime(2021, 10, 1, 8))
    with __import__("pytest").warns(RuntimeWarning):
        assert plain(fast_values(naive)) == plain(generic_values(naive))


def test_rows_of_every_kind_of_value_come_back_as_written(world):
    """Several rows at once (on PostgreSQL: one array per column through ``unnest``), with text
    that array literals must escape, NULLs, JSON, decimals and times."""
    import datetime as dt
    from decimal import Decimal

    from django.utils import timezone

    from jiedao.accounts.roles import Role
    from jiedao.cases.models import Action, Case, CaseEvent, Channel
    from jiedao.cases.services import Actor, check_intake

    user = world.users[Role.COMMUNITY_WORKER]
    nasty = ['引号"与\\反斜杠', "{花括号}, 逗号", "NULL", "", "单引号'", "多行\n文本\t制表", "𠮷 emoji 🙂"]
    intakes = [check_intake(Actor(user=user), title=text or "空", channel=Channel.PHONE,
                            category=Category.objects.get(code="part-facilities"),
                            community=world.units["360103012001"], description=text, address=text,
                            latitude=Decimal("28.123456") if i % 2 else None,
                            longitude=Decimal("115.654321") if i % 2 else None,
                            requester_name=text[:20], requester_phone="")
               for i, text in enumerate(nasty)]
    cases = bulk.insert([intake.case for intake in intakes], match="tracking_code")
    now = timezone.now()
    events = bulk.insert([
        CaseEvent(case=case, action=Action.NOTE, at=now + dt.timedelta(seconds=i),
                  actor=user if i % 2 else None, actor_label=text, from_status="", to_status="", note=text,
                  data={"text": text, "list": [1, None, text], "nested": {"k": text}})
        for i, (case, text) in enumerate(zip(cases, nasty, strict=True))], match="case")
    for i, (case, event, text) in enumerate(zip(cases, events, nasty, strict=True)):
        stored = Case.objects.get(pk=case.pk)
        assert (stored.description, stored.address, stored.requester_name) == (text, text, text[:20])
        assert stored.latitude == (Decimal("28.123456") if i % 2 else None)
        assert stored.deadline_at == case.deadline_at and stored.created_at == case.created_at
        got = CaseEvent.objects.get(pk=event.pk)
        assert got.case_id == case.pk and got.note == text and got.actor_id == (user.pk if i % 2 else None)
        assert got.data == {"text": text, "list": [1, None, text], "nested": {"k": text}}
        assert got.at == now + dt.timedelta(seconds=i)


def test_rows_computed_before_their_case_was_saved_get_its_key(world):
    """``values(…, late=("case",))`` before the case has a key; ``insert(…, rows=, late=)`` after:
    the rows point at the case, the objects carry its key, and a case still unsaved is refused."""
    import pytest
    from django.utils import timezone

    from jiedao.accounts.roles import Role
    from jiedao.cases.models import Action, CaseEvent, CaseSearchDoc, Channel, OutboundMessage
    from jiedao.cases.services import Actor, check_intake

    user = world.users[Role.COMMUNITY_WORKER]

    def intake():
        return check_intake(Actor(user=user), title="井盖破损", channel=Channel.PHONE,
                            category=Category.objects.get(code="part-facilities"),
                            community=world.units["360103012001"], requester_phone="13900000000").case

    now = timezone.now()
    cases = [intake(), intake()]
    events = [CaseEvent(case=case, action=Action.CREATE, at=now, actor=user, actor_label="x", from_status="",
                        to_status="received", note="", data={}) for case in cases]
    docs = [CaseSearchDoc(case=case, tokens="井盖 破损") for case in cases]
    messages = [OutboundMessage(channel="sms", recipient="13900000000", text="t", case=case, created_at=now,
                                next_attempt_at=now) for case in cases]
    late = ("case",)
    rows = {model: bulk.values(objs, late=late) for model, objs in
            ((CaseEvent, events), (CaseSearchDoc, docs), (OutboundMessage, messages))}
    with pytest.raises(ValueError, match="unsaved"):
        bulk.insert(events, match="case", rows=rows[CaseEvent], late=late)
    bulk.insert(cases, match="tracking_code")
    bulk.insert(events, match="case", rows=rows[CaseEvent], late=late)
    bulk.insert(docs, rows=rows[CaseSearchDoc], late=late)
    bulk.insert(messages, rows=rows[OutboundMessage], late=late)
    for case, event, message in zip(cases, events, messages, strict=True):
        assert event.case_id == case.pk and message.case_id == case.pk
        assert CaseEvent.objects.get(pk=event.pk).case_id == case.pk
        assert OutboundMessage.objects.get(pk=message.pk).case_id == case.pk
        assert CaseSearchDoc.objects.get(case=case).tokens == "井盖 破损"
