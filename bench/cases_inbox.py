"""Inbox list latency with N cases (default 1,000,000), as each persona's inbox asks it.

    .venv/bin/python bench/cases_inbox.py                     # SQLite: a temporary database file
    .venv/bin/python bench/cases_inbox.py --cases 100000      # a quicker look
    .venv/bin/python bench/cases_inbox.py --db /tmp/inbox.sqlite3   # fill once, measure again later
    DATABASE_URL=postgres://…/scratch .venv/bin/python bench/cases_inbox.py   # PostgreSQL

Loads the demo organisation and personas, then bulk-inserts N cases spread over the
district's five streets, their communities and grids, every status, handlers and deadlines
around "now" (with their search documents when ``--search``). Each measured query is the
one the staff pages run: the scoped, filtered list of the first 50 rows in deadline order
plus the tab's count, through ``jiedao.cases.permissions.visible``; and, with ``--search``,
a two-character Chinese word search. Prints p50/p95/p99 in milliseconds over R repetitions.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import sys
import time
from datetime import timedelta

from benchdb import setup_django

TITLES = ["楼道堆放杂物", "水管漏水", "广场舞噪音扰民", "路灯不亮", "井盖破损", "物业服务纠纷",
          "家庭矛盾调解", "消防通道堵塞", "上门家政服务", "课后托管", "违章搭建", "垃圾清运不及时",
          "企业用工诉求", "小区停车难"]


def load(n: int, with_search: bool, seed: int = 2021) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from jiedao.audit.trail import Actor
    from jiedao.cases import search
    from jiedao.cases.models import Case, Category, Status
    from jiedao.core.models import OrgUnit
    from jiedao.demo.organisation import load_organisation, load_personas

    by = Actor.system("bench")
    units = load_organisation(by)
    load_personas(by, units)
    if Case.objects.count() >= n:
        return
    rng = random.Random(seed)
    places = {s.pk: list(OrgUnit.objects.filter(path__startswith=s.path, kind__in=("community", "grid")))
              for s in OrgUnit.objects.filter(kind="street")}
    streets = [s for s in OrgUnit.objects.filter(kind="street") if places[s.pk]]
    handlers = {s.pk: list(OrgUnit.objects.filter(path__startswith=s.path).exclude(kind="street"))
                for s in streets}
    categories = list(Category.objects.all())
    statuses = [Status.RECEIVED, Status.DISPATCHED, Status.IN_PROGRESS, Status.RESOLVED, Status.CLOSED,
                Status.CLOSED, Status.CLOSED, Status.CLOSED]
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    columns = ["id", "tracking_code", "kind", "category_id", "channel", "title", "description", "priority",
               "street_id", "org_unit_id", "address", "requester_name", "requester_phone", "handler_unit_id",
               "status", "outcome", "outcome_note", "supervision_note", "reopen_count", "version",
               "deadline_at", "created_at", "updated_at", "dispatched_at", "supervised_at"]
    insert_case = (f"INSERT INTO cases_case ({', '.join(columns)}) "
                   f"VALUES ({', '.join(['%s'] * len(columns))})")
    insert_doc = "INSERT INTO cases_casesearchdoc (case_id, tokens) VALUES (%s, %s)"
    first_id = (Case.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    batch = 10000
    started = time.perf_counter()
    # Raw multi-row inserts: the ORM's per-object work would dominate the set-up time.
    for offset in range(Case.objects.count(), n, batch):
        rows, docs = [], []
        for i in range(offset, min(offset + batch, n)):
            street = streets[i % len(streets)]
            place = rng.choice(places[street.pk])
            status = rng.choice(statuses)
            created = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 365))
            dispatched = status != Status.RECEIVED
            title = rng.choice(TITLES)
            pk, code = first_id + i, f"B{i:09d}"
            address, phone = f"{place.name}{rng.randrange(1, 200)}号", f"138{i % 100000000:08d}"
            rows.append((
                pk, code, "demand", rng.choice(categories).pk, "phone", title, f"{title},请尽快处理。",
                "normal", street.pk, place.pk, address, "测试", phone,
                rng.choice(handlers[street.pk]).pk if dispatched else None, status, "", "", "", 0, 1,
                adapt(created + timedelta(days=7)), adapt(created), adapt(created),
                adapt(created) if dispatched else None, adapt(created) if rng.random() < 0.01 else None,
            ))
            if with_search:
                text = f"{code} {title} {title},请尽快处理。 {address} 测试 {phone}"
                docs.append((pk, search.tokens(text)))
        with transaction.atomic(), connection.cursor() as cur:
            cur.executemany(insert_case, rows)
            if docs:
                cur.executemany(insert_doc, docs)
        done = min(offset + batch, n)
        if done % 100000 == 0 or done == n:
            rate = done / (time.perf_counter() - started)
            print(f"  loaded {done:,} cases ({rate:,.0f}/s)", file=sys.stderr)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT setval(pg_get_serial_sequence('cases_case', 'id'), "
                        "(SELECT max(id) FROM cases_case))")
    # Statistics, and on PostgreSQL the visibility map that index-only counts need (what
    # autovacuum would have done by the time a real table reached this size).
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def measure(fn, repeat: int) -> tuple[float, float, float]:
    fn()  # warm
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    q = statistics.quantiles(times, n=100)
    return statistics.median(times), q[94], q[98]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--search", action="store_true", help="also index and measure text search")
    parser.add_argument("--db", help="an SQLite file to fill once and reuse on later runs")
    args = parser.parse_args()
    tmp = setup_django(args.db)
    try:
        from django.db import connection
        from django.utils import timezone

        from jiedao.accounts.models import User
        from jiedao.cases import search
        from jiedao.cases.models import Case, Status
        from jiedao.cases.permissions import visible

        load(args.cases, args.search)
        total = Case.objects.count()
        users = {name: User.objects.get(username=name) for name in ("lingdao", "shequ", "keshi", "wangge")}

        def page(user, **filters):
            def run():
                qs = visible(user).filter(**filters)
                rows = qs.order_by("deadline_at", "id").values("id", "tracking_code", "title", "deadline_at")
                list(rows[:50])
                qs.count()
            return run

        now = timezone.now()
        cases = [
            ("领导 待派单 (street)", page(users["lingdao"], status=Status.RECEIVED)),
            ("领导 已超期 (street)", page(users["lingdao"], status__in=[Status.RECEIVED, Status.DISPATCHED,
                                                                   Status.IN_PROGRESS], deadline_at__lt=now)),
            ("领导 督办 (street)", page(users["lingdao"], supervised_at__isnull=False,
                                        status__in=[Status.RECEIVED, Status.DISPATCHED,
                                                    Status.IN_PROGRESS, Status.RESOLVED])),
            ("社区 待派单 (community)", page(users["shequ"], status=Status.RECEIVED)),
            ("科室 我的待办 (department)", page(users["keshi"], status__in=[Status.DISPATCHED,
                                                                        Status.IN_PROGRESS])),
            ("网格 我的待办 (grid)", page(users["wangge"], status__in=[Status.DISPATCHED,
                                                                  Status.IN_PROGRESS])),
        ]
        if args.search:
            cases.append(("领导 搜索“漏水”", lambda: list(search.search(visible(users["lingdao"]), "漏水")
                                                     .order_by("-created_at")[:50])))
        print(f"\n{total:,} cases on {connection.vendor} · {platform.processor() or platform.machine()} · "
              f"{os.cpu_count()} cores · {args.repeat} repetitions\n")
        print("| inbox query | p50 ms | p95 ms | p99 ms |")
        print("|---|---:|---:|---:|")
        for label, fn in cases:
            p50, p95, p99 = measure(fn, args.repeat)
            print(f"| {label} | {p50:.1f} | {p95:.1f} | {p99:.1f} |")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
