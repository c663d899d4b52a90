"""Inbox latency with N cases (default 1,000,000), as each persona's inbox page asks it.

    .venv/bin/python bench/cases_inbox.py                     # SQLite: a temporary database file
    .venv/bin/python bench/cases_inbox.py --cases 100000      # a quicker look
    .venv/bin/python bench/cases_inbox.py --db /tmp/inbox.sqlite3 --search   # fill once, measure again later
    DATABASE_URL=postgres://…/scratch .venv/bin/python bench/cases_inbox.py --search   # PostgreSQL
    .venv/bin/python bench/cases_inbox.py --db /tmp/inbox.sqlite3 --only 社区     # some rows only

Loads the demo organisation and personas, then bulk-inserts N cases spread over the
district's streets, their communities and grids, every status, handlers and deadlines
around "now" (with their search documents when ``--search``; COPY on PostgreSQL, then VACUUM
ANALYZE). Each row is one inbox (persona, tab, filters) measured twice:

- **query**: ``jiedao.cases.inbox.inbox_page`` — the very function the list view calls: the
  filter form, the tab's capped count and the first page of cases with the related rows the
  table shows;
- **page**: the whole page through Django's test client, signed in as the persona
  (middleware, session, templates), and the htmx tab counts of three personas.

A search's count that the page does not settle itself (a common word's) is left to an htmx
request the page makes next (``inbox_page(…, defer_count=True)``, as the view calls it); each
search is followed by a "计数" row for that request: ``inbox.inbox_count`` and the
``cases:case_count`` fragment (measured whether or not that search's page deferred it).

Prints p50/p95 wall milliseconds and the mean CPU milliseconds of this process per request
(on SQLite that includes the database's work; on PostgreSQL the server's is not in it). The
machine's 1-minute load average is printed before and after: wall times on a loaded machine
are inflated, CPU times much less.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import time
from datetime import timedelta

from benchdb import machine, setup_django

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
    # A document keeps copies of its case's place and intake time (CaseSearchDoc.PLACE_FIELDS).
    doc_columns = "case_id, tokens, street_id, org_unit_id, handler_unit_id, created_at"
    insert_doc = f"INSERT INTO cases_casesearchdoc ({doc_columns}) VALUES (%s, %s, %s, %s, %s, %s)"
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
            category = rng.choice(categories).pk  # drawn in the order the rows always had
            handler_unit = rng.choice(handlers[street.pk]).pk if dispatched else None
            rows.append((
                pk, code, "demand", category, "phone", title, f"{title},请尽快处理。",
                "normal", street.pk, place.pk, address, "测试", phone,
                handler_unit, status, "", "", "", 0, 1,
                adapt(created + timedelta(days=7)), adapt(created), adapt(created),
                adapt(created) if dispatched else None, adapt(created) if rng.random() < 0.01 else None,
            ))
            if with_search:
                case = Case(tracking_code=code, title=title, description=f"{title},请尽快处理。",
                            address=address, requester_name="测试", requester_phone=phone)
                tokens = search.document(case)
                docs.append((pk, tokens, street.pk, place.pk, handler_unit, adapt(created)))
        with transaction.atomic(), connection.cursor() as cur:
            if connection.vendor == "postgresql":  # COPY: ten times the multi-row INSERT's rate
                raw = cur.cursor
                with raw.copy(f"COPY cases_case ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                if docs:
                    with raw.copy(f"COPY cases_casesearchdoc ({doc_columns}) FROM STDIN") as copy:
                        for doc in docs:
                            copy.write_row(doc)
            else:
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


def measure(fn, repeat: int) -> tuple[float, float, float, float]:
    """p50, p95, p99 wall ms and mean CPU ms (this process: the database's work on SQLite,
    Python only on PostgreSQL, whose server runs elsewhere)."""
    fn()  # warm
    times, cpu = [], 0.0
    for _ in range(repeat):
        c, t = time.process_time(), time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
        cpu += time.process_time() - c
    times.sort()
    q = statistics.quantiles(times, n=100)
    return statistics.median(times), q[94], q[98], cpu * 1000 / repeat


# (label, persona, tab, filters): the inboxes the README's table names, and a few more pages.
INBOXES = [
    ("领导 待派单 (street)", "lingdao", "dispatch", {}),
    ("领导 已超期 (street)", "lingdao", "overdue", {}),
    ("领导 督办 (street)", "lingdao", "supervised", {}),
    ("领导 全部 (street)", "lingdao", "all", {}),
    ("社区 待派单 (community)", "shequ", "dispatch", {}),
    ("社区 全部 (community)", "shequ", "all", {}),
    ("社区 已超期 (community)", "shequ", "overdue", {}),
    ("社区 全部, kind + status filter", "shequ", "all", {"kind": "demand", "status": "in_progress"}),
    ("科室 我的待办 (department)", "keshi", "mine", {}),
    ("科室 督办 (department)", "keshi", "supervised", {}),
    ("网格 我的待办 (grid)", "wangge", "mine", {}),
    ("网格 全部 (grid)", "wangge", "all", {}),
]
SEARCHES = [("领导 搜索“漏水”", "lingdao", "all", {"q": "漏水"}),
            ("社区 搜索“漏水”", "shequ", "all", {"q": "漏水"}),
            # a phrase of two pairs as common as 漏水, and three parts (one in every address)
            ("社区 搜索“停车难”", "shequ", "all", {"q": "停车难"}),
            ("社区 搜索“兰宫路社区17号”", "shequ", "all", {"q": "兰宫路社区17号"}),
            # 5,000 matches in all, too rare (0.5 %) to walk the list to
            ("社区 搜索“17号”", "shequ", "all", {"q": "17号"}),
            # a 网格员 sees requesters masked: every part is tested on the case's own words
            # (search.PERSONAL_MARK), not only looked up
            ("网格 搜索“漏水”", "wangge", "all", {"q": "漏水"}),
            ("网格 搜索“17号”", "wangge", "all", {"q": "17号"})]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--page-repeat", type=int, default=50, help="repetitions of each whole page")
    parser.add_argument("--search", action="store_true", help="also index and measure text search")
    parser.add_argument("--only", help="measure only the rows whose label contains this")
    parser.add_argument("--db", help="an SQLite file to fill once and reuse on later runs")
    args = parser.parse_args()
    tmp = setup_django(args.db)
    try:
        from django.conf import settings
        from django.db import connection
        from django.test import Client, override_settings
        from django.urls import reverse
        from django.utils import timezone

        from jiedao.accounts.models import User
        from jiedao.cases import inbox
        from jiedao.cases.models import Case

        load(args.cases, args.search)
        # The pages name their static files; without ``collectstatic`` the manifest is missing.
        override_settings(STORAGES={**settings.STORAGES, "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}).enable()
        total = Case.objects.count()
        users = {name: User.objects.get(username=name) for name in ("lingdao", "shequ", "keshi", "wangge")}
        from jiedao.core.gctune import tune

        tune()  # as a web worker does once it is up (jiedao.wsgi)
        rows = INBOXES + (SEARCHES if args.search else [])
        if args.only:
            rows = [row for row in rows if args.only in row[0]]

        def query(user, tab, filters, *, count=False):
            """What case_list asks the database: the tab's capped count and the first page
            (``inbox.inbox_page``, the view's own code path), rows and related objects fetched."""
            form_data = dict(filters)

            def run():
                from django.http import QueryDict

                data = QueryDict(mutable=True)
                data.update({"tab": tab, **form_data})
                if count:
                    inbox.inbox_count(user, tab, data, timezone.now())
                    return
                _form, _total, page = inbox.inbox_page(user, tab, data, 1, timezone.now(),
                                                       defer_count=True)
                for case in page:  # what the row template touches
                    _touched = (case.category, case.org_unit, case.handler_unit, case.handler)
            return run

        clients = {}

        def page(name, tab, filters, *, view="case_list"):
            """The whole page through Django's test client (middleware, session, templates)."""
            if name not in clients:
                clients[name] = Client(HTTP_HOST="127.0.0.1")
                clients[name].force_login(users[name])
            client = clients[name]
            url = reverse(f"cases:{view}")

            def run():
                response = client.get(url, {"tab": tab, **filters})
                assert response.status_code == 200, response.status_code
            return run

        print(f"\n{total:,} cases on {connection.vendor} · {machine()} · "
              f"load average {os.getloadavg()[0]:.2f} · "
              f"{args.repeat} queries / {args.page_repeat} pages per row\n")
        print("| inbox | query p50 / p95 ms | query CPU ms | page p50 / p95 ms | page CPU ms |")
        print("|---|---:|---:|---:|---:|")
        for label, name, tab, filters in rows:
            for count in (False, True) if "q" in filters else (False,):
                q50, q95, _q99, qcpu = measure(query(users[name], tab, filters, count=count), args.repeat)
                p50, p95, _p99, pcpu = measure(
                    page(name, tab, filters, view="case_count" if count else "case_list"), args.page_repeat)
                print(f"| {label}{' 计数 (htmx)' if count else ''} | {q50:.1f} / {q95:.1f} | {qcpu:.1f} | "
                      f"{p50:.1f} / {p95:.1f} | {pcpu:.1f} |", flush=True)
        for name in ("lingdao", "shequ", "keshi"):
            if args.only and args.only not in "tab counts":
                break
            p50, p95, _p99, pcpu = measure(page(name, "all", {}, view="case_tab_counts"), args.page_repeat)
            print(f"| {name} tab counts (htmx) | — | — | {p50:.1f} / {p95:.1f} | {pcpu:.1f} |", flush=True)
        print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
