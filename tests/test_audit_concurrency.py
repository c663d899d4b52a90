"""Many writers at once: the chain stays gapless and verifiable, and ``verify`` running
alongside them raises no false alarm.

Threads need their own connections to a database they can all see. On PostgreSQL the tests
commit for real (``transaction=True``) and each thread closes its connection when done. The
SQLite test database lives in memory (shared cache), where a second writer fails at once
with "database table is locked" instead of waiting; so on SQLite the same scenarios run in a
child process against a database file with the deployment's settings (WAL, BEGIN
IMMEDIATE, busy timeout) — which is what a real SQLite deployment has anyway.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from jiedao.audit import trail
from jiedao.audit.models import AuditChainHead, AuditEvent
from jiedao.audit.trail import Actor, record
from jiedao.core.models import OrgUnit, OrgUnitKind
from jiedao.core.services import org_unit_update
from jiedao.demo.organisation import load_organisation

THREADS = 8
PER_THREAD = 25


def run_in_threads(work: Callable[[int], None], n: int = THREADS) -> None:
    """Run ``work(i)`` in ``n`` threads started together; re-raise the first failure."""
    errors: list[BaseException] = []
    start = threading.Barrier(n)

    def body(i: int) -> None:
        try:
            start.wait()
            work(i)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    if errors:
        raise errors[0]


def head_seq() -> int:
    head = AuditChainHead.objects.filter(pk=1).first()
    return head.seq if head else 0


def assert_gapless(expected: int) -> None:
    seqs = list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, expected + 1))
    assert head_seq() == expected
    result = trail.verify()
    assert result.ok, result.problem
    assert result.checked == expected


def make_units() -> list[OrgUnit]:
    """Eight units of the demo street for the writers to rename, one each."""
    load_organisation(Actor.system("test"))
    chosen = list(OrgUnit.objects.filter(kind__in=[OrgUnitKind.GRID, OrgUnitKind.DEPARTMENT])
                  .order_by("path")[:THREADS])
    assert len(chosen) == THREADS
    return chosen


# --- the scenarios (also run by the SQLite child process) ---------------------------------

def scenario_services(units: list[OrgUnit]) -> int:
    before = head_seq()
    by = Actor(label="并发测试", ip="127.0.0.1")

    def work(i: int) -> None:
        unit = OrgUnit.objects.get(pk=units[i].pk)  # this thread's own instance
        for n in range(PER_THREAD):
            org_unit_update(by=by, unit=unit, name=f"{units[i].name}-{n}")

    run_in_threads(work)
    assert_gapless(before + THREADS * PER_THREAD)
    for unit in units:
        fresh = OrgUnit.objects.get(pk=unit.pk)
        assert fresh.name == f"{unit.name}-{PER_THREAD - 1}"
        assert AuditEvent.objects.filter(seq__gt=before, event_type="org.unit_update",
                                         target_id=str(unit.pk)).count() == PER_THREAD
    return head_seq() - before


def scenario_bare_records() -> int:
    """``record`` outside any block (a failed login) seals in its own transaction."""
    before = head_seq()

    def work(i: int) -> None:
        for n in range(PER_THREAD):
            record(by=Actor(label=f"t{i}", ip="127.0.0.1"), event_type="auth.login",
                   target_label=f"user{i}-{n}", success=False, detail="并发")

    run_in_threads(work)
    assert_gapless(before + THREADS * PER_THREAD)
    labels = AuditEvent.objects.filter(seq__gt=before).values_list("actor_label", flat=True)
    assert sorted(labels) == sorted(f"t{i}" for i in range(THREADS) for _ in range(PER_THREAD))
    return head_seq() - before


def scenario_verify_alongside_writers(units: list[OrgUnit]) -> int:
    """The head is read before the rows, so rows committed mid-walk are not a mismatch.

    Returns how many checks ran while the writers wrote."""
    results: list[trail.VerifyResult] = []
    done = threading.Event()
    remaining = [THREADS - 1]
    lock = threading.Lock()
    by = Actor(label="并发测试", ip="127.0.0.1")

    def work(i: int) -> None:
        if i == 0:  # the checker, until the writers are through, and once more after
            while not done.is_set():
                results.append(trail.verify(batch=7))
            results.append(trail.verify(batch=7))
            return
        try:
            unit = OrgUnit.objects.get(pk=units[i].pk)
            for n in range(PER_THREAD):
                org_unit_update(by=by, unit=unit, name=f"{units[i].name}~{n}")
        finally:
            with lock:
                remaining[0] -= 1
                if remaining[0] == 0:
                    done.set()

    run_in_threads(work)
    bad = [r for r in results if not r.ok]
    assert not bad, bad[0].problem
    assert results[-1].checked == AuditEvent.objects.count() == head_seq()
    return len(results) - 1


# --- the tests ---------------------------------------------------------------------------

in_process = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
    reason="the in-memory SQLite test database cannot take concurrent writers; "
    "see test_scenarios_on_a_sqlite_file",
)


@pytest.mark.postgres
@in_process
@pytest.mark.django_db(transaction=True)
def test_concurrent_services_keep_the_chain_gapless():
    assert scenario_services(make_units()) == THREADS * PER_THREAD


@pytest.mark.postgres
@in_process
@pytest.mark.django_db(transaction=True)
def test_concurrent_bare_records_keep_the_chain_gapless():
    assert scenario_bare_records() == THREADS * PER_THREAD


@pytest.mark.postgres
@in_process
@pytest.mark.django_db(transaction=True)
def test_verify_while_writers_write_raises_no_false_alarm():
    assert scenario_verify_alongside_writers(make_units()) >= 1


CHILD = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from tests import test_audit_concurrency as t
units = t.make_units()
t.scenario_services(units)
t.scenario_bare_records()
checks = t.scenario_verify_alongside_writers(units)
print("OK", t.head_seq(), checks)
"""


@pytest.mark.skipif(not settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"),
                    reason="the SQLite flavour of the scenarios")
def test_scenarios_on_a_sqlite_file(tmp_path):
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DJANGO_SETTINGS_MODULE="jiedao.settings", JIEDAO_VAR_DIR=str(tmp_path),
               JIEDAO_SQLITE_PATH=str(tmp_path / "db.sqlite3"), JIEDAO_LOG_LEVEL="WARNING")
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    word, seq, checks = done.stdout.split()
    demo_events = 25  # the units the organisation loader creates, one event each
    assert word == "OK"
    assert int(seq) == demo_events + 3 * THREADS * PER_THREAD - PER_THREAD
    assert int(checks) >= 1
