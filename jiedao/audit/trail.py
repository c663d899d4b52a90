"""Writing and verifying the audit trail.

Services wrap their work in :func:`atomic` and call :func:`record`. Events wait in memory
until the outermost ``atomic`` block is about to commit; only then is the chain head locked,
the events hashed onto the chain and inserted, and the transaction committed. The lock is
held for a few inserts, not for the whole service, so concurrent writers on PostgreSQL queue
only on that step (bench/audit_chain.py measures it). On SQLite the database lock already
serialises writers.

A service whose transaction rolls back leaves no audit row, and neither does a savepoint
inside it that rolls back; refusals worth keeping (a failed login) are recorded in a
transaction of their own with ``success=False``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache, wraps
from typing import Any

from django.conf import settings
from django.db import connections, models, router, transaction
from django.http import HttpRequest
from django.utils import timezone

from jiedao.core import bulk

from .models import AuditChainHead, AuditEvent

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who acts, and from where: passed to every service as ``by=``."""

    user: Any = None  # accounts.User or None for the system itself
    ip: str = ""
    label: str = ""

    @classmethod
    def of(cls, request: HttpRequest) -> Actor:
        user = request.user if request.user.is_authenticated else None
        return cls(user=user, ip=client_ip(request), label=user.username if user else "")

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(user=None, ip="", label=label)

    @property
    def display(self) -> str:
        if self.user is not None:
            return self.user.username
        return self.label or "system"


def client_ip(request: HttpRequest) -> str:
    header = settings.CLIENT_IP_HEADER
    if header:
        value = request.META.get(header, "")
        if value:
            return value.split(",")[0].strip()[:64]
    return request.META.get("REMOTE_ADDR", "")[:64]


@dataclass
class _Pending:
    depth: int = 0
    events: list[AuditEvent] = field(default_factory=list)


_state = threading.local()


def _pending() -> _Pending:
    if not hasattr(_state, "pending"):
        _state.pending = _Pending()
    return _state.pending


@contextmanager
def atomic() -> Iterator[None]:
    """``transaction.atomic`` that seals this block's audit events just before commit."""
    pending = _pending()
    mark = len(pending.events)
    pending.depth += 1
    try:
        with transaction.atomic():
            yield
            if pending.depth == 1 and pending.events:
                _seal(_not_rolled_back(pending.events))
                pending.events = []
    except BaseException:
        del pending.events[mark:]
        raise
    finally:
        pending.depth -= 1


def atomic_service(func):
    """Decorator form of :func:`atomic` for ``<entity>_<verb>`` services."""

    @wraps(func)
    def wrapper(*args, **kwargs):
        with atomic():
            return func(*args, **kwargs)

    return wrapper


def _plain(value: Any) -> Any:
    """JSON-safe, hash-stable form of a value (Decimals, dates, models become strings)."""
    if isinstance(value, models.Model):
        return str(value.pk)
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def record(
    *,
    by: Actor,
    event_type: str,
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    target_label: str = "",
    org_unit: Any = None,
    changes: dict[str, Any] | None = None,
    success: bool = True,
    detail: str = "",
) -> None:
    """Queue one audit event; it is written with the enclosing :func:`atomic` block.

    Outside any such block the event is written at once in its own transaction.
    """
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
        target_label = target_label or str(target)[:200]
    event = AuditEvent(
        created_at=timezone.now(),
        actor=by.user,
        actor_label=by.display[:150],
        event_type=event_type,
        target_type=target_type,
        target_id=str(target_id)[:64],
        target_label=target_label[:200],
        org_unit=org_unit,
        org_path=getattr(org_unit, "path", "") or "",
        success=success,
        changes=_plain(changes or {}),
        detail=detail[:500],
        client_ip=by.ip[:64],
    )
    if _pending().depth:
        _queue(event)
    else:
        with atomic():
            _queue(event)


class _Marker:
    """A no-op on-commit callback that travels with a queued event. Django drops callbacks
    registered inside a savepoint that rolls back — also a plain ``transaction.atomic()``
    whose error was caught — so a missing marker means the event was rolled back too."""

    def __call__(self) -> None:
        pass


def _queue(event: AuditEvent) -> None:
    event._marker = marker = _Marker()
    transaction.on_commit(marker)
    _pending().events.append(event)


def _not_rolled_back(events: list[AuditEvent]) -> list[AuditEvent]:
    live = {id(func) for _sids, func, _robust in transaction.get_connection().run_on_commit}
    return [event for event in events if id(event._marker) in live]


def diff(instance: models.Model, before: dict[str, Any], fields: list[str]) -> dict[str, list]:
    """``{field: [old, new]}`` for the fields whose value changed."""
    changes = {}
    for name in fields:
        old, new = before.get(name), getattr(instance, name)
        if isinstance(new, models.Model):
            new = new.pk
        if isinstance(old, models.Model):
            old = old.pk
        if old != new:
            changes[name] = [old, new]
    return changes


