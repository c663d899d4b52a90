"""How many audited writes per second the hash chain allows, with K concurrent writers.

    .venv/bin/python bench/audit_chain.py                 # SQLite: a temporary database file
    DATABASE_URL=postgres://…/scratch .venv/bin/python bench/audit_chain.py   # PostgreSQL

Each writer thread renames its own org unit in a loop for a fixed time:
- "audited": ``org_unit_update`` as built: one transaction that saves the unit and, just
  before commit, locks the chain head, hashes the event onto the chain and inserts it;
- "plain": the same transaction (snapshot, full_clean, save, diff) without ``record``,
  so the difference is what the audit row and the chain head cost.

Writers never touch each other's rows, so the only shared thing is the chain head (and, on
SQLite, the database's single write lock). Prints a Markdown table; the chain is verified at
the end. The PostgreSQL database must be a scratch one: the audit table is append-only, so
what the bench writes stays there (the script refuses a database with other audit rows).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import threading
import time
from datetime import datetime

from benchdb import setup_django

BENCH_ACTOR = "bench"


def make_units(k: int):
    from jiedao.audit.models import AuditEvent
    from jiedao.audit.trail import Actor
    from jiedao.core.models import OrgUnit
    from jiedao.core.services import org_unit_create

    if AuditEvent.objects.exclude(actor_label=BENCH_ACTOR).exists():
        sys.exit("bench/audit_chain.py: this database holds audit rows the bench did not write; "
                 "point DATABASE_URL at a scratch database.")
    by = Actor.system(BENCH_ACTOR)

    def unit(kind: str, name: str, code: str, parent):
        found = OrgUnit.objects.filter(parent=parent, name=name).first()
        return found or org_unit_create(by=by, kind=kind, name=name, code=code, parent=parent)

    district = unit("district", "基准测试区", "360199", None)
    street = unit("street", "基准街道", "360199001", district)
    run = f"{int(time.time() * 1000):x}"  # fresh units each run: a scratch DB may be reused
    return [unit("department", f"科室{i}·{run}", "", street) for i in range(k)]


def plain_update(unit, name: str) -> None:
    """``org_unit_update`` without the audit row: the same reads, checks and save."""
    from django.db import transaction

    from jiedao.audit.trail import diff, snapshot
    from jiedao.core.services import FIELDS

    with transaction.atomic():
        before = snapshot(unit, FIELDS)
        unit.name = name
        unit.full_clean()
        unit.save()
        diff(unit, before, FIELDS)


def audited_update(unit, name: str) -> None:
    from jiedao.audit.trail import Actor
    from jiedao.core.services import org_unit_update

    org_unit_update(by=Actor(label=BENCH_ACTOR, ip="127.0.0.1"), unit=unit, name=name)


def measure(mode: str, units, k: int, seconds: float) -> float:
    """Writes per second with ``k`` threads, each on its own unit, for ``seconds``."""
    from django.db import connection

    from jiedao.core.models import OrgUnit

    write = audited_update if mode == "audited" else plain_update
    counts = [0] * k
    errors: list[BaseException] = []
    ready = threading.Barrier(k + 1)
    go = threading.Event()
    deadline = [0.0]

    def worker(i: int) -> None:
        try:
            unit = OrgUnit.objects.get(pk=units[i].pk)
            write(unit, f"{units[i].name}-{mode}-warm")  # connection opened, caches warm
            ready.wait()
            go.wait()
            n = 0
            while time.perf_counter() < deadline[0]:
                n += 1
                write(unit, f"{units[i].name}-{mode}-{n}")
            counts[i] = n
        except BaseException as error:
            errors.append(error)
            ready.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(k)]
    for thread in threads:
        thread.start()
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        pass
    start = time.perf_counter()
    deadline[0] = start + seconds
    go.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return sum(counts) / elapsed


def db_description() -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        return f"PostgreSQL {version} (psycopg {__import__('psycopg').__version__})"
    import sqlite3

    return f"SQLite {sqlite3.sqlite_version} (file, WAL, synchronous=NORMAL, BEGIN IMMEDIATE)"


def cell(values: list[float]) -> str:
    values = sorted(values)
    median = values[len(values) // 2]
    if len(values) == 1:
        return f"{median:,.0f}"
    return f"{median:,.0f} ({values[0]:,.0f}–{values[-1]:,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each cell")
    parser.add_argument("--threads", default="1,2,4,8", help="comma-separated thread counts")
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of each cell, interleaved; the table shows the median")
    args = parser.parse_args()
    if not 0 < args.seconds <= 5:
        parser.error("--seconds must be in (0, 5]")
    ks = [int(k) for k in args.threads.split(",")]

    tmp = setup_django()
    try:
        from django.db import connection

        from jiedao.audit import trail
        from jiedao.audit.models import AuditEvent

        units = make_units(max(ks))
        connection.close()  # the main thread holds no transaction or lock during the runs
        load_before = os.getloadavg()[0]
        results: dict[tuple[str, int], list[float]] = {}
        for round_ in range(args.rounds):
            for k in ks:
                for mode in ("plain", "audited") if round_ % 2 == 0 else ("audited", "plain"):
                    rate = measure(mode, units, k, args.seconds)
                    results.setdefault((mode, k), []).append(rate)
                    print(f"  round {round_ + 1}, {k} threads, {mode}: {rate:7.1f}/s",
                          file=sys.stderr)
        load_after = os.getloadavg()[0]

        started = time.perf_counter()
        result = trail.verify()
        verify_seconds = time.perf_counter() - started
        if not result.ok:
            sys.exit(f"chain broken after the bench: {result.problem}")
        count = AuditEvent.objects.count()

        print(f"**{db_description()}** — {datetime.now().astimezone():%Y-%m-%d %H:%M %z}, "
              f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}; {args.rounds} × {args.seconds:g} s per "
              f"cell, median (min–max); 1-min load average {load_before:.1f} → "
              f"{load_after:.1f}\n")
        print("| writer threads | audited writes/s (chain) | plain writes/s (no audit) "
              "| audited / plain |")
        print("|---:|---:|---:|---:|")
        for k in ks:
            audited, plain = results[("audited", k)], results[("plain", k)]
            ratio = sorted(audited)[len(audited) // 2] / sorted(plain)[len(plain) // 2]
            print(f"| {k} | {cell(audited)} | {cell(plain)} | {ratio:.0%} |")
        print(f"\n`verify()`: {count:,} rows intact, {verify_seconds:.2f} s "
              f"({count / verify_seconds:,.0f} rows/s)")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
