"""SMS and 企业微信 messages: queued with the step, sent after commit, retried, never lost.

``queue`` writes an ``OutboundMessage`` row inside the step's transaction and sees that a
``send_pending`` task will run after it: with the database task queue (the default) a task row
still waiting for a worker serves every transaction that queues messages before the worker
claims it, and a new one is written, in the same transaction, only when none is waiting
(``_wake_sender``); with another backend ``send_outbound`` / ``send_outbound_many`` is
enqueued once the transaction commits. Either way a step that rolls back sends nothing and a
committed step cannot lose its message: the row is the message. ``deliver`` sends one row
through the configured backend (``settings.JIEDAO_MESSAGE_BACKEND``), ``deliver_many`` a batch.

Delivery first *claims* the row with a conditional UPDATE (status pending, the attempt count
it read), so two workers holding the same task cannot both send it. A failed send keeps the
row pending with ``last_error`` and ``next_attempt_at`` pushed back (1, 2, 4 … minutes) and
asks for another task to run then; after ``JIEDAO_MESSAGE_MAX_ATTEMPTS`` attempts it is
``failed`` and stays so — listed by ``jiedao outbox`` and the 外发消息 staff page — until
someone retries it (``jiedao outbox --retry``). ``send_due`` also sweeps pending rows whose
task was lost (a worker that was down when the step committed).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from django.conf import settings
from django.db import connections, router, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from jiedao.core import bulk
from jiedao.core.masking import mask_phone

from .models import Case, OutboundMessage, OutboundStatus

logger = logging.getLogger("jiedao.cases.messaging")

SMS = "sms"
WECOM = "wecom"
CHANNEL_LABELS = {SMS: "短信", WECOM: "企业微信"}

# A claimed row is not picked up by another sender for this long (a crashed sender's
# claim expires and the row becomes due again).
CLAIM_SECONDS = 300


def max_attempts() -> int:
    return int(getattr(settings, "JIEDAO_MESSAGE_MAX_ATTEMPTS", 5))


def backoff(attempts: int) -> dt.timedelta:
    """Wait before attempt ``attempts + 1``: 1, 2, 4, 8 … minutes, at most 6 hours."""
    return dt.timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


class SendError(Exception):
    """A backend could not deliver; the message will be retried."""


class BaseBackend:
    """Delivers one message or raises. Subclass and name it in JIEDAO_MESSAGE_BACKEND."""

    def send(self, message: OutboundMessage) -> None:
        raise NotImplementedError


class LogBackend(BaseBackend):
    """The default: no outside SMS gateway or 企业微信 is reachable here, so only log."""

    def send(self, message: OutboundMessage) -> None:
        # Logs are kept for months: the phone number is masked there too.
        recipient = mask_phone(message.recipient) if message.channel == SMS else message.recipient
        logger.info("outbound %s to %s: %s", message.channel, recipient, message.text)


class FailingBackend(BaseBackend):
    """Always fails: for tests and for checking that failures stay visible."""

    def send(self, message: OutboundMessage) -> None:
        raise SendError("gateway unreachable")


@lru_cache(maxsize=8)
def _backend_class(path: str) -> type[BaseBackend]:
    return import_string(path)


def get_backend() -> BaseBackend:
    return _backend_class(settings.JIEDAO_MESSAGE_BACKEND)()


# --- queueing ----------------------------------------------------------------------------

_state = threading.local()


@contextmanager
def muted() -> Iterator[None]:
    """Queue no outbound messages in this block (the demo replaying a 2021 history)."""
    before = getattr(_state, "muted", False)
    _state.muted = True
    try:
        yield
    finally:
        _state.muted = before


def is_muted() -> bool:
    return getattr(_state, "muted", False)


def queue(channel: str, recipient: str, text: str, case: Case | None = None) -> OutboundMessage | None:
    """Write the message row now (in the caller's transaction); send it after commit."""
    messages = queue_many([(channel, recipient, text, case)])
    return messages[0] if messages else None


def queue_many(items: list[tuple[str, str, str, Case | None]]) -> list[OutboundMessage]:
    """``queue`` for many (channel, recipient, text, case) at once: one INSERT, at most one task."""
    if is_muted():
        return []
    return queue_messages(outbound(items))


def outbound(items: list[tuple[str, str, str, Case | None]], *,
             at: dt.datetime | None = None) -> list[OutboundMessage]:
    """The message rows for (channel, recipient, text, case), not yet saved. The rows queued
    together share one ``created_at`` (the intake bench counts transactions by it)."""
    now = at or timezone.now()
    return [OutboundMessage(channel=channel, recipient=recipient[:100], text=text[:300], case=case,
                            created_at=now, next_attempt_at=now)
            for channel, recipient, text, case in items if recipient]


CASE = ("case",)  # a message's case may be saved in the same transaction, after its row was built


def queue_messages(messages: list[OutboundMessage], *,
                   rows: list[list] | None = None) -> list[OutboundMessage]:
    """Write the rows from ``outbound`` (in the caller's transaction) and see they are sent.
    ``rows``: their ``bulk.values(messages, late=CASE)``, computed ahead."""
    if is_muted() or not messages:
        return []
    bulk.insert(messages, rows=rows, late=CASE)
    if _queue_in_this_database():
        # The task row commits or rolls back with the messages, in the same transaction: no
        # second write after commit.
        _wake_sender()
    else:
        ids = [message.pk for message in messages]
        transaction.on_commit(lambda: _enqueue_many(ids))
    return messages


def _queue_in_this_database() -> bool:
    from django_tasks_db.backend import DatabaseBackend

    from .tasks import send_outbound

    backend = send_outbound.get_backend()
    return isinstance(backend, DatabaseBackend) and router.db_for_write(OutboundMessage) == "default"


def _wake_sender() -> None:
    """See that a ``send_pending`` task runs after this transaction commits.

    ``send_pending`` sends every message that is due when it runs, so a task that is still
    waiting — written, not yet claimed by a worker — will send this transaction's messages
    too, and most transactions under load write no task row at all. "Still waiting" must hold
    until this transaction commits, or the worker could run the task before these rows exist:
    on PostgreSQL the waiting row is locked (``FOR UPDATE SKIP LOCKED``: the worker claims with
    the same clause, so it passes over the row until this commit; a row someone else holds is
    passed over here too, and a new task written); on SQLite this transaction already holds the
    database's one write lock (the messages were just inserted), so no worker can claim in
    between. A failed enqueue leaves the rows pending for the sweep, without failing the step."""
    connection = connections[router.db_for_write(OutboundMessage)]
    with connection.cursor() as cursor:
        cursor.execute(*_waiting_sender_query(connection.alias))
        if cursor.fetchone() is not None:
            return
    from .tasks import send_pending

    try:
        with transaction.atomic():
            send_pending.enqueue()
    except Exception:  # noqa: BLE001 — the rows stay pending for the sweep
        logger.exception("could not enqueue send_pending; the messages stay pending for the sweep")


@lru_cache(maxsize=8)
def _waiting_sender_query(alias: str) -> tuple[str, tuple[str, ...]]:
    from django.tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from .tasks import send_pending

    connection = connections[alias]
    meta, quote = DBTaskResult._meta, connection.ops.quote_name

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    ready = str(TaskResultStatus.READY)
    assert ready.isalpha()
    # The status is written into the statement so that SQLite can use the queue's partial index
    # on waiting rows (``WHERE status = 'READY'``), which a bound parameter would not match.
    sql = (f"SELECT {column('id')} FROM {quote(meta.db_table)} WHERE {column('status')} = '{ready}' "
           f"AND {column('task_path')} = %s AND {column('backend_name')} = %s "
           f"AND {column('queue_name')} = %s LIMIT 1")
    if connection.features.has_select_for_update_skip_locked:
        sql += " FOR UPDATE SKIP LOCKED"
    task = send_pending
    return sql, (task.module_path, task.backend, task.queue_name)


def _enqueue_many(message_ids: list[int]) -> None:
    from .tasks import send_outbound, send_outbound_many

    try:
        if len(message_ids) == 1:
            send_outbound.enqueue(message_ids[0])
        else:
            send_outbound_many.enqueue(message_ids)
    except Exception:  # noqa: BLE001 — never break the committed step; the sweep will send them
        logger.exception("could not enqueue outbound messages %s; left for `jiedao outbox --retry`",
                         message_ids)


def _enqueue(message_id: int, run_after: dt.datetime | None = None) -> None:
    """Hand the row to the task worker. If that fails the row stays pending for the sweep."""
    from .tasks import send_outbound

    try:
        if run_after is not None and not send_outbound.get_backend().supports_defer:
            return  # e.g. the immediate backend: the sweep sends it when it is due
        task = send_outbound.using(run_after=run_after) if run_after else send_outbound
        task.enqueue(message_id)
    except Exception:  # noqa: BLE001 — never break the committed step; the sweep will send it
        logger.exception("could not enqueue outbound message %s; left for `jiedao outbox --retry`",
                         message_id)


# --- delivery ----------------------------------------------------------------------------

def deliver(message_id: int, *, now: dt.datetime | None = None) -> str:
    """Try to send one message if it is due; return its status afterwards."""
    now = now or timezone.now()
    message = OutboundMessage.objects.filter(pk=message_id).first()
    if message is None:
        return "missing"
    if message.status != OutboundStatus.PENDING:
        return message.status
    if message.next_attempt_at > now:  # not due, or another sender holds the claim
        return message.status
    # Claim: one sender wins; the others see a changed attempt count and step back.
    if _claim([message], now) != 1:
        return "busy"
    status = _send(message, now)
    if status == OutboundStatus.SENT:
        _mark_sent([message.pk], now)
    return status


def deliver_many(message_ids: list[int], *, now: dt.datetime | None = None) -> dict[str, int]:
    """``deliver`` for the messages of one transaction: one read and one claim for all of them,
    then each is sent and marked sent at once (so a crash mid-batch resends none that went out);
    a message another sender claimed meanwhile is left to that sender ("busy")."""
    now = now or timezone.now()
    counts: dict[str, int] = {}

    def count(status: str) -> None:
        counts[status] = counts.get(status, 0) + 1

    messages = list(OutboundMessage.objects.filter(pk__in=message_ids).order_by("pk"))
    for _missing in set(message_ids) - {m.pk for m in messages}:
        count("missing")
    due: list[OutboundMessage] = []
    for message in messages:
        if message.status != OutboundStatus.PENDING or message.next_attempt_at > now:
            count(message.status)
        else:
            due.append(message)
    by_attempts: dict[int, list[OutboundMessage]] = {}
    for message in due:
        by_attempts.setdefault(message.attempts, []).append(message)
    for attempts, group in by_attempts.items():
        if _claim(group, now) != len(group):
            # Another sender claimed some of them in between: keep the ones this claim took
            # (their claim time is ours), leave the others to it.
            mine = set(OutboundMessage.objects.filter(
                pk__in=[m.pk for m in group], attempts=attempts + 1,
                next_attempt_at=now + dt.timedelta(seconds=CLAIM_SECONDS)).values_list("pk", flat=True))
            for message in group:
                if message.pk not in mine:
                    count("busy")
            group = [m for m in group if m.pk in mine]
        for message in group:
            status = _send(message, now)
            if status == OutboundStatus.SENT:
                _mark_sent([message.pk], now)
            count(status)
    return counts


def _claim(messages: list[OutboundMessage], now: dt.datetime) -> int:
    """Claim messages read with the same attempt count; how many rows were claimed."""
    return OutboundMessage.objects.filter(
        pk__in=[m.pk for m in messages], status=OutboundStatus.PENDING, attempts=messages[0].attempts,
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + dt.timedelta(seconds=CLAIM_SECONDS))


def _send(message: OutboundMessage, now: dt.datetime) -> str:
    """Send a claimed message; on failure record it and schedule the retry (or give up)."""
    attempts = message.attempts + 1
    try:
        get_backend().send(message)
    except Exception as exc:  # noqa: BLE001 — any backend error is a failed attempt
        error = f"{type(exc).__name__}: {exc}"[:300]
        if attempts >= max_attempts():
            OutboundMessage.objects.filter(pk=message.pk).update(
                status=OutboundStatus.FAILED, last_error=error, next_attempt_at=now)
            logger.warning("outbound message %s failed for good after %s attempts: %s",
                           message.pk, attempts, error)
            return OutboundStatus.FAILED
        retry_at = now + backoff(attempts)
        OutboundMessage.objects.filter(pk=message.pk).update(last_error=error, next_attempt_at=retry_at)
        logger.info("outbound message %s attempt %s failed (%s); retry at %s",
                    message.pk, attempts, error, retry_at)
        _enqueue(message.pk, run_after=retry_at)
        return OutboundStatus.PENDING
    return OutboundStatus.SENT


def _mark_sent(message_ids: list[int], now: dt.datetime) -> None:
    """One plain UPDATE per sent message (it runs once per message sent, right after the send)."""
    if message_ids:
        connection = connections[router.db_for_write(OutboundMessage)]
        sql = _mark_sent_statement(connection.alias, len(message_ids))
        with connection.cursor() as cursor:
            cursor.execute(sql, [OutboundStatus.SENT, connection.ops.adapt_datetimefield_value(now), "",
                                 *message_ids])


@lru_cache(maxsize=64)
def _mark_sent_statement(alias: str, count: int) -> str:
    meta, quote = OutboundMessage._meta, connections[alias].ops.quote_name

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    return (f"UPDATE {quote(meta.db_table)} SET {column('status')} = %s, {column('sent_at')} = %s, "
            f"{column('last_error')} = %s WHERE {column('id')} IN ({', '.join(['%s'] * count)})")


def send_due(*, now: dt.datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Send every pending message that is due, ``limit`` at a time (``deliver_many``); count the
    results. This is the ``send_pending`` task and the sweep for lost tasks."""
    now = now or timezone.now()
    counts: dict[str, int] = {}
    due = OutboundMessage.objects.filter(status=OutboundStatus.PENDING, next_attempt_at__lte=now)
    while ids := list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit]):
        for status, count in deliver_many(ids, now=now).items():
            counts[status] = counts.get(status, 0) + count
        if len(ids) < limit:  # every claimed or failed row is no longer due: the loop ends
            break
    return counts


def retry(message: OutboundMessage, *, now: dt.datetime | None = None) -> str:
    """An operator's retry of a failed message: a fresh round of attempts, starting now."""
    now = now or timezone.now()
    reset = OutboundMessage.objects.filter(pk=message.pk, status=OutboundStatus.FAILED).update(
        status=OutboundStatus.PENDING, attempts=0, next_attempt_at=now)
    if not reset:
        current = OutboundMessage.objects.filter(pk=message.pk).values_list("status", flat=True).first()
        return current or "missing"
    return deliver(message.pk, now=now)