def snapshot(instance: models.Model, fields: list[str]) -> dict[str, Any]:
    return {
        name: (getattr(instance, name).pk
               if isinstance(getattr(instance, name), models.Model) else getattr(instance, name))
        for name in fields
    }


# --- the chain ---------------------------------------------------------------------------

def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_digest(event: AuditEvent, prev_hash: str) -> str:
    """SHA-256 over the row's content and the previous row's hash, canonically encoded."""
    content = {
        "seq": event.seq,
        "created_at": _timestamp(event.created_at),
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "event_type": event.event_type,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_label": event.target_label,
        "org_unit_id": event.org_unit_id,
        "org_path": event.org_path,
        "success": bool(event.success),
        "changes": event.changes,
        "detail": event.detail,
        "client_ip": event.client_ip,
        "prev_hash": prev_hash,
    }
    encoded = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _seal(events: list[AuditEvent]) -> None:
    if not events:
        return
    connection = transaction.get_connection(router.db_for_write(AuditEvent))
    lock, advance = _head_statements(connection.alias)
    with connection.cursor() as cursor:
        cursor.execute(lock)  # the one serialised step: held until this transaction ends
        row = cursor.fetchone()
    if row is None:
        AuditChainHead.objects.bulk_create(
            [AuditChainHead(pk=1, seq=0, hash=GENESIS)], ignore_conflicts=True
        )
        head = AuditChainHead.objects.select_for_update().get(pk=1)
        row = head.seq, head.hash
    seq, prev = row
    for event in events:
        seq += 1
        event.seq = seq
        event.prev_hash = prev
        event.hash = prev = event_digest(event, prev)
    bulk.insert(events, match="seq")
    with connection.cursor() as cursor:
        cursor.execute(advance, [seq, prev])


@lru_cache(maxsize=8)
def _head_statements(alias: str) -> tuple[str, str]:
    """Read-and-lock and advance of the head row, as plain statements: they run once per
    transaction that writes audit events, the busiest statements of the system."""
    connection = connections[alias]
    meta, quote = AuditChainHead._meta, connection.ops.quote_name
    table = quote(meta.db_table)
    seq, hash_, key = (quote(meta.get_field(name).column) for name in ("seq", "hash", "id"))
    lock = f"SELECT {seq}, {hash_} FROM {table} WHERE {key} = 1"
    if connection.features.has_select_for_update:
        lock += " FOR UPDATE"
    return lock, f"UPDATE {table} SET {seq} = %s, {hash_} = %s WHERE {key} = 1"


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    problem: str = ""
    seq: int | None = None


def _head() -> tuple[int, str]:
    head = AuditChainHead.objects.filter(pk=1).first()
    return (head.seq, head.hash) if head else (0, GENESIS)


def verify(*, progress=None, batch: int = 5000) -> VerifyResult:
    """Walk the chain in seq order; report the first row that does not fit.

    Safe while others write: the head is read *before* the rows and the walk stops at it,
    so rows committed during the walk are not mistaken for a mismatch with the head. A row
    beyond the head is then a forgery only if the head, read again after seeing that row,
    still does not cover it (a row and the head's advance commit together); if the head
    has moved on, the walk continues to it.
    """
    prev, last_seq = GENESIS, 0
    head_seq, head_hash = _head()
    while True:
        while last_seq < head_seq and (rows := list(
            AuditEvent.objects.filter(seq__gt=last_seq, seq__lte=head_seq).order_by("seq")[:batch]
        )):
            for event in rows:
                expected = last_seq + 1
                if event.seq != expected:
                    return VerifyResult(
                        False, last_seq,
                        f"第 {expected} 条缺失(其后是第 {event.seq} 条):有记录被删除", expected,
                    )
                if event.prev_hash != prev:
                    return VerifyResult(
                        False, last_seq,
                        f"第 {event.seq} 条的前序哈希与第 {last_seq} 条不符:有记录被插入或替换",
                        event.seq,
                    )
                if event_digest(event, prev) != event.hash:
                    return VerifyResult(
                        False, last_seq,
                        f"第 {event.seq} 条的内容与其哈希不符:该记录被改动", event.seq,
                    )
                prev, last_seq = event.hash, event.seq
            if progress is not None:
                progress(len(rows))
        if last_seq != head_seq:
            return VerifyResult(
                False, last_seq,
                f"链头记到第 {head_seq} 条,可验证的只到第 {last_seq} 条:末尾记录被删除或链头被改动",
                last_seq + 1,
            )
        if prev != head_hash:
            return VerifyResult(
                False, max(last_seq - 1, 0),
                f"第 {last_seq} 条的哈希与链头不符:末尾记录被替换或链头被改动", last_seq,
            )
        beyond = (AuditEvent.objects.filter(seq__gt=last_seq).order_by("seq")
                  .values_list("seq", flat=True).first())
        if beyond is None:
            return VerifyResult(True, last_seq)
        head_seq, head_hash = _head()
        if head_seq <= last_seq:
            return VerifyResult(
                False, last_seq,
                f"第 {beyond} 条在链头(第 {last_seq} 条)之后:有记录被插入或链头被改动", beyond,
            )
